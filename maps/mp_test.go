package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"golang.org/x/sys/unix"
)

var (
	subMPLong  = netip.MustParseAddr("100.64.1.11")
	subMPShort = netip.MustParseAddr("100.64.1.12")
)

// mpEnv adds two multilink sessions to newEnv's: one receiving long
// sequence numbers, one short (on VLAN 200), both with a 1480-byte link
// MTU and the MSS clamp following MRRU 1614 (1614 - 40), as the control
// plane sets them when lcp.Multilink is active.
func mpEnv(t *testing.T) (*env, Session, Session, Index, Index) {
	e := newEnv(t)
	long := Session{Key: Key{Ifindex: e.acc, SessionID: 0x0201, ClientMAC: clientMAC},
		ACMAC: acMAC, IPv4: subMPLong, MTU: 1480, MSS: 1574, MP: MP{On: true}}
	short := Session{Key: Key{Ifindex: e.acc, OuterVLAN: 200, SessionID: 0x0202, ClientMAC: clientMAC},
		ACMAC: acMAC, IPv4: subMPShort, MTU: 1480, MSS: 1574, MP: MP{On: true, ShortSeq: true}}
	il, err := e.dp.Install(long)
	if err != nil {
		t.Fatal(err)
	}
	is, err := e.dp.Install(short)
	if err != nil {
		t.Fatal(err)
	}
	return e, long, short, il, is
}

// mpHdr is an MP header (RFC 1990 §3) in the session's format.
func mpHdr(s Session, flags byte, seq uint32) []byte {
	if s.MP.ShortSeq {
		return []byte{flags | byte(seq>>8&0x0f), byte(seq)}
	}
	return []byte{flags, byte(seq >> 16), byte(seq >> 8), byte(seq)}
}

// mpUp wraps an inner PPP packet (protocol, then information) in an MP
// header and the session's PPPoE frame, as a multilink peer sends it.
func (s Session) mpUp(t testing.TB, flags byte, seq uint32, proto ppp.Protocol, info []byte) []byte {
	b := append(mpHdr(s, flags, seq), byte(proto>>8), byte(proto))
	return pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolMP, append(b, info...))
}

