package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// peerRole is the client side of a link for the engine test: it records
// what the link reports and hands its frames to the AC's session.
type peerRole struct {
	eng  Engine
	ac   *Session
	mu   sync.Mutex
	up   []link.Info
	down bool
}

func (p *peerRole) Start(now time.Time) { p.eng.Carry(p, p.eng.Link().Up(now), now) }
func (p *peerRole) Receive(f ppp.Frame, now time.Time) {
	p.eng.Carry(p, p.eng.Link().Receive(f, now), now)
}
func (p *peerRole) Stop(StopRequest, time.Time) { p.mu.Lock(); p.down = true; p.mu.Unlock() }
func (p *peerRole) Poked(time.Time)             {}
func (p *peerRole) Wake(now time.Time)          { p.eng.TickLink(p, now) }
func (p *peerRole) Next() time.Time             { return time.Time{} }
func (p *peerRole) Send(f ppp.Frame)            { p.ac.Deliver(f) }
func (p *peerRole) Ended() bool                 { p.mu.Lock(); defer p.mu.Unlock(); return p.down }

func (p *peerRole) Act(ev link.Event, _ time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case link.NetworkUp:
		p.up = append(p.up, ev.Info)
	case link.Down:
		p.down = true
	}
}

// TestEngineBothRoles: one engine type runs both ends of a link in
// memory, each in its own loop (Run): the access concentrator's Session
// and a peer. The peer gets its address, the AC installs it, and the
// AC's shutdown takes the peer's link down with it.
func TestEngineBothRoles(t *testing.T) {
	var peer *peerRole
	r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
		c.Now = time.Now
		c.Opened = time.Time{}
		c.Send = func(f ppp.Frame) error { peer.eng.Deliver(f); return nil }
	})
	pl, err := link.New(link.Config{Role: link.Peer, User: "alice", Password: "wonderland", Magic: func() uint32 { return 0x22222222 }})
	if err != nil {
		t.Fatal(err)
	}
	peer = &peerRole{eng: NewEngine(pl, time.Now, DefaultQueue), ac: r.s}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acDone := make(chan Reason, 1)
	peerDone := make(chan struct{})
	go func() { acDone <- r.s.Run(ctx) }()
	go func() { peer.eng.Run(context.Background(), peer); close(peerDone) }()

	deadline := time.Now().Add(20 * time.Second)
	peerUp := func() bool { peer.mu.Lock(); defer peer.mu.Unlock(); return len(peer.up) > 0 }
	for r.s.State() != StateUp || !peerUp() {
		if time.Now().After(deadline) {
			t.Fatalf("not up: AC %v, peer %v", r.s.State(), peerUp())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if es := r.dp.entries(); len(es) != 1 || es[0].IPv4.String() != "10.0.0.10" {
		t.Fatalf("data plane %+v", es)
	}
	peer.mu.Lock()
	up := peer.up
	peer.mu.Unlock()
	if len(up) != 1 || up[0].IP.Local.String() != "10.0.0.10" || up[0].IP.Remote.String() != "10.0.0.1" {
		t.Fatalf("peer network up %+v", up)
	}
	cancel()
	select {
	case reason := <-acDone:
		if reason != ReasonShutdown {
			t.Errorf("AC ended %v, want shutdown", reason)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("AC session did not end")
	}
	select {
	case <-peerDone:
	case <-time.After(20 * time.Second):
		t.Fatal("peer link did not go down after the AC's Terminate-Request")
	}
	r.checkDown(ReasonShutdown, true)
}
