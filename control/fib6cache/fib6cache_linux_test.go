package fib6cache

import (
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"go.uber.org/zap/zaptest"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

var (
	acMAC     = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0xc1, 0, 0, 0, 0x01}
	gw1MAC    = net.HardwareAddr{0x02, 0x9e, 0, 0, 0, 0x01}
	gw1MACNew = net.HardwareAddr{0x02, 0x9e, 0, 0, 0, 0x11}
	gw2MAC    = net.HardwareAddr{0x02, 0x9e, 0, 0, 0, 0x02}

	link64    = netip.MustParsePrefix("2001:db8:1:1::/64")
	pd56      = netip.MustParsePrefix("2001:db8:2100::/56")
	fromLink  = netip.MustParseAddr("2001:db8:1:1::2")
	fromPD    = netip.MustParseAddr("2001:db8:2100:5::1")
	internet6 = netip.MustParseAddr("2001:db8:ffff::5")
)

// lab is an AC namespace with the data plane loaded, one session with a
// link /64 and a delegated /56, and two uplinks: up0 to gateway 1
// (2001:db8:fe::2) and up1 to gateway 2 (2001:db8:fd::2), both
// neighbours known. 2001:db8:ffff::/48 is routed via gateway 1.
type lab struct {
	ns             *netns.NS
	dp             *maps.Datapath
	acc, up0, up1  int
	up0MAC, up1MAC net.HardwareAddr
	sid            uint16
}

