package link

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
)

func TestNetworkUpEachMethod(t *testing.T) {
	all := []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.CHAP, auth.PAP}
	tests := []struct {
		name         string
		offer, allow []auth.Method
		requestDNS   bool
		want         auth.Method
	}{
		{"pap", []auth.Method{auth.PAP}, all, true, auth.PAP},
		{"chap", []auth.Method{auth.CHAP}, all, true, auth.CHAP},
		{"mschap1", []auth.Method{auth.MSCHAPv1}, all, true, auth.MSCHAPv1},
		{"mschap2", []auth.Method{auth.MSCHAPv2}, all, false, auth.MSCHAPv2},
		// The server offers mschap2 first; the peer Naks it with pap,
		// which the server also offers.
		{"nak to peer's choice", all, []auth.Method{auth.PAP}, true, auth.PAP},
		// The peer suggests pap, which the server does not offer: the
		// server walks its own list to chap, which the peer allows.
		{"nak walks the list", []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.CHAP},
			[]auth.Method{auth.PAP, auth.CHAP}, false, auth.CHAP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.Methods, pc.Methods, pc.RequestDNS = tt.offer, tt.allow, tt.requestDNS
			x := newPair(t, sc, pc)
			x.up()
			x.run(5)
			upA, okA := find[NetworkUp](x.evA)
			upP, okP := find[NetworkUp](x.evP)
			if !okA || !okP {
				t.Fatalf("no NetworkUp:\nserver %s\npeer %s", eventsString(x.evA), eventsString(x.evP))
			}
			if x.a.Phase() != PhaseNetwork || x.p.Phase() != PhaseNetwork {
				t.Errorf("phases %v %v, want network", x.a.Phase(), x.p.Phase())
			}
			wantP := IPConfig{Local: testIP.Remote, Remote: testIP.Local}
			wantA := IPConfig{Local: testIP.Local, Remote: testIP.Remote}
			if tt.requestDNS {
				wantP.DNS1, wantP.DNS2 = testIP.DNS1, testIP.DNS2
				wantA.DNS1, wantA.DNS2 = testIP.DNS1, testIP.DNS2
			}
			if upP.Info.IP != wantP {
				t.Errorf("peer IP %+v, want %+v", upP.Info.IP, wantP)
			}
			if upA.Info.IP != wantA {
				t.Errorf("server IP %+v, want %+v", upA.Info.IP, wantA)
			}
			// The server asks 1480, the peer (max-mtu 1460) Naks it
			// down to 1460.
			if i := upA.Info; i.MRU != 1460 || i.MTU != 1460 || i.Method != tt.want || i.User != "alice" {
				t.Errorf("server info %+v", i)
			}
			if i := upP.Info; i.MRU != 1460 || i.MTU != 1460 || i.Method != tt.want || i.User != "alice" {
				t.Errorf("peer info %+v", i)
			}
			if upA.Info.LocalMagic != upP.Info.PeerMagic || upA.Info.PeerMagic != upP.Info.LocalMagic || upA.Info.LocalMagic == 0 {
				t.Errorf("magics server %x/%x peer %x/%x", upA.Info.LocalMagic, upA.Info.PeerMagic, upP.Info.LocalMagic, upP.Info.PeerMagic)
			}
			for _, evs := range [][]Event{x.evA, x.evP} {
				if s, ok := find[AuthSucceeded](evs); !ok || s.Method != tt.want || s.User != "alice" {
					t.Errorf("AuthSucceeded %+v %v", s, ok)
				}
			}
			if _, ok := find[Down](append(x.evA, x.evP...)); ok {
				t.Errorf("unexpected Down")
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	for _, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
		t.Run(m.String(), func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.Methods = []auth.Method{m}
			pc.Password = "hunter2-wrong"
			x := newPair(t, sc, pc)
			x.up()
			x.run(5)
			for side, evs := range map[string][]Event{"server": x.evA, "peer": x.evP} {
				if _, ok := find[AuthFailed](evs); !ok {
					t.Errorf("%s: no AuthFailed: %s", side, eventsString(evs))
				}
				if _, ok := find[NetworkUp](evs); ok {
					t.Errorf("%s: NetworkUp after a wrong password", side)
				}
				d, ok := find[Down](evs)
				if !ok || !strings.Contains(d.Reason, "authentication failed") {
					t.Errorf("%s: Down %+v %v", side, d, ok)
				}
				if s := eventsString(evs); strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
					t.Errorf("%s: a password leaked into events: %s", side, s)
				}
			}
			for side, sent := range map[string][]ppp.Frame{"server": x.sentA, "peer": x.sentP} {
				if len(packets(t, sent, ppp.ProtocolLCP, ppp.TerminateRequest)) == 0 ||
					len(packets(t, sent, ppp.ProtocolLCP, ppp.TerminateAck)) == 0 {
					t.Errorf("%s: Terminate-Request and -Ack not both sent", side)
				}
			}
			if x.a.Phase() != PhaseDead || x.p.Phase() != PhaseDead {
				t.Errorf("phases %v %v, want dead", x.a.Phase(), x.p.Phase())
			}
		})
	}
}

