package pppoe0

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/daemon"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// devMTU is pppoe0's MTU in these tests, the daemon's.
const devMTU = 1492

// fixture is a namespace with a pppoe0 as the daemon makes it and a Host
// over it.
type fixture struct {
	t     *testing.T
	ns    *netns.NS
	index int
	h     *Host
	logs  *observer.ObservedLogs
}

// newFixture makes the namespace, runs prep in it and then New.
func newFixture(t *testing.T, prep ...func(*netns.NS)) *fixture {
	t.Helper()
	f := &fixture{t: t, ns: netns.New(t)}
	for _, p := range prep {
		p(f.ns)
	}
	core, logs := observer.New(zap.DebugLevel)
	f.logs = logs
	f.do(func() error {
		dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", devMTU)
		if err != nil {
			return err
		}
		f.index = dev.Index
		f.h, err = New(dev.Index, zap.New(core))
		return err
	})
	t.Cleanup(func() {
		if err := f.h.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// do runs fn inside the namespace; an error fails the test.
func (f *fixture) do(fn func() error) {
	f.t.Helper()
	if err := f.ns.Do(f.t, fn); err != nil {
		f.t.Fatal(err)
	}
}

// kernelRoutes returns every IPv4 route on pppoe0 in the main table, as
// the kernel has them: destination → route MTU (0: the device's).
func (f *fixture) kernelRoutes() map[netip.Prefix]int {
	f.t.Helper()
	out := map[netip.Prefix]int{}
	f.do(func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{LinkIndex: f.index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range rs {
			p, _ := netip.AddrFromSlice(r.Dst.IP.To4())
			bits, _ := r.Dst.Mask.Size()
			out[netip.PrefixFrom(p, bits)] = r.MTU
		}
		return nil
	})
	return out
}

// sync is SyncPPPoE0 with the pool ranges given as first-last strings.
func (f *fixture) sync(addrs []netip.Addr, ranges ...string) error {
	f.t.Helper()
	var routes []netip.Prefix
	for _, r := range ranges {
		first, last, _ := strings.Cut(r, "-")
		if last == "" {
			last = first
		}
		routes = append(routes, daemon.RangePrefixes(netip.MustParseAddr(first), netip.MustParseAddr(last))...)
	}
	var err error
	f.do(func() error { err = f.h.SyncPPPoE0(addrs, routes); return nil })
	return err
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

var local = []netip.Addr{netip.MustParseAddr("10.0.0.1")}

// TestChurnSameAddress: 1,000 sessions one after another at the one
// address whose pool route is a /32, with MTUs above, at and below
// pppoe0's, and pool edits in between. After each session the pool's
// route is there, without an MTU; during each, the route carries the
// session's MTU when it is below pppoe0's; no pool edit fails.
func TestChurnSameAddress(t *testing.T) {
	f := newFixture(t)
	a := addr("10.0.0.250")
	host := netip.PrefixFrom(a, 32)
	// 10.0.0.240-10.0.0.250 is 10.0.0.240/29, 10.0.0.248/31 and the /32.
	full := "10.0.0.240-10.0.0.250"
	if err := f.sync(local, full); err != nil {
		t.Fatal(err)
	}
	mtus := []int{1400, 1492, 1480, 0, 1500, 576, 1491, 9000}
	for i := range 1000 {
		mtu := mtus[i%len(mtus)]
		var err error
		f.do(func() error { err = f.h.AddSession(a, mtu); return nil })
		if err != nil {
			t.Fatalf("cycle %d: session up with mtu %d: %v", i, mtu, err)
		}
		want := 0
		if mtu > 0 && mtu != devMTU {
			want = mtu
		}
		if got, ok := f.kernelRoutes()[host]; !ok || got != want {
			t.Fatalf("cycle %d: session with mtu %d: route %v present %v mtu %d, want mtu %d", i, mtu, host, ok, got, want)
		}
		f.do(func() error { err = f.h.RemoveSession(a, mtu); return nil })
		if err != nil {
			t.Fatalf("cycle %d: session down with mtu %d: %v", i, mtu, err)
		}
		if got, ok := f.kernelRoutes()[host]; !ok || got != 0 {
			t.Fatalf("cycle %d: after a session with mtu %d: pool route %v present %v mtu %d, want it without mtu", i, mtu, host, ok, got)
		}
		if i%100 == 99 {
			// The pool shrinks away from the address and comes back.
			if err := f.sync(local, "10.0.0.240-10.0.0.247"); err != nil {
				t.Fatalf("cycle %d: pool shrunk: %v", i, err)
			}
			if _, ok := f.kernelRoutes()[host]; ok {
				t.Fatalf("cycle %d: %v still routed with no pool and no session there", i, host)
			}
			if err := f.sync(local, full); err != nil {
				t.Fatalf("cycle %d: pool grown back: %v", i, err)
			}
		}
	}
	want := map[netip.Prefix]int{pfx("10.0.0.240/29"): 0, pfx("10.0.0.248/31"): 0, host: 0}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the churn pppoe0 has %v, want the pool's %v", got, want)
	}
	if err := f.sync(nil); err != nil {
		t.Fatal(err)
	}
	if got := f.kernelRoutes(); len(got) != 0 {
		t.Errorf("pppoe0 keeps %v with no pool", got)
	}
}

// TestSessionsOverlap: two sessions at one address at once (a static
// remote-address, or IPCP renegotiating): the smaller MTU holds while
// both are up, and the route follows whichever is left.
func TestSessionsOverlap(t *testing.T) {
	f := newFixture(t)
	a := addr("10.0.0.3")
	host := netip.PrefixFrom(a, 32)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		up   bool
		mtu  int
		want int // route MTU; -1 for no host route
	}{
		{true, 1480, 1480},
		{true, 1400, 1400},
		{false, 1400, 1480},
		{true, 1492, 1480},
		{false, 1480, -1}, // the 1492 one needs none: the pool's /31 covers it
		{false, 1492, -1},
	}
	for i, s := range steps {
		var err error
		f.do(func() error {
			if s.up {
				err = f.h.AddSession(a, s.mtu)
			} else {
				err = f.h.RemoveSession(a, s.mtu)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, ok := f.kernelRoutes()[host]
		if s.want < 0 && ok {
			t.Errorf("step %d: host route with mtu %d, want none", i, got)
		}
		if s.want >= 0 && (!ok || got != s.want) {
			t.Errorf("step %d: host route present %v mtu %d, want mtu %d", i, ok, got, s.want)
		}
	}
	want := map[netip.Prefix]int{pfx("10.0.0.2/31"): 0, pfx("10.0.0.4/31"): 0}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("pppoe0 has %v, want the pool's %v", got, want)
	}
}

// TestPoolShrinks: a pool edit leaves sessions outside the new ranges;
// each keeps a route to its address, with its MTU if it had one, until
// it ends.
func TestPoolShrinks(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	f.do(func() error {
		return errors.Join(f.h.AddSession(addr("10.0.0.3"), 1400), f.h.AddSession(addr("10.0.0.8"), devMTU),
			f.h.AddSession(addr("10.0.0.9"), 1460), f.h.AddSession(addr("10.0.0.2"), devMTU))
	})
	want := map[netip.Prefix]int{pfx("10.0.0.2/31"): 0, pfx("10.0.0.4/30"): 0, pfx("10.0.0.8/31"): 0,
		pfx("10.0.0.3/32"): 1400, pfx("10.0.0.9/32"): 1460}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("before the edit pppoe0 has %v, want %v", got, want)
	}

	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatalf("pool shrunk: %v", err)
	}
	want = map[netip.Prefix]int{pfx("10.0.0.2/31"): 0, pfx("10.0.0.4/31"): 0,
		pfx("10.0.0.3/32"): 1400, pfx("10.0.0.8/32"): 0, pfx("10.0.0.9/32"): 1460}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the pool shrank pppoe0 has %v, want %v: every live session keeps a route", got, want)
	}

	f.do(func() error {
		return errors.Join(f.h.RemoveSession(addr("10.0.0.8"), devMTU), f.h.RemoveSession(addr("10.0.0.9"), 1460))
	})
	want = map[netip.Prefix]int{pfx("10.0.0.2/31"): 0, pfx("10.0.0.4/31"): 0, pfx("10.0.0.3/32"): 1400}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the sessions outside ended pppoe0 has %v, want %v", got, want)
	}
	// Every session ends, then the server: nothing of ours is left.
	f.do(func() error {
		return errors.Join(f.h.RemoveSession(addr("10.0.0.3"), 1400), f.h.RemoveSession(addr("10.0.0.2"), devMTU))
	})
	if err := f.sync(nil); err != nil {
		t.Fatal(err)
	}
	if got := f.kernelRoutes(); len(got) != 0 {
		t.Errorf("pppoe0 keeps %v", got)
	}
}

