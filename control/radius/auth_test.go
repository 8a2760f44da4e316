package radius

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// credentials builds the AuthRequest a PPP link would pass for user and
// password with method: what the peer computes from the challenge.
func credentials(t *testing.T, m auth.Method, user, password string) AuthRequest {
	t.Helper()
	p := freeradius.Credentials(t, m, user, password)
	return AuthRequest{Method: m, User: user, Password: string(p.Password), CHAPID: p.ID, Challenge: p.Challenge, Response: p.Response,
		Port: Port{
			AcctSessionID: "81000001", NASPort: 1, NASPortID: "ether1:100",
			CallingStationID: "02:00:00:00:00:01", CalledStationID: "isp",
			FramedMTU: 1492, CircuitID: []byte("eth 1/1/1:100"), RemoteID: []byte("cpe-1"),
		}}
}

func testClient(t *testing.T, servers ...Server) *Client {
	t.Helper()
	c, err := NewClient(servers, Options{NASIdentifier: "bng-test", NASAddress: netip.MustParseAddr("192.0.2.1"), Tries: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func realServer(r *radiusd) Server {
	return Server{
		Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret,
		AuthPort: uint16(r.AuthPort), AcctPort: uint16(r.AcctPort),
		// Generous: the tests share two CPUs and freeradius -X is single
		// threaded; the deadline is what ends a hung test.
		Timeout: 5 * time.Second,
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestAuthenticateFreeRADIUS(t *testing.T) {
	r := startRadiusd(t)
	core, logs := observer.New(zap.DebugLevel)
	c, err := NewClient([]Server{realServer(r)}, Options{NASIdentifier: "bng-test", NASAddress: netip.MustParseAddr("192.0.2.1"), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := ctxFor(t)
	for _, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
		t.Run(m.String()+"/accept", func(t *testing.T) {
			req := credentials(t, m, "alice", "alice-pw")
			res, err := c.Authenticate(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Accepted {
				t.Fatalf("rejected: %+v", res)
			}
			want := AuthResult{
				Accepted: true, ReplyMessage: "welcome alice",
				FramedIP: netip.MustParseAddr("10.9.0.5"), FramedNetmask: netip.MustParseAddr("255.255.255.255"),
				FramedRoutes: []string{"192.0.2.0/24 10.9.0.5 1"},
				DNS1:         netip.MustParseAddr("192.0.2.53"), DNS2: netip.MustParseAddr("192.0.2.54"),
				SessionTimeout: time.Hour, IdleTimeout: 10 * time.Minute, InterimInterval: 30 * time.Second,
				Class: [][]byte{[]byte("class-alice")}, RateLimit: "10M/20M",
				Server: netip.MustParseAddr("127.0.0.1"),
			}
			if m == auth.MSCHAPv2 {
				peer, nt := req.Response[:16], req.Response[24:48]
				want.MSCHAP2Success, err = auth.GenerateAuthenticatorResponse([]byte("alice-pw"), nt, peer, req.Challenge, []byte("alice"))
				if err != nil {
					t.Fatal(err)
				}
			}
			compareResult(t, res, want)
		})
		t.Run(m.String()+"/reject", func(t *testing.T) {
			res, err := c.Authenticate(ctx, credentials(t, m, "alice", "wrong"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted {
				t.Fatal("wrong password accepted")
			}
			if res.ReplyMessage != "bad credentials" {
				t.Errorf("Reply-Message %q", res.ReplyMessage)
			}
			if m == auth.MSCHAPv1 || m == auth.MSCHAPv2 {
				if !strings.HasPrefix(res.MSCHAPError, "E=691") {
					t.Errorf("MS-CHAP-Error %q, want E=691 ...", res.MSCHAPError)
				}
			}
			if res.FramedIP.IsValid() || res.Class != nil {
				t.Errorf("a reject's attributes were taken: %+v", res)
			}
		})
	}
	t.Run("Framed-Pool", func(t *testing.T) {
		res, err := c.Authenticate(ctx, credentials(t, auth.CHAP, "bob", "bob-pw"))
		if err != nil || !res.Accepted || res.FramedPool != "pool-a" || res.FramedIP.IsValid() {
			t.Fatalf("bob: %+v, %v; want accepted with Framed-Pool pool-a and no address", res, err)
		}
	})
	t.Run("unknown attributes", func(t *testing.T) {
		for range 2 {
			res, err := c.Authenticate(ctx, credentials(t, auth.PAP, "dave", "dave-pw"))
			if err != nil || !res.Accepted {
				t.Fatalf("dave: %+v, %v", res, err)
			}
		}
	})
	t.Run("unknown-user", func(t *testing.T) {
		res, err := c.Authenticate(ctx, credentials(t, auth.PAP, "mallory", "x"))
		if err != nil || res.Accepted {
			t.Fatalf("unknown user: %+v, %v", res, err)
		}
	})
	// Filter-Id and Cisco-AVPair mean nothing here: ignored, each noted
	// once however many answers carried them.
	ignored := logs.FilterMessage("radius attribute ignored").AllUntimed()
	if len(ignored) != 2 {
		t.Errorf("%d notes of ignored attributes, want 2 (Filter-Id, Cisco-AVPair): %v", len(ignored), ignored)
	}
	for _, e := range logs.AllUntimed() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), testSecret) || strings.Contains(e.Message, testSecret) {
			t.Errorf("the secret reached a log line: %v", e)
		}
	}
	// What the server saw: the request attributes the issue lists.
	log := r.Log()
	for _, want := range []string{
		`User-Name = "alice"`, `NAS-Identifier = "bng-test"`, `NAS-IP-Address = 192.0.2.1`,
		`NAS-Port = 1`, `NAS-Port-Type = Ethernet`, `NAS-Port-Id = "ether1:100"`,
		`Calling-Station-Id = "02:00:00:00:00:01"`, `Called-Station-Id = "isp"`,
		`Service-Type = Framed-User`, `Framed-Protocol = PPP`, `Acct-Session-Id = "81000001"`,
		`Framed-MTU = 1492`, `ADSL-Agent-Circuit-Id = 0x65746820312f312f313a313030`,
		`ADSL-Agent-Remote-Id = 0x6370652d31`, `Message-Authenticator = 0x`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("freeradius did not see %s", want)
		}
	}
}

func compareResult(t *testing.T, got, want AuthResult) {
	t.Helper()
	eq := func(name string, ok bool) {
		if !ok {
			t.Errorf("%s: got %+v\nwant %+v", name, got, want)
		}
	}
	eq("Accepted", got.Accepted == want.Accepted)
	eq("ReplyMessage", got.ReplyMessage == want.ReplyMessage)
	eq("FramedIP", got.FramedIP == want.FramedIP)
	eq("FramedNetmask", got.FramedNetmask == want.FramedNetmask)
	eq("FramedPool", got.FramedPool == want.FramedPool)
	eq("FramedRoutes", strings.Join(got.FramedRoutes, ",") == strings.Join(want.FramedRoutes, ","))
	eq("DNS", got.DNS1 == want.DNS1 && got.DNS2 == want.DNS2)
	eq("timeouts", got.SessionTimeout == want.SessionTimeout && got.IdleTimeout == want.IdleTimeout && got.InterimInterval == want.InterimInterval)
	eq("Class", len(got.Class) == len(want.Class) && (len(got.Class) == 0 || bytes.Equal(got.Class[0], want.Class[0])))
	eq("RateLimit", got.RateLimit == want.RateLimit)
	eq("MSCHAP2Success", bytes.Equal(got.MSCHAP2Success, want.MSCHAP2Success))
	eq("Server", got.Server == want.Server)
}

// blackhole is a server that reads requests and never answers, counting
// them.
func blackhole(t *testing.T) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), &n
}

func TestFailoverAndHoldDown(t *testing.T) {
	r := startRadiusd(t)
	dead, seen := blackhole(t)
	first := Server{Address: dead.Addr(), Secret: testSecret, AuthPort: dead.Port(), AcctPort: dead.Port(), Timeout: 200 * time.Millisecond}
	c := testClient(t, first, realServer(r))
	ctx := ctxFor(t)
	res, err := c.Authenticate(ctx, credentials(t, auth.PAP, "alice", "alice-pw"))
	if err != nil || !res.Accepted {
		t.Fatalf("through the second server: %+v, %v", res, err)
	}
	if res.Server != netip.MustParseAddr("127.0.0.1") || c.Stats().Failovers.Load() != 1 {
		t.Fatalf("failovers %d", c.Stats().Failovers.Load())
	}
	waitFor(t, "Tries=3 transmissions to the silent server", func() bool { return seen.Load() == 3 })
	// Held down: the next request goes straight to the second server.
	if _, err := c.Authenticate(ctx, credentials(t, auth.CHAP, "alice", "alice-pw")); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != 3 || c.Stats().Failovers.Load() != 1 {
		t.Fatalf("the held-down server got %d transmissions, failovers %d", got, c.Stats().Failovers.Load())
	}
}

func TestEveryServerSilent(t *testing.T) {
	dead, seen := blackhole(t)
	s := Server{Address: dead.Addr(), Secret: testSecret, AuthPort: dead.Port(), Timeout: 50 * time.Millisecond}
	c := testClient(t, s)
	ctx := ctxFor(t)
	for range 2 {
		// Held down or not, the only server is still tried: a total
		// outage must end with the first answer.
		if _, err := c.Authenticate(ctx, credentials(t, auth.PAP, "alice", "x")); !errors.Is(err, ErrNoServer) {
			t.Fatalf("got %v, want ErrNoServer", err)
		}
	}
	waitFor(t, "2 requests x 3 tries", func() bool { return seen.Load() == 6 })
	// The context bounds a request whatever the timeouts say.
	s.Timeout = time.Hour
	c = testClient(t, s)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Authenticate(short, credentials(t, auth.PAP, "alice", "x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}

// forger answers every Access-Request with each of answers (built from the
// request) in turn, as an attacker on the path racing the real server
// would.
func forger(t *testing.T, answers ...func(req *radius.Packet) []byte) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req, err := radius.Parse(buf[:n], []byte(testSecret))
			if err != nil {
				continue
			}
			for _, a := range answers {
				if b := a(req); b != nil {
					_, _ = c.WriteToUDPAddrPort(b, from)
				}
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// accept is a well-formed Access-Accept for req with secret, signed or not.
func accept(secret string, signed bool, tweak func([]byte)) func(*radius.Packet) []byte {
	return func(req *radius.Packet) []byte {
		p := req.Response(radius.CodeAccessAccept)
		p.Secret = []byte(secret)
		_ = rfc2865.FramedIPAddress_Set(p, net.IPv4(10, 66, 0, 1))
		var b []byte
		var err error
		if signed {
			b, err = encodeResponse(p, req.Authenticator)
		} else {
			b, err = p.Encode() // the library's encoding: Response Authenticator only
		}
		if err != nil {
			panic(err)
		}
		if tweak != nil {
			tweak(b)
		}
		return b
	}
}

func TestForgedAnswersDropped(t *testing.T) {
	ctx := ctxFor(t)
	wrongID := func(b []byte) { b[1]++ }
	badMA := func(b []byte) { b[headerLen+2] ^= 1 } // the MAC, first attribute
	cases := []struct {
		name             string
		answers          []func(*radius.Packet) []byte
		acceptUnsigned   bool
		accepted         bool
		invalid, unmatch bool
	}{
		{"signed", []func(*radius.Packet) []byte{accept(testSecret, true, nil)}, false, true, false, false},
		{"unsigned (BlastRADIUS)", []func(*radius.Packet) []byte{accept(testSecret, false, nil)}, false, false, true, false},
		{"unsigned, require-message-authenticator=no", []func(*radius.Packet) []byte{accept(testSecret, false, nil)}, true, true, false, false},
		{"wrong secret", []func(*radius.Packet) []byte{accept("guess", true, nil)}, false, false, true, false},
		{"wrong Message-Authenticator", []func(*radius.Packet) []byte{accept(testSecret, true, badMA)}, true, false, true, false},
		{"no outstanding request", []func(*radius.Packet) []byte{accept(testSecret, true, wrongID)}, false, false, false, true},
		{"forgery first, then the real answer", []func(*radius.Packet) []byte{accept("guess", true, nil), accept(testSecret, false, nil), accept(testSecret, true, nil)}, false, true, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := forger(t, tc.answers...)
			// A second to answer, twice: the forger shares the CPUs.
			c, err := NewClient([]Server{{Address: a.Addr(), Secret: testSecret, AuthPort: a.Port(), Timeout: time.Second, AcceptUnsigned: tc.acceptUnsigned}}, Options{Tries: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := c.Authenticate(ctx, credentials(t, auth.PAP, "alice", "alice-pw"))
			if tc.accepted {
				if err != nil || !res.Accepted || res.FramedIP != netip.MustParseAddr("10.66.0.1") {
					t.Fatalf("got %+v, %v", res, err)
				}
			} else if !errors.Is(err, ErrNoServer) {
				t.Fatalf("got %+v, %v; want ErrNoServer", res, err)
			}
			// An answer to a retransmission that arrives after the
			// request ended counts as unmatched, so only "some" holds
			// for the forged ones.
			if got := c.Stats().Invalid.Load(); (got > 0) != tc.invalid {
				t.Errorf("invalid %d, want some: %v", got, tc.invalid)
			}
			if got := c.Stats().Unmatched.Load(); tc.unmatch && got == 0 {
				t.Errorf("unmatched %d, want some", got)
			}
		})
	}
}

func TestNASPortID(t *testing.T) {
	for _, tc := range []struct {
		iface string
		vlans []uint16
		want  string
	}{
		{"ether1", nil, "ether1"},
		{"ether1", []uint16{100}, "ether1:100"},
		{"ether1", []uint16{100, 20}, "ether1:100:20"},
		{"sfp-sfpplus1", []uint16{4094, 1}, "sfp-sfpplus1:4094:1"},
	} {
		if got := NASPortID(tc.iface, tc.vlans...); got != tc.want {
			t.Errorf("NASPortID(%q, %v) = %q, want %q", tc.iface, tc.vlans, got, tc.want)
		}
	}
}

func TestAcctSessionID(t *testing.T) {
	for h, want := range map[uint64]string{1: "00000001", 0x1a: "0000001A", 0x81000002: "81000002", 0x1_0000_0000: "100000000", 1<<64 - 1: "FFFFFFFFFFFFFFFF"} {
		if got := AcctSessionID(h); got != want {
			t.Errorf("AcctSessionID(%#x) = %q, want %q", h, got, want)
		}
	}
}
