package pppoe

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/shrink"
)

// ErrNoSessionID is returned by SessionIDs.Allocate when every session id
// is in use for the client's MAC address.
var ErrNoSessionID = errors.New("pppoe: no free session id")

// SessionIDs allocates PPPoE session ids. RFC 2516 §4 requires an id to be
// unique for the pair of Ethernet addresses, and the AC has one address per
// interface, so ids are unique per client MAC: the total number of sessions
// is not capped at 65534. 0 and 0xffff are never returned (§4, §5.4).
//
// One cursor walks the whole id space for every client, so a released id is
// handed out again only after the cursor has gone round: a late frame of an
// old session is not mistaken for the new one. SessionIDs is safe for
// concurrent use; the zero value is ready.
type SessionIDs struct {
	mu   sync.Mutex
	next uint16
	// inUse has an entry per session: one flat map keyed by client MAC and
	// id, not a map of ids per MAC, so that a setup (one MAC, one id, as a
	// rule) inserts one 8-byte key and allocates nothing of its own. A
	// shrink.Map, so that after a mass teardown it does not keep the
	// peak's table.
	inUse shrink.Map[macID, struct{}]
}

// macID is a session id of one client MAC.
type macID struct {
	mac [6]byte
	id  uint16
}

// NewSessionIDs returns an empty allocator.
func NewSessionIDs() *SessionIDs { return &SessionIDs{} }

// Allocate returns a session id not in use for mac.
func (s *SessionIDs) Allocate(mac [6]byte) (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The cursor tries each of the 0xfffe ids at most once.
	start := s.next
	for range 0xfffe {
		s.next++
		if s.next == 0 || s.next == SessionIDReserved {
			s.next = 1
		}
		k := macID{mac, s.next}
		if _, busy := s.inUse.Lookup(k); busy {
			continue
		}
		s.inUse.Set(k, struct{}{})
		return s.next, nil
	}
	s.next = start
	return 0, fmt.Errorf("pppoe: session id for %v: %w", hardwareAddr(mac), ErrNoSessionID)
}

// Release frees id for mac. Releasing an id that is not allocated does
// nothing, so a PADT and a timeout racing to end one session are harmless.
func (s *SessionIDs) Release(mac [6]byte, id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse.Delete(macID{mac, id})
}

// InUse reports whether id is allocated for mac.
func (s *SessionIDs) InUse(mac [6]byte, id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inUse.Lookup(macID{mac, id})
	return ok
}

// Len returns how many ids are allocated, over all clients.
func (s *SessionIDs) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse.Len()
}

// Cursor returns the last id handed out: stored with the sessions so that
// a restarted allocator (SetCursor) goes on after it instead of handing
// out again, soon, ids that the previous run's subscribers may still send
// late frames for.
func (s *SessionIDs) Cursor() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// SetCursor makes the next Allocate start after c.
func (s *SessionIDs) SetCursor(c uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = c
}

// Reserve marks id in use for mac, as Allocate would have: a session a
// restarted daemon adopts keeps its id, and no new session gets it. It
// fails for an id already in use or one that can be no session's.
func (s *SessionIDs) Reserve(mac [6]byte, id uint16) error {
	if id == 0 || id == SessionIDReserved {
		return fmt.Errorf("pppoe: reserve session id %#04x: not a session id (RFC 2516 §4)", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := macID{mac, id}
	if _, busy := s.inUse.Lookup(k); busy {
		return fmt.Errorf("pppoe: reserve session id %d for %v: in use", id, hardwareAddr(mac))
	}
	s.inUse.Set(k, struct{}{})
	return nil
}

// hardwareAddr is mac for an error message: a copy, so that mac itself
// stays on its caller's stack (slicing it for the error would move it to
// the heap on every call).
func hardwareAddr(mac [6]byte) net.HardwareAddr {
	return net.HardwareAddr(append([]byte(nil), mac[:]...))
}
