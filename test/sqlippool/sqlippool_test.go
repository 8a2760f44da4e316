package sqlippool

import (
	"context"
	"fmt"
	"net/netip"
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
