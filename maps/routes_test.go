package maps

import (
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"golang.org/x/sys/unix"
)

// A prefix routed to a session (Framed-Route) is forwarded to it
// downstream and accepted from it upstream; another session's, or the
// session's after the route or the session went, is not.
func TestFramedRoutes(t *testing.T) {
	e := newEnv(t)
	s, other := e.untagged, e.tagged
	lan := netip.MustParsePrefix("198.18.0.0/24")
	inLAN, outside := netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("198.18.1.7")
	datagram := func(src, dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: src, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	fromUplink := func(ip []byte) []byte { return ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ip) }
	toUplink := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, ip) }
	unrouted := []progCase{
		{name: "downstream, no route", prog: "xdp_uplink_in", in: fromUplink(datagram(internet, inLAN, 64)), verdict: xdpPass},
		{name: "upstream from the LAN, no route", prog: "xdp_access_in", in: s.up(t, datagram(inLAN, internet, 64)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
	}
	e.run(t, unrouted)

	if err := e.dp.SetRoutes(s.Key, []netip.Prefix{lan, netip.MustParsePrefix("198.18.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.dp.Routes(s.Key); err != nil || len(got) != 1 || got[0] != lan {
		t.Fatalf("Routes: %v, %v", got, err)
	}
	e.run(t, []progCase{
		{name: "downstream into the LAN", prog: "xdp_uplink_in", in: fromUplink(datagram(internet, inLAN, 64)),
			verdict: xdpRedirect, out: s.down(t, datagram(internet, inLAN, 63)), counters: count1(ReasonFastDown)},
		{name: "downstream outside the LAN", prog: "xdp_uplink_in", in: fromUplink(datagram(internet, outside, 64)), verdict: xdpPass},
		{name: "upstream from the LAN", prog: "xdp_access_in", in: s.up(t, datagram(inLAN, internet, 64)),
			verdict: xdpRedirect, out: toUplink(datagram(inLAN, internet, 63)), counters: count1(ReasonFastUp)},
		{name: "upstream from outside the LAN", prog: "xdp_access_in", in: s.up(t, datagram(outside, internet, 64)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "another session from the LAN", prog: "xdp_access_in", in: other.up(t, datagram(inLAN, internet, 64)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "the session's own address still", prog: "xdp_access_in", in: s.up(t, datagram(s.IPv4, internet, 64)),
			verdict: xdpRedirect, out: toUplink(datagram(s.IPv4, internet, 63)), counters: count1(ReasonFastUp)},
	})

	// A prefix two sessions claim goes to the later one.
	if err := e.dp.SetRoutes(other.Key, []netip.Prefix{lan}); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{{name: "downstream to the later claimant", prog: "xdp_uplink_in", in: fromUplink(datagram(internet, inLAN, 64)),
		verdict: xdpRedirect, out: other.down(t, datagram(internet, inLAN, 63)), counters: count1(ReasonFastDown)}})
	if got, _ := e.dp.Routes(s.Key); len(got) != 0 {
		t.Errorf("the earlier claimant still lists %v", got)
	}
	if err := e.dp.Remove(other.Key); err != nil {
		t.Fatal(err)
	}
	e.run(t, unrouted)

	if err := e.dp.SetRoutes(s.Key, []netip.Prefix{netip.MustParsePrefix("2001:db8::/48")}); err == nil {
		t.Error("an IPv6 prefix accepted as a Framed-Route")
	}
	if err := e.dp.SetRoutes(s.Key, []netip.Prefix{lan}); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.SetRoutes(s.Key, nil); err != nil {
		t.Fatal(err)
	}
	e.run(t, unrouted)
}
