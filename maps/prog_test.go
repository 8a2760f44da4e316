package maps

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"golang.org/x/sys/unix"
)

func udp(n int) []byte { return make([]byte, n) } // opaque payload, proto 17

// mssOpt is a TCP MSS option (kind 2, length 4, value).
func mssOpt(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }

// synVariants places the MSS option at several offsets in the option list.
func synVariants(mss uint16) map[string][]byte {
	cat := func(bs ...[]byte) []byte {
		var o []byte
		for _, b := range bs {
			o = append(o, b...)
		}
		return o
	}
	return map[string][]byte{
		"mss first":            mssOpt(mss),
		"mss after 2 nop":      cat([]byte{1, 1}, mssOpt(mss), []byte{1, 1}),
		"mss after sack+ts":    cat([]byte{4, 2}, []byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, mssOpt(mss)),
		"mss last of wscale":   cat([]byte{3, 3, 7}, []byte{1}, mssOpt(mss)),
		"mss at option end 36": cat([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, mssOpt(mss)),
	}
}

func TestXDPAccessIn(t *testing.T) {
	e := newEnv(t)
	s := e.untagged
	ipUp := func(src, dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: src, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, ip) }
	one := func(r ...Reason) map[Reason]uint64 {
		m := map[Reason]uint64{}
		for _, x := range r {
			m[x]++
		}
		return m
	}
	var cases []progCase
	for _, sess := range []Session{e.untagged, e.tagged, e.qinq} {
		cases = append(cases, progCase{
			name: "fast path, " + string(rune('0'+len(sess.vlans()))) + " VLAN tags", prog: "xdp_access_in",
			in:      sess.up(t, ipUp(sess.IPv4, internet, 64)),
			verdict: xdpRedirect, out: fwd(ipUp(sess.IPv4, internet, 63)),
			counters: one(ReasonFastUp),
		})
	}
	// A priority tag (VLAN id 0, IEEE 802.1Q §9.6) places a frame in no
	// VLAN: the untagged session's frames may carry one, and the tagged
	// session's inside its VLAN.
	prio := ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, Priority: 5}
	cases = append(cases,
		progCase{name: "priority-tagged, untagged session", prog: "xdp_access_in",
			in:      pppoeFrame(t, acMAC, clientMAC, []ethernet.VLAN{prio}, e.untagged.SessionID, ppp.ProtocolIPv4, ipUp(e.untagged.IPv4, internet, 64)),
			verdict: xdpRedirect, out: fwd(ipUp(e.untagged.IPv4, internet, 63)), counters: one(ReasonFastUp)},
		progCase{name: "priority tag inside the session's VLAN", prog: "xdp_access_in",
			in:      pppoeFrame(t, acMAC, clientMAC, []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}, prio}, e.tagged.SessionID, ppp.ProtocolIPv4, ipUp(e.tagged.IPv4, internet, 64)),
			verdict: xdpRedirect, out: fwd(ipUp(e.tagged.IPv4, internet, 63)), counters: one(ReasonFastUp)})
	// Ethernet padding after a short PPPoE payload is trimmed on decap.
	padded := append(s.up(t, ipUp(s.IPv4, internet, 64)), make([]byte, 10)...)
	cases = append(cases, progCase{name: "padding trimmed", prog: "xdp_access_in", in: padded,
		verdict: xdpRedirect, out: fwd(ipUp(s.IPv4, internet, 63)), counters: one(ReasonFastUp)})
	for name, opts := range synVariants(1460) {
		synIn := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, opts)}.marshal()
		clamped := synVariants(1452)[name]
		synOut := ipv4{src: s.IPv4, dst: internet, ttl: 63, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, clamped)}.marshal()
		cases = append(cases, progCase{name: "MSS clamp, " + name, prog: "xdp_access_in", in: s.up(t, synIn),
			verdict: xdpRedirect, out: fwd(synOut), counters: one(ReasonFastUp, ReasonMSSClamped)})
	}
	small := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, mssOpt(1400))}.marshal()
	smallOut := ipv4{src: s.IPv4, dst: internet, ttl: 63, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, mssOpt(1400))}.marshal()
	ack := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x10, mssOpt(1460))}.marshal()
	ackOut := ipv4{src: s.IPv4, dst: internet, ttl: 63, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x10, mssOpt(1460))}.marshal()
	lcp := pppoeFrame(t, acMAC, clientMAC, nil, s.SessionID, ppp.ProtocolLCP, []byte{9, 1, 0, 8, 0, 0, 0, 0})
	padi, err := pppoe.MarshalFrame(ethernet.Broadcast, clientMAC, nil, &pppoe.Packet{Code: pppoe.CodePADI})
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases,
		progCase{name: "MSS already small", prog: "xdp_access_in", in: s.up(t, small), verdict: xdpRedirect, out: fwd(smallOut), counters: one(ReasonFastUp)},
		progCase{name: "MSS on non-SYN untouched", prog: "xdp_access_in", in: s.up(t, ack), verdict: xdpRedirect, out: fwd(ackOut), counters: one(ReasonFastUp)},
		progCase{name: "anti-spoof", prog: "xdp_access_in", in: s.up(t, ipUp(subTagged, internet, 64)), verdict: xdpDrop, counters: one(ReasonSpoofed)},
		progCase{name: "TTL 1", prog: "xdp_access_in", in: s.up(t, ipUp(s.IPv4, internet, 1)), verdict: xdpPass, counters: one(ReasonTTLExceeded)},
		progCase{name: "no neighbour", prog: "xdp_access_in", in: s.up(t, ipUp(s.IPv4, noNeighDst, 64)), verdict: xdpPass, counters: one(ReasonNoNeigh)},
		progCase{name: "to the box itself", prog: "xdp_access_in", in: s.up(t, ipUp(s.IPv4, localAddr, 64)), verdict: xdpPass, counters: one(ReasonPassSlow)},
		progCase{name: "hairpin to a subscriber", prog: "xdp_access_in", in: s.up(t, ipUp(s.IPv4, subQinQ, 64)), verdict: xdpPass, counters: one(ReasonPassSlow)},
		progCase{name: "unknown session", prog: "xdp_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, 0x0999, ppp.ProtocolIPv4, ipUp(s.IPv4, internet, 64)), verdict: xdpPass, counters: one(ReasonUnknownSession)},
		progCase{name: "known id, wrong VLAN", prog: "xdp_access_in", in: pppoeFrame(t, acMAC, clientMAC, []ethernet.VLAN{{ID: 7}}, s.SessionID, ppp.ProtocolIPv4, ipUp(s.IPv4, internet, 64)), verdict: xdpPass, counters: one(ReasonUnknownSession)},
		progCase{name: "QinQ with wrong outer TPID", prog: "xdp_access_in", in: pppoeFrame(t, acMAC, clientMAC, []ethernet.VLAN{{ID: 10}, {ID: 20}}, e.qinq.SessionID, ppp.ProtocolIPv4, ipUp(subQinQ, internet, 64)), verdict: xdpPass, counters: one(ReasonUnknownSession)},
		progCase{name: "LCP to user space", prog: "xdp_access_in", in: lcp, verdict: xdpPass, counters: one(ReasonPassControl)},
		progCase{name: "PADI to user space", prog: "xdp_access_in", in: padi, verdict: xdpPass, counters: one(ReasonPassDiscovery)},
		progCase{name: "bad IPv4 header checksum", prog: "xdp_access_in", in: e.tagged.up(t, badCsum(ipUp(e.tagged.IPv4, internet, 64))), verdict: xdpDrop, counters: one(ReasonMalformed)},
		progCase{name: "session frame to another MAC", prog: "xdp_access_in", in: pppoeFrame(t, otherMAC, clientMAC, nil, s.SessionID, ppp.ProtocolIPv4, ipUp(s.IPv4, internet, 64)), verdict: xdpPass, counters: one(ReasonPassOther)},
		progCase{name: "session frame to broadcast", prog: "xdp_access_in", in: pppoeFrame(t, ethernet.Broadcast, clientMAC, nil, s.SessionID, ppp.ProtocolIPv4, ipUp(s.IPv4, internet, 64)), verdict: xdpPass, counters: one(ReasonPassOther)},
		progCase{name: "plain IPv4 not ours", prog: "xdp_access_in", in: ethFrame(t, acMAC, clientMAC, ethernet.EtherTypeIPv4, ipUp(s.IPv4, internet, 64)), verdict: xdpPass, counters: one(ReasonPassOther)},
	)
	cases = append(cases, malformedCases(t, e, "xdp_access_in", xdpDrop, one(ReasonMalformed))...)
	e.run(t, cases)

	st, err := e.dp.Stats(e.idxUntagged)
	if err != nil {
		t.Fatal(err)
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		t.Fatal(err)
	}
	// Untagged rows forwarded: padding, 5 clamps, small MSS, ACK, 1 fast,
	// 1 priority-tagged.
	if st.PacketsUp != 10 || st.Drops != 1 {
		t.Errorf("stats %+v: want 10 packets up, 1 drop (spoofed)", st)
	}
	if st.LastSeen == 0 || st.LastSeen > time.Duration(now.Nano()) {
		t.Errorf("last seen %v, now %v", st.LastSeen, time.Duration(now.Nano()))
	}
}

