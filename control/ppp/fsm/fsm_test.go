package fsm

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Test option set: type 1 carries one octet, a "number" both sides must
// agree on; type 2 is a flag with no data.
const (
	optNumber uint8 = 1
	optFlag   uint8 = 2
)

// testNeg asks for req and accepts peer numbers in [lo, hi], suggesting
// prefer otherwise; it rejects the flag unless flagOK.
type testNeg struct {
	req      []ppp.Option
	required map[uint8]bool
	lo, hi   byte
	prefer   byte
	flagOK   bool
	missing  []ppp.Option // appended to Naks when the peer leaves them out

	naks, rejects [][]ppp.Option
}

func newNeg(number byte) *testNeg {
	return &testNeg{req: []ppp.Option{{Type: optNumber, Data: []byte{number}}}, lo: 0, hi: 255, prefer: number}
}

func (n *testNeg) Request() []ppp.Option { return cloneOptions(n.req) }

func (n *testNeg) Check(o ppp.Option) (Verdict, []byte) {
	switch o.Type {
	case optNumber:
		if len(o.Data) != 1 {
			return Reject, nil
		}
		if o.Data[0] < n.lo || o.Data[0] > n.hi {
			return Nak, []byte{n.prefer}
		}
		return Ack, nil
	case optFlag:
		if n.flagOK && len(o.Data) == 0 {
			return Ack, nil
		}
	}
	return Reject, nil
}

func (n *testNeg) Nak(opts []ppp.Option) error {
	n.naks = append(n.naks, opts)
	for _, o := range opts {
		for i := range n.req {
			if n.req[i].Type == o.Type {
				n.req[i].Data = o.Data
			}
		}
	}
	return nil
}

func (n *testNeg) Reject(opts []ppp.Option) error {
	n.rejects = append(n.rejects, opts)
	for _, o := range opts {
		if n.required[o.Type] {
			return ErrRequired
		}
		n.req = slices.DeleteFunc(n.req, func(r ppp.Option) bool { return r.Type == o.Type })
	}
	return nil
}

// requirer wraps testNeg to implement Requirer.
type requirer struct{ *testNeg }

func (r requirer) Missing(req []ppp.Option) []ppp.Option {
	var out []ppp.Option
	for _, m := range r.missing {
		if !slices.ContainsFunc(req, func(o ppp.Option) bool { return o.Type == m.Type }) {
			out = append(out, m)
		}
	}
	return out
}

// wire round-trips p through its encoding, as the link would.
func wire(t testing.TB, p *ppp.Packet) *ppp.Packet {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %v: %v", p.Code, err)
	}
	var q ppp.Packet
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatalf("unmarshal %v: %v", p.Code, err)
	}
	return &q
}

func actions(o Output) []Action {
	var as []Action
	for _, e := range o.Effects {
		as = append(as, e.Action)
	}
	return as
}

func mustOne(t *testing.T, o Output) *ppp.Packet {
	t.Helper()
	ps := o.Packets()
	if len(ps) != 1 {
		t.Fatalf("%v in %v: %d packets sent, want 1 (%v)", o.Event, o.From, len(ps), actions(o))
	}
	return ps[0]
}

// reqSent drives a fresh automaton to Req-Sent and returns its first request.
func reqSent(t *testing.T, neg Negotiator, cfg Config) (*Automaton, *ppp.Packet) {
	t.Helper()
	a := New(neg, cfg)
	a.Open()
	o := a.Up()
	if a.State() != ReqSent || o.Timer != TimerStart {
		t.Fatalf("after Open, Up: %v timer %v, want Req-Sent, start", a.State(), o.Timer)
	}
	return a, mustOne(t, o)
}

