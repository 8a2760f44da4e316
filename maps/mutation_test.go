package maps

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"golang.org/x/sys/unix"
)

// mutate changes one to three random things in a copy of b: a byte set
// to a random value, the frame cut short, or random bytes appended.
func mutate(r *rand.Rand, b []byte) []byte {
	m := bytes.Clone(b)
	for n := 1 + r.IntN(3); n > 0; n-- {
		switch k := r.IntN(10); {
		case k < 7 && len(m) > 0:
			m[r.IntN(len(m))] = byte(r.UintN(256))
		case k < 9 && len(m) > 15:
			m = m[:14+r.IntN(len(m)-14)] // no shorter than an Ethernet header: the kernel delivers no such frame
		default:
			for i := r.IntN(16); i > 0; i-- {
				m = append(m, byte(r.UintN(256)))
			}
		}
	}
	return m
}

// mutationFeed is one program fed damaged copies of valid frames: every
// frame it forwards (redirects) goes to check, which holds it to what a
// correct router may forward; a verdict other than pass, drop or redirect
// is an error.
type mutationFeed struct {
	prog  string
	valid [][]byte
	check func(in, out []byte)
	fwd   int
}

// runMutations runs rounds rounds, each feeding every feed one mutated
// copy of one of its valid frames, and fails if a feed forwarded none:
// mutations that miss every checked byte (payload, TTL, ports) are still
// forwarded, so none forwarded means the checks checked nothing.
func (e *env) runMutations(t *testing.T, r *rand.Rand, rounds int, feeds ...*mutationFeed) {
	t.Helper()
	for i := 0; i < rounds && !t.Failed(); i++ {
		for _, f := range feeds {
			in := mutate(r, f.valid[r.IntN(len(f.valid))])
			if v, out := e.runOne(t, f.prog, in); v == xdpRedirect {
				f.fwd++
				f.check(in, out)
			} else if v != xdpPass && v != xdpDrop {
				t.Errorf("%s verdict %d on % x", f.prog, v, in)
			}
		}
	}
	var report []string
	exercised := true
	for _, f := range feeds {
		report = append(report, f.prog+" forwarded "+itoa(f.fwd)+"/"+itoa(rounds))
		exercised = exercised && f.fwd > 0
	}
	if !exercised {
		t.Errorf("%s: the property was never exercised", strings.Join(report, ", "))
	}
	t.Log(strings.Join(report, ", "))
}

// upSession is what every upstream check starts with: in must be a
// session frame to us, of one of sessions (by session id, client MAC and
// VLANs: what the frame really belongs to), carrying PPP protocol proto.
// It returns that session's index and the PPP frame, or ok false having
// said why.
func upSession(t *testing.T, sessions []Session, in []byte, proto ppp.Protocol) (si int, pf ppp.Frame, ok bool) {
	t.Helper()
	f, p, err := pppoe.ParseFrame(in)
	if err != nil || p.Code != pppoe.CodeSession || !bytes.Equal(f.Destination, acMAC) {
		t.Errorf("forwarded upstream a frame that is no session frame to us (%v): % x", err, in)
		return -1, pf, false
	}
	si = -1
	for i, s := range sessions {
		if s.SessionID == p.SessionID && bytes.Equal(s.ClientMAC, f.Source) && sameVLANs(s.vlans(), f.VLANs) {
			si = i
		}
	}
	if si < 0 {
		t.Errorf("forwarded upstream a frame of no session: % x", in)
		return -1, pf, false
	}
	if err := pf.UnmarshalBinary(p.Payload); err != nil || pf.Protocol != proto {
		t.Errorf("forwarded upstream PPP %v (%v): % x", pf.Protocol, err, in)
		return -1, pf, false
	}
	return si, pf, true
}

// ipv4OK checks what any router must send: version 4, a 20-byte header
// (the fast paths take no options), the total length the bytes it has, a
// correct header checksum, TTL at least 1. It returns the header fields
// the callers compare.
func ipv4OK(t *testing.T, ip []byte, what string) (src, dst netip.Addr, ttl uint8, ok bool) {
	t.Helper()
	switch {
	case len(ip) < 20 || ip[0] != 0x45:
		t.Errorf("%s: not a 20-byte IPv4 header: % x", what, ip[:min(len(ip), 20)])
	case int(binary.BigEndian.Uint16(ip[2:])) != len(ip):
		t.Errorf("%s: total length %d, %d bytes", what, binary.BigEndian.Uint16(ip[2:]), len(ip))
	case csum(ip[:20], 0) != 0:
		t.Errorf("%s: bad header checksum", what)
	case ip[8] == 0:
		t.Errorf("%s: TTL 0 forwarded", what)
	default:
		return netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[8], true
	}
	return netip.Addr{}, netip.Addr{}, 0, false
}