// malformedCases cuts a valid session frame at every byte up to the end of
// the IPv4 header, and adds lying/invalid headers: none may be forwarded.
func malformedCases(t *testing.T, e *env, prog string, verdict uint32, counters map[Reason]uint64) []progCase {
	s := e.qinq
	ip := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(8)}.marshal()
	full := s.up(t, ip)
	hdr := 14 + 8 + 8 // Ethernet with two tags, PPPoE, PPP
	var cases []progCase
	for n := 14; n < hdr+20; n++ {
		cases = append(cases, progCase{name: "cut at " + itoa(n), prog: prog, in: full[:n], verdict: verdict, counters: counters})
	}
	mut := func(name string, f func(b []byte) []byte) {
		b := f(append([]byte(nil), full...))
		cases = append(cases, progCase{name: name, prog: prog, in: b, verdict: verdict, counters: counters})
	}
	pp := 14 + 8 // PPPoE header offset
	mut("PPPoE length one past the frame", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[pp+4:], uint16(len(b)-pp-6+1))
		return b
	})
	mut("PPPoE length 1", func(b []byte) []byte { binary.BigEndian.PutUint16(b[pp+4:], 1); return b })
	mut("PPPoE length shorter than IP", func(b []byte) []byte { binary.BigEndian.PutUint16(b[pp+4:], 2+19); return b })
	mut("IPv4 total length past PPPoE", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[hdr+2:], uint16(len(ip)+1))
		return b
	})
	mut("IPv4 IHL 4", func(b []byte) []byte { b[hdr] = 0x44; return b })
	mut("IPv4 version 6", func(b []byte) []byte { b[hdr] = 0x65; return b })
	mut("PPPoE version 2", func(b []byte) []byte { b[pp] = 0x21; return b })
	mut("PPPoE type 2", func(b []byte) []byte { b[pp] = 0x12; return b })
	mut("PPPoE code PADT on 0x8864", func(b []byte) []byte { b[pp+1] = 0xa7; return b })
	mut("three VLAN tags", func(b []byte) []byte {
		// Insert a third 802.1Q tag (TPID 0x8100, TCI 30) after the MACs.
		return append(append(append([]byte(nil), b[:12]...), 0x81, 0x00, 0x00, 30), b[12:]...)
	})
	return cases
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func count1(r ...Reason) map[Reason]uint64 {
	m := map[Reason]uint64{}
	for _, x := range r {
		m[x]++
	}
	return m
}