func TestConfigDefaults(t *testing.T) {
	c := New(newNeg(1), Config{}).Config()
	if c.MaxTerminate != 2 || c.MaxConfigure != 10 || c.MaxFailure != 5 || c.RestartTimer.Seconds() != 3 || c.PeerMRU != 1500 {
		t.Errorf("defaults = %+v", c)
	}
	c = New(newNeg(1), Config{MaxConfigure: 3, MaxFailure: 1}).Config()
	if c.MaxConfigure != 3 || c.MaxFailure != 1 || c.MaxTerminate != 2 {
		t.Errorf("overrides = %+v", c)
	}
}

func TestMaxConfigureGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		passive bool
	}{{"tlf", false}, {"passive waits in Stopped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			a, first := reqSent(t, newNeg(7), Config{MaxConfigure: 4, Passive: tc.passive})
			sent := []*ppp.Packet{first}
			var o Output
			for range 10 {
				o = a.Timeout()
				if o.Event == TOMinus {
					break
				}
				if o.Event != TOPlus || o.Timer != TimerStart {
					t.Fatalf("timeout %d: %v timer %v", len(sent), o.Event, o.Timer)
				}
				sent = append(sent, mustOne(t, o))
			}
			// Max-Configure counts every transmission, the first included.
			if len(sent) != 4 {
				t.Errorf("%d Configure-Requests sent, want 4", len(sent))
			}
			for _, p := range sent[1:] {
				// Retransmissions keep content and identifier.
				if p.Identifier != first.Identifier || !bytes.Equal(p.Data, first.Data) {
					t.Errorf("retransmission %d % x differs from %d % x", p.Identifier, p.Data, first.Identifier, first.Data)
				}
			}
			if o.Event != TOMinus || a.State() != Stopped || o.Timer != TimerStop || o.Has(TLF) == tc.passive {
				t.Errorf("last timeout: %v -> %v %v timer %v", o.Event, a.State(), actions(o), o.Timer)
			}
			// A stale timer in Stopped is "-".
			if o := a.Timeout(); !o.Ignored || a.State() != Stopped {
				t.Errorf("timeout in Stopped: %+v", o)
			}
		})
	}
}

func TestIdentifierChecks(t *testing.T) {
	a, req := reqSent(t, newNeg(7), Config{})
	for _, tc := range []struct {
		name string
		p    *ppp.Packet
		err  error
	}{
		{"ack, wrong id", &ppp.Packet{Code: ppp.ConfigureAck, Identifier: req.Identifier + 1, Data: req.Data}, ErrStaleID},
		{"nak, wrong id", &ppp.Packet{Code: ppp.ConfigureNak, Identifier: req.Identifier - 1, Data: []byte{1, 3, 9}}, ErrStaleID},
		{"reject, wrong id", &ppp.Packet{Code: ppp.ConfigureReject, Identifier: 99, Data: req.Data}, ErrStaleID},
		{"ack, other value", &ppp.Packet{Code: ppp.ConfigureAck, Identifier: req.Identifier,
			Data: []byte{1, 3, 8}}, ErrAckMismatch}, // number 8, we asked 7
		{"ack, option dropped", &ppp.Packet{Code: ppp.ConfigureAck, Identifier: req.Identifier}, ErrAckMismatch},
		{"reject, modified option", &ppp.Packet{Code: ppp.ConfigureReject, Identifier: req.Identifier,
			Data: []byte{1, 3, 8}}, ErrRejMismatch},
		{"reject, option never sent", &ppp.Packet{Code: ppp.ConfigureReject, Identifier: req.Identifier,
			Data: []byte{2, 2}}, ErrRejMismatch},
		{"nak, truncated option", &ppp.Packet{Code: ppp.ConfigureNak, Identifier: req.Identifier,
			Data: []byte{1, 3}}, errAny}, // type 1, length 3, data missing
		{"nak, length below 2", &ppp.Packet{Code: ppp.ConfigureNak, Identifier: req.Identifier,
			Data: []byte{1, 1, 7}}, errAny},
	} {
		o := a.Receive(tc.p)
		if o.Discarded == nil || (tc.err != errAny && !errors.Is(o.Discarded, tc.err)) || a.State() != ReqSent || len(o.Effects) > 0 {
			t.Errorf("%s: discarded=%v state %v effects %v; want %v", tc.name, o.Discarded, a.State(), actions(o), tc.err)
		}
	}
	// The right Ack counts once; a duplicate is stale.
	if o := a.Receive(&ppp.Packet{Code: ppp.ConfigureAck, Identifier: req.Identifier, Data: req.Data}); o.Event != RCA || a.State() != AckRcvd {
		t.Fatalf("good ack: %+v", o)
	}
	if o := a.Receive(&ppp.Packet{Code: ppp.ConfigureAck, Identifier: req.Identifier, Data: req.Data}); !errors.Is(o.Discarded, ErrStaleID) || a.State() != AckRcvd {
		t.Errorf("duplicate ack: %+v", o)
	}
}

func TestJudgeRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		naksSent int
		req      []byte // options of the peer's Configure-Request
		code     ppp.Code
		resp     []byte // options of our answer
		missing  []ppp.Option
	}{
		{"all acceptable", 0, []byte{1, 3, 50}, ppp.ConfigureAck, []byte{1, 3, 50}, nil},
		{"empty request", 0, nil, ppp.ConfigureAck, nil, nil},
		{"nak with suggestion", 0, []byte{1, 3, 200}, ppp.ConfigureNak, []byte{1, 3, 100}, nil},
		{"reject wins over nak", 0,
			[]byte{1, 3, 200, 9, 4, 0xde, 0xad, 2, 2}, // number 200 (nak), type 9 (unknown), flag (not ok)
			ppp.ConfigureReject, []byte{9, 4, 0xde, 0xad, 2, 2}, nil},
		{"nak below max-failure", 4, []byte{1, 3, 200}, ppp.ConfigureNak, []byte{1, 3, 100}, nil},
		{"nak becomes reject at max-failure", 5, []byte{1, 3, 200}, ppp.ConfigureReject, []byte{1, 3, 200}, nil},
		{"at max-failure ackable options stay out of the reject", 5, []byte{1, 3, 200, 1, 3, 50}, ppp.ConfigureReject, []byte{1, 3, 200}, nil},
		{"missing option appended to nak", 0, []byte{1, 3, 50}, ppp.ConfigureNak, []byte{3, 2},
			[]ppp.Option{{Type: 3}}},
		{"missing not appended to reject", 0, []byte{2, 2}, ppp.ConfigureReject, []byte{2, 2},
			[]ppp.Option{{Type: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNeg(7)
			n.lo, n.hi, n.prefer, n.missing = 0, 100, 100, tc.missing
			a, _ := reqSent(t, requirer{n}, Config{})
			a.naksSent = tc.naksSent
			o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 42, Data: tc.req})
			resp := mustOne(t, o)
			if resp.Code != tc.code || resp.Identifier != 42 || !bytes.Equal(resp.Data, tc.resp) {
				t.Errorf("answer %v id %d % x, want %v id 42 % x", resp.Code, resp.Identifier, resp.Data, tc.code, tc.resp)
			}
			if want := tc.code == ppp.ConfigureAck; (o.Event == RCRPlus) != want || (a.State() == AckSent) != want {
				t.Errorf("event %v state %v for %v", o.Event, a.State(), tc.code)
			}
		})
	}
	// A malformed request is silently discarded.
	a, _ := reqSent(t, newNeg(7), Config{})
	for _, data := range [][]byte{{1}, {1, 3}, {1, 0, 1}, {1, 4, 1}} {
		if o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 1, Data: data}); o.Discarded == nil || len(o.Effects) > 0 {
			t.Errorf("malformed request % x: %+v", data, o)
		}
	}
}