// TestRoutesChangedBehindItsBack: routes someone else deleted or added
// on pppoe0. A pool edit puts back what is missing and never fails for
// a route that is already gone; routes that are not pppoed's (the
// operator's, on pppoe0 too) stay whatever pppoed does.
func TestRoutesChangedBehindItsBack(t *testing.T) {
	f := newFixture(t)
	f.ns.Run(t, "ip", "route", "add", "192.0.2.0/24", "dev", "pppoe0")
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	f.do(func() error { return f.h.AddSession(addr("10.0.0.4"), 1400) })
	f.ns.Run(t, "ip", "route", "del", "10.0.0.2/31", "dev", "pppoe0")
	f.ns.Run(t, "ip", "route", "del", "10.0.0.4/32", "dev", "pppoe0")
	if err := f.sync(local, "10.0.0.2-10.0.0.3"); err != nil {
		t.Fatalf("pool edit after routes vanished: %v", err)
	}
	want := map[netip.Prefix]int{pfx("10.0.0.2/31"): 0, pfx("10.0.0.4/32"): 1400, pfx("192.0.2.0/24"): 0}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the edit pppoe0 has %v, want %v", got, want)
	}
	f.ns.Run(t, "ip", "route", "del", "10.0.0.4/32", "dev", "pppoe0")
	var err error
	f.do(func() error { err = f.h.RemoveSession(addr("10.0.0.4"), 1400); return nil })
	if err != nil {
		t.Errorf("a session ending whose route is already gone: %v", err)
	}
	// No pool left, the local address kept (the kernel flushes every
	// route of an interface that loses its last IPv4 address).
	if err := f.sync(local); err != nil {
		t.Fatal(err)
	}
	want = map[netip.Prefix]int{pfx("192.0.2.0/24"): 0}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the last sync pppoe0 has %v, want the operator's route only: %v", got, want)
	}
}

