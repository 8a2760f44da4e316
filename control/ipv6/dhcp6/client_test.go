package dhcp6

import (
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// TestSolicitRetransmission: with no server, Solicits follow RFC 8415 §15:
// the first within SOL_MAX_DELAY, the first RT in (1 s, 1.1 s], each next
// about double (±10 %), never above SOL_MAX_RT + 10 %; the Elapsed Time
// option grows from zero.
func TestSolicitRetransmission(t *testing.T) {
	c := newClient(t, ClientConfig{RequestPrefix: true})
	c.Start(t0)
	var at []time.Time
	var elapsed []time.Duration
	for len(at) < 16 {
		next, ok := c.Next()
		if !ok {
			t.Fatal("stopped")
		}
		out, _, err := c.Step(next)
		if err != nil || out == nil {
			t.Fatalf("no Solicit at %v: %v", next, err)
		}
		m := mustParse(t, out, ServerPort).msg
		if m.Type() != dhcpv6.MessageTypeSolicit || m.Options.OneIAPD() == nil {
			t.Fatalf("sent %v", m)
		}
		at = append(at, next)
		elapsed = append(elapsed, m.Options.ElapsedTime())
	}
	if at[0].Sub(t0) > SolMaxDelay || elapsed[0] != 0 {
		t.Fatalf("first Solicit at +%v, elapsed %v", at[0].Sub(t0), elapsed[0])
	}
	rt := at[1].Sub(at[0])
	if rt <= SolTimeout || rt > SolTimeout*11/10 {
		t.Fatalf("first RT %v", rt)
	}
	for i := 2; i < len(at); i++ {
		prev, cur := at[i-1].Sub(at[i-2]), at[i].Sub(at[i-1])
		lo, hi := prev*19/10, prev*21/10+time.Millisecond
		if cur > SolMaxRT*9/10 { // capped: MRT ± 10 %
			lo, hi = SolMaxRT*9/10, SolMaxRT*11/10
		}
		if cur < lo || cur > hi {
			t.Fatalf("RT %d is %v after %v", i, cur, prev)
		}
		if want := at[i].Sub(at[0]).Truncate(10 * time.Millisecond); elapsed[i] != min(want, 0xffff*10*time.Millisecond) {
			t.Fatalf("elapsed %v, want %v", elapsed[i], want)
		}
	}
	if last := at[15].Sub(at[14]); last < SolMaxRT*9/10 {
		t.Fatalf("RT never reached SOL_MAX_RT: %v", last)
	}
}

// TestRequestGivesUp: a server that advertises and then goes quiet gets
// REQ_MAX_RC Requests, after which the client solicits again (RFC 8415
// §18.2.2).
func TestRequestGivesUp(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, Preference: 255})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	next, _ := c.Next()
	l.now = next
	out, _, _ := c.Step(l.now)
	// Deliver the Solicit; the Advertise (preference 255) makes the client
	// send its first Request at once, which the quiet server loses.
	l.drop = false
	res, err := s.Handle(l.now, out)
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := c.Handle(l.now, res.Reply)
	if err != nil || req == nil || c.State() != Requesting {
		t.Fatalf("no Request after a preference-255 Advertise: %v, %v", err, c.State())
	}
	l.sent[dhcpv6.MessageTypeRequest] = 1
	l.drop = true
	for c.State() == Requesting {
		next, _ := c.Next()
		l.now = next
		out, _, err := c.Step(l.now)
		if err != nil {
			t.Fatal(err)
		}
		l.deliver(out)
	}
	if l.sent[dhcpv6.MessageTypeRequest] != ReqMaxRC || c.State() != Searching {
		t.Fatalf("%d Requests, state %v", l.sent[dhcpv6.MessageTypeRequest], c.State())
	}
}
