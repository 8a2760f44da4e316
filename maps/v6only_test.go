package maps

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// An IPv6-only session: IPv6CP opened, IPCP did not (the peer rejected
// it, or never opened it). Its entry has no IPv4 address; its prefixes
// are all it forwards.
var (
	link6Only = netip.MustParsePrefix("2001:db8:1:4::/64")
	pd6Only   = netip.MustParsePrefix("2001:db8:2400::/56")
)

// withV6Only installs an IPv6-only session beside the env's dual-stack
// ones, with a link /64 and a delegated /56.
func (e *env) withV6Only(t testing.TB) (Session, Index) {
	t.Helper()
	s := Session{Key: Key{Ifindex: e.acc, SessionID: 0x0106, ClientMAC: clientMAC}, ACMAC: acMAC, MTU: 1492, MSS: 1452}
	idx, err := e.dp.Install(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dp.SetIPv6LinkPrefix(s.Key, link6Only); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.AddIPv6Prefix(s.Key, pd6Only); err != nil {
		t.Fatal(err)
	}
	return s, idx
}

// TestIPv6OnlySession: a session with no IPv4 address forwards IPv6 both
// ways on every path, fast and slow, and refuses every IPv4 packet from
// its peer, 0.0.0.0 included (its entry holds 0.0.0.0).
func TestIPv6OnlySession(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s, idx := e.withV6Only(t)
	got, _, err := e.dp.Lookup(s.Key)
	if err != nil || got.IPv4.IsValid() {
		t.Fatalf("lookup: IPv4 %v, %v: want none", got.IPv4, err)
	}
	src, fromPD := in6(link6Only, 0x1234), in6(pd6Only, 0x99)
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv6, ip) }
	inj := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, clientMAC, ethernet.EtherTypeIPv6, ip) }
	fromUp := func(ip []byte) []byte { return ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, ip) }
	fromPPPoE0 := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv6, ip) }
	ip4 := func(src, dst netip.Addr) []byte {
		return ipv4{src: src, dst: dst, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	zero := netip.IPv4Unspecified()
	cases := []progCase{
		// Upstream, 4 forwarded.
		{name: "fast path up from the link /64", prog: "xdp_access_in", in: s.up6(t, udp6(src, internet6, 64, 32)),
			verdict: xdpRedirect, out: fwd(udp6(src, internet6, 63, 32)), counters: count1(ReasonFastUp)},
		{name: "fast path up from the delegated /56", prog: "xdp_access_in", in: s.up6(t, udp6(fromPD, internet6, 64, 32)),
			verdict: xdpRedirect, out: fwd(udp6(fromPD, internet6, 63, 32)), counters: count1(ReasonFastUp)},
		{name: "slow path up from the link /64", prog: "tc_access_in", in: s.up6(t, udp6(src, internet6, 64, 32)),
			verdict: tcRedirect, out: inj(udp6(src, internet6, 64, 32)), counters: count1(ReasonSlowUp)},
		{name: "slow path up from the delegated /56", prog: "tc_access_in", in: s.up6(t, udp6(fromPD, local6, 64, 32)),
			verdict: tcRedirect, out: inj(udp6(fromPD, local6, 64, 32)), counters: count1(ReasonSlowUp)},
		// Downstream, 4 forwarded.
		{name: "fast path down to the link /64", prog: "xdp_uplink_in", in: fromUp(udp6(internet6, src, 64, 32)),
			verdict: xdpRedirect, out: s.down6(t, udp6(internet6, src, 63, 32)), counters: count1(ReasonFastDown)},
		{name: "fast path down to the delegated /56", prog: "xdp_uplink_in", in: fromUp(udp6(internet6, fromPD, 64, 32)),
			verdict: xdpRedirect, out: s.down6(t, udp6(internet6, fromPD, 63, 32)), counters: count1(ReasonFastDown)},
		{name: "slow path down to the link /64", prog: "tc_pppoe0_out", in: fromPPPoE0(udp6(local6, src, 64, 32)),
			verdict: tcRedirect, out: s.down6(t, udp6(local6, src, 64, 32)), counters: count1(ReasonSlowDown)},
		{name: "slow path down to the delegated /56", prog: "tc_pppoe0_out", in: fromPPPoE0(udp6(local6, fromPD, 64, 32)),
			verdict: tcRedirect, out: s.down6(t, udp6(local6, fromPD, 64, 32)), counters: count1(ReasonSlowDown)},
		// Anti-spoof: 6 dropped.
		{name: "IPv4 from 0.0.0.0 (XDP)", prog: "xdp_access_in", in: s.up(t, ip4(zero, internet)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "IPv4 from 0.0.0.0 (TC)", prog: "tc_access_in", in: s.up(t, ip4(zero, internet)), verdict: tcShot, counters: count1(ReasonSpoofed)},
		{name: "IPv4 from another session's address", prog: "xdp_access_in", in: s.up(t, ip4(subUntagged, internet)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "IPv4 from another session's address (TC)", prog: "tc_access_in", in: s.up(t, ip4(subTagged, internet)), verdict: tcShot, counters: count1(ReasonSpoofed)},
		{name: "IPv6 from another session's /64", prog: "xdp_access_in", in: s.up6(t, udp6(in6(link6Untagged, 1), internet6, 64, 32)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "IPv6 from another session's delegated prefix", prog: "tc_access_in", in: s.up6(t, udp6(in6(pd6Tagged, 1), internet6, 64, 32)), verdict: tcShot, counters: count1(ReasonSpoofed)},
		// Nothing routes IPv4 to it: 0.0.0.0 is nobody's.
		{name: "IPv4 down to 0.0.0.0 not a subscriber's", prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ip4(internet, zero)), verdict: xdpPass},
		{name: "IPv4 to 0.0.0.0 from pppoe0 dropped", prog: "tc_pppoe0_out", in: ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, ip4(localAddr, zero)), verdict: tcShot, counters: count1(ReasonUnknownDest)},
		// The dual-stack sessions beside it go on as before.
		{name: "dual-stack IPv4 unaffected", prog: "xdp_access_in", in: e.untagged.up(t, ip4(subUntagged, internet)),
			verdict: xdpRedirect, out: ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, ipv4{src: subUntagged, dst: internet, ttl: 63, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()), counters: count1(ReasonFastUp)},
	}
	e.run(t, cases)
	// The session's counters carry its IPv6 traffic (RADIUS accounting
	// reads them): IP bytes, 40 + 32 a packet.
	st, err := e.dp.Stats(idx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PacketsUp != 4 || st.BytesUp != 4*72 || st.PacketsDown != 4 || st.BytesDown != 4*72 || st.Drops != 6 {
		t.Errorf("stats %+v: want 4 packets (288 bytes) each way, 6 drops", st)
	}
}

// TestUpdateIPv4ComesAndGoes: IPCP opening after IPv6CP gives an
// IPv6-only session its address in place, IPCP closing takes it away,
// and neither disturbs the session's IPv6, index or counters.
func TestUpdateIPv4ComesAndGoes(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s, idx := e.withV6Only(t)
	a := netip.MustParseAddr("100.64.1.6")
	src6 := in6(link6Only, 7)
	ip4 := func(src, dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: src, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	up4 := progCase{name: "IPv4 up", prog: "xdp_access_in", in: s.up(t, ip4(a, internet, 64)), verdict: xdpRedirect,
		out: ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, ip4(a, internet, 63)), counters: count1(ReasonFastUp)}
	down4 := progCase{name: "IPv4 down", prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ip4(internet, a, 64)),
		verdict: xdpRedirect, out: s.down(t, ip4(internet, a, 63)), counters: count1(ReasonFastDown)}
	up6 := progCase{name: "IPv6 up", prog: "xdp_access_in", in: s.up6(t, udp6(src6, internet6, 64, 32)), verdict: xdpRedirect,
		out: ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv6, udp6(src6, internet6, 63, 32)), counters: count1(ReasonFastUp)}
	refused4 := []progCase{
		{name: "IPv4 up refused", prog: "xdp_access_in", in: up4.in, verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		{name: "IPv4 down not routed", prog: "xdp_uplink_in", in: down4.in, verdict: xdpPass},
	}

	e.run(t, append([]progCase{up6}, refused4...))

	// Another session's address is refused and changes nothing.
	taken := s
	taken.IPv4 = subUntagged
	if _, err := e.dp.Update(taken); !errors.Is(err, ErrExists) {
		t.Fatalf("update to a taken address: %v, want ErrExists", err)
	}
	e.run(t, refused4)

	// IPCP opens.
	s.IPv4 = a
	if got, err := e.dp.Update(s); err != nil || got != idx {
		t.Fatalf("update with IPv4: index %d, %v; want %d", got, err, idx)
	}
	e.run(t, []progCase{up4, down4, up6})
	if l, d, err := e.dp.IPv6Prefixes(s.Key); err != nil || l != link6Only || len(d) != 1 || d[0] != pd6Only {
		t.Fatalf("IPv6 prefixes after IPv4 came: %v %v %v", l, d, err)
	}

	// IPCP closes; IPv6CP stays.
	s.IPv4 = netip.Addr{}
	if got, err := e.dp.Update(s); err != nil || got != idx {
		t.Fatalf("update without IPv4: index %d, %v; want %d", got, err, idx)
	}
	e.run(t, append([]progCase{up6}, refused4...))
	if got, _, err := e.dp.Lookup(s.Key); err != nil || got.IPv4.IsValid() {
		t.Fatalf("lookup: IPv4 %v, %v: want none", got.IPv4, err)
	}
	in, err := e.dp.Installed()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range in {
		if x.Index == idx && x.Subscriber {
			t.Errorf("installed %+v: still the subscriber of an address", x)
		}
	}
	// The address is free for another session.
	other := Session{Key: Key{Ifindex: e.acc, SessionID: 0x0107, ClientMAC: clientMAC}, ACMAC: acMAC, IPv4: a, MTU: 1492}
	if _, err := e.dp.Install(other); err != nil {
		t.Fatalf("install with the released address: %v", err)
	}
	st, err := e.dp.Stats(idx)
	if err != nil {
		t.Fatal(err)
	}
	// Forwarded: IPv6 up three times, IPv4 up and down once; dropped:
	// IPv4 up three times.
	if st.PacketsUp != 4 || st.PacketsDown != 1 || st.Drops != 3 {
		t.Errorf("stats %+v: want 4 up, 1 down, 3 drops over the updates", st)
	}
	// Not an IPv4 address, or 0.0.0.0: refused.
	for _, bad := range []netip.Addr{netip.IPv4Unspecified(), netip.MustParseAddr("2001:db8::1")} {
		s.IPv4 = bad
		if _, err := e.dp.Update(s); err == nil {
			t.Errorf("update to %v: no error", bad)
		}
	}
}