// down builds what the AC sends a session: its IPv4 packet in PPPoE.
func (s Session) down(t testing.TB, ip []byte) []byte {
	return pppoeFrame(t, s.ClientMAC, acMAC, s.vlans(), s.SessionID, ppp.ProtocolIPv4, ip)
}

func TestXDPUplinkIn(t *testing.T) {
	e := newEnv(t)
	ipDown := func(dst netip.Addr, ttl uint8, n int) []byte {
		return ipv4{src: internet, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
	}
	in := func(ip []byte) []byte { return ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ip) }
	var cases []progCase
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		cases = append(cases, progCase{name: "encap, " + itoa(len(s.vlans())) + " VLAN tags", prog: "xdp_uplink_in",
			in: in(ipDown(s.IPv4, 64, 32)), verdict: xdpRedirect, out: s.down(t, ipDown(s.IPv4, 63, 32)), counters: count1(ReasonFastDown)})
	}
	s := e.untagged
	synack := func(mss uint16, ttl uint8) []byte {
		return ipv4{src: internet, dst: s.IPv4, ttl: ttl, proto: unix.IPPROTO_TCP, payload: tcp(internet, s.IPv4, 0x12, mssOpt(mss))}.marshal()
	}
	cases = append(cases,
		progCase{name: "padding trimmed", prog: "xdp_uplink_in", in: append(in(ipDown(s.IPv4, 64, 2)), make([]byte, 8)...),
			verdict: xdpRedirect, out: s.down(t, ipDown(s.IPv4, 63, 2)), counters: count1(ReasonFastDown)},
		progCase{name: "MSS clamp on SYN-ACK", prog: "xdp_uplink_in", in: in(synack(1460, 64)), verdict: xdpRedirect,
			out: s.down(t, synack(1452, 63)), counters: count1(ReasonFastDown, ReasonMSSClamped)},
		progCase{name: "larger than session MTU", prog: "xdp_uplink_in", in: in(ipDown(s.IPv4, 64, 1493-20)), verdict: xdpPass, counters: count1(ReasonMTUExceeded)},
		progCase{name: "TTL 1", prog: "xdp_uplink_in", in: in(ipDown(s.IPv4, 1, 32)), verdict: xdpPass, counters: count1(ReasonTTLExceeded)},
		progCase{name: "not a subscriber", prog: "xdp_uplink_in", in: in(ipDown(netip.MustParseAddr("100.64.1.99"), 64, 32)), verdict: xdpPass},
		progCase{name: "bad IPv4 header checksum", prog: "xdp_uplink_in", in: in(badCsum(ipDown(e.tagged.IPv4, 64, 32))), verdict: xdpDrop, counters: count1(ReasonMalformed)},
		progCase{name: "to a subscriber by link broadcast", prog: "xdp_uplink_in", in: ethFrame(t, ethernet.Broadcast, gwMAC, ethernet.EtherTypeIPv4, ipDown(s.IPv4, 64, 32)), verdict: xdpPass},
		progCase{name: "to a subscriber by link multicast", prog: "xdp_uplink_in", in: ethFrame(t, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, gwMAC, ethernet.EtherTypeIPv4, ipDown(s.IPv4, 64, 32)), verdict: xdpPass},
		progCase{name: "ARP untouched", prog: "xdp_uplink_in", in: ethFrame(t, ethernet.Broadcast, gwMAC, ethernet.EtherTypeARP, make([]byte, 28)), verdict: xdpPass},
		progCase{name: "truncated IPv4", prog: "xdp_uplink_in", in: in(ipDown(s.IPv4, 64, 32))[:14+19], verdict: xdpPass},
	)
	e.run(t, cases)
	st, err := e.dp.Stats(e.idxUntagged)
	if err != nil {
		t.Fatal(err)
	}
	if st.PacketsDown != 3 || st.BytesDown != 52+22+44 { // IP bytes: 20+32, 20+2, 20+24
		t.Errorf("stats %+v: want 3 packets, 118 bytes down", st)
	}
}

