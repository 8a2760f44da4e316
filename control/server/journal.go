package server

import (
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// The state store (Options.State) gets a session's record when it is up
// (IPCP open, installed: what adoption needs) and loses it when the
// session ends, each written in the session's own goroutine so that it
// costs that session latency, never the discovery loop throughput. A
// session still negotiating has no record: nothing of it is in the data
// plane or outlives the process, and after a restart its subscriber's
// frames meet an unknown session (PADT) and it dials again. A store that
// fails a write costs the session nothing but the record; it is logged.
//
// Until the session engine reports magic numbers, profile and pool, the
// records lack them (zero), and a restarted pppoed sweeps the sessions
// instead of adopting them (control/restart).

// recordOf is what the server knows of a session, for its store record.
func (s *Server) recordOf(l *live, phase state.Phase) state.Session {
	snap := l.sess.Snapshot()
	rec := state.Session{
		Handle:    uint64(snap.ID),
		Role:      state.RoleServer,
		Phase:     phase,
		SessionID: snap.SessionID,
		PeerMAC:   l.key.c.MAC,
		Iface:     state.Interface{Name: snap.Interface, Ifindex: l.key.c.Ifindex},
		User:      snap.Name,
		Service:   snap.ServiceName,
		PeerIPv4:  snap.Address,
		MTU:       snap.MTU,
		MRU:       snap.MRU,
		Started:   time.Now().Add(-snap.Uptime).UTC(),
		Counters: state.Counters{PacketsUp: snap.Stats.PacketsUp, BytesUp: snap.Stats.BytesUp,
			PacketsDown: snap.Stats.PacketsDown, BytesDown: snap.Stats.BytesDown},
	}
	copy(rec.LocalMAC[:], l.acMAC)
	for _, v := range snap.Circuit.VLANs[:snap.Circuit.NumVLANs] {
		rec.Iface.VLANs = append(rec.Iface.VLANs, state.VLAN{TPID: uint16(v.TPID), ID: v.ID})
	}
	if b, ok := s.binding(l.server); ok {
		rec.Iface.Parent = b.port
	}
	return rec
}

// record writes a session's record; it returns once it is in the file.
func (s *Server) record(l *live, phase state.Phase) {
	if s.opts.State == nil {
		return
	}
	if err := s.opts.State.Put(s.recordOf(l, phase), s.ids.Cursor()); err != nil {
		s.log.Warn("state store", zap.Stringer("handle", l.sess.ID()), zap.Error(err))
	}
}

// unrecord removes an ended session's record.
func (s *Server) unrecord(l *live) {
	if s.opts.State == nil {
		return
	}
	if err := s.opts.State.Delete(uint64(l.sess.ID())); err != nil {
		s.log.Warn("state store", zap.Stringer("handle", l.sess.ID()), zap.Error(err))
	}
}

// sessionHooks are the server's hooks with l's record written when it is
// up.
func (s *Server) sessionHooks(l *live) session.Hooks {
	h := s.hooks()
	if s.opts.State == nil {
		return h
	}
	up := h.Up
	h.Up = func(d time.Duration) {
		s.record(l, state.PhaseUp)
		up(d)
	}
	return h
}

// binding returns the server entry of a key.
func (s *Server) binding(k serverKey) (binding, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.bindings[k]
	return b, ok
}
