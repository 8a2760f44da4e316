package peer

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Subscriber keeps one emulated CPE connected, as a real one does: it
// dials, and whenever its session ends (PADT, or its Keepalive declares
// the AC gone) it rediscovers and dials again, until its context ends;
// then it hangs up with a PADT. The fleet lab and make demo-fleet's
// subscribers are these.
type Subscriber struct {
	cfg Config

	mu    sync.Mutex
	state SubscriberState
}

// SubscriberState is where a Subscriber is.
type SubscriberState struct {
	// ACName and ACMAC are the AC of the current session; ACName is ""
	// while the subscriber is down.
	ACName string
	ACMAC  net.HardwareAddr
	// Addr is the address IPCP gave.
	Addr netip.Addr
	// Up is when the current session's IPCP opened; Sessions counts the
	// sessions it has had.
	Up       time.Time
	Sessions int
}

// NewSubscriber is a Subscriber dialling with cfg.
func NewSubscriber(cfg Config) *Subscriber { return &Subscriber{cfg: cfg} }

// State returns where the subscriber is now.
func (s *Subscriber) State() SubscriberState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Run keeps the subscriber connected through m until ctx ends. first, if
// not nil, is called once: when the first session is up, or when Run
// returns without one.
func (s *Subscriber) Run(ctx context.Context, m *Mux, first func()) {
	defer func() {
		if first != nil {
			first()
		}
	}()
	// pause is between a failed attempt and the next, so that an error
	// that comes at once (a closed Mux) cannot spin.
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		c, err := Dial(ctx, m, s.cfg)
		if err != nil {
			pause() // discovery gave up, or ctx ended
			continue
		}
		// A negotiation that stalls (its LCP gave up, or the AC went
		// away before IPCP) is abandoned after a minute and dialled
		// again, as a CPE's PPP timers would.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		info, err := c.WaitUp(wctx)
		cancel()
		if err != nil {
			c.Close()
			pause()
			continue
		}
		sess := c.Session()
		s.mu.Lock()
		s.state = SubscriberState{ACName: sess.ACName, ACMAC: sess.ACMAC, Addr: info.IP.Local, Up: time.Now(), Sessions: s.state.Sessions + 1}
		s.mu.Unlock()
		if first != nil {
			first()
			first = nil
		}
		select {
		case <-c.Done():
			s.mu.Lock()
			s.state.ACName, s.state.ACMAC, s.state.Addr = "", nil, netip.Addr{}
			s.mu.Unlock()
		case <-ctx.Done():
			c.SendPADT()
			return
		}
	}
}