func TestTCAccessIn(t *testing.T) {
	e := newEnv(t)
	ip := func(src netip.Addr, ttl uint8) []byte {
		return ipv4{src: src, dst: internet, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	// Decapsulated into pppoe0: addressed to pppoe0, TTL untouched (the
	// kernel forwards it and decrements).
	inj := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, clientMAC, ethernet.EtherTypeIPv4, ip) }
	var cases []progCase
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		cases = append(cases, progCase{name: "decap, " + itoa(len(s.vlans())) + " VLAN tags", prog: "tc_access_in",
			in: s.up(t, ip(s.IPv4, 64)), verdict: tcRedirect, out: inj(ip(s.IPv4, 64)), counters: count1(ReasonSlowUp)})
	}
	s := e.untagged
	syn := func(mss uint16) []byte {
		return ipv4{src: s.IPv4, dst: localAddr, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, localAddr, 0x02, mssOpt(mss))}.marshal()
	}
	v6 := make([]byte, 40)
	v6[0] = 0x60
	cases = append(cases,
		progCase{name: "padding trimmed", prog: "tc_access_in", in: append(s.up(t, ip(s.IPv4, 64)), make([]byte, 6)...),
			verdict: tcRedirect, out: inj(ip(s.IPv4, 64)), counters: count1(ReasonSlowUp)},
		progCase{name: "TTL 1 still injected", prog: "tc_access_in", in: s.up(t, ip(s.IPv4, 1)), verdict: tcRedirect, out: inj(ip(s.IPv4, 1)), counters: count1(ReasonSlowUp)},
		progCase{name: "MSS clamp", prog: "tc_access_in", in: s.up(t, syn(1460)), verdict: tcRedirect, out: inj(syn(1452)), counters: count1(ReasonSlowUp, ReasonMSSClamped)},
		// IPv6 rows are in prog6_test.go; with no prefix installed, no
		// source is the session's.
		progCase{name: "IPv6 of a session without prefixes", prog: "tc_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, s.SessionID, ppp.ProtocolIPv6, v6),
			verdict: tcShot, counters: count1(ReasonSpoofed)},
		progCase{name: "anti-spoof", prog: "tc_access_in", in: s.up(t, ip(subQinQ, 64)), verdict: tcShot, counters: count1(ReasonSpoofed)},
		progCase{name: "unknown session never forwarded", prog: "tc_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, 0x0999, ppp.ProtocolIPv4, ip(s.IPv4, 64)), verdict: tcOK},
		progCase{name: "priority-tagged decap", prog: "tc_access_in",
			in:      pppoeFrame(t, acMAC, clientMAC, []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, Priority: 3}}, s.SessionID, ppp.ProtocolIPv4, ip(s.IPv4, 64)),
			verdict: tcRedirect, out: inj(ip(s.IPv4, 64)), counters: count1(ReasonSlowUp)},
		progCase{name: "to another MAC left alone", prog: "tc_access_in", in: pppoeFrame(t, otherMAC, clientMAC, nil, s.SessionID, ppp.ProtocolIPv4, ip(s.IPv4, 64)), verdict: tcOK},
		progCase{name: "LCP left to user space", prog: "tc_access_in", in: pppoeFrame(t, acMAC, clientMAC, nil, s.SessionID, ppp.ProtocolLCP, []byte{9, 1, 0, 8, 0, 0, 0, 0}), verdict: tcOK},
	)
	cases = append(cases, malformedCases(t, e, "tc_access_in", tcShot, count1(ReasonMalformed))...)
	e.run(t, cases)
}