// TestEarlierRun: a pppoe0 left by an earlier run (crashed, or stopped
// before its sessions' routes went) holds routes of pppoed's. The new
// Host keeps those it wants without a gap and removes the rest at its
// first sync; the operator's stay.
func TestEarlierRun(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	f.do(func() error { return f.h.AddSession(addr("10.0.0.3"), 1400) })
	f.ns.Run(t, "ip", "route", "add", "192.0.2.0/24", "dev", "pppoe0")
	// The earlier run ends without cleaning up.
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	f.do(func() error {
		var err error
		f.h, err = New(f.index, nil)
		return err
	})
	if got := f.kernelRoutes(); len(got) != 4 {
		t.Errorf("New changed pppoe0's routes to %v before its first sync", got)
	}
	if err := f.sync(local, "10.0.0.4-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix]int{pfx("10.0.0.4/31"): 0, pfx("192.0.2.0/24"): 0}
	if got := f.kernelRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the first sync pppoe0 has %v, want %v", got, want)
	}
}

// recorder is a session.DataPlane that records what is installed and
// fails Install on request.
type recorder struct {
	installed map[uint16]session.Entry
	fail      error
}

func (r *recorder) Install(e session.Entry) (session.Handle, error) {
	if r.fail != nil {
		return nil, r.fail
	}
	r.installed[e.SessionID] = e
	return e.SessionID, nil
}

func (r *recorder) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	r.installed[h.(uint16)] = e
	return h, nil
}

func (r *recorder) Remove(h session.Handle) error {
	delete(r.installed, h.(uint16))
	return nil
}

func (r *recorder) Stats(h session.Handle) (session.Stats, error) {
	return session.Stats{PacketsUp: uint64(h.(uint16))}, nil
}

// TestDataPlane: the wrapped data plane routes a session after it is
// installed and unroutes it before it is removed; a failed install
// leaves no route.
func TestDataPlane(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{installed: map[uint16]session.Entry{}}
	dp := f.h.DataPlane(rec)
	var h session.Handle
	f.do(func() (err error) {
		h, err = dp.Install(session.Entry{SessionID: 7, IPv4: addr("10.0.0.3"), MTU: 1400})
		return err
	})
	if _, ok := rec.installed[7]; !ok {
		t.Error("session not installed in the wrapped data plane")
	}
	if got := f.kernelRoutes()[pfx("10.0.0.3/32")]; got != 1400 {
		t.Errorf("host route mtu %d, want 1400", got)
	}
	if st, err := dp.Stats(h); err != nil || st.PacketsUp != 7 {
		t.Errorf("Stats %v %v, want the wrapped data plane's", st, err)
	}
	f.do(func() error { return dp.Remove(h) })
	if _, ok := rec.installed[7]; ok {
		t.Error("session still installed after Remove")
	}
	if r, ok := f.kernelRoutes()[pfx("10.0.0.3/32")]; ok {
		t.Errorf("host route (mtu %d) left after Remove", r)
	}

	rec.fail = errors.New("map full")
	var err error
	f.do(func() error {
		_, err = dp.Install(session.Entry{SessionID: 8, IPv4: addr("10.0.0.4"), MTU: 1400})
		return nil
	})
	if err == nil {
		t.Error("Install succeeded with the data plane failing")
	}
	if r, ok := f.kernelRoutes()[pfx("10.0.0.4/32")]; ok {
		t.Errorf("host route (mtu %d) for a session the data plane refused", r)
	}
}