func newLab(t *testing.T) *lab {
	netns.RequireRoot(t)
	l := &lab{ns: netns.New(t), sid: 0x0101}
	far := netns.New(t)
	l.acc, _ = netns.Veth(t, l.ns, "acc0", far, "s0")
	l.up0, _ = netns.Veth(t, l.ns, "up0", far, "c0")
	l.up1, _ = netns.Veth(t, l.ns, "up1", far, "c1")
	// The uplinks must take XDP frames for the fast path to redirect to
	// them: a veth does once its peer has GRO on.
	far.GRO(t, "c0", true)
	far.GRO(t, "c1", true)
	pin := filepath.Join(maps.DefaultPinPath+"-test", "fib6cache"+l.ns.Name)
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dp.Unpin(); err != nil {
			t.Error(err)
		}
		dp.Close()
	})
	l.dp = dp
	var pppoe0 *maps.Device
	if err := l.ns.Do(t, func() error {
		var err error
		if pppoe0, err = maps.CreatePPPoE0("pppoe0", "pppoe0-peer", 1492); err != nil {
			return err
		}
		for _, i := range []int{l.up0, l.up1} {
			if err := dp.RefreshDevice(i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetPPPoE0(pppoe0.Index, pppoe0.MAC); err != nil {
		t.Fatal(err)
	}
	l.ns.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.ns.Run(t, "ip", "-6", "addr", "add", "2001:db8:fe::1/64", "dev", "up0", "nodad")
	l.ns.Run(t, "ip", "-6", "addr", "add", "2001:db8:fd::1/64", "dev", "up1", "nodad")
	l.ns.Run(t, "ip", "-6", "neigh", "replace", "2001:db8:fe::2", "lladdr", gw1MAC.String(), "dev", "up0", "nud", "permanent")
	l.ns.Run(t, "ip", "-6", "neigh", "replace", "2001:db8:fd::2", "lladdr", gw2MAC.String(), "dev", "up1", "nud", "permanent")
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:1::/48", "dev", "pppoe0")
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:2000::/36", "dev", "pppoe0")
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:fe::2", "dev", "up0")
	_ = l.ns.Do(t, func() error {
		for _, x := range []struct {
			i   int
			mac *net.HardwareAddr
		}{{l.up0, &l.up0MAC}, {l.up1, &l.up1MAC}} {
			ln, err := netlink.LinkByIndex(x.i)
			if err != nil {
				t.Fatal(err)
			}
			*x.mac = ln.Attrs().HardwareAddr
		}
		return nil
	})
	key := maps.Key{Ifindex: l.acc, SessionID: l.sid, ClientMAC: clientMAC}
	if _, err := dp.Install(maps.Session{Key: key, ACMAC: acMAC, IPv4: netip.MustParseAddr("100.64.1.1"), MTU: 1492, MSS: 1452}); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetIPv6LinkPrefix(key, link64); err != nil {
		t.Fatal(err)
	}
	if err := dp.AddIPv6Prefix(key, pd56); err != nil {
		t.Fatal(err)
	}
	return l
}

// start runs a watcher on the lab's namespace. Its period is an hour, so
// every bump a test sees came from an event.
func (l *lab) start(t *testing.T) *Watcher {
	h, err := vnetns.GetFromName(l.ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	w, err := Start(Options{Namespace: &h, Period: time.Hour, Log: zaptest.NewLogger(t)}, l.dp)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// send runs one upstream UDP packet from src to internet6 through
// xdp_access_in and returns the verdict and, if it was redirected, the
// next hop's MAC and the egress device's.
func (l *lab) send(t *testing.T, src netip.Addr) (verdict uint32, dst, via net.HardwareAddr) {
	t.Helper()
	ip := make([]byte, 48)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 8) // payload length: the UDP header
	ip[6], ip[7] = 17, 64                 // UDP, hop limit
	s, d := src.As16(), internet6.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	binary.BigEndian.PutUint16(ip[40:], 40000)
	binary.BigEndian.PutUint16(ip[42:], 9)
	binary.BigEndian.PutUint16(ip[44:], 8)
	pf, err := (&ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: ip}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	in, err := pppoe.MarshalFrame(acMAC, clientMAC, nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: l.sid, Payload: pf})
	if err != nil {
		t.Fatal(err)
	}
	opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256),
		// struct xdp_md: data 0, data_end, ingress_ifindex.
		Context: []uint32{0, uint32(len(in)), 0, uint32(l.acc), 0, 0}}
	if err := l.ns.Do(t, func() (err error) {
		verdict, err = l.dp.Program("xdp_access_in").Run(opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if verdict != 4 { // XDP_REDIRECT
		return verdict, nil, nil
	}
	return verdict, net.HardwareAddr(opts.DataOut[0:6]), net.HardwareAddr(opts.DataOut[6:12])
}

// expect sends from src and checks the packet went to next hop dst out
// of the device with MAC via; nil dst: not redirected (the kernel's).
func (l *lab) expect(t *testing.T, what string, src netip.Addr, dst, via net.HardwareAddr) {
	t.Helper()
	v, gotDst, gotVia := l.send(t, src)
	if gotDst.String() != dst.String() || gotVia.String() != via.String() {
		t.Errorf("%s: verdict %d to %v via %v, want to %v via %v", what, v, gotDst, gotVia, dst, via)
	}
}

// settled waits until the watcher has bumped the generation past gen
// (it heard the change) and returns the new one.
func (l *lab) settled(t *testing.T, gen uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := l.dp.FIB6CacheControl()
		if err != nil {
			t.Fatal(err)
		}
		if c.Gen > gen {
			return c.Gen
		}
		if time.Now().After(deadline) {
			t.Fatalf("generation still %d after 10 s", c.Gen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *lab) gen(t *testing.T) uint64 {
	c, err := l.dp.FIB6CacheControl()
	if err != nil {
		t.Fatal(err)
	}
	return c.Gen
}

// waitEnabled waits until the watcher turned the cache on or off.
func waitEnabled(t *testing.T, w *Watcher, l *lab, on bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Enabled() != on {
		if time.Now().After(deadline) {
			t.Fatalf("cache enabled %v after 10 s, want %v", w.Enabled(), on)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := l.dp.FIB6CacheControl()
	if err != nil {
		t.Fatal(err)
	}
	if (c.Until != 0) != on {
		t.Fatalf("fib6_ctl until %v with the cache enabled %v", c.Until, on)
	}
}

// TestCacheFollowsKernel changes what the kernel's lookup answers (the
// neighbour's MAC, the route's gateway and device, the route itself) and
// checks that once the watcher has heard of it, the next packet goes
// where the kernel says, not where the cached answer said.
func TestCacheFollowsKernel(t *testing.T) {
	l := newLab(t)
	w := l.start(t)
	waitEnabled(t, w, l, true)

	l.expect(t, "first", fromLink, gw1MAC, l.up0MAC)
	if n, err := l.dp.FIB6CacheEntries(); err != nil || n != 1 {
		t.Fatalf("cache holds %d entries (%v), want 1: the test would not show the cache's invalidation", n, err)
	}
	l.expect(t, "cached", fromLink, gw1MAC, l.up0MAC)

	g := l.gen(t)
	l.ns.Run(t, "ip", "-6", "neigh", "replace", "2001:db8:fe::2", "lladdr", gw1MACNew.String(), "dev", "up0", "nud", "permanent")
	g = l.settled(t, g)
	l.expect(t, "neighbour's new MAC", fromLink, gw1MACNew, l.up0MAC)

	l.ns.Run(t, "ip", "-6", "route", "replace", "2001:db8:ffff::/48", "via", "2001:db8:fd::2", "dev", "up1")
	g = l.settled(t, g)
	l.expect(t, "route replaced", fromLink, gw2MAC, l.up1MAC)

	l.ns.Run(t, "ip", "-6", "route", "del", "2001:db8:ffff::/48")
	g = l.settled(t, g)
	l.expect(t, "route deleted", fromLink, nil, nil)

	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:fe::2", "dev", "up0")
	g = l.settled(t, g)
	l.expect(t, "route back", fromLink, gw1MACNew, l.up0MAC)

	// The egress device goes down: the route's nexthop is dead.
	l.expect(t, "cached before link down", fromLink, gw1MACNew, l.up0MAC)
	l.ns.Run(t, "ip", "link", "set", "up0", "down")
	l.settled(t, g)
	l.expect(t, "link down", fromLink, nil, nil)

	w.Close()
	if c, err := l.dp.FIB6CacheControl(); err != nil || c.Until != 0 {
		t.Errorf("after Close: %+v (%v), want the cache off", c, err)
	}
}

// TestCacheOffForSourceRouting: where the kernel's answer depends on the
// source (a route with a source prefix, an ip -6 rule) or the flow (a
// multipath route), the cache is off and each packet goes where the
// kernel sends it; once that routing is gone the cache is on again.
func TestCacheOffForSourceRouting(t *testing.T) {
	l := newLab(t)
	w := l.start(t)
	defer w.Close()
	waitEnabled(t, w, l, true)

	// Source-specific routes: the delegated prefix's traffic leaves by
	// gateway 2, the link /64's by gateway 1. The /64's packet goes
	// first, so a cache keyed by destination would send the /56's after
	// it the same way.
	sourceRoutes(t, l)
	waitEnabled(t, w, l, false)
	l.expect(t, "source route, from the /64", fromLink, gw1MAC, l.up0MAC)
	l.expect(t, "source route, from the /56", fromPD, gw2MAC, l.up1MAC)
	l.ns.Run(t, "ip", "-6", "route", "del", "2001:db8:ffff::/48", "from", pd56.String())
	l.ns.Run(t, "ip", "-6", "route", "del", "2001:db8:ffff::/48", "from", link64.String())
	waitEnabled(t, w, l, true)
	l.expect(t, "source route gone, from the /64", fromLink, gw1MAC, l.up0MAC)
	l.expect(t, "source route gone, from the /56", fromPD, gw1MAC, l.up0MAC)

	// Policy routing: the /56 looks up table 100 first.
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:fd::2", "dev", "up1", "table", "100")
	l.ns.Run(t, "ip", "-6", "rule", "add", "from", pd56.String(), "table", "100", "priority", "100")
	waitEnabled(t, w, l, false)
	l.expect(t, "rule, from the /64", fromLink, gw1MAC, l.up0MAC)
	l.expect(t, "rule, from the /56", fromPD, gw2MAC, l.up1MAC)
	l.ns.Run(t, "ip", "-6", "rule", "del", "priority", "100")
	waitEnabled(t, w, l, true)
	l.expect(t, "rule gone, from the /56", fromPD, gw1MAC, l.up0MAC)

	// A multipath route anywhere: the path is the flow's hash.
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:abcd::/48",
		"nexthop", "via", "2001:db8:fe::2", "dev", "up0", "nexthop", "via", "2001:db8:fd::2", "dev", "up1")
	waitEnabled(t, w, l, false)
	// Replaced in place by a single path: no route went away, yet none
	// is multipath any more.
	l.ns.Run(t, "ip", "-6", "route", "replace", "2001:db8:abcd::/48", "via", "2001:db8:fe::2", "dev", "up0")
	waitEnabled(t, w, l, true)
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:abce::/48",
		"nexthop", "via", "2001:db8:fe::2", "dev", "up0", "nexthop", "via", "2001:db8:fd::2", "dev", "up1")
	waitEnabled(t, w, l, false)
	l.ns.Run(t, "ip", "-6", "route", "del", "2001:db8:abce::/48")
	waitEnabled(t, w, l, true)
}

// TestStartSeesSourceRouting: routing that predates the watcher keeps the
// cache off from the start.
func TestStartSeesSourceRouting(t *testing.T) {
	l := newLab(t)
	sourceRoutes(t, l)
	w := l.start(t)
	defer w.Close()
	if w.Enabled() {
		t.Fatal("cache on with a source route in place")
	}
	l.expect(t, "from the /64", fromLink, gw1MAC, l.up0MAC)
	l.expect(t, "from the /56", fromPD, gw2MAC, l.up1MAC)
}

// sourceRoutes routes 2001:db8:ffff::/48 by source: from the delegated
// /56 via gateway 2, from the link /64 via gateway 1. (With a source
// route under it, the kernel no longer takes the plain route for other
// sources: each source gets its own.)
func sourceRoutes(t *testing.T, l *lab) {
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "from", pd56.String(), "via", "2001:db8:fd::2", "dev", "up1")
	l.ns.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "from", link64.String(), "via", "2001:db8:fe::2", "dev", "up0")
}