func TestTCPPPoE0Out(t *testing.T) {
	e := newEnv(t)
	ip := func(dst netip.Addr, n int) []byte {
		return ipv4{src: localAddr, dst: dst, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
	}
	in := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, ip) }
	var cases []progCase
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		cases = append(cases, progCase{name: "encap, " + itoa(len(s.vlans())) + " VLAN tags", prog: "tc_pppoe0_out",
			in: in(ip(s.IPv4, 32)), verdict: tcRedirect, out: s.down(t, ip(s.IPv4, 32)), counters: count1(ReasonSlowDown)})
	}
	s := e.tagged
	synack := func(mss uint16) []byte {
		return ipv4{src: localAddr, dst: s.IPv4, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(localAddr, s.IPv4, 0x12, mssOpt(mss))}.marshal()
	}
	cases = append(cases,
		progCase{name: "MSS clamp", prog: "tc_pppoe0_out", in: in(synack(1460)), verdict: tcRedirect, out: s.down(t, synack(1452)), counters: count1(ReasonSlowDown, ReasonMSSClamped)},
		progCase{name: "unknown destination dropped", prog: "tc_pppoe0_out", in: in(ip(netip.MustParseAddr("100.64.1.99"), 32)), verdict: tcShot, counters: count1(ReasonUnknownDest)},
		progCase{name: "IPv6 to no subscriber dropped", prog: "tc_pppoe0_out", in: ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv6, v6To(0x2001, 1)), verdict: tcShot, counters: count1(ReasonUnknownDest)},
		progCase{name: "larger than session MTU", prog: "tc_pppoe0_out", in: in(ip(s.IPv4, 1493-20)), verdict: tcShot, counters: count1(ReasonMTUExceeded)},
		progCase{name: "IPv4 total length past the frame", prog: "tc_pppoe0_out", in: lyingTotLen(in(ip(s.IPv4, 32))), verdict: tcShot, counters: count1(ReasonMalformed)},
	)
	e.run(t, cases)
}

