package server

import (
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Access interfaces come and go under the configuration (a driver reload,
// a VLAN or bond rebuilt, a container restarted): the servers on one stay
// configured, and are served again when an interface of that name is back.

// InterfaceGone lets go of the physical access interface name, whose
// interface ifindex was deleted (or renamed, or moved to another network
// namespace): its socket is closed and its sessions end with
// ReasonInterfaceGone, each removing its data-plane entry and returning its
// address. Nothing is sent: their clients cannot be reached any more,
// RouterOS ends them likewise. The servers on it stay configured, not
// served until InterfaceAppeared. It returns how many sessions ended; an
// interface no server uses, or that has already been replaced by another
// of that name, is left alone (0, false).
func (s *Server) InterfaceGone(name string, ifindex int) (ended int, ok bool) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.interfaceGone(name, ifindex)
}

// interfaceGone is InterfaceGone. s.applyMu held: ports change under it
// only, so an Apply's prepared ports are still there when it commits.
func (s *Server) interfaceGone(name string, ifindex int) (ended int, ok bool) {
	s.mu.Lock()
	p := s.ports[name]
	if s.closed || p == nil || p.Ifindex != ifindex {
		s.mu.Unlock()
		return 0, false
	}
	delete(s.ports, name)
	s.missing[name] = errGone
	for _, d := range p.discs {
		addDiscovery(&s.retired, d.srv.Counters())
	}
	var ending []*live
	for k, l := range s.sessions.All() {
		if k.c.Ifindex == ifindex {
			ending = append(ending, l)
		}
	}
	s.mu.Unlock()
	// The socket first: no frame admits a session while the others end.
	// Sessions admitted by the frame being handled still start, and end
	// at once.
	p.close()
	for _, l := range ending {
		l.sess.Stop(session.ReasonInterfaceGone)
	}
	for _, l := range ending {
		<-l.sess.Done()
	}
	return len(ending), true
}

// errGone is why the servers of an interface that went away are invalid
// until it is back.
var errGone = errors.New("gone")

// InterfaceAppeared serves the physical access interface name again (its
// interface is now ifindex) if an enabled server is configured on it and it
// is not open: it is opened (socket and data plane, Options.Open) with its
// new ifindex and MAC, and discovery starts for every VLAN stack on it. A
// port still open on another ifindex (its Gone was missed) is let go of
// first. It reports whether the interface was opened; on error it stays
// unserved until the next call.
func (s *Server) InterfaceAppeared(name string, ifindex int) (bool, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	p := s.ports[name]
	s.mu.Unlock()
	if p != nil && p.Ifindex != ifindex {
		s.interfaceGone(name, p.Ifindex)
		p = nil
	}
	if p != nil {
		return false, nil
	}
	opened, err := s.openMissing(name)
	if err != nil {
		return false, fmt.Errorf("server: open %s: %w", name, err)
	}
	return opened, nil
}