// TestPeerNaksForever: the peer keeps asking for a number we Nak; after
// Max-Failure Naks the next answer is a Reject.
func TestPeerNaksForever(t *testing.T) {
	n := newNeg(7)
	n.lo, n.hi, n.prefer = 0, 10, 10
	a, _ := reqSent(t, n, Config{MaxFailure: 3})
	var codes []ppp.Code
	for i := range 5 {
		o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: uint8(i), Data: []byte{1, 3, 99}})
		codes = append(codes, mustOne(t, o).Code)
	}
	want := []ppp.Code{ppp.ConfigureNak, ppp.ConfigureNak, ppp.ConfigureNak, ppp.ConfigureReject, ppp.ConfigureReject}
	if !slices.Equal(codes, want) {
		t.Errorf("answers %v, want %v", codes, want)
	}
	// Sending an Ack resets the failure count.
	a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 9, Data: []byte{1, 3, 5}})
	if o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 10, Data: []byte{1, 3, 99}}); mustOne(t, o).Code != ppp.ConfigureNak {
		t.Errorf("after an Ack: %v, want a Nak again", mustOne(t, o).Code)
	}
}

// TestReceivedNaks: the peer keeps Naking our request; past Max-Failure we
// drop the option as if Rejected, and give up when it is required or there
// is nothing left to drop.
func TestReceivedNaks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		required bool
		nak      []byte
		err      error
	}{
		{"optional option dropped", false, []byte{1, 3, 1}, nil},
		{"required option gives up", true, []byte{1, 3, 1}, ErrRequired},
		{"nak of options we never sent", false, []byte{5, 2}, ErrNotConverging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNeg(7)
			n.required = map[uint8]bool{optNumber: tc.required}
			a, req := reqSent(t, n, Config{MaxFailure: 2})
			var o Output
			for i := 0; i < 3; i++ {
				o = a.Receive(&ppp.Packet{Code: ppp.ConfigureNak, Identifier: req.Identifier, Data: tc.nak})
				if o.Err != nil {
					break
				}
				if o.Event != RCN || a.State() != ReqSent {
					t.Fatalf("nak %d: %v -> %v", i, o.Event, a.State())
				}
				prev := req
				req = mustOne(t, o)
				if req.Identifier == prev.Identifier {
					t.Errorf("nak %d: new request reuses identifier %d", i, req.Identifier)
				}
			}
			if len(n.naks) != 2 {
				t.Errorf("Negotiator saw %d Naks, want 2 (Max-Failure)", len(n.naks))
			}
			if tc.err != nil {
				if !errors.Is(o.Err, tc.err) || o.Event != Close || a.State() != Closing || mustOne(t, o).Code != ppp.TerminateRequest {
					t.Errorf("give up: err %v event %v state %v", o.Err, o.Event, a.State())
				}
				return
			}
			if o.Err != nil || len(n.rejects) != 1 || len(req.Data) != 0 {
				t.Errorf("third nak: err %v, rejects %v, new request % x", o.Err, n.rejects, req.Data)
			}
		})
	}
}

func TestRejectedRequiredOptionGivesUp(t *testing.T) {
	n := newNeg(7)
	n.req = append(n.req, ppp.Option{Type: optFlag})
	n.required = map[uint8]bool{optFlag: true}
	a, req := reqSent(t, n, Config{})
	o := a.Receive(&ppp.Packet{Code: ppp.ConfigureReject, Identifier: req.Identifier, Data: []byte{2, 2}})
	if !errors.Is(o.Err, ErrRequired) || a.State() != Closing {
		t.Fatalf("err %v state %v", o.Err, a.State())
	}
	// Max-Terminate Terminate-Requests, then tlf in Closed.
	o = a.Timeout()
	if o.Event != TOPlus || mustOne(t, o).Code != ppp.TerminateRequest {
		t.Errorf("first timeout: %v %v", o.Event, actions(o))
	}
	o = a.Timeout()
	if o.Event != TOMinus || a.State() != Closed || !o.Has(TLF) || o.Timer != TimerStop {
		t.Errorf("second timeout: %v -> %v %v timer %v", o.Event, a.State(), actions(o), o.Timer)
	}
}