// queueRecorder is recorder whose shaper queue dropped 10 per session id.
type queueRecorder struct{ *recorder }

func (q queueRecorder) QueueDrops() (func(session.Handle) uint64, error) {
	return func(h session.Handle) uint64 { return 10 * uint64(h.(uint16)) }, nil
}

// TestDataPlaneQueueDrops: the wrapped data plane's shaper drops are
// read through pppoe0's by pppoe0's handles; a data plane that queues
// nothing gives none.
func TestDataPlaneQueueDrops(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{installed: map[uint16]session.Entry{}}
	for _, tc := range []struct {
		name  string
		inner session.DataPlane
		want  uint64
	}{
		{"queues", queueRecorder{rec}, 70},
		{"queues nothing", rec, 0},
	} {
		dp := f.h.DataPlane(tc.inner)
		var h session.Handle
		f.do(func() (err error) {
			h, err = dp.Install(session.Entry{SessionID: 7, IPv4: addr("10.0.0.3"), MTU: 1400})
			return err
		})
		qd, ok := dp.(session.QueueDropper)
		if !ok {
			t.Fatalf("%s: %T is no session.QueueDropper", tc.name, dp)
		}
		drops, err := qd.QueueDrops()
		if err != nil {
			t.Fatal(err)
		}
		if n := drops(h); n != tc.want {
			t.Errorf("%s: %d drops, want %d", tc.name, n, tc.want)
		}
		if n := drops(uint16(7)); n != 0 {
			t.Errorf("%s: %d drops for a handle not pppoe0's, want 0", tc.name, n)
		}
		f.do(func() error { return dp.Remove(h) })
	}
}

// TestFramedRoutes: a session's Framed-Routes are routed on pppoe0 with
// its MTU while it lives, follow an Update, and go with it; a session
// outside every pool gets its own /32, so that it forwards both ways.
func TestFramedRoutes(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{installed: map[uint16]session.Entry{}}
	dp := f.h.DataPlane(rec)
	lan, lan2 := pfx("192.0.2.0/24"), pfx("198.51.100.0/25")
	var h session.Handle
	f.do(func() (err error) {
		h, err = dp.Install(session.Entry{SessionID: 9, IPv4: addr("10.9.0.5"), MTU: 1492,
			Routes: []netip.Prefix{lan, pfx("2001:db8::/48")}})
		return err
	})
	routes := f.kernelRoutes()
	if mtu, ok := routes[pfx("10.9.0.5/32")]; !ok || mtu != 0 {
		t.Errorf("a session outside every pool: /32 %v (mtu %d), want a route", ok, mtu)
	}
	if mtu, ok := routes[lan]; !ok || mtu != 0 {
		t.Errorf("Framed-Route %v: routed %v (mtu %d)", lan, ok, mtu)
	}
	f.do(func() (err error) {
		h, err = dp.Update(h, session.Entry{SessionID: 9, IPv4: addr("10.9.0.5"), MTU: 1400, Routes: []netip.Prefix{lan2}})
		return err
	})
	routes = f.kernelRoutes()
	if _, ok := routes[lan]; ok {
		t.Errorf("%v still routed after an update dropped it", lan)
	}
	if mtu, ok := routes[lan2]; !ok || mtu != 1400 {
		t.Errorf("%v: routed %v (mtu %d), want the session's 1400", lan2, ok, mtu)
	}
	f.do(func() error { return dp.Remove(h) })
	routes = f.kernelRoutes()
	for _, p := range []netip.Prefix{lan, lan2, pfx("10.9.0.5/32")} {
		if _, ok := routes[p]; ok {
			t.Errorf("%v left after the session ended", p)
		}
	}
}
