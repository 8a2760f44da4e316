package session

import (
	"runtime"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// sessionLog writes a session's lines through its Settings' logger with
// the session's fields (handle, session_id, mac, iface) added to each
// line as it is written. A child logger (zap.Logger.With) would hold
// those fields encoded for the session's life: about 1.4 kB a session
// with pppoed's JSON encoder, more than anything else a session holds.
type sessionLog struct{ s *Session }

func (l sessionLog) Debug(msg string, fields ...zap.Field) { l.write(zapcore.DebugLevel, msg, fields) }
func (l sessionLog) Info(msg string, fields ...zap.Field)  { l.write(zapcore.InfoLevel, msg, fields) }
func (l sessionLog) Warn(msg string, fields ...zap.Field)  { l.write(zapcore.WarnLevel, msg, fields) }

func (l sessionLog) base() *zap.Logger {
	if log := l.s.cfg.Log; log != nil {
		return log
	}
	return nop
}

var nop = zap.NewNop()

func (l sessionLog) write(lvl zapcore.Level, msg string, fields []zap.Field) {
	ce := l.base().Check(lvl, msg)
	if ce == nil {
		return
	}
	if ce.Caller.Defined {
		// The line's caller is the session code that wrote it, not this
		// file.
		ce.Caller = zapcore.NewEntryCaller(runtime.Caller(2))
	}
	ce.Write(append(l.s.logFields(len(fields)), fields...)...)
}

// logFields are the fields naming the session in its lines, with room
// for n more.
func (s *Session) logFields(n int) []zap.Field {
	return append(make([]zap.Field, 0, 4+n),
		zap.Stringer("handle", s.cfg.ID),
		zap.Uint16("session_id", s.cfg.SessionID),
		zap.Stringer("mac", s.cfg.Circuit.HardwareAddr()),
		zap.String("iface", s.cfg.Interface),
	)
}

// logger is a logger with the session's fields for a component that
// takes one (the DHCPv6 server): it encodes them only once it writes a
// line, so one that logs nothing at the configured level costs little.
func (s *Session) logger() *zap.Logger {
	return s.log.base().WithLazy(s.logFields(0)...)
}
