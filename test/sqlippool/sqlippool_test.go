package sqlippool

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// nas is one access concentrator of the fleet as RADIUS sees it: its own
// NAS-Identifier (/system identity) and NAS-IP-Address, through
// control/radius's client and accounting sender.
type nas struct {
	t    *testing.T
	id   string
	addr netip.Addr
	c    *radius.Client
	acct *radius.Accounting
}

func newNAS(t *testing.T, l *Lab, id, addr string) *nas {
	t.Helper()
	n := &nas{t: t, id: id, addr: netip.MustParseAddr(addr)}
	var err error
	n.c, err = radius.NewClient([]radius.Server{l.Server()}, radius.Options{NASIdentifier: id, NASAddress: n.addr})
	if err != nil {
		t.Fatal(err)
	}
	n.acct = radius.NewAccounting(n.c, radius.AccountingOptions{RetryMin: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.acct.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; n.c.Close() })
	return n
}

// port is session sid of subscriber mac on this NAS.
func (n *nas) port(sid int, mac string) radius.Port {
	return radius.Port{AcctSessionID: fmt.Sprintf("%s-%d", n.id, sid), NASPort: uint32(sid), NASPortID: "ether3",
		CallingStationID: mac, CalledStationID: "fleet"}
}

// dial authenticates session sid: the address the pool gave, or an
// invalid one when the server rejected it.
func (n *nas) dial(sid int, mac string) (radius.AuthResult, netip.Addr) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := n.c.Authenticate(ctx, radius.AuthRequest{Method: auth.PAP, User: "sub", Password: "subpass", Port: n.port(sid, mac)})
	if err != nil {
		n.t.Fatalf("%s: %v", n.id, err)
	}
	if !r.Accepted {
		return r, netip.Addr{}
	}
	return r, r.FramedIP
}

// session is the accounting of session sid with address a.
func (n *nas) session(sid int, mac string, a netip.Addr) *radius.Session {
	return n.acct.Session(radius.SessionInfo{User: "sub", Port: n.port(sid, mac), FramedIP: a})
}

// settle waits until every queued accounting record has been answered.
func (n *nas) settle() {
	n.t.Helper()
	for end := time.Now().Add(10 * time.Second); n.acct.Len() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			n.t.Fatalf("%s: %d accounting records unanswered after 10s", n.id, n.acct.Len())
		}
	}
}

func pool(first string, n int) []netip.Addr {
	a := netip.MustParseAddr(first)
	var out []netip.Addr
	for range n {
		out = append(out, a)
		a = a.Next()
	}
	return out
}

// TestAcceptCarriesPoolAddress: an Access-Accept carries a
// Framed-IP-Address from the SQL pool, and the lease names the NAS, the
// session and the subscriber.
func TestAcceptCarriesPoolAddress(t *testing.T) {
	l := Start(t, Options{Pool: pool("100.64.0.1", 3)})
	ac1 := newNAS(t, l, "ac1", "192.0.2.1")
	r, a := ac1.dial(1, "02:00:00:00:00:01")
	if !r.Accepted || !a.IsValid() {
		t.Fatalf("Access-Accept %+v without a Framed-IP-Address", r)
	}
	if a.Compare(netip.MustParseAddr("100.64.0.1")) < 0 || a.Compare(netip.MustParseAddr("100.64.0.3")) > 0 {
		t.Errorf("Framed-IP-Address %v not from the pool 100.64.0.1-3", a)
	}
	ls := l.Leases(t)
	if len(ls) != 1 {
		t.Fatalf("leases %+v, want one", ls)
	}
	want := Lease{Addr: a, NAS: "192.0.2.1", PoolKey: "ac1/ac1-1", User: "sub", Calling: "02:00:00:00:00:01"}
	got := ls[0]
	got.Expiring = 0
	if got != want {
		t.Errorf("lease %+v, want %+v", got, want)
	}
	if ls[0].Expiring < 50*time.Minute {
		t.Errorf("lease expires in %v, want about the hour's lease_duration", ls[0].Expiring)
	}
}

