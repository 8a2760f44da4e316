package radius

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// sessions is a small live-session table behind the Handler interface,
// as the session engine will keep one: it ends and changes the sessions
// a selector names.
type sessions struct {
	mu    sync.Mutex
	live  []*liveSession
	calls int
}

type liveSession struct {
	id, user, mac string
	ip            netip.Addr
	timeout, idle time.Duration
	rate          string
}

func (s *sessions) match(sel Selector) []int {
	var out []int
	for i, l := range s.live {
		if (sel.AcctSessionID == "" || sel.AcctSessionID == l.id) && (sel.UserName == "" || sel.UserName == l.user) &&
			(!sel.FramedIP.IsValid() || sel.FramedIP == l.ip) && (sel.CallingStationID == "" || sel.CallingStationID == l.mac) {
			out = append(out, i)
		}
	}
	return out
}

func (s *sessions) Disconnect(_ context.Context, sel Selector) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m := s.match(sel)
	for k := len(m) - 1; k >= 0; k-- {
		s.live = append(s.live[:m[k]], s.live[m[k]+1:]...)
	}
	return len(m), nil
}

func (s *sessions) Change(_ context.Context, sel Selector, ch Change) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m := s.match(sel)
	for _, i := range m {
		l := s.live[i]
		if ch.SessionTimeout != nil {
			l.timeout = *ch.SessionTimeout
		}
		if ch.IdleTimeout != nil {
			l.idle = *ch.IdleTimeout
		}
		if ch.RateLimit != nil {
			l.rate = *ch.RateLimit
		}
	}
	return len(m), nil
}

func (s *sessions) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *sessions) get(id string) *liveSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.live {
		if l.id == id {
			c := *l
			return &c
		}
	}
	return nil
}

func newSessions() *sessions {
	return &sessions{live: []*liveSession{
		{id: "s1", user: "alice", mac: "02:00:00:00:00:01", ip: netip.MustParseAddr("10.9.0.5")},
		{id: "s2", user: "bob", mac: "02:00:00:00:00:02", ip: netip.MustParseAddr("10.9.0.6")},
		{id: "s3", user: "carol", mac: "02:00:00:00:00:03", ip: netip.MustParseAddr("10.9.0.7")},
	}}
}

