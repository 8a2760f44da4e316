package session

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotUp is returned by Update for a session with nothing in the data
// plane (not up yet, or ended).
var ErrNotUp = errors.New("session: not up")

// update is a change waiting for the session loop.
type update struct {
	change func(Entry) Entry
	err    chan error
}

// pendingUpdates are the Updates the session loop has not carried out.
type pendingUpdates struct {
	mu sync.Mutex
	q  []update
}

// Update changes the live session's data-plane entry (a CoA's new rate,
// an address, an MTU): change gets the entry as installed and returns the
// one wanted; the data plane rewrites every copy of it coherently
// (DataPlane.Update) and observers get Updated. The key (circuit, session
// id) cannot change. Safe from any goroutine; it waits for the session's
// loop (Run) to carry it out.
func (s *Session) Update(change func(Entry) Entry) error {
	u := update{change: change, err: make(chan error, 1)}
	s.pending.mu.Lock()
	s.pending.q = append(s.pending.q, u)
	s.pending.mu.Unlock()
	s.eng.Poke()
	select {
	case err := <-u.err:
		return err
	case <-s.eng.Done():
		return ErrNotUp
	}
}

// updateNow carries out the pending Updates.
func (s *Session) updateNow(now time.Time) {
	s.pending.mu.Lock()
	q := s.pending.q
	s.pending.q = nil
	s.pending.mu.Unlock()
	for _, u := range q {
		u.err <- s.update(u.change, now)
	}
}

// update is Update's step in the session loop.
func (s *Session) update(change func(Entry) Entry, now time.Time) error {
	s.mu.Lock()
	h, ok, old := s.handle, s.installed, s.entry
	s.mu.Unlock()
	if !ok || s.ended {
		return ErrNotUp
	}
	e := change(old)
	if e.Circuit != old.Circuit || e.SessionID != old.SessionID {
		return errors.New("session: update cannot move a session to another circuit or id")
	}
	nh, err := s.cfg.DataPlane.Update(h, e)
	if err != nil {
		return fmt.Errorf("session %v: update: %w", s.cfg.ID, err)
	}
	s.mu.Lock()
	s.handle, s.entry = nh, e
	s.addr, s.mtu = e.IPv4, e.MTU
	s.mu.Unlock()
	if s.v6 != nil && s.v6.installed != nil {
		s.ipv6Install(nh) // the prefixes hang off the rewritten entry; adding them again is a no-op
	}
	s.observe(now, Updated{Entry: e})
	return nil
}