func TestXDPAccessInMP(t *testing.T) {
	e, long, short, _, _ := mpEnv(t)
	ipUp := func(src netip.Addr, ttl uint8) []byte {
		return ipv4{src: src, dst: internet, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, ip) }
	var cases []progCase
	for _, s := range []Session{long, short} {
		f := "long"
		if s.MP.ShortSeq {
			f = "short"
		}
		syn := func(mss uint16, ttl uint8) []byte {
			return ipv4{src: s.IPv4, dst: internet, ttl: ttl, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, mssOpt(mss))}.marshal()
		}
		v6 := make([]byte, 40)
		v6[0] = 0x60
		cases = append(cases,
			progCase{name: f + ": B&E unwrapped onto the fast path", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 1, ppp.ProtocolIPv4, ipUp(s.IPv4, 64)), verdict: xdpRedirect, out: fwd(ipUp(s.IPv4, 63)), counters: count1(ReasonFastUp)},
			progCase{name: f + ": B&E at the top of the sequence space", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 0xfff, ppp.ProtocolIPv4, ipUp(s.IPv4, 64)), verdict: xdpRedirect, out: fwd(ipUp(s.IPv4, 63)), counters: count1(ReasonFastUp)},
			progCase{name: f + ": B&E with Ethernet padding", prog: "xdp_access_in",
				in: append(s.mpUp(t, 0xc0, 2, ppp.ProtocolIPv4, ipUp(s.IPv4, 64)), make([]byte, 9)...), verdict: xdpRedirect, out: fwd(ipUp(s.IPv4, 63)), counters: count1(ReasonFastUp)},
			// The clamp is the session's field: 1574 follows the MRRU, so
			// a 1460 SYN passes untouched and a larger one is lowered to it.
			progCase{name: f + ": MSS 1460 kept under an MRRU clamp", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 3, ppp.ProtocolIPv4, syn(1460, 64)), verdict: xdpRedirect, out: fwd(syn(1460, 63)), counters: count1(ReasonFastUp)},
			progCase{name: f + ": MSS clamped to the session's 1574", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 4, ppp.ProtocolIPv4, syn(8960, 64)), verdict: xdpRedirect, out: fwd(syn(1574, 63)), counters: count1(ReasonFastUp, ReasonMSSClamped)},
			progCase{name: f + ": anti-spoof inside MP", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 5, ppp.ProtocolIPv4, ipUp(subUntagged, 64)), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
			// What XDP passes on, it passes as a plain PPPoE frame: the
			// packet sockets' taps and TC never see its MP header.
			// Unwrapped IPv6 meets the IPv6 anti-spoof check: this
			// session has no IPv6 prefix, so :: is not its source.
			progCase{name: f + ": B&E IPv6 unwrapped, anti-spoof", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 6, ppp.ProtocolIPv6, v6), verdict: xdpDrop, counters: count1(ReasonSpoofed)},
			progCase{name: f + ": B&E TTL 1 to the kernel, unwrapped", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 6, ppp.ProtocolIPv4, ipUp(s.IPv4, 1)), verdict: xdpPass,
				out: s.up(t, ipUp(s.IPv4, 1)), counters: count1(ReasonTTLExceeded)},
			progCase{name: f + ": B&E with padding to the kernel, unwrapped", prog: "xdp_access_in",
				in: append(s.mpUp(t, 0xc0, 6, ppp.ProtocolIPv4, ipUp(s.IPv4, 1)), 0, 0, 0), verdict: xdpPass,
				out: append(s.up(t, ipUp(s.IPv4, 1)), 0, 0, 0), counters: count1(ReasonTTLExceeded)},
			progCase{name: f + ": IPCP inside MP to user space", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 6, ppp.ProtocolIPCP, []byte{1, 1, 0, 10, 3, 6, 0, 0, 0, 0}), verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": first fragment to user space", prog: "xdp_access_in",
				in: s.mpUp(t, 0x80, 7, ppp.ProtocolIPv4, ipUp(s.IPv4, 64)[:20]), verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": last fragment to user space", prog: "xdp_access_in",
				in:      pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolMP, append(mpHdr(s, 0x40, 8), make([]byte, 30)...)),
				verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": middle fragment to user space", prog: "xdp_access_in",
				in:      pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolMP, append(mpHdr(s, 0x00, 9), make([]byte, 30)...)),
				verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": reserved bits set: user space decides", prog: "xdp_access_in",
				in: s.mpUp(t, 0xd0, 10, ppp.ProtocolIPv4, ipUp(s.IPv4, 64)), verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": compressed inner protocol: user space", prog: "xdp_access_in",
				in:      pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolMP, append(append(mpHdr(s, 0xc0, 11), 0x21), ipUp(s.IPv4, 64)...)),
				verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": LCP inside MP: user space", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 12, ppp.ProtocolLCP, []byte{9, 1, 0, 8, 0, 0, 0, 0}), verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": header and no room for IP", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 13, ppp.ProtocolIPv4, nil), verdict: xdpDrop, counters: count1(ReasonMalformed)},
		)
		// Cut a B&E frame at every byte up to the end of its IPv4 header:
		// nothing is forwarded.
		full := s.mpUp(t, 0xc0, 14, ppp.ProtocolIPv4, ipUp(s.IPv4, 64))
		end := len(full) - 32
		for n := 14; n < end; n++ {
			cases = append(cases, progCase{name: f + ": cut at " + itoa(n), prog: "xdp_access_in", in: full[:n], verdict: xdpDrop, counters: count1(ReasonMalformed)})
		}
		// A PPPoE LENGTH that ends inside the MP header.
		short := bytes.Clone(full)
		pp := len(full) - len(ipUp(s.IPv4, 64)) - 2 - len(mpHdr(s, 0, 0)) - 2 - 6
		binary.BigEndian.PutUint16(short[pp+4:], 2+3)
		cases = append(cases, progCase{name: f + ": PPPoE length inside the MP header", prog: "xdp_access_in", in: short, verdict: xdpDrop, counters: count1(ReasonMalformed)})
	}
	// A session that did not negotiate MP: its MP frames are user space's
	// to Protocol-Reject, never unwrapped.
	u := e.untagged
	cases = append(cases,
		progCase{name: "MP frame on a session without MP", prog: "xdp_access_in",
			in: u.mpUp(t, 0xc0, 1, ppp.ProtocolIPv4, ipUp(u.IPv4, 64)), verdict: xdpPass, counters: count1(ReasonPassControl)},
		// A long header read as short: the inner protocol is not IP.
		progCase{name: "long header on a short session", prog: "xdp_access_in",
			in:      pppoeFrame(t, acMAC, clientMAC, short.vlans(), short.SessionID, ppp.ProtocolMP, append([]byte{0xc0, 0, 0, 1, 0x00, 0x21}, ipUp(short.IPv4, 64)...)),
			verdict: xdpPass, counters: count1(ReasonMPPass)},
	)
	e.run(t, cases)
}