// lyingTotLen makes an Ethernet+IPv4 frame's IPv4 total length one more
// than the bytes present.
func lyingTotLen(b []byte) []byte {
	binary.BigEndian.PutUint16(b[14+2:], uint16(len(b)-14+1))
	return b
}

// TestUplinkMAC checks that once an uplink's MAC is recorded (as
// AttachUplink does), frames to other stations are left to the kernel.
func TestUplinkMAC(t *testing.T) {
	e := newEnv(t)
	s := e.untagged
	ipDown := func(ttl uint8) []byte {
		return ipv4{src: internet, dst: s.IPv4, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	toOther := ethFrame(t, otherMAC, gwMAC, ethernet.EtherTypeIPv4, ipDown(64))
	forwarded := progCase{name: "to our MAC", prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ipDown(64)),
		verdict: xdpRedirect, out: s.down(t, ipDown(63)), counters: count1(ReasonFastDown)}
	// Unrecorded, the destination is not checked.
	e.run(t, []progCase{{name: "unrecorded, to another MAC", prog: "xdp_uplink_in", in: toOther,
		verdict: xdpRedirect, out: s.down(t, ipDown(63)), counters: count1(ReasonFastDown)}})
	if err := e.ns.Do(t, func() error { return e.dp.setUplinkMAC(e.up) }); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{forwarded, {name: "to another station", prog: "xdp_uplink_in", in: toOther, verdict: xdpPass}})
	if err := e.dp.clearUplinkMAC(e.up); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{{name: "cleared, to another MAC", prog: "xdp_uplink_in", in: toOther,
		verdict: xdpRedirect, out: s.down(t, ipDown(63)), counters: count1(ReasonFastDown)}})
}

// badCsum breaks an IPv4 header's checksum (RFC 1812 §5.2.2: dropped).
func badCsum(ip []byte) []byte {
	ip[11] ^= 0x5a
	return ip
}