// TestFastPathMutations feeds the XDP fast paths thousands of randomly
// damaged copies of valid frames and holds every frame they forward to
// what a correct router may forward: upstream, only a valid IPv4 packet
// whose source is the address of the session the frame really belongs to
// (VLANs, session id, MACs), one TTL less; downstream, only a well-formed
// PPPoE session frame to the session that owns the destination address,
// with PPPoE LENGTH matching the packet. The verifier already rules out
// crashes; this rules out forwarding what should not be.
func TestFastPathMutations(t *testing.T) {
	e := newEnv(t)
	sessions := []Session{e.untagged, e.tagged, e.qinq}
	r := rand.New(rand.NewPCG(1, 2))
	tcpSyn := func(src, dst netip.Addr) []byte {
		return ipv4{src: src, dst: dst, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(src, dst, 0x02, mssOpt(1460))}.marshal()
	}
	udpTo := func(src, dst netip.Addr) []byte {
		return ipv4{src: src, dst: dst, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(24)}.marshal()
	}
	var ups, downs [][]byte
	for _, s := range sessions {
		ups = append(ups, s.up(t, udpTo(s.IPv4, internet)), s.up(t, tcpSyn(s.IPv4, internet)))
		downs = append(downs, ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, udpTo(internet, s.IPv4)),
			ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, tcpSyn(internet, s.IPv4)))
	}
	e.runMutations(t, r, 10000,
		&mutationFeed{prog: "xdp_access_in", valid: ups, check: func(in, out []byte) { checkUp(t, sessions, in, out) }},
		&mutationFeed{prog: "xdp_uplink_in", valid: downs, check: func(in, out []byte) { checkDown(t, e, sessions, in, out) }})
}

func checkUp(t *testing.T, sessions []Session, in, out []byte) {
	t.Helper()
	si, pf, ok := upSession(t, sessions, in, ppp.ProtocolIPv4)
	if !ok {
		return
	}
	sess := &sessions[si]
	var o ethernet.Frame
	if err := o.UnmarshalBinary(out); err != nil || o.EtherType != ethernet.EtherTypeIPv4 || len(o.VLANs) != 0 {
		t.Errorf("upstream output is no untagged IPv4 frame (%v): % x", err, out)
		return
	}
	src, _, ttl, ok := ipv4OK(t, o.Payload, "upstream output")
	if !ok {
		return
	}
	if src != sess.IPv4 {
		t.Errorf("spoofed source %v forwarded for session %#x (%v)", src, sess.SessionID, sess.IPv4)
	}
	if inTTL := pf.Information[8]; ttl != inTTL-1 {
		t.Errorf("TTL %d in, %d out", inTTL, ttl)
	}
}

// downFrames is what every downstream check starts with: in must be a
// unicast frame of EtherType et, out a PPPoE session frame carrying PPP
// protocol proto. It returns both, the PPPoE packet and the PPP frame, or
// ok false having said why.
func downFrames(t *testing.T, in, out []byte, et ethernet.EtherType, proto ppp.Protocol) (f, of ethernet.Frame, p pppoe.Packet, pf ppp.Frame, ok bool) {
	t.Helper()
	if err := f.UnmarshalBinary(in); err != nil || f.Destination[0]&1 != 0 || f.EtherType != et {
		t.Errorf("forwarded downstream a frame that is no unicast %v (%v): % x", et, err, in)
		return f, of, p, pf, false
	}
	of, p, err := pppoe.ParseFrame(out)
	if err != nil || p.Code != pppoe.CodeSession {
		t.Errorf("downstream output is no PPPoE session frame (%v): % x", err, out)
		return f, of, p, pf, false
	}
	if err := pf.UnmarshalBinary(p.Payload); err != nil || pf.Protocol != proto {
		t.Errorf("downstream output PPP %v (%v): % x", pf.Protocol, err, out)
		return f, of, p, pf, false
	}
	return f, of, p, pf, true
}

func checkDown(t *testing.T, e *env, sessions []Session, in, out []byte) {
	t.Helper()
	f, of, p, pf, ok := downFrames(t, in, out, ethernet.EtherTypeIPv4, ppp.ProtocolIPv4)
	if !ok {
		return
	}
	_, dst, ttl, ok := ipv4OK(t, pf.Information, "downstream output")
	if !ok {
		return
	}
	var sess *Session
	for i := range sessions {
		if sessions[i].IPv4 == dst {
			sess = &sessions[i]
		}
	}
	switch {
	case sess == nil:
		t.Errorf("forwarded to %v, no subscriber", dst)
	case p.SessionID != sess.SessionID || !bytes.Equal(of.Destination, sess.ClientMAC) || !bytes.Equal(of.Source, acMAC) ||
		!sameVLANs(sess.vlans(), of.VLANs):
		t.Errorf("frame for %v not in its session %#x: % x", dst, sess.SessionID, out)
	case ttl != f.Payload[8]-1:
		t.Errorf("TTL %d in, %d out", f.Payload[8], ttl)
	}
}