func TestTCAccessInMP(t *testing.T) {
	e, long, short, _, _ := mpEnv(t)
	ip := func(src netip.Addr) []byte {
		return ipv4{src: src, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	inj := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, clientMAC, ethernet.EtherTypeIPv4, ip) }
	v6 := make([]byte, 48)
	v6[0], v6[5] = 0x60, 8
	var cases []progCase
	for _, s := range []Session{long, short} {
		f := "long"
		if s.MP.ShortSeq {
			f = "short"
		}
		syn := func(mss uint16) []byte {
			return ipv4{src: s.IPv4, dst: localAddr, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, localAddr, 0x02, mssOpt(mss))}.marshal()
		}
		cases = append(cases,
			progCase{name: f + ": B&E decapsulated", prog: "tc_access_in", in: s.mpUp(t, 0xc0, 1, ppp.ProtocolIPv4, ip(s.IPv4)),
				verdict: tcRedirect, out: inj(ip(s.IPv4)), counters: count1(ReasonSlowUp)},
			progCase{name: f + ": B&E with padding", prog: "tc_access_in", in: append(s.mpUp(t, 0xc0, 2, ppp.ProtocolIPv4, ip(s.IPv4)), make([]byte, 7)...),
				verdict: tcRedirect, out: inj(ip(s.IPv4)), counters: count1(ReasonSlowUp)},
			progCase{name: f + ": B&E MSS clamp", prog: "tc_access_in", in: s.mpUp(t, 0xc0, 3, ppp.ProtocolIPv4, syn(8960)),
				verdict: tcRedirect, out: inj(syn(1574)), counters: count1(ReasonSlowUp, ReasonMSSClamped)},
			progCase{name: f + ": B&E IPv6 unwrapped, anti-spoof", prog: "tc_access_in", in: s.mpUp(t, 0xc0, 4, ppp.ProtocolIPv6, v6),
				verdict: tcShot, counters: count1(ReasonSpoofed)},
			progCase{name: f + ": fragment left to user space", prog: "tc_access_in", in: s.mpUp(t, 0x80, 5, ppp.ProtocolIPv4, ip(s.IPv4)[:20]), verdict: tcOK},
		)
	}
	e.run(t, cases)
}

