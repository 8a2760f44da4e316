package maps

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// TestFIB6Cache runs the upstream IPv6 fast path with the route cache on
// and off. It holds the program to its contract with the control plane
// (control/fib6cache): a result is reused only under the generation it
// was made in and only within the lease; off, every packet is the
// kernel's lookup; a hit checks the MTU as bpf_fib_lookup does. The
// neighbour's MAC is changed behind the cache's back, so a stale answer
// (cache used) and a fresh one (lookup made) can be told apart.
func TestFIB6Cache(t *testing.T) {
	// The cache is per CPU: every run must be on the one that filled it.
	// The thread stays locked, so the runtime discards it (and its
	// affinity) when the test ends.
	runtime.LockOSThread()
	var one unix.CPUSet
	one.Set(0)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.withV6(t)
	s := e.untagged
	src := in6(link6Untagged, 0x1234)
	newMAC := net.HardwareAddr{0x02, 0x9e, 0, 0, 0, 0x77}
	setGW := func(mac net.HardwareAddr) {
		t.Helper()
		if err := e.ns.Do(t, func() error {
			return netlink.NeighSet(&netlink.Neigh{LinkIndex: e.up, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
				IP: gw6.AsSlice(), HardwareAddr: mac})
		}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(c FIB6Cache) {
		t.Helper()
		if err := e.dp.SetFIB6Cache(c); err != nil {
			t.Fatal(err)
		}
	}
	// send sends an IPv6 packet of n bytes to internet6 and returns the verdict and
	// the gateway MAC the frame went to (nil if not redirected).
	send := func(n int) (uint32, net.HardwareAddr) {
		t.Helper()
		v, out := e.runOne(t, "xdp_access_in", s.up6(t, udp6(src, internet6, 64, n-40)))
		if v != xdpRedirect {
			return v, nil
		}
		var f ethernet.Frame
		if err := f.UnmarshalBinary(out); err != nil {
			t.Fatal(err)
		}
		return v, f.Destination
	}
	expect := func(what string, n int, verdict uint32, mac net.HardwareAddr) {
		t.Helper()
		v, got := send(n)
		if v != verdict || got.String() != mac.String() {
			t.Errorf("%s: verdict %d to %v, want %d to %v", what, v, got, verdict, mac)
		}
	}
	entries := func() int {
		t.Helper()
		n, err := e.dp.FIB6CacheEntries()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Off, as every load starts: the kernel's answer every time, and
	// nothing kept.
	expect("off", 100, xdpRedirect, gwMAC)
	setGW(newMAC)
	expect("off, neighbour changed", 100, xdpRedirect, newMAC)
	if n := entries(); n != 0 {
		t.Errorf("off: %d entries kept, want 0", n)
	}

	// On: the first packet fills, the next ones reuse it even where the
	// kernel now says otherwise (which is why the control plane bumps).
	lease := FIB6Cache{Gen: 7, Until: CoarseNow() + time.Hour}
	set(lease)
	expect("on, first", 100, xdpRedirect, newMAC)
	setGW(gwMAC)
	expect("on, reused", 100, xdpRedirect, newMAC)
	if n := entries(); n != 1 {
		t.Errorf("on: %d entries, want 1", n)
	}
	// A new generation: looked up again.
	lease.Gen++
	set(lease)
	expect("new generation", 100, xdpRedirect, gwMAC)
	setGW(newMAC)
	expect("new generation, reused", 100, xdpRedirect, gwMAC)
	// The lease ran out (the control plane stopped): looked up.
	set(FIB6Cache{Gen: lease.Gen, Until: CoarseNow() - time.Millisecond})
	expect("lease over", 100, xdpRedirect, newMAC)
	// Turned off with the entry still valid for its generation.
	set(FIB6Cache{Gen: lease.Gen})
	expect("off again", 100, xdpRedirect, newMAC)

	// The MTU on a hit is the lookup's: an egress MTU of 1400 lets 1400
	// bytes through and sends 1401 to the kernel (Packet Too Big), as
	// bpf_fib_lookup does.
	e.ns.Run(t, "ip", "link", "set", "up0", "mtu", "1400")
	set(FIB6Cache{Gen: lease.Gen})
	expect("route MTU, off, 1 byte over", 1401, xdpPass, nil)
	lease.Gen++
	set(lease)
	expect("route MTU, fill", 1400, xdpRedirect, newMAC)
	before, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	expect("route MTU, 1 byte over, from the cache", 1401, xdpPass, nil)
	expect("route MTU, at it, from the cache", 1400, xdpRedirect, newMAC)
	after, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if d := after[ReasonMTUExceeded] - before[ReasonMTUExceeded]; d != 1 {
		t.Errorf("mtu_exceeded moved by %d, want 1", d)
	}
	// A failed lookup is not kept: no route, then the route back.
	lease.Gen++
	set(lease)
	if err := e.ns.Do(t, func() error {
		_, n, _ := net.ParseCIDR("2001:db8:ffff::/48")
		return netlink.RouteDel(&netlink.Route{LinkIndex: e.up, Dst: n, Gw: gw6.AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	expect("no route", 100, xdpPass, nil)
	if err := e.ns.Do(t, func() error {
		_, n, _ := net.ParseCIDR("2001:db8:ffff::/48")
		return netlink.RouteReplace(&netlink.Route{LinkIndex: e.up, Dst: n, Gw: gw6.AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	expect("route back, same generation", 100, xdpRedirect, newMAC)
}
