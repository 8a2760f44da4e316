package session

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// gatedAAA is a backend that answers only when the test opens the gate:
// a RADIUS server taking its time. It answers from its own goroutine, as
// a network backend does, with the local secrets' verdict.
type gatedAAA struct {
	local *aaa.Local
	gate  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	reqs []aaa.Request
	ctxs []context.Context
}

func (g *gatedAAA) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.ctxs = append(g.ctxs, ctx)
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		<-g.gate
		g.local.Authenticate(ctx, req, reply)
	}()
}

func (g *gatedAAA) requests() []aaa.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]aaa.Request(nil), g.reqs...)
}

func withGatedAAA(g **gatedAAA) rigOpt {
	return func(c *Config, _ *link.Config) {
		*g = &gatedAAA{local: c.AAA.(*aaa.Local), gate: make(chan struct{})}
		c.AAA = *g
		c.PADR = &pppoe.PADR{Service: "internet", RelaySessionID: []byte{9},
			Line: pppoe.LineID{CircuitID: []byte("olt1 eth 1/2:7"), RemoteID: []byte("cpe-42")}}
	}
}

// stepWithin runs f and fails the test if it does not return soon: a
// session step that waits for AAA would hang here.
func stepWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked on a slow AAA backend", what)
	}
}

// TestSlowAAA: a backend that answers late blocks neither the session's
// loop (it answers LCP echoes while it waits) nor another session coming
// up meanwhile; the answer, when it comes, opens the network; the
// request carries the proof and the circuit with the PADR's tags.
func TestSlowAAA(t *testing.T) {
	var g *gatedAAA
	slow := newRig(t, "alice", "wonderland", withGatedAAA(&g))
	stepWithin(t, "start and LCP", slow.up)
	if st := slow.s.State(); st != StateAuthenticate {
		t.Fatalf("state %v while AAA thinks, want authenticate", st)
	}
	reqs := g.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d AAA requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.User != "alice" || r.Handle != 0x1a || r.Circuit.Interface != "vlan7" || r.Circuit.ServiceName != "internet" ||
		r.Circuit.SessionID != 0x1234 || r.Circuit.MAC.String() != "02:00:00:00:00:01" ||
		len(r.Circuit.VLANs) != 2 || r.Circuit.VLANs[0] != 100 || r.Circuit.VLANs[1] != 7 ||
		string(r.Circuit.CircuitID) != "olt1 eth 1/2:7" || string(r.Circuit.RemoteID) != "cpe-42" ||
		!bytes.Equal(r.Circuit.RelaySessionID, []byte{9}) || len(r.Challenge) == 0 || len(r.Response) != 49 {
		t.Errorf("request %+v", r)
	}
	if slow.s.cfg.PADR != nil {
		t.Error("the session keeps the PADR's tags after asking AAA")
	}

	// Another session comes up while the first one waits.
	other := newRig(t, "bob", "builder")
	stepWithin(t, "another session", other.up)
	if other.s.State() != StateUp || len(other.dp.entries()) != 1 {
		t.Fatalf("other session %v with %d entries while AAA is slow", other.s.State(), len(other.dp.entries()))
	}

	// The waiting session still answers the peer's LCP echo.
	before := len(slow.sent)
	slow.exchange(slow.peer.EchoRequest(slow.now))
	if len(packetsOf(slow.sent[before:], ppp.EchoReply)) != 1 {
		t.Fatalf("no Echo-Reply while AAA thinks: %v", slow.sent[before:])
	}

	close(g.gate)
	// The backend answers on its own goroutine; its Poke leaves a mark on
	// the engine for the loop, which this test plays.
	for deadline := time.Now().Add(10 * time.Second); !slow.s.eng.pokedForTest(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the answer never reached the session")
		}
	}
	slow.s.answered(slow.now)
	slow.exchange(link.Output{})
	if st := slow.s.State(); st != StateUp || len(slow.dp.entries()) != 1 {
		t.Fatalf("after the answer: state %v, %d entries", st, len(slow.dp.entries()))
	}
	// The question's context (and its timer) is released with the
	// answer, not held for the session's life.
	g.mu.Lock()
	ctx := g.ctxs[0]
	g.mu.Unlock()
	if ctx.Err() == nil {
		t.Error("AAA's request context is still live after the answer")
	}
	slow.s.finish(ReasonAdmin, "", slow.now)
	slow.checkDown(ReasonAdmin, true)
}

// TestSlowAAASetupDeadline: an answer that never comes in time ends the
// session at its setup deadline; arriving afterwards, what it granted is
// given back at once.
func TestSlowAAASetupDeadline(t *testing.T) {
	var g *gatedAAA
	r := newRig(t, "alice", "wonderland", withGatedAAA(&g))
	stepWithin(t, "start and LCP", r.up)
	r.at(DefaultSetupTimeout)
	close(g.gate)
	g.wg.Wait()
	r.checkDown(ReasonSetupTimeout, true)
}

func packetsOf(fs []ppp.Frame, c ppp.Code) []ppp.Frame {
	var out []ppp.Frame
	for _, f := range fs {
		if f.Protocol == ppp.ProtocolLCP && len(f.Information) > 0 && ppp.Code(f.Information[0]) == c {
			out = append(out, f)
		}
	}
	return out
}

// pokedForTest reports whether a Poke waits for the session's loop.
func (e *Engine) pokedForTest() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.poked
}