func TestUnknownUser(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	pc.User = "mallory"
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	if f, ok := find[AuthFailed](x.evA); !ok || f.User != "mallory" {
		t.Errorf("server AuthFailed %+v %v", f, ok)
	}
}

// The peer never answers: the server retransmits its Configure-Request
// every restart period and gives up after Max-Configure.
func TestPeerSilent(t *testing.T) {
	sc := serverConfig()
	sc.MaxConfigure = 4
	a, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	o := a.Up(now)
	var sent []ppp.Frame
	var evs []Event
	for i := 0; i < 20 && !o.Deadline.IsZero(); i++ {
		sent, evs = append(sent, o.Send...), append(evs, o.Events...)
		if got := o.Deadline.Sub(now); got != fsm.DefaultRestartTimer {
			t.Fatalf("deadline in %v, want %v", got, fsm.DefaultRestartTimer)
		}
		if a.Tick(now.Add(fsm.DefaultRestartTimer-1)).Send != nil {
			t.Fatal("Tick before the deadline did something")
		}
		now = o.Deadline
		o = a.Tick(now)
	}
	sent, evs = append(sent, o.Send...), append(evs, o.Events...)
	if n := len(packets(t, sent, ppp.ProtocolLCP, ppp.ConfigureRequest)); n != 4 {
		t.Errorf("%d Configure-Requests, want 4", n)
	}
	d, ok := find[Down](evs)
	if !ok || !strings.Contains(d.Reason, "no answer") {
		t.Errorf("Down %+v %v; events %s", d, ok, eventsString(evs))
	}
	if a.Phase() != PhaseDead {
		t.Errorf("phase %v", a.Phase())
	}
	if o := a.Tick(now.Add(time.Hour)); len(o.Send)+len(o.Events) != 0 {
		t.Errorf("dead link still acts: %+v", o)
	}
}

// mangled returns a wrong MS-CHAPv2 authenticator response, as a server
// that does not know the password would.
type mangled struct{ Verifier }

func (m mangled) Verify(ctx context.Context, r AuthRequest) (AuthResult, error) {
	res, err := m.Verifier.Verify(ctx, r)
	if len(res.AuthenticatorResponse) == auth.AuthenticatorResponseLen {
		if res.AuthenticatorResponse[2] == '0' {
			res.AuthenticatorResponse[2] = '1'
		} else {
			res.AuthenticatorResponse[2] = '0'
		}
	}
	return res, err
}

func TestMSCHAPv2BadAuthenticatorResponse(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	sc.Methods = []auth.Method{auth.MSCHAPv2}
	sc.Verifier = mangled{sc.Verifier}
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	if _, ok := find[AuthSucceeded](x.evA); !ok {
		t.Fatalf("server did not accept the (right) password: %s", eventsString(x.evA))
	}
	f, ok := find[AuthFailed](x.evP)
	if !ok || !strings.Contains(f.Reason, "authenticator response") {
		t.Errorf("peer AuthFailed %+v %v", f, ok)
	}
	if _, ok := find[NetworkUp](x.evP); ok {
		t.Error("peer went up with a server that does not know the password")
	}
	if _, ok := find[Down](x.evP); !ok {
		t.Error("peer not Down")
	}
}