// serveDynAuth runs a listener on a free loopback port for the test.
func serveDynAuth(t *testing.T, h Handler, opts DynAuthOptions) (*DynAuth, netip.AddrPort) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDynAuth(h, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Serve(ctx, conn) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

var loopbackClient = []DynAuthClient{{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: testSecret}}

func TestDynAuthRadclient(t *testing.T) {
	s := newSessions()
	d, addr := serveDynAuth(t, s, DynAuthOptions{Clients: loopbackClient, NASIdentifier: "bng-test"})
	now := time.Now().Unix()
	ts := func() string { return "Event-Timestamp = " + itoa(now) }
	cases := []struct {
		name, kind, secret, attrs string
		want                      []string // in radclient's output
	}{
		{"disconnect by Acct-Session-Id", "disconnect", testSecret,
			"Acct-Session-Id = s1, Message-Authenticator = 0x00, " + ts(),
			[]string{"Received Disconnect-ACK"}},
		{"disconnect, no such session", "disconnect", testSecret,
			"User-Name = nobody, Message-Authenticator = 0x00",
			[]string{"Received Disconnect-NAK", "Error-Cause = Session-Context-Not-Found"}},
		{"coa by Framed-IP-Address", "coa", testSecret,
			"Framed-IP-Address = 10.9.0.6, Session-Timeout = 120, Idle-Timeout = 30, Mikrotik-Rate-Limit = \"5M/5M\", NAS-Identifier = bng-test, " + ts(),
			[]string{"Received CoA-ACK"}},
		{"coa with an unsupported attribute", "coa", testSecret,
			"Calling-Station-Id = 02:00:00:00:00:03, Filter-Id = \"gold\"",
			[]string{"Received CoA-NAK", "Error-Cause = Unsupported-Attribute"}},
		{"coa for another NAS", "coa", testSecret,
			"User-Name = carol, NAS-Identifier = other-bng, Session-Timeout = 1",
			[]string{"Received CoA-NAK", "Error-Cause = NAS-Identification-Mismatch"}},
		{"coa without a selector", "coa", testSecret,
			"Session-Timeout = 1",
			[]string{"Received CoA-NAK", "Error-Cause = Missing-Attribute"}},
		{"wrong secret", "disconnect", "not-the-secret",
			"User-Name = carol", []string{"No reply from server"}},
		{"stale Event-Timestamp", "disconnect", testSecret,
			"User-Name = carol, Event-Timestamp = " + itoa(now-3600), []string{"No reply from server"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Generous for an answer; a request that must get none
			// costs its whole wait, so that one is short.
			wait := 20 * time.Second
			if tc.want[0] == "No reply from server" {
				wait = 2 * time.Second
			}
			out := freeradius.Radclient(t, addr, tc.kind, tc.secret, tc.attrs, wait)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("radclient output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if s.get("s1") != nil {
		t.Error("session s1 was not disconnected")
	}
	if b := s.get("s2"); b == nil || b.timeout != 2*time.Minute || b.idle != 30*time.Second || b.rate != "5M/5M" {
		t.Errorf("session s2 not changed: %+v", b)
	}
	if c := s.get("s3"); c == nil || c.timeout != 0 {
		t.Errorf("session s3 must be untouched: %+v", c)
	}
	if d.Dropped.Load() != 2 {
		t.Errorf("dropped %d, want 2 (wrong secret, stale timestamp)", d.Dropped.Load())
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// exchangeRaw sends b to addr and returns the answer, or nil after wait.
func exchangeRaw(t *testing.T, addr netip.AddrPort, b []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func coaRequest(t *testing.T, secret string, build func(p *radius.Packet)) []byte {
	t.Helper()
	p := radius.New(radius.CodeCoARequest, []byte(secret))
	build(p)
	b, err := encodeRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDynAuthReplayAndChecks(t *testing.T) {
	s := newSessions()
	d, addr := serveDynAuth(t, s, DynAuthOptions{Clients: loopbackClient})
	req := coaRequest(t, testSecret, func(p *radius.Packet) {
		_ = rfc2866.AcctSessionID_SetString(p, "s2")
		_ = rfc2865.SessionTimeout_Set(p, 60)
		_ = rfc2869.EventTimestamp_Set(p, time.Now())
		_ = rfc2865.ProxyState_Add(p, []byte("ps-1"))
		_ = rfc2865.ProxyState_Add(p, []byte("ps-2"))
	})
	wait := 30 * time.Second // only the dropped cases wait less
	first := exchangeRaw(t, addr, req, wait)
	if first == nil || radius.Code(first[0]) != radius.CodeCoAACK {
		t.Fatalf("answer %x, want a CoA-ACK", first)
	}
	if err := verifyResponse(first, req, []byte(testSecret), true); err != nil {
		t.Fatalf("the ACK does not verify: %v", err)
	}
	ack, _ := radius.Parse(first, []byte(testSecret))
	ps, _ := rfc2865.ProxyState_Gets(ack)
	if len(ps) != 2 || string(ps[0]) != "ps-1" || string(ps[1]) != "ps-2" {
		t.Errorf("Proxy-State not echoed in order: %q", ps)
	}
	// The same bytes again, as a retransmission or a replay: the same
	// answer, and the handler is not called again.
	again := exchangeRaw(t, addr, req, wait)
	if !bytes.Equal(again, first) || s.callCount() != 1 {
		t.Fatalf("replay: answer equal %v, handler calls %d", bytes.Equal(again, first), s.callCount())
	}

	short := 500 * time.Millisecond
	dropped := []struct {
		name string
		b    []byte
	}{
		{"bad Message-Authenticator", func() []byte {
			b := coaRequest(t, testSecret, func(p *radius.Packet) { _ = rfc2866.AcctSessionID_SetString(p, "s3") })
			b[headerLen+2] ^= 1
			// Keep the Request Authenticator right, so only the MAC is wrong.
			h := hashAuth(b, zeroAuth[:], []byte(testSecret))
			copy(b[4:20], h[:])
			return b
		}()},
		{"Access-Request", func() []byte {
			p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
			_ = rfc2865.UserName_SetString(p, "carol")
			b, _ := encodeRequest(p)
			return b
		}()},
		{"truncated", req[:19]},
	}
	for _, tc := range dropped {
		if got := exchangeRaw(t, addr, tc.b, short); got != nil {
			t.Errorf("%s: answered %x", tc.name, got)
		}
	}
	waitFor(t, "the drops", func() bool { return d.Dropped.Load() == uint64(len(dropped)) })
	if s.callCount() != 1 {
		t.Errorf("handler calls %d", s.callCount())
	}

	// A client not on the list gets nothing, whatever its secret.
	_, other := serveDynAuth(t, s, DynAuthOptions{Clients: []DynAuthClient{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Secret: testSecret}}})
	fresh := coaRequest(t, testSecret, func(p *radius.Packet) { _ = rfc2866.AcctSessionID_SetString(p, "s3") })
	if got := exchangeRaw(t, other, fresh, short); got != nil {
		t.Errorf("unlisted client answered: %x", got)
	}

	// Required Event-Timestamp: NAK 402 without one.
	_, strict := serveDynAuth(t, s, DynAuthOptions{Clients: loopbackClient, RequireEventTimestamp: true})
	nak := exchangeRaw(t, strict, fresh, wait)
	if nak == nil || radius.Code(nak[0]) != radius.CodeCoANAK {
		t.Fatalf("want a CoA-NAK, got %x", nak)
	}
	p, _ := radius.Parse(nak, []byte(testSecret))
	if v, _ := p.Lookup(101); len(v) != 4 || v[3] != 402-256 || v[2] != 1 {
		t.Errorf("Error-Cause %x, want 402", v)
	}
}

func TestSelectorMatches(t *testing.T) {
	ip := netip.MustParseAddr("10.9.0.5")
	type id struct {
		acct, user string
		ip         netip.Addr
		mac        string
	}
	alice := id{"81000002", "alice", ip, "02:00:00:AA:BB:01"}
	for _, tc := range []struct {
		name string
		sel  Selector
		want bool
	}{
		{"empty selects nothing", Selector{}, false},
		{"Acct-Session-Id", Selector{AcctSessionID: "81000002"}, true},
		{"other Acct-Session-Id", Selector{AcctSessionID: "81000003"}, false},
		{"User-Name", Selector{UserName: "alice"}, true},
		{"Framed-IP-Address", Selector{FramedIP: ip}, true},
		{"other Framed-IP-Address", Selector{FramedIP: netip.MustParseAddr("10.9.0.6")}, false},
		{"Calling-Station-Id, other case and dashes", Selector{CallingStationID: "02-00-00-aa-bb-01"}, true},
		{"Calling-Station-Id, dotted", Selector{CallingStationID: "0200.00aa.bb01"}, true},
		{"Calling-Station-Id, other MAC", Selector{CallingStationID: "02:00:00:aa:bb:02"}, false},
		{"all given must match", Selector{UserName: "alice", AcctSessionID: "81000003"}, false},
		{"all match", Selector{UserName: "alice", AcctSessionID: "81000002", FramedIP: ip, CallingStationID: "02:00:00:aa:bb:01"}, true},
		{"not a MAC compared as given", Selector{CallingStationID: "port 7"}, false},
	} {
		if got := tc.sel.Matches(alice.acct, alice.user, alice.ip, alice.mac); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// A session without an address is not selected by one.
	if (Selector{FramedIP: ip}).Matches("1", "bob", netip.Addr{}, "") {
		t.Error("Framed-IP-Address matched a session without address")
	}
}