func TestUnknownCodeAndCodeReject(t *testing.T) {
	a, _ := reqSent(t, newNeg(7), Config{PeerMRU: 10})
	in := &ppp.Packet{Code: 42, Identifier: 5, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	o := a.Receive(in)
	cj := mustOne(t, o)
	// Rejected-Packet: code 42, id 5, length 12, then data, cut to MRU-4 = 6 octets.
	if o.Event != RUC || cj.Code != ppp.CodeReject || !bytes.Equal(cj.Data, []byte{42, 5, 0, 12, 1, 2}) {
		t.Errorf("code reject: %v %v % x", o.Event, cj.Code, cj.Data)
	}
	// LCP lowers the bound once the peer's MRU is negotiated; 0 is ignored.
	a.SetPeerMRU(6)
	a.SetPeerMRU(0)
	if cj := mustOne(t, a.Receive(in)); !bytes.Equal(cj.Data, []byte{42, 5}) {
		t.Errorf("code reject at MRU 6: % x", cj.Data)
	}
	for _, tc := range []struct {
		name     string
		rejected []byte
		event    Event
		state    State
	}{
		{"echo request rejected is permitted", []byte{9, 1, 0, 8}, RXJPlus, ReqSent},
		{"configure-ack rejected is catastrophic", []byte{2, 1, 0, 4}, RXJMinus, Stopped},
	} {
		a, _ := reqSent(t, newNeg(7), Config{})
		o := a.Receive(&ppp.Packet{Code: ppp.CodeReject, Identifier: 3, Data: tc.rejected})
		if o.Event != tc.event || a.State() != tc.state {
			t.Errorf("%s: %v -> %v, want %v -> %v", tc.name, o.Event, a.State(), tc.event, tc.state)
		}
	}
	if o := a.Receive(&ppp.Packet{Code: ppp.CodeReject, Identifier: 3}); o.Discarded == nil {
		t.Error("empty Code-Reject not discarded")
	}
}

// echoExt is an LCP-like extension: Echo-Request answered with our magic.
type echoExt struct{ magic []byte }

func (echoExt) Classify(p *ppp.Packet) Event {
	switch p.Code {
	case ppp.EchoRequest, ppp.EchoReply, ppp.DiscardRequest:
		return RXR
	case ppp.ProtocolReject:
		return RXJPlus
	}
	return RUC
}

func (e echoExt) Reply(p *ppp.Packet) *ppp.Packet {
	if p.Code != ppp.EchoRequest || len(p.Data) < 4 {
		return nil
	}
	return &ppp.Packet{Code: ppp.EchoReply, Identifier: p.Identifier, Data: append(bytes.Clone(e.magic), p.Data[4:]...)}
}

func TestLink(t *testing.T) {
	x := &end{name: "x", a: New(newNeg(10), Config{Extension: echoExt{magic: []byte{0xaa, 0xbb, 0xcc, 0xdd}}})}
	yn := newNeg(20)
	yn.lo, yn.hi, yn.prefer = 0, 15, 15 // y wants x's number at most 15: Naks 10? no, 10 is fine
	yn.lo = 12                          // and at least 12: x's 10 gets a Nak suggesting 15
	y := &end{name: "y", a: New(yn, Config{})}

	x.feed(t, y, x.a.Open())
	y.feed(t, x, y.a.Open())
	x.feed(t, y, x.a.Up())
	y.feed(t, x, y.a.Up())
	pump(t, x, y)

	if x.a.State() != Opened || y.a.State() != Opened {
		t.Fatalf("states %v, %v; want Opened both", x.a.State(), y.a.State())
	}
	if !slices.Equal(x.layer, []Action{TLS, TLU}) || !slices.Equal(y.layer, []Action{TLS, TLU}) {
		t.Errorf("layer actions x %v y %v", x.layer, y.layer)
	}
	// x adopted y's suggestion; each side's view of the other agrees.
	wantX := []ppp.Option{{Type: optNumber, Data: []byte{15}}}
	if !optsEqual(x.a.Ours(), wantX) || !optsEqual(y.a.Theirs(), wantX) {
		t.Errorf("x's options: x.Ours %v y.Theirs %v, want %v", x.a.Ours(), y.a.Theirs(), wantX)
	}
	if !optsEqual(y.a.Ours(), x.a.Theirs()) || len(y.a.Ours()) != 1 {
		t.Errorf("y's options: y.Ours %v x.Theirs %v", y.a.Ours(), x.a.Theirs())
	}
	if x.timer || y.timer {
		t.Errorf("restart timer still running in Opened: x %v y %v", x.timer, y.timer)
	}

	// Echo-Request is answered in Opened with our magic number.
	o := x.a.Receive(&ppp.Packet{Code: ppp.EchoRequest, Identifier: 77, Data: []byte{1, 2, 3, 4, 'h', 'i'}})
	if r := mustOne(t, o); r.Code != ppp.EchoReply || r.Identifier != 77 || !bytes.Equal(r.Data, []byte{0xaa, 0xbb, 0xcc, 0xdd, 'h', 'i'}) {
		t.Errorf("echo reply %v %d % x", r.Code, r.Identifier, r.Data)
	}

	// x closes: Terminate-Request/Ack, x ends in Closed, y in Stopped
	// after its zero-restart-count wait.
	x.feed(t, y, x.a.Close())
	pump(t, x, y)
	if x.a.State() != Closed || !x.has(TLD, TLF) || x.timer {
		t.Errorf("x after close: %v %v timer %v", x.a.State(), x.layer, x.timer)
	}
	if y.a.State() != Stopping || !y.timer || !y.has(TLD) {
		t.Fatalf("y after Terminate-Request: %v %v timer %v", y.a.State(), y.layer, y.timer)
	}
	y.feed(t, x, y.a.Timeout())
	if y.a.State() != Stopped || !y.has(TLF) || y.timer {
		t.Errorf("y after timeout: %v %v timer %v", y.a.State(), y.layer, y.timer)
	}

	// Echo-Request outside Opened is not answered.
	if o := x.a.Receive(&ppp.Packet{Code: ppp.EchoRequest, Identifier: 1, Data: []byte{0, 0, 0, 0}}); o.Event != RXR || len(o.Packets()) != 0 {
		t.Errorf("echo in %v: %v %v", x.a.State(), o.Event, actions(o))
	}
	// Without an Extension an Echo-Request is an unknown code.
	if o := y.a.Receive(&ppp.Packet{Code: ppp.EchoRequest, Identifier: 1}); o.Event != RUC || mustOne(t, o).Code != ppp.CodeReject {
		t.Errorf("echo without extension: %v %v", o.Event, actions(o))
	}
}

func TestRestartOption(t *testing.T) {
	x := &end{name: "x", a: New(newNeg(1), Config{Restart: true})}
	y := &end{name: "y", a: New(newNeg(2), Config{})}
	for _, e := range []*end{x, y} {
		e.feed(t, nil, e.a.Open())
	}
	x.feed(t, y, x.a.Up())
	y.feed(t, x, y.a.Up())
	pump(t, x, y)
	if x.a.State() != Opened || y.a.State() != Opened {
		t.Fatalf("states %v %v", x.a.State(), y.a.State())
	}
	// Open in Opened renegotiates by Down and Up: tld, irc, scr.
	o := x.a.Open()
	if got := actions(o); !slices.Equal(got, []Action{TLD, IRC, SCR}) || x.a.State() != ReqSent || o.Timer != TimerStart {
		t.Errorf("open in Opened: %v -> %v timer %v", got, x.a.State(), o.Timer)
	}
	// Without the option it is a no-op.
	if o := y.a.Open(); len(o.Effects) != 0 || y.a.State() != Opened {
		t.Errorf("open without restart: %v -> %v", actions(o), y.a.State())
	}
}

func TestLowerLayerDown(t *testing.T) {
	a, _ := reqSent(t, newNeg(1), Config{})
	o := a.Down()
	if a.State() != Starting || o.Timer != TimerStop {
		t.Errorf("down in Req-Sent: %v timer %v", a.State(), o.Timer)
	}
	// Packets can't arrive with the lower layer down: "-".
	if o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 1}); !o.Ignored {
		t.Errorf("request in Starting not ignored: %+v", o)
	}
	// Up again starts a fresh request with a new identifier.
	o = a.Up()
	if a.State() != ReqSent || o.Timer != TimerStart {
		t.Errorf("up in Starting: %v", a.State())
	}
}

