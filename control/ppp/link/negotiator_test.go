package link

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

func opt(t uint8, data ...byte) ppp.Option { return ppp.Option{Type: t, Data: data} }

func TestLCPCheck(t *testing.T) {
	server := func() *lcpNegotiator {
		return &lcpNegotiator{role: Authenticator, mru: 1480, maxMTU: 1480, limit: 1492, magic: 0xcafebabe,
			newMagic: magicSeq(0x0badf00d), methods: []auth.Method{auth.MSCHAPv2, auth.PAP}, method: auth.MSCHAPv2}
	}
	peer := func() *lcpNegotiator {
		return &lcpNegotiator{role: Peer, mru: 1460, maxMTU: 1460, limit: 1492, magic: 0x12345678,
			newMagic: magicSeq(0x0badf00d), methods: []auth.Method{auth.CHAP, auth.PAP}, ml: lcp.MultilinkPolicy{MRRU: 1600}}
	}
	tests := []struct {
		name    string
		n       *lcpNegotiator
		o       ppp.Option
		v       fsm.Verdict
		suggest []byte
	}{
		{"mru at max", server(), opt(1, 0x05, 0xc8), fsm.Ack, nil},                   // 1480
		{"mru above max", server(), opt(1, 0x05, 0xdc), fsm.Nak, []byte{0x05, 0xc8}}, // 1500 → 1480
		{"mru at floor", server(), opt(1, 0x00, 0x80), fsm.Ack, nil},                 // 128
		{"mru below floor", server(), opt(1, 0x00, 0x40), fsm.Nak, []byte{0x00, 0x80}},
		{"mru truncated", server(), opt(1, 0x05), fsm.Reject, nil},
		{"mru too long", server(), opt(1, 0x05, 0xc8, 0x00), fsm.Reject, nil},
		{"accm", server(), opt(2, 0, 0, 0, 0), fsm.Reject, nil},
		{"auth asked of the server", server(), opt(3, 0xc0, 0x23), fsm.Reject, nil},
		{"auth allowed", peer(), opt(3, 0xc2, 0x23, 0x05), fsm.Ack, nil},
		{"auth not allowed", peer(), opt(3, 0xc2, 0x23, 0x81), fsm.Nak, []byte{0xc2, 0x23, 0x05}},
		{"auth eap", peer(), opt(3, 0xc2, 0x27), fsm.Nak, []byte{0xc2, 0x23, 0x05}},
		{"auth unknown algorithm", peer(), opt(3, 0xc2, 0x23, 0x06), fsm.Nak, []byte{0xc2, 0x23, 0x05}},
		{"auth chap without algorithm", peer(), opt(3, 0xc2, 0x23), fsm.Reject, nil},
		{"quality protocol", server(), opt(4, 0xc0, 0x25, 0, 0, 0, 10), fsm.Reject, nil},
		{"magic", server(), opt(5, 1, 2, 3, 4), fsm.Ack, nil},
		{"magic ours", server(), opt(5, 0xca, 0xfe, 0xba, 0xbe), fsm.Nak, []byte{0x0b, 0xad, 0xf0, 0x0d}},
		{"magic zero", server(), opt(5, 0, 0, 0, 0), fsm.Nak, []byte{0x0b, 0xad, 0xf0, 0x0d}},
		{"magic short", server(), opt(5, 1, 2, 3), fsm.Reject, nil},
		{"pfc", server(), opt(7), fsm.Reject, nil},
		{"acfc", server(), opt(8), fsm.Reject, nil},
		{"pfc with data", server(), opt(7, 1), fsm.Reject, nil},
		{"mrru rejected", server(), opt(17, 0x06, 0x40), fsm.Reject, nil},
		{"mrru accepted", peer(), opt(17, 0x06, 0x40), fsm.Ack, nil},
		{"short sequence rejected", server(), opt(18), fsm.Reject, nil},
		{"endpoint discriminator", server(), opt(19, 3, 0, 1, 2, 3, 4, 5), fsm.Ack, nil},
		{"endpoint discriminator bad MAC", server(), opt(19, 3, 0, 1), fsm.Reject, nil},
		{"callback", server(), opt(13, 6), fsm.Reject, nil},
		{"unknown", server(), opt(200), fsm.Reject, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, s := tt.n.Check(tt.o)
			if v != tt.v || string(s) != string(tt.suggest) {
				t.Errorf("Check(%v % x) = %v % x, want %v % x", tt.o.Type, tt.o.Data, v, s, tt.v, tt.suggest)
			}
		})
	}
}