// readDiverted reads one mp_divert record, failing after a while.
func readDiverted(t *testing.T, r *MPDivertReader) MPDiverted {
	t.Helper()
	r.r.SetDeadline(time.Now().Add(5 * time.Second))
	m, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMPDivert(t *testing.T) {
	e, long, short, il, is := mpEnv(t)
	big := func(dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: internet, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(1480)}.marshal() // 1500 with DF off; size is what matters
	}
	fits := func(dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: internet, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(1460)}.marshal() // 1480: the MTU
	}
	up := func(ip []byte) []byte { return ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ip) }
	toPPPoE0 := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, ip) }

	// No reader yet: the packet cannot be fragmented; dropped and counted.
	// (The TTL was already decremented for the fragments.)
	e.run(t, []progCase{{name: "no reader: dropped", prog: "xdp_uplink_in", in: up(big(long.IPv4, 64)), verdict: xdpDrop,
		out: up(big(long.IPv4, 63)), counters: count1(ReasonError)}})

	r, err := e.dp.OpenMPDivert(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.run(t, []progCase{
		{name: "fits the MTU: fast path", prog: "xdp_uplink_in", in: up(fits(long.IPv4, 64)), verdict: xdpRedirect,
			out: long.down(t, fits(long.IPv4, 63)), counters: count1(ReasonFastDown)},
		{name: "XDP: over the MTU of an MP session: diverted", prog: "xdp_uplink_in", in: append(up(big(long.IPv4, 64)), make([]byte, 3)...),
			verdict: xdpDrop, out: append(up(big(long.IPv4, 63)), make([]byte, 3)...), counters: count1(ReasonMPDivert)},
	})
	m := readDiverted(t, r)
	if m.Index != il || m.Protocol != 0x0021 || !m.Forwarded || !bytes.Equal(m.Packet, big(long.IPv4, 63)) {
		t.Fatalf("diverted %+v (%d bytes), want session %d, IPv4, forwarded, the packet with TTL 63", m, len(m.Packet), il)
	}
	e.run(t, []progCase{
		{name: "XDP: over the MTU, TTL 1: the kernel answers", prog: "xdp_uplink_in", in: up(big(long.IPv4, 1)), verdict: xdpPass, counters: count1(ReasonTTLExceeded)},
		{name: "XDP: over the MTU without MP: the kernel", prog: "xdp_uplink_in", in: up(big(e.untagged.IPv4, 64)), verdict: xdpPass, counters: count1(ReasonMTUExceeded)},
		{name: "TC: over the MTU of an MP session: diverted", prog: "tc_pppoe0_out", in: toPPPoE0(big(short.IPv4, 64)), verdict: tcShot, counters: count1(ReasonMPDivert)},
	})
	m = readDiverted(t, r)
	if m.Index != is || m.Protocol != 0x0021 || m.Forwarded || !bytes.Equal(m.Packet, big(short.IPv4, 64)) {
		t.Fatalf("diverted %+v (%d bytes), want session %d, IPv4, not forwarded, the packet as routed", m, len(m.Packet), is)
	}
	e.run(t, []progCase{{name: "TC: over the MTU without MP: dropped", prog: "tc_pppoe0_out", in: toPPPoE0(big(e.tagged.IPv4, 64)), verdict: tcShot, counters: count1(ReasonMTUExceeded)}})
	st, err := e.dp.Stats(il)
	if err != nil {
		t.Fatal(err)
	}
	if st.PacketsDown != 2 || st.BytesDown != 1480+1500 || st.Drops != 1 {
		t.Fatalf("stats %+v: want 2 packets (1480 + 1500 bytes) down, 1 drop (no reader)", st)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestParseMPRecord(t *testing.T) {
	hdr := func(idx uint32, proto uint16, fwd byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, idx)
		b = binary.NativeEndian.AppendUint16(b, proto)
		return append(b, fwd, 0)
	}
	eth := make([]byte, 14)
	ip := ipv4{src: internet, dst: subMPLong, ttl: 9, proto: unix.IPPROTO_UDP, payload: udp(4)}.marshal()
	v6 := make([]byte, 44)
	v6[0], v6[5] = 0x60, 4
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	good := []struct {
		in   []byte
		want MPDiverted
	}{
		{cat(hdr(7, 0x21, 1), eth, ip, make([]byte, 6)), MPDiverted{Index: 7, Protocol: 0x21, Forwarded: true, Packet: ip}},
		{cat(hdr(8, 0x57, 0), eth, v6), MPDiverted{Index: 8, Protocol: 0x57, Packet: v6}},
	}
	for i, c := range good {
		m, err := parseMPRecord(c.in)
		if err != nil || m.Index != c.want.Index || m.Protocol != c.want.Protocol || m.Forwarded != c.want.Forwarded || !bytes.Equal(m.Packet, c.want.Packet) {
			t.Errorf("good %d: %+v %v", i, m, err)
		}
	}
	for i, in := range [][]byte{
		nil,
		cat(hdr(1, 0x21, 0), eth),
		cat(hdr(1, 0x21, 0), eth, ip[:19]),
		cat(hdr(1, 0x21, 0), eth, ip[:len(ip)-1]),
		cat(hdr(1, 0x57, 0), eth, ip),
		cat(hdr(1, 0xc021, 0), eth, ip),
		cat(hdr(1, 0x57, 0), eth, v6[:43]),
	} {
		if m, err := parseMPRecord(in); !errors.Is(err, ErrMPRecord) {
			t.Errorf("bad %d: %+v %v", i, m, err)
		}
	}
}

// TestFastPathMutationsMP is TestFastPathMutations for MP-wrapped frames:
// whatever is damaged, what XDP forwards is only a whole (B&E, canonical
// header in the session's format) IPv4 packet of the session the frame
// belongs to, with its own source address, one TTL less.
func TestFastPathMutationsMP(t *testing.T) {
	e, long, short, _, _ := mpEnv(t)
	sessions := []Session{long, short}
	rng := rand.New(rand.NewPCG(3, 4))
	var ups [][]byte
	for _, s := range sessions {
		udpIP := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(24)}.marshal()
		syn := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(s.IPv4, internet, 0x02, mssOpt(1460))}.marshal()
		ups = append(ups, s.mpUp(t, 0xc0, 77, ppp.ProtocolIPv4, udpIP), s.mpUp(t, 0xc0, 78, ppp.ProtocolIPv4, syn))
	}
	e.runMutations(t, rng, 6000,
		&mutationFeed{prog: "xdp_access_in", valid: ups, check: func(in, out []byte) { checkUpMP(t, sessions, in, out) }})
}

