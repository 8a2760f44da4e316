package dhcp6

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

var (
	t0        = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	serverID  = &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	clientID  = &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	serverIID = ipv6.InterfaceID{0, 0, 0, 0, 0, 0, 0, 1}
	clientIID = ipv6.InterfaceID{2, 0, 0, 0xff, 0xfe, 0, 0, 2}
	dns1      = netip.MustParseAddr("2001:db8:53::1")
	link64    = netip.MustParsePrefix("2001:db8:1:2::/64")
)

// newPool is a /ipv6 pool as a profile's dhcpv6-pd-pool names it.
func newPool(t *testing.T, prefix string, length int) *pool.PrefixPool {
	t.Helper()
	p, err := pool.NewPrefixPool(pool.PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix(prefix), PrefixLength: length})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	cfg.ServerID, cfg.LocalID = serverID, serverIID
	s, err := NewServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	cfg.DUID, cfg.LocalID, cfg.IAID = clientID, clientIID, [4]byte{0, 0, 0, 1}
	cfg.Rand = rand.New(rand.NewPCG(1, 2))
	c, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// link carries datagrams between client and server as a PPP session
// would, and runs the client's timers.
type link struct {
	t   *testing.T
	c   *Client
	s   *Server
	now time.Time
	// sent counts client datagrams by message type.
	sent   map[dhcpv6.MessageType]int
	events []Event
	bound  []netip.Prefix
	freed  []netip.Prefix
	// drop, while set, loses the client's datagrams (server unreachable).
	drop bool
	// discarded are the server's messages the client discarded.
	discarded []error
}

func newLink(t *testing.T, c *Client, s *Server) *link {
	return &link{t: t, c: c, s: s, now: t0, sent: map[dhcpv6.MessageType]int{}}
}

// deliver hands a client datagram to the server and the answer back.
func (l *link) deliver(pkt []byte) {
	l.t.Helper()
	if pkt == nil {
		return
	}
	m := mustParse(l.t, pkt, ServerPort)
	l.sent[m.msg.Type()]++
	if l.drop {
		return
	}
	res, err := l.s.Handle(l.now, pkt)
	if err != nil {
		l.t.Fatalf("server: %v: %v", m.msg.Type(), err)
	}
	l.bound = append(l.bound, res.Bound...)
	l.freed = append(l.freed, res.Unbound...)
	if res.Reply == nil {
		return
	}
	out, ev, err := l.c.Handle(l.now, res.Reply)
	if err != nil {
		if !errors.Is(err, ErrDropped) {
			l.t.Fatalf("client: %v", err)
		}
		l.discarded = append(l.discarded, err)
	}
	l.note(ev)
	l.deliver(out)
}

func (l *link) note(ev Event) {
	if ev != NoEvent {
		l.events = append(l.events, ev)
	}
}

// runUntil advances time step by step (client and server timers) up to
// end.
func (l *link) runUntil(end time.Time) {
	l.t.Helper()
	for i := 0; i < 10000; i++ {
		next, ok := l.c.Next()
		if sn, sok := l.s.Next(); sok && (!ok || sn.Before(next)) {
			next, ok = sn, true
		}
		if !ok || next.After(end) {
			l.now = end
			return
		}
		if next.After(l.now) {
			l.now = next
		}
		res := l.s.Step(l.now)
		l.freed = append(l.freed, res.Unbound...)
		out, ev, err := l.c.Step(l.now)
		if err != nil {
			l.t.Fatal(err)
		}
		l.note(ev)
		l.deliver(out)
	}
	l.t.Fatal("timers never settled")
}

