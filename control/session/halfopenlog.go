package session

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// HalfOpenLog rate-limits the Info "session down" lines of sessions that end
// without ever having come up. Each PADR of a flood is such a session, and
// one line each would bury everything else; yet a lone subscriber with a
// wrong password must still get its line. So lines pass at up to a rate
// (with a burst), the ones held back go to Debug, and Flush writes one Info
// line counting them by reason. Lines of sessions that were up always pass.
// HalfOpenLog is safe for concurrent use.
type HalfOpenLog struct {
	log          *zap.Logger
	rate, burst  float64
	mu           sync.Mutex
	tokens       float64
	last         time.Time
	held         [NumReasons]uint64 // since the last Flush
	heldAny      bool
	heldSince    time.Time
	heldDuration time.Duration
}

// NewHalfOpenLog returns a limiter letting perSecond lines a second through,
// burst at once, with Flush writing to log.
func NewHalfOpenLog(log *zap.Logger, perSecond float64, burst int) *HalfOpenLog {
	if log == nil {
		log = zap.NewNop()
	}
	return &HalfOpenLog{log: log, rate: perSecond, burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token for one line of reason r at now, or counts it held
// back.
func (h *HalfOpenLog) allow(r Reason, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.last.IsZero() && now.After(h.last) {
		h.tokens = min(h.burst, h.tokens+now.Sub(h.last).Seconds()*h.rate)
	}
	if now.After(h.last) {
		h.last = now
	}
	if h.tokens >= 1 {
		h.tokens--
		return true
	}
	if !h.heldAny {
		h.heldAny, h.heldSince = true, now
	}
	h.heldDuration = now.Sub(h.heldSince)
	if int(r) < len(h.held) {
		h.held[r]++
	}
	return false
}

// Flush writes one Info line counting the lines held back since the last
// Flush by reason, if any were.
func (h *HalfOpenLog) Flush() {
	h.mu.Lock()
	if !h.heldAny {
		h.mu.Unlock()
		return
	}
	byReason := map[string]uint64{}
	var total uint64
	for r, n := range h.held {
		if n > 0 {
			byReason[Reason(r).String()] = n
			total += n
		}
	}
	over := h.heldDuration
	h.held, h.heldAny, h.heldDuration = [NumReasons]uint64{}, false, 0
	h.mu.Unlock()
	h.log.Info("half-open sessions down, lines held back",
		zap.Uint64("sessions", total),
		zap.Any("by_reason", byReason),
		zap.Duration("over", over),
	)
}
