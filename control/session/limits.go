package session

import (
	"sync"
	"time"
)

// Limits change a live session's Session-Timeout and Idle-Timeout (RFC
// 2865 §5.27, §5.28), as a CoA-Request does (RFC 5176 §3.1). A nil field
// is left as it is; zero removes the limit.
type Limits struct {
	// SessionTimeout ends the session this long from now.
	SessionTimeout *time.Duration
	// IdleTimeout ends the session after this long without a packet from
	// the client in the data plane.
	IdleTimeout *time.Duration
}

// limits is a session's Session-Timeout and Idle-Timeout: armed from
// AAA's answer as the network comes up, changed by SetLimits. Owned by
// the session loop, but for pending.
type limits struct {
	armed       bool
	sessionEnd  time.Time // zero: no Session-Timeout
	idleTimeout time.Duration
	idleCheck   time.Time // zero: no Idle-Timeout
	lastTraffic time.Time
	idleStats   Stats

	mu      sync.Mutex
	pending []limitsChange
}

// limitsChange is a SetLimits waiting for the session loop.
type limitsChange struct {
	l   Limits
	err chan error
}

// SetLimits changes the limits of the live session. Safe from any
// goroutine; it waits for the session's loop to carry it out. ErrNotUp
// for a session that is not up (yet, or any more).
func (s *Session) SetLimits(l Limits) error {
	c := limitsChange{l: l, err: make(chan error, 1)}
	s.lim.mu.Lock()
	s.lim.pending = append(s.lim.pending, c)
	s.lim.mu.Unlock()
	s.eng.Poke()
	select {
	case err := <-c.err:
		return err
	case <-s.eng.Done():
		return ErrNotUp
	}
}

// limitsNow carries out the pending SetLimits.
func (s *Session) limitsNow(now time.Time) {
	s.lim.mu.Lock()
	q := s.lim.pending
	s.lim.pending = nil
	s.lim.mu.Unlock()
	for _, c := range q {
		c.err <- s.setLimits(c.l, now)
	}
}

// setLimits is SetLimits's step in the session loop.
func (s *Session) setLimits(l Limits, now time.Time) error {
	if s.ended || !s.wasUp {
		return ErrNotUp
	}
	if l.SessionTimeout != nil {
		s.lim.sessionEnd = time.Time{}
		if d := *l.SessionTimeout; d > 0 {
			s.lim.sessionEnd = now.Add(d)
		}
	}
	if l.IdleTimeout != nil {
		s.lim.idleTimeout = max(*l.IdleTimeout, 0)
		s.armIdle(now)
	}
	return nil
}

// armLimits starts the answer's limits as the network comes up: the
// Session-Timeout counts from here, as does the idle time.
func (s *Session) armLimits(now time.Time) {
	if s.lim.armed {
		return // an IPCP renegotiation does not restart them
	}
	s.lim.armed = true
	if d := s.answer.SessionTimeout; d > 0 {
		s.lim.sessionEnd = now.Add(d)
	}
	s.lim.idleTimeout = s.answer.IdleTimeout
	s.lim.lastTraffic = now
	s.armIdle(now)
}

// armIdle schedules the next idle check: when the idle time would run
// out if no packet came meanwhile.
func (s *Session) armIdle(now time.Time) {
	s.lim.idleCheck = time.Time{}
	if s.lim.idleTimeout > 0 {
		s.lim.idleCheck = s.lim.lastTraffic.Add(s.lim.idleTimeout)
		if s.lim.idleCheck.Before(now) {
			s.lim.idleCheck = now
		}
	}
}

// limitsDue is the earliest limit check, zero for none.
func (s *Session) limitsDue() time.Time {
	a, b := s.lim.sessionEnd, s.lim.idleCheck
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// checkLimits ends the session whose Session-Timeout passed or that has
// been idle for its Idle-Timeout. Idle means no packet from the client in
// the data plane: its last-seen stamp and upstream packet count have not
// moved (LCP echoes, which keep a session alive, do not make it busy).
func (s *Session) checkLimits(now time.Time) {
	if !s.lim.sessionEnd.IsZero() && !now.Before(s.lim.sessionEnd) {
		s.finish(ReasonSessionTimeout, "", now)
		return
	}
	if s.lim.idleCheck.IsZero() || now.Before(s.lim.idleCheck) {
		return
	}
	st := s.counters()
	if st.LastSeen != s.lim.idleStats.LastSeen || st.PacketsUp != s.lim.idleStats.PacketsUp {
		s.lim.lastTraffic, s.lim.idleStats = now, st
	}
	if now.Sub(s.lim.lastTraffic) >= s.lim.idleTimeout {
		s.finish(ReasonIdleTimeout, "", now)
		return
	}
	s.armIdle(now)
}
