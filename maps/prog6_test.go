package maps

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// The IPv6 side of the env: each session gets a link /64 and a delegated
// prefix of a different length; the namespace routes them to pppoe0 and
// the "internet" via the gateway on up0.
var (
	link6Untagged = netip.MustParsePrefix("2001:db8:1:1::/64")
	link6Tagged   = netip.MustParsePrefix("2001:db8:1:2::/64")
	link6QinQ     = netip.MustParsePrefix("2001:db8:1:3::/64")
	pd6Untagged   = netip.MustParsePrefix("2001:db8:2100::/56")
	pd6Tagged     = netip.MustParsePrefix("2001:db8:2200::/48")
	pd6QinQ       = netip.MustParsePrefix("2001:db8:2300:4400::/60")

	local6     = netip.MustParseAddr("2001:db8::1")      // on pppoe0
	internet6  = netip.MustParseAddr("2001:db8:ffff::5") // routed via gw6, neighbour known
	noNeigh6   = netip.MustParseAddr("2001:db8:eeee::9") // via a gateway with no neighbour
	gw6        = netip.MustParseAddr("2001:db8:fe::2")
	linkLocal6 = netip.MustParseAddr("fe80::c1")
)

// in6 returns the address with interface id iid inside p.
func in6(p netip.Prefix, iid uint16) netip.Addr {
	a := p.Addr().As16()
	binary.BigEndian.PutUint16(a[14:], iid)
	return netip.AddrFrom16(a)
}

// withV6 gives the env's sessions their prefixes and the namespace its
// IPv6 routes, as a deployment has them: forwarding on, the subscribers'
// prefixes routed into pppoe0, a default-free core route via the gateway.
func (e *env) withV6(t testing.TB) {
	t.Helper()
	err := e.ns.Do(t, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0); err != nil {
			return err
		}
		if err := AddAddress(e.pppoe0, netip.PrefixFrom(local6, 128)); err != nil {
			return err
		}
		for _, p := range []string{"2001:db8:1::/48", "2001:db8:2000::/36"} {
			if err := AddRoute(e.pppoe0, netip.MustParsePrefix(p)); err != nil {
				return err
			}
		}
		// nodad: the address is usable at once (no DAD on a test veth).
		if err := netlink.AddrAdd(mustLink(e.up), &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("2001:db8:fe::1"), Mask: net.CIDRMask(64, 128)},
			Flags: unix.IFA_F_NODAD}); err != nil {
			return err
		}
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: e.up, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
			IP: gw6.AsSlice(), HardwareAddr: gwMAC}); err != nil {
			return err
		}
		for dst, gw := range map[string]string{"2001:db8:ffff::/48": "2001:db8:fe::2", "2001:db8:eeee::/48": "2001:db8:fe::3"} {
			_, n, _ := net.ParseCIDR(dst)
			if err := netlink.RouteReplace(&netlink.Route{LinkIndex: e.up, Dst: n, Gw: net.ParseIP(gw)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		s        Session
		link, pd netip.Prefix
	}{{e.untagged, link6Untagged, pd6Untagged}, {e.tagged, link6Tagged, pd6Tagged}, {e.qinq, link6QinQ, pd6QinQ}} {
		if err := e.dp.SetIPv6LinkPrefix(x.s.Key, x.link); err != nil {
			t.Fatal(err)
		}
		if err := e.dp.AddIPv6Prefix(x.s.Key, x.pd); err != nil {
			t.Fatal(err)
		}
	}
}

func mustLink(index int) netlink.Link {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		panic(err)
	}
	return l
}

type ipv6 struct {
	src, dst netip.Addr
	hop      uint8
	next     uint8
	payload  []byte
}

func (p ipv6) marshal() []byte {
	b := make([]byte, 40+len(p.payload))
	b[0] = 0x60                                               // version 6, traffic class 0
	b[1], b[2], b[3] = 0x0a, 0xbc, 0xde                       // flow label
	binary.BigEndian.PutUint16(b[4:], uint16(len(p.payload))) // payload length
	b[6], b[7] = p.next, p.hop
	s, d := p.src.As16(), p.dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], p.payload)
	return b
}