func mustParse(t *testing.T, b []byte, port uint16) received {
	t.Helper()
	r, err := parse(b, port)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPrefixDelegation runs our client against our server through a
// session's life: Solicit, Advertise, Request, Reply; Renew at T1;
// Rebind at T2 when the server does not answer Renew; Release at the end,
// the prefix back in the pool.
func TestPrefixDelegation(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, DNS: []netip.Addr{dns1}, Preference: 255,
		ValidLifetime: time.Hour, PreferredLifetime: 40 * time.Minute, T1: 10 * time.Minute, T2: 20 * time.Minute})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)

	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	lease, ok := c.Lease()
	if !ok || c.State() != Bound {
		t.Fatalf("state %v, lease %v", c.State(), ok)
	}
	want := netip.MustParsePrefix("2001:db8:100::/56")
	if lease.Prefix != want || !slices.Equal(lease.DNS, []netip.Addr{dns1}) || lease.T1 != 10*time.Minute || lease.T2 != 20*time.Minute || lease.Valid != time.Hour {
		t.Fatalf("lease %+v", lease)
	}
	if l.sent[dhcpv6.MessageTypeSolicit] != 1 || l.sent[dhcpv6.MessageTypeRequest] != 1 {
		t.Fatalf("sent %v, want one Solicit and one Request", l.sent)
	}
	if !slices.Equal(l.bound, []netip.Prefix{want}) || !slices.Equal(s.Delegated(), []netip.Prefix{want}) || pd.Used() != 1 {
		t.Fatalf("server bound %v, delegated %v, pool used %d", l.bound, s.Delegated(), pd.Used())
	}

	if st := c.Status(t0.Add(5 * time.Second)); st.Status != "bound" || !strings.HasPrefix(st.Prefix, "2001:db8:100::/56, 59m5") {
		t.Fatalf("print row %+v", st)
	}

	// T1: a Renew, answered; the lease is extended from the renewal.
	l.runUntil(t0.Add(10*time.Minute + 5*time.Second))
	if l.sent[dhcpv6.MessageTypeRenew] != 1 || !slices.Equal(l.events, []Event{LeaseBound, LeaseExtended}) {
		t.Fatalf("sent %v, events %v", l.sent, l.events)
	}
	lease, _ = c.Lease()
	if !lease.Obtained.After(t0.Add(10*time.Minute)) || lease.Prefix != want {
		t.Fatalf("renewed lease %+v", lease)
	}

	// The server goes quiet: Renews retransmit until T2, then Rebind; the
	// server comes back and answers the Rebind.
	l.drop = true
	renewedAt := lease.Obtained
	l.runUntil(renewedAt.Add(20*time.Minute + time.Second))
	if c.State() != Rebinding || l.sent[dhcpv6.MessageTypeRenew] < 3 || l.sent[dhcpv6.MessageTypeRebind] != 1 {
		t.Fatalf("state %v, sent %v", c.State(), l.sent)
	}
	l.drop = false
	l.runUntil(renewedAt.Add(22 * time.Minute))
	if c.State() != Bound || l.events[len(l.events)-1] != LeaseExtended {
		t.Fatalf("after rebind: state %v, events %v", c.State(), l.events)
	}

	// Session end: Release; the server returns the prefix to the pool.
	out, err := c.Release(l.now)
	if err != nil {
		t.Fatal(err)
	}
	l.deliver(out)
	if c.State() != Stopped || pd.Used() != 0 || len(s.Delegated()) != 0 || !slices.Equal(l.freed, []netip.Prefix{want}) {
		t.Fatalf("after release: state %v, pool used %d, delegated %v, freed %v", c.State(), pd.Used(), s.Delegated(), l.freed)
	}
}

// TestLeaseExpires: a server that never answers again lets the valid
// lifetime run out; the client loses the lease and solicits, the server
// drops the binding and the pool gets the prefix back.
func TestLeaseExpires(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, Preference: 255, ValidLifetime: time.Hour, PreferredLifetime: time.Hour})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	l.drop = true
	l.runUntil(t0.Add(61 * time.Minute))
	if _, ok := c.Lease(); ok || c.State() != Searching || !slices.Contains(l.events, LeaseLost) {
		t.Fatalf("state %v, events %v", c.State(), l.events)
	}
	if pd.Used() != 0 || len(l.freed) != 1 {
		t.Fatalf("pool used %d, freed %v", pd.Used(), l.freed)
	}
}

// TestRapidCommit: Solicit with Rapid Commit binds in two messages.
func TestRapidCommit(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 48)
	s := newServer(t, ServerConfig{Delegate: pd, RapidCommit: true})
	c := newClient(t, ClientConfig{RequestPrefix: true, RapidCommit: true, PrefixHint: 48})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	lease, ok := c.Lease()
	if !ok || lease.Prefix.Bits() != 48 || l.sent[dhcpv6.MessageTypeRequest] != 0 || l.sent[dhcpv6.MessageTypeSolicit] != 1 {
		t.Fatalf("lease %+v %v, sent %v", lease, ok, l.sent)
	}
	// A server without rapid-commit answers Advertise: four messages.
	s2 := newServer(t, ServerConfig{Delegate: newPool(t, "2001:db8:200::/40", 56)})
	c2 := newClient(t, ClientConfig{RequestPrefix: true, RapidCommit: true})
	l2 := newLink(t, c2, s2)
	c2.Start(l2.now)
	l2.runUntil(t0.Add(5 * time.Second))
	if _, ok := c2.Lease(); !ok || l2.sent[dhcpv6.MessageTypeRequest] != 1 {
		t.Fatalf("without server rapid commit: sent %v", l2.sent)
	}
}