func TestLCPNakReject(t *testing.T) {
	n := &lcpNegotiator{role: Authenticator, mru: 1480, maxMTU: 1480, limit: 1492, magic: 1,
		newMagic: magicSeq(50), methods: []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.PAP}, method: auth.MSCHAPv2}
	steps := []struct {
		name    string
		nak     bool
		opts    []ppp.Option
		mru     uint16
		magic   uint32
		method  auth.Method
		wantErr error
	}{
		{"mru nak'd down", true, []ppp.Option{opt(1, 0x05, 0x78)}, 1400, 1, auth.MSCHAPv2, nil},
		{"mru nak'd past limit ignored", true, []ppp.Option{opt(1, 0x05, 0xdc)}, 1400, 1, auth.MSCHAPv2, nil},
		{"mru nak'd below floor ignored", true, []ppp.Option{opt(1, 0x00, 0x10)}, 1400, 1, auth.MSCHAPv2, nil},
		{"magic nak'd: new random one", true, []ppp.Option{opt(5, 0, 0, 0, 9)}, 1400, 50, auth.MSCHAPv2, nil},
		{"auth nak'd to pap, offered", true, []ppp.Option{opt(3, 0xc0, 0x23)}, 1400, 50, auth.PAP, nil},
		{"auth nak'd to mschap2, tried: next untried", true, []ppp.Option{opt(3, 0xc2, 0x23, 0x81)}, 1400, 50, auth.MSCHAPv1, nil},
		{"auth nak'd, none left", true, []ppp.Option{opt(3, 0xc2, 0x23, 0x05)}, 1400, 50, auth.MSCHAPv1, errNoMethod},
		{"mru rejected", false, []ppp.Option{opt(1, 0x05, 0x78)}, 0, 50, auth.MSCHAPv1, nil},
		{"magic rejected", false, []ppp.Option{opt(5, 0, 0, 0, 50)}, 0, 0, auth.MSCHAPv1, nil},
		{"auth rejected", false, []ppp.Option{opt(3, 0xc2, 0x23, 0x80)}, 0, 0, auth.MSCHAPv1, fsm.ErrRequired},
	}
	for _, s := range steps {
		var err error
		if s.nak {
			err = n.Nak(s.opts)
		} else {
			err = n.Reject(s.opts)
		}
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Errorf("%s: err %v, want %v", s.name, err, s.wantErr)
		}
		if n.mru != s.mru || n.magic != s.magic || n.method != s.method {
			t.Errorf("%s: mru %d magic %d method %v, want %d %d %v", s.name, n.mru, n.magic, n.method, s.mru, s.magic, s.method)
		}
	}
	if got := len(n.Request()); got != 1 {
		t.Errorf("request after rejects has %d options, want only auth", got)
	}
}

func TestIPCPCheck(t *testing.T) {
	noDNS := testIP
	noDNS.DNS1, noDNS.DNS2 = netip.Addr{}, netip.Addr{}
	withNBNS := testIP
	withNBNS.NBNS1 = netip.MustParseAddr("192.0.2.137")
	server := func(ip IPConfig) fsm.Negotiator { return &ipcpServer{ip: ip} }
	client := func() fsm.Negotiator { return newIPCPClient(true) }
	tests := []struct {
		name    string
		n       fsm.Negotiator
		o       ppp.Option
		v       fsm.Verdict
		suggest []byte
	}{
		{"address zero", server(testIP), opt(3, 0, 0, 0, 0), fsm.Nak, []byte{10, 0, 0, 2}},
		{"address wrong", server(testIP), opt(3, 10, 9, 9, 9), fsm.Nak, []byte{10, 0, 0, 2}},
		{"address right", server(testIP), opt(3, 10, 0, 0, 2), fsm.Ack, nil},
		{"address short", server(testIP), opt(3, 10, 0, 0), fsm.Reject, nil},
		{"dns1 zero", server(testIP), opt(129, 0, 0, 0, 0), fsm.Nak, []byte{192, 0, 2, 53}},
		{"dns2 right", server(testIP), opt(131, 192, 0, 2, 54), fsm.Ack, nil},
		{"dns1 none configured", server(noDNS), opt(129, 0, 0, 0, 0), fsm.Reject, nil},
		{"nbns none configured", server(testIP), opt(130, 0, 0, 0, 0), fsm.Reject, nil},
		{"nbns configured", server(withNBNS), opt(130, 0, 0, 0, 0), fsm.Nak, []byte{192, 0, 2, 137}},
		{"nbns2 not configured", server(withNBNS), opt(132, 0, 0, 0, 0), fsm.Reject, nil},
		{"vj compression", server(testIP), opt(2, 0x00, 0x2d, 0x0f, 0x01), fsm.Reject, nil},
		{"ip-addresses", server(testIP), opt(1, 10, 0, 0, 2, 10, 0, 0, 1), fsm.Reject, nil},
		{"unknown", server(testIP), opt(77, 1), fsm.Reject, nil},
		{"client: server address", client(), opt(3, 10, 0, 0, 1), fsm.Ack, nil},
		{"client: server wants an address", client(), opt(3, 0, 0, 0, 0), fsm.Reject, nil},
		{"client: compression", client(), opt(2, 0x00, 0x2d, 0x0f, 0x01), fsm.Reject, nil},
		{"client: dns", client(), opt(129, 1, 1, 1, 1), fsm.Reject, nil},
		{"client: short", client(), opt(3, 1), fsm.Reject, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, s := tt.n.Check(tt.o)
			if v != tt.v || string(s) != string(tt.suggest) {
				t.Errorf("Check(%d % x) = %v % x, want %v % x", tt.o.Type, tt.o.Data, v, s, tt.v, tt.suggest)
			}
		})
	}
}