func TestMaxPayload(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	for _, c := range []*Config{&sc, &pc} {
		c.MaxPayload, c.MaxMRU, c.MaxMTU = 1500, 1500, 1500
	}
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	for side, evs := range map[string][]Event{"server": x.evA, "peer": x.evP} {
		up, ok := find[NetworkUp](evs)
		if !ok || up.Info.MRU != 1500 || up.Info.MTU != 1500 {
			t.Errorf("%s: %+v %v", side, up.Info, ok)
		}
	}
	// Without RFC 4638 the same max-mru is capped at 1492 (RFC 2516 §7).
	sc.MaxPayload, pc.MaxPayload = 0, 0
	x = newPair(t, sc, pc)
	x.up()
	x.run(5)
	if up, ok := find[NetworkUp](x.evA); !ok || up.Info.MRU != 1492 || up.Info.MTU != 1492 {
		t.Errorf("without max-payload: %+v %v", up.Info, ok)
	}
}

// Both ends start with the same Magic-Number: each Naks the other's
// (RFC 1661 §6.4) and they converge on new, different values.
func TestMagicLoop(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	sc.Magic = magicSeq(7, 100)
	pc.Magic = magicSeq(7, 200)
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	for side, sent := range map[string][]ppp.Frame{"server": x.sentA, "peer": x.sentP} {
		naked := false
		for _, p := range packets(t, sent, ppp.ProtocolLCP, ppp.ConfigureNak) {
			opts, _ := ppptest.Options(p.Data, lcp.FromRaw)
			for _, o := range opts {
				if m, ok := o.(lcp.MagicNumber); ok && m != 7 && m != 0 {
					naked = true
				}
			}
		}
		if !naked {
			t.Errorf("%s did not Nak the looped magic", side)
		}
	}
	up, ok := find[NetworkUp](x.evA)
	if !ok {
		t.Fatalf("no NetworkUp: %s", eventsString(x.evA))
	}
	if i := up.Info; i.LocalMagic == i.PeerMagic || i.LocalMagic == 7 || i.PeerMagic == 7 {
		t.Errorf("magics %d %d", i.LocalMagic, i.PeerMagic)
	}
}

func TestEcho(t *testing.T) {
	x := newPair(t, serverConfig(), peerConfig())
	if o := x.a.EchoRequest(t0); len(o.Send) != 0 {
		t.Error("Echo-Request before LCP Opened")
	}
	x.up()
	x.run(5)
	x.fromA(x.a.EchoRequest(x.now))
	x.flush()
	e, ok := find[EchoReply](x.evA)
	if !ok || e.Magic != x.p.Info().LocalMagic {
		t.Fatalf("EchoReply %+v %v, peer magic %x", e, ok, x.p.Info().LocalMagic)
	}
	req := packets(t, x.sentA, ppp.ProtocolLCP, ppp.EchoRequest)
	if len(req) != 1 || req[0].Identifier != e.Identifier {
		t.Errorf("Echo-Requests %+v, reply id %d", req, e.Identifier)
	}
	// Discard-Request: nothing comes back.
	n := len(x.sentP)
	d, _ := (&ppp.EchoData{Magic: x.a.Info().LocalMagic}).MarshalBinary()
	x.fromP(x.p.Receive(lcpFrame(ppp.DiscardRequest, 77, d), x.now))
	if len(x.sentP) != n {
		t.Error("Discard-Request answered")
	}
}

func lcpFrame(c ppp.Code, id uint8, data []byte) ppp.Frame {
	p := ppp.Packet{Code: c, Identifier: id, Data: data}
	b, _ := p.MarshalBinary()
	return ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b}
}