func checkUpMP(t *testing.T, sessions []Session, in, out []byte) {
	t.Helper()
	si, pf, ok := upSession(t, sessions, in, ppp.ProtocolMP)
	if !ok {
		return
	}
	sess := &sessions[si]
	h := len(mpHdr(*sess, 0, 0))
	info := pf.Information
	if len(info) < h+2 || info[0]&0xf0 != 0xc0 || (!sess.MP.ShortSeq && info[0] != 0xc0) ||
		binary.BigEndian.Uint16(info[h:]) != uint16(ppp.ProtocolIPv4) {
		t.Errorf("forwarded an MP packet that is no whole IPv4 packet: % x", info[:min(len(info), 8)])
		return
	}
	ip := info[h+2:]
	var o ethernet.Frame
	if err := o.UnmarshalBinary(out); err != nil || o.EtherType != ethernet.EtherTypeIPv4 || len(o.VLANs) != 0 {
		t.Errorf("output is no untagged IPv4 frame (%v): % x", err, out)
		return
	}
	src, _, ttl, ok := ipv4OK(t, o.Payload, "upstream MP output")
	if !ok {
		return
	}
	if src != sess.IPv4 {
		t.Errorf("spoofed source %v forwarded for session %#x", src, sess.SessionID)
	}
	if len(ip) > 8 && ttl != ip[8]-1 {
		t.Errorf("TTL %d in, %d out", ip[8], ttl)
	}
}