// end is one side of an in-memory link.
type end struct {
	name  string
	a     *Automaton
	inbox []*ppp.Packet
	layer []Action
	timer bool
}

// feed carries out o: packets go to peer's inbox (nil: dropped), layer
// actions and the timer are recorded.
func (e *end) feed(t *testing.T, peer *end, o Output) {
	t.Helper()
	for _, eff := range o.Effects {
		switch eff.Action {
		case TLU, TLD, TLS, TLF:
			e.layer = append(e.layer, eff.Action)
		}
		if eff.Packet != nil && peer != nil {
			peer.inbox = append(peer.inbox, wire(t, eff.Packet))
		}
	}
	switch o.Timer {
	case TimerStart:
		e.timer = true
	case TimerStop:
		e.timer = false
	}
}

func (e *end) has(as ...Action) bool {
	for _, a := range as {
		if !slices.Contains(e.layer, a) {
			return false
		}
	}
	return true
}

// pump delivers packets both ways until the link is quiet.
func pump(t *testing.T, x, y *end) {
	t.Helper()
	for range 100 {
		if len(x.inbox) == 0 && len(y.inbox) == 0 {
			return
		}
		for _, pair := range [][2]*end{{x, y}, {y, x}} {
			me, peer := pair[0], pair[1]
			in := me.inbox
			me.inbox = nil
			for _, p := range in {
				o := me.a.Receive(p)
				if o.Discarded != nil {
					t.Logf("%s discarded: %v", me.name, o.Discarded)
				}
				me.feed(t, peer, o)
			}
		}
	}
	t.Fatal("link never went quiet")
}