func TestProtocolReject(t *testing.T) {
	tests := []struct {
		name  string
		frame ppp.Frame
	}{
		// IPv6CP Configure-Request: code 1, id 1, length 14, Interface-Identifier.
		{"ipv6cp", ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: []byte{
			0x01, 0x01, 0x00, 0x0e, // Code, Identifier, Length
			0x01, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, // Interface-Identifier
		}}},
		{"ccp", ppp.Frame{Protocol: ppp.ProtocolCCP, Information: []byte{0x01, 0x01, 0x00, 0x04}}},
		{"unassigned", ppp.Frame{Protocol: 0x4021, Information: []byte{0xde, 0xad}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newPair(t, serverConfig(), peerConfig())
			x.up()
			// Before LCP Opened: silently discarded (RFC 1661 §3.4).
			if o := x.a.Receive(tt.frame, x.now); len(o.Send) != 0 {
				t.Errorf("answered in Establish: %+v", o.Send)
			}
			x.run(5)
			x.fromP(Output{Send: []ppp.Frame{tt.frame}})
			x.flush()
			rej := packets(t, x.sentA, ppp.ProtocolLCP, ppp.ProtocolReject)
			if len(rej) != 1 {
				t.Fatalf("%d Protocol-Rejects", len(rej))
			}
			var d ppp.ProtocolRejectData
			if err := d.UnmarshalBinary(rej[0].Data); err != nil || d.Protocol != tt.frame.Protocol ||
				string(d.Information) != string(tt.frame.Information) {
				t.Errorf("Protocol-Reject %+v %v", d, err)
			}
			if r, ok := find[ProtocolRejected](x.evP); !ok || r.Protocol != tt.frame.Protocol {
				t.Errorf("peer ProtocolRejected %+v %v", r, ok)
			}
			if x.p.Phase() != PhaseNetwork {
				t.Errorf("peer phase %v after a Protocol-Reject of %v", x.p.Phase(), tt.frame.Protocol)
			}
		})
	}
}

// A Protocol-Reject of IPCP leaves nothing to carry: the link terminates.
func TestIPCPRejected(t *testing.T) {
	x := newPair(t, serverConfig(), peerConfig())
	x.up()
	x.run(5)
	p := ppp.NewProtocolReject(99, ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: []byte{1, 1, 0, 4}}, 1500)
	b, _ := p.MarshalBinary()
	x.fromA(x.a.Receive(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b}, x.now))
	x.run(5)
	if _, ok := find[NetworkDown](x.evA); !ok {
		t.Error("no NetworkDown")
	}
	if d, ok := find[Down](x.evA); !ok || !strings.Contains(d.Reason, "IPCP") {
		t.Errorf("Down %+v %v", d, ok)
	}
}

func TestCloseBothDown(t *testing.T) {
	x := newPair(t, serverConfig(), peerConfig())
	x.up()
	x.run(5)
	x.fromP(x.p.Close("User request", x.now))
	x.run(5)
	dp, okP := find[Down](x.evP)
	da, okA := find[Down](x.evA)
	if !okP || dp.Reason != "User request" {
		t.Errorf("peer Down %+v %v", dp, okP)
	}
	if !okA || !strings.Contains(da.Reason, "User request") {
		t.Errorf("server Down %+v %v", da, okA)
	}
	if count[NetworkDown](x.evA) != 1 || count[NetworkDown](x.evP) != 1 {
		t.Error("NetworkDown not reported exactly once on each side")
	}
	if count[Down](x.evA) != 1 || count[Down](x.evP) != 1 {
		t.Error("Down not reported exactly once on each side")
	}
}