// TestAddressAndDecline: IA_NA from the session's /64 next to IA_PD; a
// declined address is never handed out again, the prefix stays.
func TestAddressAndDecline(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, Link: link64, Preference: 255})
	c := newClient(t, ClientConfig{RequestPrefix: true, RequestAddress: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	lease, ok := c.Lease()
	if !ok || !link64.Contains(lease.Address) || !lease.Prefix.IsValid() {
		t.Fatalf("lease %+v", lease)
	}
	first, prefix := lease.Address, lease.Prefix
	out, err := c.Decline(l.now)
	if err != nil {
		t.Fatal(err)
	}
	l.deliver(out)
	if l.sent[dhcpv6.MessageTypeDecline] != 1 {
		t.Fatalf("sent %v", l.sent)
	}
	l.runUntil(l.now.Add(10 * time.Second))
	lease, ok = c.Lease()
	if !ok || lease.Address == first || !link64.Contains(lease.Address) || lease.Prefix != prefix {
		t.Fatalf("after decline: lease %+v, first address %v", lease, first)
	}
	if got := s.Addresses(); !slices.Equal(got, []netip.Addr{lease.Address}) {
		t.Fatalf("server addresses %v", got)
	}
}

// TestSessionEndReturnsPrefix: Close (the session ended without a
// Release) returns every prefix to the pool and reports them unbound.
func TestSessionEndReturnsPrefix(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, Preference: 255})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	res := s.Close()
	if pd.Used() != 0 || len(res.Unbound) != 1 || len(s.Delegated()) != 0 {
		t.Fatalf("pool used %d, unbound %v", pd.Used(), res.Unbound)
	}
}

// TestPoolExhausted: with the pool empty the server says NoPrefixAvail
// and the client keeps soliciting instead of binding nothing.
func TestPoolExhausted(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/56", 56)
	if _, err := pd.Allocate(netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, ServerConfig{Delegate: pd, Preference: 255})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(30 * time.Second))
	if _, ok := c.Lease(); ok || c.State() != Searching || l.sent[dhcpv6.MessageTypeSolicit] < 3 || pd.Used() != 1 || len(l.discarded) != l.sent[dhcpv6.MessageTypeSolicit] {
		t.Fatalf("state %v, sent %v, pool used %d, discarded %v", c.State(), l.sent, pd.Used(), l.discarded)
	}
}

// TestFixedPrefixAndRebindAdoption: a fixed prefix (RADIUS
// Delegated-IPv6-Prefix) is delegated and never enters the pool; a new
// server (the BNG restarted) adopts a pool prefix a client rebinds with.
func TestFixedPrefixAndRebindAdoption(t *testing.T) {
	fixed := netip.MustParsePrefix("2001:db8:ff00::/56")
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, FixedPrefix: fixed, Preference: 255})
	c := newClient(t, ClientConfig{RequestPrefix: true})
	l := newLink(t, c, s)
	c.Start(l.now)
	l.runUntil(t0.Add(5 * time.Second))
	if lease, _ := c.Lease(); lease.Prefix != fixed || pd.Used() != 0 {
		t.Fatalf("lease %v, pool used %d", lease.Prefix, pd.Used())
	}
	s.Close()

	// Restart: a client holding 2001:db8:1ff:ff00::/56 from before rebinds.
	held := netip.MustParsePrefix("2001:db8:1ff:ff00::/56")
	s2 := newServer(t, ServerConfig{Delegate: pd})
	c2 := newClient(t, ClientConfig{RequestPrefix: true})
	c2.lease = &Lease{Prefix: held, Obtained: t0, Valid: time.Hour, T1: time.Minute, T2: 2 * time.Minute}
	c2.state = Bound
	l2 := newLink(t, c2, s2)
	l2.drop = true // the old server is gone: Renews are lost
	l2.runUntil(t0.Add(2*time.Minute - time.Second))
	l2.drop = false
	l2.runUntil(t0.Add(3 * time.Minute))
	if lease, ok := c2.Lease(); !ok || lease.Prefix != held || l2.sent[dhcpv6.MessageTypeRebind] == 0 || !pd.Contains(held) || pd.Used() != 1 {
		t.Fatalf("lease %v %v, sent %v, used %d", lease.Prefix, ok, l2.sent, pd.Used())
	}
	if err := pd.Reserve(held); err == nil {
		t.Fatal("adopted prefix still free in the pool")
	}
}

func newPoolF(t *testing.T) *pool.PrefixPool { return newPool(t, "2001:db8:100::/40", 56) }