// TestStopReleases: with every address taken another NAS's subscriber is
// refused; the holder's Accounting-Stop frees the address, and the next
// subscriber gets it.
func TestStopReleases(t *testing.T) {
	l := Start(t, Options{Pool: pool("100.64.0.1", 1)})
	ac1, ac2 := newNAS(t, l, "ac1", "192.0.2.1"), newNAS(t, l, "ac2", "192.0.2.2")
	_, a := ac1.dial(1, "02:00:00:00:00:01")
	if !a.IsValid() {
		t.Fatal("first subscriber got no address")
	}
	s := ac1.session(1, "02:00:00:00:00:01", a)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	if r, b := ac2.dial(1, "02:00:00:00:00:02"); r.Accepted || b.IsValid() {
		t.Fatalf("pool of one, taken: ac2 got %+v", r)
	} else if !strings.Contains(r.ReplyMessage, "no address") {
		t.Errorf("reject says %q, want the pool's reason", r.ReplyMessage)
	}
	if err := s.Stop(radius.Usage{Time: time.Minute}, radius.CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	if ls := l.Leases(t); len(ls) != 0 {
		t.Fatalf("after the Stop: leases %+v, want none", ls)
	}
	if _, b := ac2.dial(1, "02:00:00:00:00:02"); b != a {
		t.Fatalf("after the Stop ac2 got %v, want the freed %v", b, a)
	}
}

// TestTwoNASNeverShare: two ACs allocate at once from one pool smaller
// than their demand: every address goes to exactly one session, the rest
// are refused, and each lease names the NAS that holds it. An AC's
// Accounting-On (it restarted with no sessions) frees its own leases and
// no other's.
func TestTwoNASNeverShare(t *testing.T) {
	const size, each = 40, 25
	l := Start(t, Options{Pool: pool("100.64.1.1", size)})
	acs := []*nas{newNAS(t, l, "ac1", "192.0.2.1"), newNAS(t, l, "ac2", "192.0.2.2")}
	type grant struct {
		nas string
		sid int
	}
	var mu sync.Mutex
	owner := map[netip.Addr]grant{}
	refused := 0
	var wg sync.WaitGroup
	for _, n := range acs {
		for sid := 1; sid <= each; sid++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, a := n.dial(sid, fmt.Sprintf("02:00:00:00:%02x:%02x", len(n.id), sid))
				mu.Lock()
				defer mu.Unlock()
				if !a.IsValid() {
					refused++
					return
				}
				if prev, dup := owner[a]; dup {
					t.Errorf("%v given to %s session %d and %s session %d", a, prev.nas, prev.sid, n.id, sid)
				}
				owner[a] = grant{n.id, sid}
			}()
		}
	}
	wg.Wait()
	if len(owner) != size || refused != 2*each-size {
		t.Errorf("%d addresses given, %d refused; want %d and %d", len(owner), refused, size, 2*each-size)
	}
	per := map[string]int{}
	for _, le := range l.Leases(t) {
		g, ok := owner[le.Addr]
		if !ok {
			t.Errorf("lease %+v for an address no Accept carried", le)
			continue
		}
		nasIP := map[string]string{"ac1": "192.0.2.1", "ac2": "192.0.2.2"}[g.nas]
		if le.NAS != nasIP || le.PoolKey != fmt.Sprintf("%s/%s-%d", g.nas, g.nas, g.sid) {
			t.Errorf("lease %+v, want it held by %s (%s) session %d", le, g.nas, nasIP, g.sid)
		}
		per[le.NAS]++
	}
	t.Logf("%d addresses: %d to ac1, %d to ac2, %d refused", len(owner), per["192.0.2.1"], per["192.0.2.2"], refused)

	if err := acs[0].acct.On(); err != nil {
		t.Fatal(err)
	}
	acs[0].settle()
	for _, le := range l.Leases(t) {
		if le.NAS != "192.0.2.2" {
			t.Errorf("after ac1's Accounting-On: lease %+v of ac1 left", le)
		}
	}
	if n := len(l.Leases(t)); n != per["192.0.2.2"] {
		t.Errorf("after ac1's Accounting-On: %d leases, want ac2's %d", n, per["192.0.2.2"])
	}
}