func sameVLANs(a, b []ethernet.VLAN) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].TPID != b[i].TPID || a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// ipv6OK is ipv4OK for IPv6: version 6, the payload length the bytes it
// has, hop limit at least 1, neither address link-local or multicast.
func ipv6OK(t *testing.T, ip []byte, what string) (src, dst netip.Addr, hop uint8, ok bool) {
	t.Helper()
	switch {
	case len(ip) < 40 || ip[0]>>4 != 6:
		t.Errorf("%s: not an IPv6 header: % x", what, ip[:min(len(ip), 40)])
	case int(binary.BigEndian.Uint16(ip[4:]))+40 != len(ip):
		t.Errorf("%s: payload length %d, %d bytes", what, binary.BigEndian.Uint16(ip[4:]), len(ip)-40)
	case ip[7] == 0:
		t.Errorf("%s: hop limit 0 forwarded", what)
	default:
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		if src.IsLinkLocalUnicast() || dst.IsLinkLocalUnicast() || dst.IsMulticast() {
			t.Errorf("%s: link-local or multicast forwarded: %v -> %v", what, src, dst)
			return
		}
		return src, dst, ip[7], true
	}
	return netip.Addr{}, netip.Addr{}, 0, false
}

// TestFastPathMutations6 is TestFastPathMutations for IPv6: upstream, only
// a valid IPv6 packet whose source lies in a prefix of the session the
// frame really belongs to, one hop less; downstream, only a well-formed
// session frame to the session whose prefix holds the destination.
func TestFastPathMutations6(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	sessions := []Session{e.untagged, e.tagged, e.qinq}
	prefixes := [][]netip.Prefix{{link6Untagged, pd6Untagged}, {link6Tagged, pd6Tagged}, {link6QinQ, pd6QinQ}}
	r := rand.New(rand.NewPCG(3, 4))
	syn := func(src, dst netip.Addr) []byte {
		return ipv6{src: src, dst: dst, hop: 64, next: unix.IPPROTO_TCP, payload: tcp6(src, dst, 0x02, mssOpt(1460))}.marshal()
	}
	var ups, downs [][]byte
	for i, s := range sessions {
		for _, p := range prefixes[i] {
			a := in6(p, 0x42)
			ups = append(ups, s.up6(t, udp6(a, internet6, 64, 24)), s.up6(t, syn(a, internet6)))
			downs = append(downs, ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, udp6(internet6, a, 64, 24)),
				ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, syn(internet6, a)))
		}
	}
	owner := func(a netip.Addr) int {
		for i, ps := range prefixes {
			for _, p := range ps {
				if p.Contains(a) {
					return i
				}
			}
		}
		return -1
	}
	e.runMutations(t, r, 10000,
		&mutationFeed{prog: "xdp_access_in", valid: ups, check: func(in, out []byte) { checkUp6(t, sessions, owner, in, out) }},
		&mutationFeed{prog: "xdp_uplink_in", valid: downs, check: func(in, out []byte) { checkDown6(t, sessions, owner, in, out) }})
}

func checkUp6(t *testing.T, sessions []Session, owner func(netip.Addr) int, in, out []byte) {
	t.Helper()
	si, pf, ok := upSession(t, sessions, in, ppp.ProtocolIPv6)
	if !ok {
		return
	}
	var o ethernet.Frame
	if err := o.UnmarshalBinary(out); err != nil || o.EtherType != ethernet.EtherTypeIPv6 || len(o.VLANs) != 0 {
		t.Errorf("upstream output is no untagged IPv6 frame (%v): % x", err, out)
		return
	}
	src, _, hop, ok := ipv6OK(t, o.Payload, "upstream output")
	if !ok {
		return
	}
	if owner(src) != si {
		t.Errorf("spoofed source %v forwarded for session %#x", src, sessions[si].SessionID)
	}
	if inHop := pf.Information[7]; hop != inHop-1 {
		t.Errorf("hop limit %d in, %d out", inHop, hop)
	}
}

func checkDown6(t *testing.T, sessions []Session, owner func(netip.Addr) int, in, out []byte) {
	t.Helper()
	f, of, p, pf, ok := downFrames(t, in, out, ethernet.EtherTypeIPv6, ppp.ProtocolIPv6)
	if !ok {
		return
	}
	_, dst, hop, ok := ipv6OK(t, pf.Information, "downstream output")
	if !ok {
		return
	}
	si := owner(dst)
	switch {
	case si < 0:
		t.Errorf("forwarded to %v, no subscriber", dst)
	case p.SessionID != sessions[si].SessionID || !bytes.Equal(of.Destination, sessions[si].ClientMAC) || !bytes.Equal(of.Source, acMAC) ||
		!sameVLANs(sessions[si].vlans(), of.VLANs):
		t.Errorf("frame for %v not in its session %#x: % x", dst, sessions[si].SessionID, out)
	case hop != f.Payload[7]-1:
		t.Errorf("hop limit %d in, %d out", f.Payload[7], hop)
	}
}
