package radiusaaa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

const testSecret = freeradius.Secret

type radiusd = freeradius.Server

func startRadiusd(t *testing.T) *radiusd { return freeradius.Start(t, freeradius.Options{}) }

// blackhole is a UDP port that never answers.
func blackhole(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// backendConfig is a BNG configuration using r for RADIUS: a pool the
// README's bob gets his address from, a local user, and the default
// profile every RADIUS user gets.
func backendConfig(t *testing.T, r *radiusd, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Load(fmt.Sprintf(`
/system identity set name=bng-test
/ip pool add name=pool-a ranges=10.77.0.2-10.77.0.10
/ppp profile set default local-address=10.77.0.1 dns-server=192.0.2.99
/ppp secret add name=carol password=carol-pw service=pppoe remote-address=10.78.0.2
/ppp aaa set use-radius=yes accounting=yes interim-update=1m
/radius add service=ppp address=127.0.0.1 secret=%q authentication-port=%d accounting-port=%d timeout=5s
%s`, testSecret, r.AuthPort, r.AcctPort, extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newBackend(t *testing.T, cfg *config.Config) (*Backend, *aaa.Local) {
	t.Helper()
	local, err := aaa.New(aaa.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend(local, BackendOptions{NASAddress: netip.MustParseAddr("192.0.2.1")})
	if err := b.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b, local
}

// ask authenticates one request through b and waits for the answer.
func ask(t *testing.T, b *Backend, handle uint64, m auth.Method, user, password string) aaa.Answer {
	t.Helper()
	cr := freeradius.Credentials(t, m, user, password)
	req := aaa.Request{
		Handle: handle, Service: aaa.ServicePPPoE, Method: m, User: user, Password: cr.Password,
		CHAPID: cr.ID, Challenge: cr.Challenge, Response: cr.Response,
		Circuit: aaa.Circuit{MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(handle)}, Interface: "ether1", VLANs: []uint16{100, 20},
			ServiceName: "isp", SessionID: uint16(handle), CircuitID: []byte("eth 1/1/1:100"), RemoteID: []byte("cpe-1")},
	}
	got := make(chan aaa.Answer, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.Authenticate(ctx, req, func(a aaa.Answer) { got <- a })
	select {
	case a := <-got:
		if a.Lease != nil {
			t.Cleanup(a.Lease.Release)
		}
		return a
	case <-time.After(2 * time.Minute):
		t.Fatal("no answer")
		return aaa.Answer{}
	}
}

func TestBackendFreeRADIUS(t *testing.T) {
	r := startRadiusd(t)
	b, local := newBackend(t, backendConfig(t, r, ""))

	t.Run("every method accepted, attributes applied", func(t *testing.T) {
		for i, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
			a := ask(t, b, uint64(10+i), m, "alice", "alice-pw")
			if !a.Accept {
				t.Fatalf("%v: refused: %v", m, a.Err)
			}
			addrs, err := a.Lease.Assign()
			if err != nil {
				t.Fatal(err)
			}
			if addrs.Remote != netip.MustParseAddr("10.9.0.5") || addrs.Local != netip.MustParseAddr("10.77.0.1") ||
				len(addrs.DNS) != 2 || addrs.DNS[0] != netip.MustParseAddr("192.0.2.53") {
				t.Errorf("%v: addresses %+v", m, addrs)
			}
			if a.SessionTimeout != time.Hour || a.IdleTimeout != 10*time.Minute || a.InterimInterval != 30*time.Second ||
				a.RateLimit.Rx.Rate != 10_000_000 || a.RateLimit.Tx.Rate != 20_000_000 || len(a.Class) != 1 || string(a.Class[0]) != "class-alice" ||
				len(a.Routes) != 1 || a.Routes[0] != netip.MustParsePrefix("192.0.2.0/24") || a.Message != "welcome alice" {
				t.Errorf("%v: answer %+v", m, a)
			}
			if (m == auth.MSCHAPv2) != (len(a.AuthenticatorResponse) == 42) {
				t.Errorf("%v: authenticator response %q", m, a.AuthenticatorResponse)
			}
			a.Lease.Release()
		}
	})
	t.Run("every method rejected", func(t *testing.T) {
		for i, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
			a := ask(t, b, uint64(20+i), m, "alice", "wrong")
			if a.Accept || !errors.Is(a.Err, aaa.ErrAuthFailed) || a.Message != "bad credentials" || a.Lease != nil {
				t.Errorf("%v: %+v", m, a)
			}
		}
	})
	t.Run("Framed-Pool from a local pool", func(t *testing.T) {
		a := ask(t, b, 30, auth.CHAP, "bob", "bob-pw")
		if !a.Accept {
			t.Fatal(a.Err)
		}
		addrs, err := a.Lease.Assign()
		if err != nil || addrs.Remote != netip.MustParseAddr("10.77.0.2") || addrs.DNS[0] != netip.MustParseAddr("192.0.2.99") {
			t.Fatalf("bob: %+v, %v; want 10.77.0.2 from pool-a and the profile's DNS", addrs, err)
		}
		if local.PoolUsed("pool-a") != 1 {
			t.Errorf("pool-a used %d", local.PoolUsed("pool-a"))
		}
		a.Lease.Release()
		if local.PoolUsed("pool-a") != 0 {
			t.Errorf("pool-a used %d after release", local.PoolUsed("pool-a"))
		}
	})
	t.Run("local secrets first", func(t *testing.T) {
		// FreeRADIUS's output reaches r.Log() through a pipe, after its
		// answers: let the earlier subtests' requests arrive before counting.
		count := func() int { return strings.Count(r.Log(), "Received Access-Request") }
		before := count()
		for range 25 {
			time.Sleep(200 * time.Millisecond)
			n := count()
			if n == before {
				break
			}
			before = n
		}
		a := ask(t, b, 40, auth.PAP, "carol", "carol-pw")
		if !a.Accept || a.Remote != netip.MustParseAddr("10.78.0.2") {
			t.Fatalf("carol: %+v", a)
		}
		// A local user with a wrong password is refused locally: RADIUS is
		// not a second chance.
		if a := ask(t, b, 41, auth.PAP, "carol", "wrong"); a.Accept {
			t.Fatal("carol with a wrong password accepted")
		}
		time.Sleep(200 * time.Millisecond) // as above: a request sent would show by now
		if after := count(); after != before {
			t.Errorf("local users went to RADIUS: %d Access-Requests", after-before)
		}
	})
	log := r.Log()
	for _, want := range []string{`NAS-Identifier = "bng-test"`, `NAS-Port-Id = "ether1:100:20"`, `Calling-Station-Id = "02:00:00:00:00:0A"`,
		`Acct-Session-Id = "0000000A"`, `Called-Station-Id = "isp"`, `ADSL-Agent-Remote-Id = 0x6370652d31`} {
		if !strings.Contains(log, want) {
			t.Errorf("FreeRADIUS did not see %s", want)
		}
	}
}

// use-radius=no: the local secrets alone, whatever /radius says.
func TestBackendUseRadiusNo(t *testing.T) {
	r := startRadiusd(t)
	b, _ := newBackend(t, backendConfig(t, r, "/ppp aaa set use-radius=no\n"))
	if a := ask(t, b, 1, auth.PAP, "alice", "alice-pw"); a.Accept {
		t.Fatal("a RADIUS user accepted with use-radius=no")
	}
	if strings.Contains(r.Log(), "Received Access-Request") {
		t.Error("use-radius=no asked RADIUS")
	}
}

// A server that never answers: the session is refused within the tries,
// with a reason that says so.
func TestBackendServerSilent(t *testing.T) {
	dead := blackhole(t)
	cfg, err := config.Load(fmt.Sprintf(`
/ppp aaa set use-radius=yes
/ppp aaa set accounting=no
/radius add service=ppp address=127.0.0.1 secret=x authentication-port=%d accounting-port=%d timeout=100ms
`, dead.Port(), dead.Port()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newBackend(t, cfg)
	start := time.Now()
	a := ask(t, b, 1, auth.PAP, "alice", "alice-pw")
	if a.Accept || !errors.Is(a.Err, radius.ErrNoServer) || !strings.Contains(a.Err.Error(), "no server answered") {
		t.Fatalf("%+v", a)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refused after %v; 3 tries of 100ms should take well under a second", d)
	}
}

// A reload that removes every /radius server of service ppp leaves the
// RADIUS users out, rather than asking the servers that were removed.
func TestBackendServersRemoved(t *testing.T) {
	r := startRadiusd(t)
	cfg := backendConfig(t, r, "")
	b, _ := newBackend(t, cfg)
	if a := ask(t, b, 1, auth.PAP, "alice", "alice-pw"); !a.Accept {
		t.Fatalf("before the reload: %v", a.Err)
	}
	next, err := config.Load(config.Export(cfg) + "/radius remove 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Configure(next); err != nil {
		t.Fatal(err)
	}
	// FreeRADIUS's log line for a request may land after its answer:
	// wait for the first one's, and give a second one as long to show.
	received := func() int { return strings.Count(r.Log(), "Received Access-Request") }
	deadline := time.Now().Add(5 * time.Second)
	for received() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := received(); n != 1 {
		t.Fatalf("FreeRADIUS logged %d Access-Requests before the reload, want 1", n)
	}
	if a := ask(t, b, 2, auth.PAP, "alice", "alice-pw"); a.Accept {
		t.Fatal("a RADIUS user accepted with no /radius server left")
	}
	time.Sleep(500 * time.Millisecond)
	if received() != 1 {
		t.Error("a removed server was asked")
	}
}

// IPv6 from RADIUS (RFC 3162, 4818, 6911): the README's erin gets fixed
// prefixes and a DNS server, fay a link /64 and delegations from the
// BNG's /ipv6 pools; both are reported in accounting.
func TestBackendIPv6Attributes(t *testing.T) {
	r := startRadiusd(t)
	b, local := newBackend(t, backendConfig(t, r, `
/ipv6 pool add name=link6 prefix=2001:db8:8000::/48 prefix-length=64
/ipv6 pool add name=pd6 prefix=2001:db8:9000::/40 prefix-length=56
`))

	erin := ask(t, b, 50, auth.PAP, "erin", "erin-pw")
	if !erin.Accept {
		t.Fatal(erin.Err)
	}
	if !erin.IPv6 || erin.IPv6Link != netip.MustParsePrefix("2001:db8:0:1::/64") ||
		erin.IPv6Delegated != netip.MustParsePrefix("2001:db8:100::/56") || erin.IPv6Delegate != nil ||
		len(erin.IPv6DNS) != 1 || erin.IPv6DNS[0] != netip.MustParseAddr("2001:db8::53") {
		t.Errorf("erin: IPv6 %v link %v delegated %v delegate %v DNS %v", erin.IPv6, erin.IPv6Link, erin.IPv6Delegated, erin.IPv6Delegate, erin.IPv6DNS)
	}

	fay := ask(t, b, 51, auth.PAP, "fay", "fay-pw")
	if !fay.Accept {
		t.Fatal(fay.Err)
	}
	if !fay.IPv6 || !netip.MustParsePrefix("2001:db8:8000::/48").Contains(fay.IPv6Link.Addr()) || fay.IPv6Link.Bits() != 64 || fay.IPv6Delegate == nil {
		t.Fatalf("fay: IPv6 %v link %v delegate %v", fay.IPv6, fay.IPv6Link, fay.IPv6Delegate)
	}
	pd, err := fay.IPv6Delegate.Allocate(netip.Prefix{})
	if err != nil || pd.Bits() != 56 || !netip.MustParsePrefix("2001:db8:9000::/40").Contains(pd.Addr()) {
		t.Fatalf("fay's delegation: %v, %v", pd, err)
	}
	if local.PrefixPoolUsed("link6") != 1 || local.PrefixPoolUsed("pd6") != 1 {
		t.Errorf("pools used: link6 %d, pd6 %d", local.PrefixPoolUsed("link6"), local.PrefixPoolUsed("pd6"))
	}
	fay.Lease.Release()
	if local.PrefixPoolUsed("link6") != 0 || local.PrefixPoolUsed("pd6") != 0 {
		t.Errorf("after release: link6 %d, pd6 %d", local.PrefixPoolUsed("link6"), local.PrefixPoolUsed("pd6"))
	}
}