// TestStaleLeaseExpiry: an AC that dies sends no Stop. While it lived its
// Interim-Updates kept the lease; once they stop, the lease expires after
// lease_duration and the address goes to another AC's subscriber. The
// dead AC's Stop arriving late (queued, or from the AC restarted) does
// not take the address from its new holder.
func TestStaleLeaseExpiry(t *testing.T) {
	const lease = 3 * time.Second
	l := Start(t, Options{Pool: pool("100.64.2.1", 1), Lease: lease})
	ac1, ac2 := newNAS(t, l, "ac1", "192.0.2.1"), newNAS(t, l, "ac2", "192.0.2.2")
	_, a := ac1.dial(1, "02:00:00:00:00:01")
	if !a.IsValid() {
		t.Fatal("no address")
	}
	s := ac1.session(1, "02:00:00:00:00:01", a)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Alive: interims every half second for twice the lease.
	for end := time.Now().Add(2 * lease); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if err := s.Interim(radius.Usage{}); err != nil {
			t.Fatal(err)
		}
		ac1.settle()
		if _, b := ac2.dial(1, "02:00:00:00:00:02"); b.IsValid() {
			t.Fatalf("ac2 got %v while ac1's session kept its lease alive", b)
		}
	}
	// ac1 dies: no more interims, no Stop.
	died := time.Now()
	var b netip.Addr
	for b = (netip.Addr{}); !b.IsValid(); time.Sleep(250 * time.Millisecond) {
		if time.Since(died) > lease+10*time.Second {
			t.Fatalf("the dead AC's lease still held %v after its expiry", time.Since(died))
		}
		_, b = ac2.dial(1, "02:00:00:00:00:02")
	}
	t.Logf("address back in the pool %v after the last interim (lease %v)", time.Since(died).Round(100*time.Millisecond), lease)
	if b != a {
		t.Fatalf("ac2 got %v, want the expired %v", b, a)
	}
	if since := time.Since(died); since < lease-time.Second {
		t.Errorf("lease freed %v after the last interim, before its %v", since, lease)
	}
	// The dead AC's Stop, late.
	if err := s.Stop(radius.Usage{}, radius.CauseNASReboot); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	ls := l.Leases(t)
	if len(ls) != 1 || ls[0].Addr != a || ls[0].NAS != "192.0.2.2" {
		t.Fatalf("after ac1's late Stop: leases %+v, want %v still ac2's", ls, a)
	}
}

// prefixes is n consecutive networks of first's length (at most /64)
// from first on.
func prefixes(first string, n int) []netip.Prefix {
	p := netip.MustParsePrefix(first)
	b := p.Addr().As16()
	var out []netip.Prefix
	for range n {
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(b), p.Bits()))
		binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])+1<<(64-p.Bits()))
	}
	return out
}