func optsEqual(a, b []ppp.Option) bool {
	return slices.EqualFunc(a, b, func(x, y ppp.Option) bool { return x.Type == y.Type && bytes.Equal(x.Data, y.Data) })
}

var errAny = errors.New("any error")

// TestOpenedFootprint: an opened automaton keeps the options acked both
// ways encoded, ours in the Configure-Request it sent (no copy), theirs
// in one buffer of its own, not in the peer's packet, which the caller
// may reuse (issue 18: what a live session holds).
func TestOpenedFootprint(t *testing.T) {
	x := &end{name: "x", a: New(newNeg(10), Config{})}
	y := &end{name: "y", a: New(newNeg(20), Config{})}
	x.feed(t, y, x.a.Open())
	y.feed(t, x, y.a.Open())
	x.feed(t, y, x.a.Up())
	y.feed(t, x, y.a.Up())
	pump(t, x, y)
	if x.a.State() != Opened {
		t.Fatalf("x %v, want Opened", x.a.State())
	}
	if len(x.a.ours) == 0 || &x.a.ours[0] != &x.a.req.Data[0] {
		t.Error("ours is a copy of the Configure-Request's options")
	}
	// The peer's next request arrives in the same buffer as its last.
	in := &ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 99, Data: ppp.MarshalOptions([]ppp.Option{{Type: optNumber, Data: []byte{21}}})}
	x.a.Receive(in)
	in.Data[2] = 0xee
	if got := x.a.Theirs(); len(got) != 1 || got[0].Data[0] != 21 {
		t.Errorf("theirs %v after the caller reused its buffer, want number 21", got)
	}
}