// tcp6 is tcp with the RFC 8200 §8.1 pseudo-header checksum.
func tcp6(src, dst netip.Addr, flags uint8, opts []byte) []byte {
	b := tcp(netip.IPv4Unspecified(), netip.IPv4Unspecified(), flags, opts)
	b[16], b[17] = 0, 0
	var sum uint32
	for _, a := range []netip.Addr{src, dst} {
		x := a.As16()
		for i := 0; i < 16; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(x[i:]))
		}
	}
	sum += unix.IPPROTO_TCP + uint32(len(b))
	binary.BigEndian.PutUint16(b[16:], csum(b, sum))
	return b
}

func udp6(src, dst netip.Addr, hop uint8, n int) []byte {
	return ipv6{src: src, dst: dst, hop: hop, next: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
}

func (s Session) up6(t testing.TB, ip []byte) []byte {
	return pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolIPv6, ip)
}

func (s Session) down6(t testing.TB, ip []byte) []byte {
	return pppoeFrame(t, s.ClientMAC, acMAC, s.vlans(), s.SessionID, ppp.ProtocolIPv6, ip)
}

func TestXDPAccessIn6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s := e.untagged
	src := in6(link6Untagged, 0x1234)
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv6, ip) }
	var cases []progCase
	for _, x := range []struct {
		s    Session
		link netip.Prefix
	}{{e.untagged, link6Untagged}, {e.tagged, link6Tagged}, {e.qinq, link6QinQ}} {
		a := in6(x.link, 7)
		cases = append(cases, progCase{name: "fast path from the link /64, " + itoa(len(x.s.vlans())) + " VLAN tags", prog: "xdp_access_in",
			in: x.s.up6(t, udp6(a, internet6, 64, 32)), verdict: xdpRedirect, out: fwd(udp6(a, internet6, 63, 32)), counters: count1(ReasonFastUp)})
	}
	fromPD := in6(pd6Untagged, 0x99)
	fromDeepPD := netip.MustParseAddr("2001:db8:2200:ab:cd::1") // inside the tagged session's /48
	cases = append(cases,
		progCase{name: "fast path from a delegated /56", prog: "xdp_access_in", in: s.up6(t, udp6(fromPD, internet6, 64, 32)),
			verdict: xdpRedirect, out: fwd(udp6(fromPD, internet6, 63, 32)), counters: count1(ReasonFastUp)},
		progCase{name: "fast path from a delegated /48", prog: "xdp_access_in", in: e.tagged.up6(t, udp6(fromDeepPD, internet6, 64, 32)),
			verdict: xdpRedirect, out: fwd(udp6(fromDeepPD, internet6, 63, 32)), counters: count1(ReasonFastUp)},
		progCase{name: "padding trimmed", prog: "xdp_access_in", in: append(s.up6(t, udp6(src, internet6, 64, 2)), make([]byte, 12)...),
			verdict: xdpRedirect, out: fwd(udp6(src, internet6, 63, 2)), counters: count1(ReasonFastUp)},
	)
	for name, opts := range synVariants(1460) {
		in := ipv6{src: src, dst: internet6, hop: 64, next: unix.IPPROTO_TCP, payload: tcp6(src, internet6, 0x02, opts)}.marshal()
		// The session's IPv4 clamp is 1452 (MTU 1492 - 40); IPv6's is 20 less.
		want := ipv6{src: src, dst: internet6, hop: 63, next: unix.IPPROTO_TCP, payload: tcp6(src, internet6, 0x02, synVariants(1432)[name])}.marshal()
		cases = append(cases, progCase{name: "MSS clamp to MTU-60, " + name, prog: "xdp_access_in", in: s.up6(t, in),
			verdict: xdpRedirect, out: fwd(want), counters: count1(ReasonFastUp, ReasonMSSClamped)})
	}
	tcpTo := func(flags uint8, mss uint16, hop uint8) []byte {
		return ipv6{src: src, dst: internet6, hop: hop, next: unix.IPPROTO_TCP, payload: tcp6(src, internet6, flags, mssOpt(mss))}.marshal()
	}
	icmp := func(src, dst netip.Addr, typ byte) []byte {
		return ipv6{src: src, dst: dst, hop: 255, next: unix.IPPROTO_ICMPV6, payload: []byte{typ, 0, 0, 0, 0, 0, 0, 0}}.marshal()
	}
	dhcp := ipv6{src: linkLocal6, dst: netip.MustParseAddr("ff02::1:2"), hop: 1, next: unix.IPPROTO_UDP, payload: udp(16)}.marshal()
	cases = append(cases,
		progCase{name: "MSS already small", prog: "xdp_access_in", in: s.up6(t, tcpTo(0x02, 1400, 64)), verdict: xdpRedirect, out: fwd(tcpTo(0x02, 1400, 63)), counters: count1(ReasonFastUp)},
		progCase{name: "MSS on non-SYN untouched", prog: "xdp_access_in", in: s.up6(t, tcpTo(0x10, 1460, 64)), verdict: xdpRedirect, out: fwd(tcpTo(0x10, 1460, 63)), counters: count1(ReasonFastUp)},
		progCase{name: "anti-spoof: another session's /64", prog: "xdp_access_in", in: s.up6(t, udp6(in6(link6Tagged, 1), internet6, 64, 32)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		progCase{name: "anti-spoof: another session's delegated prefix", prog: "xdp_access_in", in: s.up6(t, udp6(in6(pd6QinQ, 1), internet6, 64, 32)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		progCase{name: "anti-spoof: nobody's", prog: "xdp_access_in", in: s.up6(t, udp6(netip.MustParseAddr("2001:db8:9::1"), internet6, 64, 32)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		progCase{name: "anti-spoof: unspecified source to unicast", prog: "xdp_access_in", in: s.up6(t, udp6(netip.IPv6Unspecified(), internet6, 64, 32)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
		progCase{name: "router solicitation to the control plane", prog: "xdp_access_in", in: s.up6(t, icmp(linkLocal6, netip.MustParseAddr("ff02::2"), 133)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "DHCPv6 to ff02::1:2 to the control plane", prog: "xdp_access_in", in: s.up6(t, dhcp), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "DAD from :: to the control plane", prog: "xdp_access_in", in: s.up6(t, icmp(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1234"), 135)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "link-local source to a global address not forwarded", prog: "xdp_access_in", in: s.up6(t, udp6(linkLocal6, internet6, 64, 32)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "global source to a link-local address", prog: "xdp_access_in", in: s.up6(t, udp6(src, netip.MustParseAddr("fe80::1"), 64, 32)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "to global multicast", prog: "xdp_access_in", in: s.up6(t, udp6(src, netip.MustParseAddr("ff0e::101"), 64, 32)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "hop limit 1", prog: "xdp_access_in", in: s.up6(t, udp6(src, internet6, 1, 32)), verdict: xdpPass, counters: count1(ReasonTTLExceeded)},
		progCase{name: "hop limit 0", prog: "xdp_access_in", in: s.up6(t, udp6(src, internet6, 0, 32)), verdict: xdpPass, counters: count1(ReasonTTLExceeded)},
		progCase{name: "no neighbour", prog: "xdp_access_in", in: s.up6(t, udp6(src, noNeigh6, 64, 32)), verdict: xdpPass, counters: count1(ReasonNoNeigh)},
		progCase{name: "to the box itself", prog: "xdp_access_in", in: s.up6(t, udp6(src, local6, 64, 32)), verdict: xdpPass, counters: count1(ReasonPassSlow)},
		progCase{name: "hairpin to another subscriber", prog: "xdp_access_in", in: s.up6(t, udp6(src, in6(pd6Tagged, 1), 64, 32)), verdict: xdpPass, counters: count1(ReasonPassSlow)},
		progCase{name: "unknown session", prog: "xdp_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, 0x0999, ppp.ProtocolIPv6, udp6(src, internet6, 64, 32)), verdict: xdpPass, counters: count1(ReasonUnknownSession)},
		progCase{name: "IPv6CP to user space", prog: "xdp_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, s.SessionID, ppp.ProtocolIPv6CP, []byte{1, 1, 0, 4}), verdict: xdpPass, counters: count1(ReasonPassControl)},
	)
	cases = append(cases, malformed6Cases(t, e, "xdp_access_in", xdpDrop, count1(ReasonMalformed))...)
	e.run(t, cases)
	st, err := e.dp.Stats(e.idxUntagged)
	if err != nil {
		t.Fatal(err)
	}
	// Untagged rows forwarded: 1 fast, /56, padding, 5 clamps, small MSS,
	// ACK; dropped: 4 spoofed.
	if st.PacketsUp != 10 || st.Drops != 4 {
		t.Errorf("stats %+v: want 10 packets up, 4 drops", st)
	}
}

// malformed6Cases is malformedCases for IPv6: the QinQ session's frame
// cut at every byte up to the end of the IPv6 header, and lying headers.
func malformed6Cases(t *testing.T, e *env, prog string, verdict uint32, counters map[Reason]uint64) []progCase {
	s := e.qinq
	ip := udp6(in6(link6QinQ, 1), internet6, 64, 8)
	full := s.up6(t, ip)
	hdr := 14 + 8 + 8
	var cases []progCase
	for n := 14; n < hdr+40; n++ {
		cases = append(cases, progCase{name: "IPv6 cut at " + itoa(n), prog: prog, in: full[:n], verdict: verdict, counters: counters})
	}
	mut := func(name string, f func(b []byte)) {
		b := append([]byte(nil), full...)
		f(b)
		cases = append(cases, progCase{name: name, prog: prog, in: b, verdict: verdict, counters: counters})
	}
	pp := 14 + 8
	mut("IPv6 payload length past PPPoE", func(b []byte) { binary.BigEndian.PutUint16(b[hdr+4:], uint16(len(ip)-40+1)) })
	mut("IPv6 payload length 0xffff", func(b []byte) { binary.BigEndian.PutUint16(b[hdr+4:], 0xffff) })
	mut("IPv6 version 4", func(b []byte) { b[hdr] = 0x40 })
	mut("IPv6 version 7", func(b []byte) { b[hdr] = 0x70 })
	mut("PPPoE length shorter than the IPv6 header", func(b []byte) { binary.BigEndian.PutUint16(b[pp+4:], 2+39) })
	return cases
}

func TestTCAccessIn6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s := e.untagged
	src := in6(link6Untagged, 0x1234)
	inj := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, clientMAC, ethernet.EtherTypeIPv6, ip) }
	syn := func(mss uint16) []byte {
		return ipv6{src: src, dst: local6, hop: 64, next: unix.IPPROTO_TCP, payload: tcp6(src, local6, 0x02, mssOpt(mss))}.marshal()
	}
	rs := ipv6{src: linkLocal6, dst: netip.MustParseAddr("ff02::2"), hop: 255, next: unix.IPPROTO_ICMPV6, payload: []byte{133, 0, 0, 0, 0, 0, 0, 0}}.marshal()
	var cases []progCase
	for _, x := range []struct {
		s  Session
		pd netip.Prefix
	}{{e.untagged, pd6Untagged}, {e.tagged, pd6Tagged}, {e.qinq, pd6QinQ}} {
		a := in6(x.pd, 3)
		cases = append(cases, progCase{name: "decap, " + itoa(len(x.s.vlans())) + " VLAN tags", prog: "tc_access_in",
			in: x.s.up6(t, udp6(a, internet6, 64, 32)), verdict: tcRedirect, out: inj(udp6(a, internet6, 64, 32)), counters: count1(ReasonSlowUp)})
	}
	cases = append(cases,
		progCase{name: "padding trimmed", prog: "tc_access_in", in: append(s.up6(t, udp6(src, internet6, 64, 32)), make([]byte, 6)...),
			verdict: tcRedirect, out: inj(udp6(src, internet6, 64, 32)), counters: count1(ReasonSlowUp)},
		progCase{name: "hop limit 1 still injected", prog: "tc_access_in", in: s.up6(t, udp6(src, internet6, 1, 32)),
			verdict: tcRedirect, out: inj(udp6(src, internet6, 1, 32)), counters: count1(ReasonSlowUp)},
		progCase{name: "MSS clamp", prog: "tc_access_in", in: s.up6(t, syn(1460)), verdict: tcRedirect, out: inj(syn(1432)), counters: count1(ReasonSlowUp, ReasonMSSClamped)},
		progCase{name: "anti-spoof", prog: "tc_access_in", in: s.up6(t, udp6(in6(link6QinQ, 1), internet6, 64, 32)), verdict: tcShot, counters: count1(ReasonSpoofed)},
		progCase{name: "router solicitation left to the control plane", prog: "tc_access_in", in: s.up6(t, rs), verdict: tcOK},
	)
	cases = append(cases, malformed6Cases(t, e, "tc_access_in", tcShot, count1(ReasonMalformed))...)
	e.run(t, cases)
}

func TestXDPUplinkIn6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	in := func(ip []byte) []byte { return ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, ip) }
	var cases []progCase
	for _, x := range []struct {
		s        Session
		link, pd netip.Prefix
	}{{e.untagged, link6Untagged, pd6Untagged}, {e.tagged, link6Tagged, pd6Tagged}, {e.qinq, link6QinQ, pd6QinQ}} {
		for _, d := range []netip.Addr{in6(x.link, 9), in6(x.pd, 9), x.pd.Addr(), lastIn(x.pd)} {
			cases = append(cases, progCase{name: "encap to " + d.String(), prog: "xdp_uplink_in",
				in: in(udp6(internet6, d, 64, 32)), verdict: xdpRedirect, out: x.s.down6(t, udp6(internet6, d, 63, 32)), counters: count1(ReasonFastDown)})
		}
	}
	s := e.untagged
	dst := in6(link6Untagged, 9)
	synack := func(mss uint16, hop uint8) []byte {
		return ipv6{src: internet6, dst: dst, hop: hop, next: unix.IPPROTO_TCP, payload: tcp6(internet6, dst, 0x12, mssOpt(mss))}.marshal()
	}
	cases = append(cases,
		progCase{name: "padding trimmed", prog: "xdp_uplink_in", in: append(in(udp6(internet6, dst, 64, 2)), make([]byte, 8)...),
			verdict: xdpRedirect, out: s.down6(t, udp6(internet6, dst, 63, 2)), counters: count1(ReasonFastDown)},
		progCase{name: "MSS clamp on SYN-ACK", prog: "xdp_uplink_in", in: in(synack(1460, 64)), verdict: xdpRedirect,
			out: s.down6(t, synack(1432, 63)), counters: count1(ReasonFastDown, ReasonMSSClamped)},
		progCase{name: "exactly the session MTU", prog: "xdp_uplink_in", in: in(udp6(internet6, dst, 64, 1492-40)), verdict: xdpRedirect,
			out: s.down6(t, udp6(internet6, dst, 63, 1492-40)), counters: count1(ReasonFastDown)},
		progCase{name: "larger than the session MTU: to the kernel (Packet Too Big)", prog: "xdp_uplink_in", in: in(udp6(internet6, dst, 64, 1493-40)), verdict: xdpPass, counters: count1(ReasonMTUExceeded)},
		progCase{name: "hop limit 1", prog: "xdp_uplink_in", in: in(udp6(internet6, dst, 1, 32)), verdict: xdpPass, counters: count1(ReasonTTLExceeded)},
		progCase{name: "not a subscriber", prog: "xdp_uplink_in", in: in(udp6(internet6, netip.MustParseAddr("2001:db8:9::1"), 64, 32)), verdict: xdpPass},
		progCase{name: "just outside a delegated prefix", prog: "xdp_uplink_in", in: in(udp6(internet6, netip.MustParseAddr("2001:db8:2100:100::1"), 64, 32)), verdict: xdpPass},
		progCase{name: "to multicast", prog: "xdp_uplink_in", in: in(udp6(internet6, netip.MustParseAddr("ff0e::1"), 64, 32)), verdict: xdpPass},
		progCase{name: "to a link-local address", prog: "xdp_uplink_in", in: in(udp6(internet6, netip.MustParseAddr("fe80::1"), 64, 32)), verdict: xdpPass},
		progCase{name: "to a subscriber by link multicast", prog: "xdp_uplink_in", in: ethFrame(t, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, gwMAC, ethernet.EtherTypeIPv6, udp6(internet6, dst, 64, 32)), verdict: xdpPass},
		progCase{name: "truncated IPv6", prog: "xdp_uplink_in", in: in(udp6(internet6, dst, 64, 32))[:14+39], verdict: xdpPass},
		progCase{name: "payload length past the frame", prog: "xdp_uplink_in", in: in(udp6(internet6, dst, 64, 32))[:14+40+31], verdict: xdpPass},
	)
	e.run(t, cases)
	st, err := e.dp.Stats(e.idxUntagged)
	if err != nil {
		t.Fatal(err)
	}
	if st.PacketsDown != 7 {
		t.Errorf("stats %+v: want 7 packets down", st)
	}
}

// lastIn is the last address of p.
func lastIn(p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	for bit := p.Bits(); bit < 128; bit++ {
		a[bit/8] |= 0x80 >> (bit % 8)
	}
	return netip.AddrFrom16(a)
}

func TestTCPPPoE0Out6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	in := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv6, ip) }
	var cases []progCase
	for _, x := range []struct {
		s  Session
		pd netip.Prefix
	}{{e.untagged, pd6Untagged}, {e.tagged, pd6Tagged}, {e.qinq, pd6QinQ}} {
		d := in6(x.pd, 5)
		cases = append(cases, progCase{name: "encap, " + itoa(len(x.s.vlans())) + " VLAN tags", prog: "tc_pppoe0_out",
			in: in(udp6(local6, d, 64, 32)), verdict: tcRedirect, out: x.s.down6(t, udp6(local6, d, 64, 32)), counters: count1(ReasonSlowDown)})
	}
	s := e.tagged
	dst := in6(link6Tagged, 5)
	synack := func(mss uint16) []byte {
		return ipv6{src: local6, dst: dst, hop: 64, next: unix.IPPROTO_TCP, payload: tcp6(local6, dst, 0x12, mssOpt(mss))}.marshal()
	}
	cases = append(cases,
		progCase{name: "MSS clamp", prog: "tc_pppoe0_out", in: in(synack(1460)), verdict: tcRedirect, out: s.down6(t, synack(1432)), counters: count1(ReasonSlowDown, ReasonMSSClamped)},
		progCase{name: "unknown destination dropped", prog: "tc_pppoe0_out", in: in(udp6(local6, netip.MustParseAddr("2001:db8:9::1"), 64, 32)), verdict: tcShot, counters: count1(ReasonUnknownDest)},
		progCase{name: "larger than session MTU", prog: "tc_pppoe0_out", in: in(udp6(local6, dst, 64, 1493-40)), verdict: tcShot, counters: count1(ReasonMTUExceeded)},
		progCase{name: "payload length past the frame", prog: "tc_pppoe0_out", in: in(udp6(local6, dst, 64, 32))[:14+40+31], verdict: tcShot, counters: count1(ReasonMalformed)},
		progCase{name: "version 4 in an IPv6 frame", prog: "tc_pppoe0_out", in: func() []byte { b := in(udp6(local6, dst, 64, 32)); b[14] = 0x45; return b }(), verdict: tcShot, counters: count1(ReasonMalformed)},
	)
	e.run(t, cases)
}

// TestRatePolicer6: IPv6 packets are charged to their session's limit on
// every path, once each, as IPv4's are (TestRatePolicer): one packet costs
// ten seconds of a bucket a millisecond deep, so the first passes (charged
// at most once) and the second is dropped (the first was charged).
func TestRatePolicer6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s := e.untagged
	src, dst := in6(pd6Untagged, 9), in6(link6Untagged, 9)
	const n = 40 + 8 + 32 // IP bytes of each packet
	up := s.up6(t, udp6(src, internet6, 64, 32))
	down := ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, udp6(internet6, dst, 64, 32))
	slow := ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv6, udp6(local6, dst, 64, 32))
	e.policerRows(t, n, up, down, slow, nil)
}

// TestAntiSpoof6Delegated: the upstream anti-spoof check against the
// delegated prefixes a session's attributes keep (pd_*, inlinePD) and
// subscribers_v6 behind them, as prefixes are delegated, renewed and
// released, and after a restart's rebuild.
func TestAntiSpoof6Delegated(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	s := e.untagged
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv6, ip) }
	pass := func(name string, src netip.Addr) progCase {
		return progCase{name: name, prog: "xdp_access_in", in: s.up6(t, udp6(src, internet6, 64, 32)),
			verdict: xdpRedirect, out: fwd(udp6(src, internet6, 63, 32)), counters: count1(ReasonFastUp)}
	}
	drop := func(name string, src netip.Addr) progCase {
		return progCase{name: name, prog: "xdp_access_in", in: s.up6(t, udp6(src, internet6, 64, 32)),
			verdict: xdpDrop, counters: count1(ReasonSpoofed)}
	}
	inline := func(wantLen uint8, wantAll uint32) {
		t.Helper()
		var a dataplaneSessionAttrs
		if err := e.dp.objs.SessionInfo.Lookup(uint32(e.idxUntagged), &a); err != nil {
			t.Fatal(err)
		}
		if a.PdLen != wantLen || a.PdAll != wantAll {
			t.Fatalf("session_info pd_len %d pd_all %d, want %d %d", a.PdLen, a.PdAll, wantLen, wantAll)
		}
	}
	second := netip.MustParsePrefix("2001:db8:2400::/56")
	long := netip.MustParsePrefix("2001:db8:2500:1:1::/80") // longer than the inline copy holds
	other := in6(pd6Tagged, 5)
	nobody := netip.MustParseAddr("2001:db8:2600::1")

	inline(56, 1)
	e.run(t, []progCase{
		pass("one prefix, inline: in it", in6(pd6Untagged, 0x77)),
		pass("one prefix, inline: its last address", netip.MustParseAddr("2001:db8:2100:ff:ffff:ffff:ffff:ffff")),
		drop("one prefix: just past it", netip.MustParseAddr("2001:db8:2100:100::1")),
		drop("one prefix: another session's", other),
		drop("one prefix: nobody's", nobody),
	})

	// A renewal adds what the session has, and an IPv4 change (Update)
	// keeps the IPv6 attributes: nothing changes.
	if err := e.dp.AddIPv6Prefix(s.Key, pd6Untagged); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.Update(s); err != nil {
		t.Fatal(err)
	}
	inline(56, 1)
	for _, p := range []netip.Prefix{second, long} {
		if err := e.dp.AddIPv6Prefix(s.Key, p); err != nil {
			t.Fatal(err)
		}
	}
	inline(56, 0)
	e.run(t, []progCase{
		pass("three prefixes: the first", in6(pd6Untagged, 0x77)),
		pass("three prefixes: the second", in6(second, 0x77)),
		pass("three prefixes: the /80", in6(long, 0x77)),
		pass("three prefixes: the link /64", in6(link6Untagged, 0x77)),
		drop("three prefixes: another session's", other),
		drop("three prefixes: nobody's", nobody),
	})

	// Released: the inline one first, then the /80.
	if err := e.dp.RemoveIPv6Prefix(s.Key, pd6Untagged); err != nil {
		t.Fatal(err)
	}
	inline(56, 0) // now the second /56
	e.run(t, []progCase{
		drop("released: the first", in6(pd6Untagged, 0x77)),
		pass("released the first: the second", in6(second, 0x77)),
		pass("released the first: the /80", in6(long, 0x77)),
	})
	if err := e.dp.RemoveIPv6Prefix(s.Key, long); err != nil {
		t.Fatal(err)
	}
	inline(56, 1)
	e.run(t, []progCase{
		drop("released: the /80", in6(long, 0x77)),
		drop("released: the first, still", in6(pd6Untagged, 0x77)),
		pass("one left: the second", in6(second, 0x77)),
		drop("one left: another session's", other),
	})

	// A restart finds session_info behind subscribers_v6 (a crash
	// between a change's steps): here claiming no delegated prefix. The
	// data plane trusts the copy, so the delegated source is refused
	// until Open's rebuild puts it right.
	var a dataplaneSessionAttrs
	key, err := s.Key.raw()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dp.objs.Sessions.Lookup(&key, &a); err != nil {
		t.Fatal(err)
	}
	a.PdLen, a.PdPrefix, a.PdAll = 0, [8]byte{}, 1
	if err := e.dp.rewriteAttrsLocked(key, a); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{drop("stale copy: the delegated prefix", in6(second, 0x77))})
	if err := e.dp.rebuildV6(); err != nil {
		t.Fatal(err)
	}
	inline(56, 1)
	e.run(t, []progCase{pass("rebuilt: the delegated prefix", in6(second, 0x77))})

	// The session's end takes every prefix, and the copy with the entry.
	if err := e.dp.SetIPv6LinkPrefix(s.Key, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	inline(56, 1)
	if err := e.dp.RemoveIPv6Prefix(s.Key, second); err != nil {
		t.Fatal(err)
	}
	inline(0, 1)
	e.run(t, []progCase{
		drop("no prefixes: the released /56", in6(second, 0x77)),
		drop("no prefixes: the old link /64", in6(link6Untagged, 0x77)),
	})
}