// TestDelegatedPrefixFromPool: an Access-Accept carries a
// Delegated-IPv6-Prefix from the SQL prefix pool beside its address, a
// different one per session across two NASes, each lease naming its NAS
// and session; with the pool spent a subscriber is accepted without a
// prefix. The holder's Accounting-Stop naming the prefix releases it (and
// only it), and the next subscriber gets it; a Stop of a session that had
// none is answered.
func TestDelegatedPrefixFromPool(t *testing.T) {
	pd := prefixes("2001:db8:100::/56", 2)
	l := Start(t, Options{Pool: pool("100.64.3.1", 4), PDPool: pd})
	ac1, ac2 := newNAS(t, l, "ac1", "192.0.2.1"), newNAS(t, l, "ac2", "192.0.2.2")
	const mac1, mac2, mac3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
	r1, a1 := ac1.dial(1, mac1)
	r2, a2 := ac2.dial(1, mac2)
	if !a1.IsValid() || !a2.IsValid() {
		t.Fatalf("no addresses: %+v, %+v", r1, r2)
	}
	p1, p2 := r1.DelegatedIPv6Prefix, r2.DelegatedIPv6Prefix
	if !slices.Contains(pd, p1) || !slices.Contains(pd, p2) || p1 == p2 {
		t.Fatalf("Delegated-IPv6-Prefix %v (ac1) and %v (ac2), want the pool's two %v", p1, p2, pd)
	}
	want := []Delegation{
		{Prefix: p1, NAS: "192.0.2.1", PoolKey: "ac1/ac1-1", User: "sub", Calling: mac1},
		{Prefix: p2, NAS: "192.0.2.2", PoolKey: "ac2/ac2-1", User: "sub", Calling: mac2},
	}
	check := func(when string, want []Delegation) {
		t.Helper()
		got := l.Delegations(t)
		for i := range got {
			if got[i].Expiring < 50*time.Minute {
				t.Errorf("%s: %v expires in %v, want about the hour's lease_duration", when, got[i].Prefix, got[i].Expiring)
			}
			got[i].Expiring = 0
		}
		slices.SortFunc(want, func(a, b Delegation) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
		if !slices.Equal(got, want) {
			t.Fatalf("%s: prefix leases\n%+v\nwant\n%+v", when, got, want)
		}
	}
	check("two sessions", want)

	r3, a3 := ac1.dial(2, mac3)
	if !a3.IsValid() || r3.DelegatedIPv6Prefix.IsValid() {
		t.Fatalf("prefix pool spent: Accept %+v, want an address and no prefix", r3)
	}
	// Its records are answered (settle): an Interim-Update that keeps no
	// prefix lease alive is no failure.
	s3 := ac1.session(2, mac3, a3)
	if err := s3.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s3.Interim(radius.Usage{}); err != nil {
		t.Fatal(err)
	}
	ac1.settle() // before the Stop, which would replace a queued Interim-Update
	if err := s3.Stop(radius.Usage{}, radius.CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	check("a session without a prefix came and went", want)

	// As an AC reports it: the Start before DHCPv6-PD, the prefix from
	// the Interim-Update on, and none after the CPE's DHCPv6 Release,
	// which comes before its PADT: the Stop frees the session's lease all
	// the same (with Debian's stop_clear, which matches on the prefix, it
	// stays).
	s1 := ac1.session(1, mac1, a1)
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	s1.SetIPv6(radius.IPv6Prefixes{Delegated: []netip.Prefix{p1}})
	if err := s1.Interim(radius.Usage{}); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	check("ac1's session started", want)
	s1.SetIPv6(radius.IPv6Prefixes{})
	if err := s1.Stop(radius.Usage{Time: time.Minute}, radius.CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	ac1.settle()
	check("ac1's session stopped after a Release", want[1:])

	// A session that ends holding its prefix (keepalive, Disconnect):
	// the Stop names it.
	s2 := ac2.session(1, mac2, a2)
	s2.SetIPv6(radius.IPv6Prefixes{Delegated: []netip.Prefix{p2}})
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Stop(radius.Usage{}, radius.CauseLostCarrier); err != nil {
		t.Fatal(err)
	}
	ac2.settle()
	check("ac2's session stopped", nil)
	if log := l.PG.Log(); strings.Contains(log, "ERROR:") {
		t.Errorf("PostgreSQL logged an error:\n%s", log)
	}

	r4, _ := ac2.dial(2, mac1)
	if !slices.Contains(pd, r4.DelegatedIPv6Prefix) {
		t.Fatalf("with both prefixes freed ac2 got %v, want one of %v", r4.DelegatedIPv6Prefix, pd)
	}
}

// TestTwoNASNeverSharePrefixes: two ACs allocate at once from a prefix
// pool smaller than their demand: each prefix goes to exactly one
// session, the rest are accepted without one, each lease names its
// holder; an AC's Accounting-On frees its own prefixes and no other's.
func TestTwoNASNeverSharePrefixes(t *testing.T) {
	const size, each = 20, 15
	l := Start(t, Options{Pool: pool("100.64.4.1", 2*each), PDPool: prefixes("2001:db8:200::/60", size)})
	acs := []*nas{newNAS(t, l, "ac1", "192.0.2.1"), newNAS(t, l, "ac2", "192.0.2.2")}
	nasIP := map[string]string{"ac1": "192.0.2.1", "ac2": "192.0.2.2"}
	var mu sync.Mutex
	owner := map[netip.Prefix]string{}
	without := 0
	var wg sync.WaitGroup
	for _, n := range acs {
		for sid := 1; sid <= each; sid++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, a := n.dial(sid, fmt.Sprintf("02:00:00:00:%02x:%02x", len(n.id), sid))
				mu.Lock()
				defer mu.Unlock()
				if !a.IsValid() {
					t.Errorf("%s session %d: no address (%+v)", n.id, sid, r)
					return
				}
				p := r.DelegatedIPv6Prefix
				if !p.IsValid() {
					without++
					return
				}
				key := fmt.Sprintf("%s/%s-%d", n.id, n.id, sid)
				if prev, dup := owner[p]; dup {
					t.Errorf("%v delegated to %s and %s", p, prev, key)
				}
				owner[p] = key
			}()
		}
	}
	wg.Wait()
	if len(owner) != size || without != 2*each-size {
		t.Errorf("%d prefixes delegated, %d sessions without; want %d and %d", len(owner), without, size, 2*each-size)
	}
	per := map[string]int{}
	for _, d := range l.Delegations(t) {
		key, ok := owner[d.Prefix]
		if !ok {
			t.Errorf("prefix lease %+v that no Accept carried", d)
			continue
		}
		if d.PoolKey != key || d.NAS != nasIP[strings.Split(key, "/")[0]] {
			t.Errorf("prefix lease %+v, want it held by %s", d, key)
		}
		per[d.NAS]++
	}
	t.Logf("%d prefixes: %d to ac1, %d to ac2, %d sessions without", len(owner), per["192.0.2.1"], per["192.0.2.2"], without)

	if err := acs[0].acct.On(); err != nil {
		t.Fatal(err)
	}
	acs[0].settle()
	ds := l.Delegations(t)
	for _, d := range ds {
		if d.NAS != "192.0.2.2" {
			t.Errorf("after ac1's Accounting-On: prefix lease %+v of ac1 left", d)
		}
	}
	if len(ds) != per["192.0.2.2"] {
		t.Errorf("after ac1's Accounting-On: %d prefix leases, want ac2's %d", len(ds), per["192.0.2.2"])
	}
}
