package radius

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

// slowServer answers every Access-Request after delay, signed, with a
// Framed-IP-Address derived from the User-Name, so that an answer
// delivered to the wrong request shows.
func slowServer(t *testing.T, delay time.Duration) netip.AddrPort { return slowServerB(t, delay) }

func slowServerB(t testing.TB, delay time.Duration) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadBuffer(8 << 20) // a burst of 1,000 requests
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
			time.AfterFunc(delay, func() {
				var i int
				fmt.Sscanf(rfc2865.UserName_GetString(req), "user%d", &i)
				p := req.Response(radius.CodeAccessAccept)
				_ = rfc2865.FramedIPAddress_Set(p, net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)))
				b, _ := encodeResponse(p, req.Authenticator)
				_, _ = c.WriteToUDPAddrPort(b, from)
			})
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// More requests outstanding at once than one socket has identifiers:
// each must get its own answer.
func TestManyOutstandingRequests(t *testing.T) {
	a := slowServer(t, 200*time.Millisecond)
	c := testClient(t, Server{Address: a.Addr(), Secret: testSecret, AuthPort: a.Port(), Timeout: 2 * time.Second})
	ctx := ctxFor(t)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Authenticate(ctx, credentials(t, auth.PAP, fmt.Sprintf("user%d", i), "pw"))
			want := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if err == nil && res.FramedIP != want {
				err = fmt.Errorf("user%d got %v", i, res.FramedIP)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ep := c.list()[0].auth
	ep.mu.Lock()
	socks := len(ep.socks)
	ep.mu.Unlock()
	if socks < 2 || socks > c.opts.MaxSockets {
		t.Errorf("%d sockets for %d requests outstanding", socks, n)
	}
	if c.Stats().Invalid.Load() != 0 {
		t.Errorf("%d answers failed verification", c.Stats().Invalid.Load())
	}
}

// BenchmarkAuthenticateFreeRADIUS measures PAP requests per second
// through the client against a real FreeRADIUS (single-threaded -X, so
// the server is the limit).
func BenchmarkAuthenticateFreeRADIUS(b *testing.B) {
	r := startRadiusd(b)
	s := realServer(r)
	c, err := NewClient([]Server{s}, Options{NASIdentifier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := AuthRequest{Method: auth.PAP, User: "alice", Password: "alice-pw"}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Authenticate(context.Background(), req)
			if err != nil || !res.Accepted {
				b.Error(res, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkAuthenticateResponder measures the client alone: the server is
// the in-process signing responder of TestManyOutstandingRequests with no
// delay, on loopback.
func BenchmarkAuthenticateResponder(b *testing.B) {
	a := slowServerB(b, 0)
	c, err := NewClient([]Server{{Address: a.Addr(), Secret: testSecret, AuthPort: a.Port(), Timeout: 2 * time.Second}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := AuthRequest{Method: auth.PAP, User: "user1", Password: "pw"}
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Authenticate(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// A /radius change replaces the server list: validated first, sockets of
// a server that stays kept, those of one that goes closed.
func TestSetServers(t *testing.T) {
	dead, _ := blackhole(t)
	live := slowServer(t, 0)
	silent := Server{Address: dead.Addr(), Secret: testSecret, AuthPort: dead.Port(), Timeout: 50 * time.Millisecond}
	answering := Server{Address: live.Addr(), Secret: testSecret, AuthPort: live.Port(), Timeout: 2 * time.Second}
	c := testClient(t, silent)
	ctx := ctxFor(t)
	req := AuthRequest{Method: auth.PAP, User: "user1", Password: "pw"}
	if _, err := c.Authenticate(ctx, req); !errors.Is(err, ErrNoServer) {
		t.Fatalf("silent server: %v", err)
	}
	oldEP := c.list()[0].auth

	if err := c.SetServers([]Server{answering}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Authenticate(ctx, req); err != nil || !res.Accepted {
		t.Fatalf("after the change: %+v, %v", res, err)
	}
	oldEP.mu.Lock()
	closed := oldEP.closed
	oldEP.mu.Unlock()
	if !closed {
		t.Error("the removed server's sockets are still open")
	}

	kept := c.list()[0].auth
	answering.Timeout = time.Second // not a socket setting
	if err := c.SetServers([]Server{answering}); err != nil {
		t.Fatal(err)
	}
	if c.list()[0].auth != kept || c.list()[0].Timeout != time.Second {
		t.Error("a server that stayed lost its sockets, or did not take its new timeout")
	}
	answering.Secret = "another"
	if err := c.SetServers([]Server{answering}); err != nil {
		t.Fatal(err)
	}
	if c.list()[0].auth == kept {
		t.Error("a new secret kept the old sockets")
	}

	for _, bad := range [][]Server{nil, {{Secret: "x"}}, {{Address: dead.Addr()}}} {
		if err := c.SetServers(bad); err == nil {
			t.Errorf("SetServers(%v) accepted", bad)
		}
	}
	if c.list()[0].Secret != "another" {
		t.Error("a refused list changed the client")
	}
	c.Close()
	if err := c.SetServers([]Server{answering}); err == nil {
		t.Error("SetServers after Close accepted")
	}
}

// /system identity set name=... reaches requests built afterwards.
func TestSetNASIdentifier(t *testing.T) {
	c := testClient(t, Server{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret})
	nasID := func() string {
		p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		c.addNAS(p)
		return rfc2865.NASIdentifier_GetString(p)
	}
	if got := nasID(); got != "bng-test" {
		t.Fatalf("NAS-Identifier %q, want bng-test", got)
	}
	c.SetNASIdentifier("bng-renamed")
	if got := nasID(); got != "bng-renamed" {
		t.Fatalf("NAS-Identifier %q after SetNASIdentifier", got)
	}
}

// Without a configured NAS address, NAS-IP-Address is the address the
// request leaves from; a configured one wins.
func TestNASAddressFromSource(t *testing.T) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := make(chan net.IP, 4)
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
			ips, _ := rfc2865.NASIPAddress_Gets(req)
			if len(ips) != 1 {
				seen <- nil
			} else {
				seen <- ips[0]
			}
			b, _ := encodeResponse(req.Response(radius.CodeAccessAccept), req.Authenticator)
			_, _ = c.WriteToUDPAddrPort(b, from)
		}
	}()
	addr := c.LocalAddr().(*net.UDPAddr).AddrPort()
	srv := Server{Address: addr.Addr(), Secret: testSecret, AuthPort: addr.Port(), Timeout: 2 * time.Second}
	req := AuthRequest{Method: auth.PAP, User: "u", Password: "p"}
	for _, tc := range []struct {
		configured netip.Addr
		want       string
	}{
		{netip.Addr{}, "127.0.0.1"},
		{netip.MustParseAddr("192.0.2.1"), "192.0.2.1"},
	} {
		cl, err := NewClient([]Server{srv}, Options{NASIdentifier: "x", NASAddress: tc.configured})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Authenticate(ctxFor(t), req); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		if got := <-seen; got.String() != tc.want {
			t.Errorf("configured %v: NAS-IP-Address %v, want exactly one, %s", tc.configured, got, tc.want)
		}
	}
}
