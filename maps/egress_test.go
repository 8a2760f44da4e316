package maps

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// eventually polls cond for up to 5 s: the data plane learns of a device's
// change from a kernel notification, a moment after the change.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *env) redirects(t *testing.T, ifindex int) bool {
	t.Helper()
	ok, err := e.dp.XDPRedirects(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestXDPFallback: packets the fast paths would redirect to a device that
// cannot transmit XDP frames (a veth whose peer has neither an XDP program
// nor GRO on: the kernel would drop the frames) go to the kernel instead,
// untouched, counted pass_no_xdp_xmit, both ways. When the device's
// xdp-features change, the programs follow without being told.
func TestXDPFallback(t *testing.T) {
	e := newEnv(t)
	far := netip.MustParseAddr("198.18.0.5") // routed out of slow0
	var slow int
	if err := e.ns.Do(t, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "slow0"}, PeerName: "slow0p"}); err != nil {
			return err
		}
		for _, n := range []string{"slow0", "slow0p"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			if n == "slow0" {
				slow = l.Attrs().Index
			}
		}
		if err := AddAddress(slow, netip.MustParsePrefix("198.18.1.1/24")); err != nil {
			return err
		}
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: slow, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP("198.18.1.2"), HardwareAddr: gwMAC}); err != nil {
			return err
		}
		_, n, _ := net.ParseCIDR("198.18.0.0/24")
		return netlink.RouteReplace(&netlink.Route{LinkIndex: slow, Dst: n, Gw: net.ParseIP("198.18.1.2")})
	}); err != nil {
		t.Fatal(err)
	}
	// A session on slow0, for the downstream direction.
	onSlow := Session{Key: Key{Ifindex: slow, SessionID: 0x0104, ClientMAC: clientMAC},
		ACMAC: acMAC, IPv4: netip.MustParseAddr("100.64.1.4"), MTU: 1492, MSS: 1452}
	if _, err := e.dp.Install(onSlow); err != nil {
		t.Fatal(err)
	}
	eventually(t, "slow0 known, not a redirect target", func() bool {
		ok, err := e.dp.XDPRedirects(slow)
		return err == nil && !ok
	})
	if !e.redirects(t, e.up) || !e.redirects(t, e.acc) {
		t.Fatal("acc0 and up0 (peers with GRO) are not redirect targets")
	}

	s := e.untagged
	ipUp := func(ttl uint8) []byte {
		return ipv4{src: s.IPv4, dst: far, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	ipDown := func(ttl uint8) []byte {
		return ipv4{src: internet, dst: onSlow.IPv4, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	downIn := ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ipDown(64))
	fallback := []progCase{
		{name: "upstream to a device without XDP transmit", prog: "xdp_access_in", in: s.up(t, ipUp(64)),
			verdict: xdpPass, counters: count1(ReasonPassNoXDPXmit)},
		{name: "downstream to a device without XDP transmit", prog: "xdp_uplink_in", in: downIn,
			verdict: xdpPass, counters: count1(ReasonPassNoXDPXmit)},
	}
	fast := []progCase{
		{name: "upstream once it can", prog: "xdp_access_in", in: s.up(t, ipUp(64)), verdict: xdpRedirect,
			out: ethFrame(t, gwMAC, e.slowMAC(t, slow), ethernet.EtherTypeIPv4, ipUp(63)), counters: count1(ReasonFastUp)},
		{name: "downstream once it can", prog: "xdp_uplink_in", in: downIn, verdict: xdpRedirect,
			out: onSlow.down(t, ipDown(63)), counters: count1(ReasonFastDown)},
	}
	before, err := e.dp.Stats(e.idxUntagged)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, fallback)
	// The kernel's path counts the packet (tc_access_in), not the fast one.
	if after, err := e.dp.Stats(e.idxUntagged); err != nil || after.PacketsUp != before.PacketsUp {
		t.Errorf("session counted %d packets up on a pass, %v", after.PacketsUp-before.PacketsUp, err)
	}

	setGRO := func(on bool) {
		t.Helper()
		if err := e.ns.Do(t, func() error {
			_, _, err := setFeatures("slow0p", []string{"rx-gro"}, on)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	setGRO(true)
	eventually(t, "slow0 a redirect target once its peer has GRO", func() bool { return e.redirects(t, slow) })
	e.run(t, fast)
	setGRO(false)
	eventually(t, "slow0 no longer a redirect target", func() bool { return !e.redirects(t, slow) })
	e.run(t, fallback)

	// A device that goes leaves no entry behind (the kernel drops it).
	if err := e.ns.Do(t, func() error { return netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "slow0"}}) }); err != nil {
		t.Fatal(err)
	}
	if e.redirects(t, slow) {
		t.Error("a deleted device is still a redirect target")
	}
}

func (e *env) slowMAC(t *testing.T, ifindex int) net.HardwareAddr {
	var mac net.HardwareAddr
	if err := e.ns.Do(t, func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err == nil {
			mac = l.Attrs().HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestEgressLog: one log line per device says which path packets the fast
// path sends to it take and why, and a new line when that changes.
func TestEgressLog(t *testing.T) {
	requireBPF(t)
	ns := netns.New(t)
	core, log := observer.New(zap.InfoLevel)
	dp, err := Open(Options{PinPath: filepath.Join(DefaultPinPath+"-test", "egresslog"+ns.Name), MaxSessions: 64, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dp.Unpin()
		dp.Close()
	})
	a, _ := netns.Veth(t, ns, "ega", ns, "egb")
	if err := ns.Do(t, func() error { return dp.RefreshDevice(a) }); err != nil {
		t.Fatal(err)
	}
	lines := func(iface, msg string) []observer.LoggedEntry {
		return log.FilterMessage(msg).FilterField(zap.String("iface", iface)).All()
	}
	slow := lines("ega", "egress device: kernel forwarding")
	if len(slow) != 1 || !strings.Contains(slow[0].ContextMap()["why"].(string), "peer has an XDP program or GRO") {
		t.Fatalf("ega: want one kernel-forwarding line naming the veth's peer, got %+v", slow)
	}
	if len(lines("lo", "egress device: kernel forwarding")) != 1 {
		t.Errorf("lo: want one kernel-forwarding line, got %+v", log.All())
	}
	if err := ns.Do(t, func() error { _, _, err := setFeatures("egb", []string{"rx-gro"}, true); return err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fast-path line for ega", func() bool { return len(lines("ega", "egress device: XDP fast path")) == 1 })
	// Refreshing what did not change logs nothing more.
	if err := ns.Do(t, func() error { return dp.RefreshDevice(a) }); err != nil {
		t.Fatal(err)
	}
	if n, m := len(lines("ega", "egress device: XDP fast path")), len(lines("ega", "egress device: kernel forwarding")); n != 1 || m != 1 {
		t.Errorf("ega: %d fast-path and %d kernel lines, want 1 and 1", n, m)
	}
	// One data plane serves one namespace.
	other := netns.New(t)
	if err := other.Do(t, func() error { return dp.RefreshDevice(1) }); err == nil {
		t.Error("RefreshDevice from another namespace accepted")
	}
}