// The peer's Response is lost: the server retransmits its Challenge and
// the peer's second Response (same as the first) gets it through.
func TestChallengeRetransmit(t *testing.T) {
	sc := serverConfig()
	sc.Methods = []auth.Method{auth.MSCHAPv2}
	x := newPair(t, sc, peerConfig())
	dropped := false
	x.deliverToA = func(f ppp.Frame) bool {
		if f.Protocol == ppp.ProtocolCHAP && !dropped {
			dropped = true
			return false
		}
		return true
	}
	x.up()
	x.run(5)
	if !dropped {
		t.Fatal("no Response was sent")
	}
	if n := len(packets(t, x.sentA, ppp.ProtocolCHAP, 1)); n < 2 {
		t.Errorf("%d Challenges, want a retransmission", n)
	}
	if _, ok := find[NetworkUp](x.evP); !ok {
		t.Errorf("no NetworkUp: %s", eventsString(x.evP))
	}
}

func TestAuthTimeout(t *testing.T) {
	sc := serverConfig()
	sc.Methods = []auth.Method{auth.CHAP}
	sc.AuthTimeout = 10 * time.Second
	x := newPair(t, sc, peerConfig())
	x.deliverToP = func(f ppp.Frame) bool { return f.Protocol != ppp.ProtocolCHAP }
	x.up()
	x.run(20)
	f, ok := find[AuthFailed](x.evA)
	if !ok || f.Reason != "timeout" {
		t.Errorf("AuthFailed %+v %v", f, ok)
	}
	if _, ok := find[Down](x.evA); !ok {
		t.Error("no Down")
	}
	// The Challenge went out at Restart intervals within AuthTimeout.
	if n := len(packets(t, x.sentA, ppp.ProtocolCHAP, 1)); n != 4 {
		t.Errorf("%d Challenges in 10s at 3s, want 4", n)
	}
}

// LCP option verdicts as seen on the wire: the server's answer to a crafted
// Configure-Request.
func TestLCPAnswers(t *testing.T) {
	tests := []struct {
		name       string
		rejectMRRU bool   // mrru=disabled, else mrru=1614
		req        []byte // Configure-Request options
		code       ppp.Code
		answer     []byte // options of the reply
	}{
		{"mru above max-mtu", true,
			[]byte{0x01, 0x04, 0x05, 0xdc},                    // MRU 1500
			ppp.ConfigureNak, []byte{0x01, 0x04, 0x05, 0xc8}}, // MRU 1480
		{"mru fine", true,
			[]byte{0x01, 0x04, 0x05, 0xb4, 0x05, 0x06, 0xca, 0xfe, 0xba, 0xbe}, // MRU 1460, Magic
			ppp.ConfigureAck, []byte{0x01, 0x04, 0x05, 0xb4, 0x05, 0x06, 0xca, 0xfe, 0xba, 0xbe}},
		{"rfc 2516 options and mrru rejected", true,
			[]byte{
				0x01, 0x04, 0x05, 0xdc, // MRU 1500 (would be Nak'd; Reject wins)
				0x02, 0x06, 0, 0, 0, 0, // ACCM
				0x07, 0x02, // PFC
				0x08, 0x02, // ACFC
				0x11, 0x04, 0x06, 0x40, // MRRU 1600
				0x63, 0x03, 0xaa, // unknown type 99
			},
			ppp.ConfigureReject, []byte{0x02, 0x06, 0, 0, 0, 0, 0x07, 0x02, 0x08, 0x02, 0x11, 0x04, 0x06, 0x40, 0x63, 0x03, 0xaa}},
		{"mrru acked when not rejecting", false,
			[]byte{0x11, 0x04, 0x06, 0x40}, // MRRU 1600
			ppp.ConfigureAck, []byte{0x11, 0x04, 0x06, 0x40}},
		{"peer asks us to authenticate", true,
			[]byte{0x03, 0x04, 0xc0, 0x23}, // Auth-Protocol PAP
			ppp.ConfigureReject, []byte{0x03, 0x04, 0xc0, 0x23}},
		{"magic zero", true,
			[]byte{0x05, 0x06, 0, 0, 0, 0},
			ppp.ConfigureNak, []byte{0x05, 0x06, 0x11, 0x11, 0x00, 0x01}}, // next of magicSeq
		{"mru too short an option", true,
			[]byte{0x01, 0x03, 0x05}, // MRU with Length 3
			ppp.ConfigureReject, []byte{0x01, 0x03, 0x05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := serverConfig()
			if !tt.rejectMRRU {
				sc.Multilink = lcp.MultilinkPolicy{MRRU: lcp.WindowsMRRU}
			}
			a, err := New(sc)
			if err != nil {
				t.Fatal(err)
			}
			a.Up(t0)
			o := a.Receive(lcpFrame(ppp.ConfigureRequest, 42, tt.req), t0)
			got := packets(t, o.Send, ppp.ProtocolLCP, tt.code)
			if len(got) != 1 || got[0].Identifier != 42 || string(got[0].Data) != string(tt.answer) {
				t.Errorf("reply %+v, want %v % x", o.Send, tt.code, tt.answer)
			}
		})
	}
}