// A client session doing MP: the AC's whole packets are unwrapped (by XDP
// before the slow path, or by TC if XDP never saw the frame), and what the
// kernel routes into the netdev over the session MTU goes to user space.
func TestClientMP(t *testing.T) {
	e := newClientEnv(t)
	e.sess[0].MP = MP{On: true}
	e.install(t)
	c, dev := e.sess[0], e.devs[0]
	ip := func(n int) []byte {
		return ipv4{src: farServer, dst: clientIP, ttl: 60, proto: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
	}
	fromAC := func(flags byte, payload []byte) []byte {
		b := append([]byte{flags, 0, 0, 9, 0x00, 0x21}, payload...)
		return pppoeFrame(t, ourMAC, peerAC, c.vlans(), c.SessionID, ppp.ProtocolMP, b)
	}
	out := func(n int) []byte {
		return ipv4{src: clientIP, dst: farServer, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
	}
	r, err := e.dp.OpenMPDivert(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.run(t, []progCase{
		{name: "XDP unwraps, leaves it to TC", prog: "xdp_access_in", in: fromAC(0xc0, ip(24)), verdict: xdpPass,
			out: c.fromAC(t, ppp.ProtocolIPv4, ip(24)), counters: count1(ReasonPassSlow)},
		{name: "TC decaps an MP frame into the netdev", prog: "tc_access_in", in: fromAC(0xc0, ip(24)), verdict: tcRedirect,
			out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv4, ip(24)), counters: count1(ReasonClientIn)},
		{name: "fragment to user space", prog: "xdp_access_in", in: fromAC(0x80, ip(24)[:20]), verdict: xdpPass, counters: count1(ReasonMPPass)},
		{name: "over the MTU: diverted", prog: "tc_client_out", in: ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv4, out(1480)),
			verdict: tcShot, counters: count1(ReasonMPDivert), ctx: skbCtx(dev.PeerIndex)},
	})
	m := readDiverted(t, r)
	if m.Index != e.index[0] || m.Protocol != 0x0021 || m.Forwarded || !bytes.Equal(m.Packet, out(1480)) {
		t.Fatalf("diverted %+v (%d bytes), want session %d, IPv4, the packet", m, len(m.Packet), e.index[0])
	}
}

// The MP flags are installed and read back as given, and survive Update.
func TestMPLookup(t *testing.T) {
	e, long, short, _, _ := mpEnv(t)
	for _, s := range []Session{long, short, e.untagged} {
		got, _, err := e.dp.Lookup(s.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.MP != s.MP {
			t.Errorf("session %#x: MP %+v, want %+v", s.SessionID, got.MP, s.MP)
		}
	}
	short.MP = MP{}
	if _, err := e.dp.Update(short); err != nil {
		t.Fatal(err)
	}
	if got, _, err := e.dp.Lookup(short.Key); err != nil || got.MP != (MP{}) {
		t.Fatalf("after Update: %+v, %v", got.MP, err)
	}
	// ShortSeq alone means nothing: no flag without On.
	if f := (MP{ShortSeq: true}).flags(); f != 0 {
		t.Fatalf("flags %#x for ShortSeq without On", f)
	}
}

// TestMP6 is multilink for IPv6 in the data plane, as for IPv4: a whole
// IPv6 packet inside an MP header (B&E, long or short sequence numbers)
// from the session's /64 is unwrapped onto the fast path or, on the slow
// path, injected; a Router Solicitation inside MP reaches the control
// plane as a plain PPPoE frame; downstream IPv6 over an MP session's MTU
// is diverted to user space from XDP and from TC.
func TestMP6(t *testing.T) {
	e, long, short, il, is := mpEnv(t)
	e.withV6(t)
	linkLong, linkShort := netip.MustParsePrefix("2001:db8:1:11::/64"), netip.MustParsePrefix("2001:db8:1:12::/64")
	if err := e.dp.SetIPv6LinkPrefix(long.Key, linkLong); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.SetIPv6LinkPrefix(short.Key, linkShort); err != nil {
		t.Fatal(err)
	}
	fwd := func(ip []byte) []byte { return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv6, ip) }
	inj := func(ip []byte) []byte { return ethFrame(t, e.pppoe0MAC, clientMAC, ethernet.EtherTypeIPv6, ip) }
	rs := ipv6{src: linkLocal6, dst: netip.MustParseAddr("ff02::2"), hop: 255, next: unix.IPPROTO_ICMPV6, payload: []byte{133, 0, 0, 0, 0, 0, 0, 0}}.marshal()
	var cases []progCase
	for _, x := range []struct {
		s    Session
		link netip.Prefix
	}{{long, linkLong}, {short, linkShort}} {
		s, a := x.s, in6(x.link, 7)
		f := "long"
		if s.MP.ShortSeq {
			f = "short"
		}
		cases = append(cases,
			progCase{name: f + ": XDP: B&E IPv6 unwrapped onto the fast path", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 1, ppp.ProtocolIPv6, udp6(a, internet6, 64, 32)), verdict: xdpRedirect, out: fwd(udp6(a, internet6, 63, 32)), counters: count1(ReasonFastUp)},
			progCase{name: f + ": XDP: B&E IPv6 with padding", prog: "xdp_access_in",
				in: append(s.mpUp(t, 0xc0, 2, ppp.ProtocolIPv6, udp6(a, internet6, 64, 2)), make([]byte, 11)...), verdict: xdpRedirect, out: fwd(udp6(a, internet6, 63, 2)), counters: count1(ReasonFastUp)},
			progCase{name: f + ": XDP: B&E IPv6 to the box: the kernel, unwrapped", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 3, ppp.ProtocolIPv6, udp6(a, local6, 64, 32)), verdict: xdpPass, out: s.up6(t, udp6(a, local6, 64, 32)), counters: count1(ReasonPassSlow)},
			progCase{name: f + ": XDP: B&E router solicitation to the control plane, unwrapped", prog: "xdp_access_in",
				in: s.mpUp(t, 0xc0, 4, ppp.ProtocolIPv6, rs), verdict: xdpPass, out: s.up6(t, rs), counters: count1(ReasonPassControl)},
			progCase{name: f + ": XDP: IPv6 first fragment to user space", prog: "xdp_access_in",
				in: s.mpUp(t, 0x80, 5, ppp.ProtocolIPv6, udp6(a, internet6, 64, 32)[:40]), verdict: xdpPass, counters: count1(ReasonMPPass)},
			progCase{name: f + ": TC: B&E IPv6 injected", prog: "tc_access_in",
				in: s.mpUp(t, 0xc0, 6, ppp.ProtocolIPv6, udp6(a, local6, 64, 32)), verdict: tcRedirect, out: inj(udp6(a, local6, 64, 32)), counters: count1(ReasonSlowUp)},
		)
	}
	e.run(t, cases)

	r, err := e.dp.OpenMPDivert(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dl, ds := in6(linkLong, 9), in6(linkShort, 9)
	big := func(dst netip.Addr, hop uint8) []byte { return udp6(internet6, dst, hop, 1500-40-8) } // 1500 octets
	e.run(t, []progCase{
		{name: "XDP: IPv6 over the MTU of an MP session: diverted", prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, big(dl, 64)),
			verdict: xdpDrop, out: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, big(dl, 63)), counters: count1(ReasonMPDivert)},
	})
	m := readDiverted(t, r)
	if m.Index != il || m.Protocol != 0x0057 || !m.Forwarded || !bytes.Equal(m.Packet, big(dl, 63)) {
		t.Fatalf("diverted %+v (%d bytes), want session %d, IPv6, forwarded, hop limit 63", m, len(m.Packet), il)
	}
	e.run(t, []progCase{
		{name: "TC: IPv6 over the MTU of an MP session: diverted", prog: "tc_pppoe0_out", in: ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv6, big(ds, 64)),
			verdict: tcShot, counters: count1(ReasonMPDivert)},
	})
	m = readDiverted(t, r)
	if m.Index != is || m.Protocol != 0x0057 || m.Forwarded || !bytes.Equal(m.Packet, big(ds, 64)) {
		t.Fatalf("diverted %+v (%d bytes), want session %d, IPv6, not forwarded, as routed", m, len(m.Packet), is)
	}
}