func TestIPCPClientNakReject(t *testing.T) {
	c := newIPCPClient(true)
	if got := ppp.MarshalOptions(c.Request()); string(got) != string([]byte{
		0x03, 0x06, 0, 0, 0, 0, // IP-Address 0.0.0.0
		0x81, 0x06, 0, 0, 0, 0, // Primary-DNS 0.0.0.0
		0x83, 0x06, 0, 0, 0, 0, // Secondary-DNS 0.0.0.0
	}) {
		t.Errorf("first request % x", got)
	}
	if err := c.Nak([]ppp.Option{opt(3, 10, 0, 0, 2), opt(129, 9, 9, 9, 9), opt(3, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reject([]ppp.Option{opt(131, 0, 0, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if got := ppp.MarshalOptions(c.Request()); string(got) != string([]byte{
		0x03, 0x06, 10, 0, 0, 2, // IP-Address as Nak'd
		0x81, 0x06, 9, 9, 9, 9, // Primary-DNS as Nak'd
	}) {
		t.Errorf("second request % x", got)
	}
	if err := c.Reject([]ppp.Option{opt(3, 10, 0, 0, 2)}); !errors.Is(err, fsm.ErrRequired) {
		t.Errorf("address rejected: %v", err)
	}
	// A client that did not ask for DNS ignores a Nak offering it.
	c = newIPCPClient(false)
	_ = c.Nak([]ppp.Option{opt(129, 9, 9, 9, 9)})
	if len(c.Request()) != 1 {
		t.Errorf("unasked DNS adopted: %+v", c.Request())
	}
}

func TestPasswordsVerify(t *testing.T) {
	v := secrets("alice", "s3cret")
	chal := make([]byte, 16)
	for i := range chal {
		chal[i] = byte(i)
	}
	md5 := auth.MD5Response(3, []byte("s3cret"), chal)
	tests := []struct {
		name string
		req  AuthRequest
		ok   bool
	}{
		{"pap", AuthRequest{Method: auth.PAP, User: "alice", Password: "s3cret"}, true},
		{"pap wrong", AuthRequest{Method: auth.PAP, User: "alice", Password: "s3cre"}, false},
		{"pap unknown user", AuthRequest{Method: auth.PAP, User: "bob", Password: "s3cret"}, false},
		{"chap", AuthRequest{Method: auth.CHAP, User: "alice", Identifier: 3, Challenge: chal, Response: md5}, true},
		{"chap other id", AuthRequest{Method: auth.CHAP, User: "alice", Identifier: 4, Challenge: chal, Response: md5}, false},
		{"chap truncated", AuthRequest{Method: auth.CHAP, User: "alice", Identifier: 3, Challenge: chal, Response: md5[:15]}, false},
		{"mschap1 malformed", AuthRequest{Method: auth.MSCHAPv1, User: "alice", Challenge: chal[:8], Response: md5}, false},
		{"mschap2 malformed", AuthRequest{Method: auth.MSCHAPv2, User: "alice", Challenge: chal, Response: md5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(t.Context(), tt.req)
			if err != nil || res.OK != tt.ok {
				t.Errorf("Verify = %+v, %v; want ok %v", res, err, tt.ok)
			}
		})
	}
	if s := (AuthRequest{Method: auth.PAP, User: "alice", Password: "s3cret"}).String(); s != `pap user="alice"` {
		t.Errorf("String() = %q", s)
	}
}