func TestIPCPNakToAssigned(t *testing.T) {
	// The peer asks for 0.0.0.0 and NBNS: Nak to 10.0.0.2, NBNS rejected
	// since the policy has none, checked at the automaton level.
	n := &ipcpServer{ip: testIP}
	a := fsm.New(n, fsm.Config{})
	a.Up()
	a.Open()
	req, _ := ppptest.Data([]ipcp.Option{
		ipcp.IPAddress{Addr: netip.IPv4Unspecified()},
		ipcp.PrimaryNBNS{Addr: netip.IPv4Unspecified()},
	}, ipcp.ToRaw)
	o := a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 1, Data: req})
	ps := o.Packets()
	if len(ps) != 1 || ps[0].Code != ppp.ConfigureReject ||
		string(ps[0].Data) != string([]byte{0x82, 0x06, 0, 0, 0, 0}) {
		t.Errorf("first answer %+v", ps)
	}
	req, _ = ppptest.Data([]ipcp.Option{ipcp.IPAddress{Addr: netip.IPv4Unspecified()}}, ipcp.ToRaw)
	o = a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 2, Data: req})
	ps = o.Packets()
	if len(ps) != 1 || ps[0].Code != ppp.ConfigureNak ||
		string(ps[0].Data) != string([]byte{0x03, 0x06, 10, 0, 0, 2}) {
		t.Errorf("second answer %+v", ps)
	}
	// No IP-Address at all: prompted with one (RFC 1332 §3.3).
	o = a.Receive(&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 3})
	ps = o.Packets()
	if len(ps) != 1 || ps[0].Code != ppp.ConfigureNak ||
		string(ps[0].Data) != string([]byte{0x03, 0x06, 10, 0, 0, 2}) {
		t.Errorf("empty request answer %+v", ps)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no role", func(c *Config) { c.Role = 0 }},
		{"no methods", func(c *Config) { c.Methods = nil }},
		{"no verifier", func(c *Config) { c.Verifier = nil }},
		{"no addresses", func(c *Config) { c.Addresses = nil }},
		{"duplicate method", func(c *Config) { c.Methods = []auth.Method{auth.PAP, auth.PAP} }},
		{"unknown method", func(c *Config) { c.Methods = []auth.Method{9} }},
		{"tiny mru", func(c *Config) { c.MaxMRU = 100 }},
		{"max-payload below 1492", func(c *Config) { c.MaxPayload = 1400 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serverConfig()
			tt.mod(&c)
			if _, err := New(c); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
	if _, err := New(serverConfig()); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestAuthRefused: a peer that takes none of the offered methods is told
// apart from a wrong password, the moment the Authenticator gives up and
// before the link is down: the owner names the session's end after it.
func TestAuthRefused(t *testing.T) {
	rows := []struct {
		name      string
		peer      []auth.Method
		reject    bool // the peer Rejects Authentication-Protocol outright
		suggested auth.Method
	}{
		{"pap-only peer", []auth.Method{auth.PAP}, false, auth.PAP},
		{"peer rejects authentication", nil, true, 0},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.Methods = []auth.Method{auth.CHAP, auth.MSCHAPv2}
			pc.Methods = row.peer
			x := newPair(t, sc, pc)
			if row.reject {
				// The peer's LCP, asked to authenticate, answers with a
				// Configure-Reject naming the option.
				x.deliverToP = func(f ppp.Frame) bool {
					var p ppp.Packet
					if f.Protocol != ppp.ProtocolLCP || p.UnmarshalBinary(f.Information) != nil || p.Code != ppp.ConfigureRequest {
						return true
					}
					opts, _ := ppp.ParseOptions(p.Data)
					for _, o := range opts {
						if o.Type == 3 {
							rej := []ppp.Option{o}
							b := ppp.MarshalOptions(rej)
							r, _ := (&ppp.Packet{Code: ppp.ConfigureReject, Identifier: p.Identifier, Data: b}).MarshalBinary()
							x.toA = append(x.toA, ppp.Frame{Protocol: ppp.ProtocolLCP, Information: r})
							return false
						}
					}
					return true
				}
			}
			x.up()
			x.flush()
			refused, ok := find[AuthRefused](x.evA)
			if !ok {
				t.Fatalf("no AuthRefused: %s", eventsString(x.evA))
			}
			if !slices.Equal(refused.Offered, sc.Methods) || refused.Suggested != row.suggested {
				t.Errorf("AuthRefused %+v", refused)
			}
			if _, ok := find[AuthFailed](x.evA); ok {
				t.Error("a refused method reported as failed credentials")
			}
			x.run(5)
			if count[AuthRefused](x.evA) != 1 {
				t.Errorf("%d AuthRefused events", count[AuthRefused](x.evA))
			}
			if d, ok := find[Down](x.evA); !ok || !strings.Contains(d.Reason, "authentication") {
				t.Errorf("Down %+v %v", d, ok)
			}
		})
	}
}

// TestDeferredVerdict: with the Deferred verifier the Authenticator hands
// the peer's proof to its owner and goes on answering LCP (echoes) until
// the verdict comes; the link then opens IPCP as with a synchronous one,
// for every method. A verdict after the phase ended does nothing.
func TestDeferredVerdict(t *testing.T) {
	for _, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
		t.Run(m.String(), func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.Methods, sc.Verifier = []auth.Method{m}, Deferred
			x := newPair(t, sc, pc)
			x.up()
			x.flush()
			req, ok := find[AuthRequested](x.evA)
			if !ok || req.Request.User != "alice" || req.Request.Method != m {
				t.Fatalf("AuthRequested %+v %v: %s", req, ok, eventsString(x.evA))
			}
			// Waiting: no verdict frame, LCP still answers.
			x.fromP(x.p.EchoRequest(x.now))
			x.flush()
			if _, ok := find[EchoReply](x.evP); !ok {
				t.Fatal("no Echo-Reply while the verdict is pending")
			}
			if _, ok := find[AuthSucceeded](x.evP); ok {
				t.Fatal("peer authenticated before the verdict")
			}
			res, err := secrets("alice", "s3cret").Verify(t.Context(), req.Request)
			x.fromA(x.a.Authenticated(res, err, x.now))
			x.run(5)
			if _, ok := find[NetworkUp](x.evA); !ok {
				t.Fatalf("no NetworkUp after the verdict: %s", eventsString(x.evA))
			}
			if o := x.a.Authenticated(res, err, x.now); len(o.Send)+len(o.Events) != 0 {
				t.Errorf("a second verdict did something: %+v", o)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		sc := serverConfig()
		sc.Methods, sc.Verifier = []auth.Method{auth.PAP}, Deferred
		x := newPair(t, sc, peerConfig())
		x.up()
		x.flush()
		x.fromA(x.a.Authenticated(AuthResult{Message: "no"}, nil, x.now))
		x.run(5)
		if _, ok := find[AuthFailed](x.evA); !ok {
			t.Fatalf("no AuthFailed: %s", eventsString(x.evA))
		}
		if _, ok := find[NetworkUp](x.evA); ok {
			t.Fatal("refused peer got the network")
		}
	})
}