// TestRateMPDivert: a packet diverted to user space for being over an MP
// session's MTU is charged to the session's download limit once, as the
// paths that forward it themselves charge theirs: with a bucket one
// packet deep the first is diverted, the second dropped for the rate and
// never reaches user space, from XDP as from TC.
func TestRateMPDivert(t *testing.T) {
	e, long, _, il, _ := mpEnv(t)
	r, err := e.dp.OpenMPDivert(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	big := ipv4{src: internet, dst: long.IPv4, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(1480)}.marshal()
	slow := RateLimit{Tx: Rate{Rate: slowRate(len(big), 10*time.Second), Depth: time.Millisecond}}
	for _, tc := range []struct {
		prog            string
		in              []byte
		divert, dropped uint32
	}{
		{"xdp_uplink_in", ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, big), xdpDrop, xdpDrop},
		{"tc_pppoe0_out", ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, big), tcShot, tcShot},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			e.resetRate(t, il, slow)
			e.rateRow(t, tc.prog, tc.in, tc.divert, ReasonMPDivert)
			if m := readDiverted(t, r); m.Index != il {
				t.Fatalf("diverted for session %d, want %d", m.Index, il)
			}
			e.rateRow(t, tc.prog, tc.in, tc.dropped, ReasonRateTxDrop)
			rs, err := e.dp.RateStats(il)
			if err != nil {
				t.Fatal(err)
			}
			if rs.DroppedTx != 1 {
				t.Errorf("RateStats %+v: want the second packet dropped for the download limit", rs)
			}
		})
	}
	e.resetRate(t, il, RateLimit{})
}
