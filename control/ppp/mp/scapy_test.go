package mp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/mp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// TestScapyWindows feeds the reassembler PPPoE frames scapy builds the way
// a Windows client with "Negotiate multi-link for single link connections"
// sends them (MRRU 1614, long sequence numbers, B/E flags): a 1500-byte
// DF-set IPv4 packet in two fragments over a 1480-byte link, a small packet
// whole in one B&E fragment, then the same big packet again with its
// fragments out of order and one duplicated, and a third whose last
// fragment is lost. The last frame is the IP packet itself, to compare.
func TestScapyWindows(t *testing.T) {
	frames := wire.Scapy(t, `
import struct
big = bytes(IP(src="100.64.0.2", dst="192.0.2.1", flags="DF", id=7)/ICMP(id=1, seq=1)/Raw(b"\xa5" * 1472))
small = bytes(IP(src="100.64.0.2", dst="192.0.2.1")/ICMP(id=1, seq=2))
def mp(seq, b, e, data):
    flags = (0x80 if b else 0) | (0x40 if e else 0)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:aa")/PPPoE(sessionid=0x1234)/PPP(proto=0x003d)/Raw(struct.pack(">I", flags << 24 | seq) + data)
whole = b"\x00\x21" + big
frames = [
    mp(0, True, False, whole[:751]),
    mp(1, False, True, whole[751:]),
    mp(2, True, True, b"\x00\x21" + small),
    mp(4, False, True, whole[751:]),
    mp(3, True, False, whole[:751]),
    mp(3, True, False, whole[:751]),
    mp(5, True, False, whole[:751]),
    mp(7, True, True, b"\x00\x21" + small),
    big,
]
`)
	big := frames[len(frames)-1]
	if len(big) != 1500 || big[6]&0x40 == 0 {
		t.Fatalf("scapy's packet: %d octets, flags %#x; want 1500 with DF", len(big), big[6])
	}
	r := mp.NewReassembler(mp.ReassemblerConfig{Format: mp.Long, MRRU: 1614, MRU: 1480})
	now := time.Unix(0, 0)
	var got []ppp.Frame
	for i, b := range frames[:len(frames)-1] {
		_, p, err := pppoe.ParseFrame(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var f ppp.Frame
		if err := f.UnmarshalBinary(p.Payload); err != nil || f.Protocol != ppp.ProtocolMP {
			t.Fatalf("frame %d: %v %v", i, f.Protocol, err)
		}
		if len(p.Payload) > 1480 {
			t.Fatalf("frame %d: PPP payload %d over the 1480 MTU", i, len(p.Payload))
		}
		out, err := r.Receive(f.Information, now)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got = append(got, out...)
	}
	out, err := r.Expire(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, out...)
	if len(got) != 4 {
		t.Fatalf("%d packets, want big, small, big, small", len(got))
	}
	for i, want := range []int{1500, 28, 1500, 28} {
		if got[i].Protocol != ppp.ProtocolIPv4 || len(got[i].Information) != want {
			t.Fatalf("packet %d: %v of %d, want IPv4 of %d", i, got[i].Protocol, len(got[i].Information), want)
		}
	}
	if !bytes.Equal(got[0].Information, big) || !bytes.Equal(got[2].Information, big) {
		t.Fatal("reassembled packet differs from scapy's")
	}
	want := mp.Stats{Fragments: 8, Reassembled: 4, Lost: 1, Discarded: 1, Duplicates: 1}
	if st := r.Stats(); st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}

	// And the other way: our fragments of scapy's packet are what a
	// Windows peer reassembles, each within the 1480-byte MTU.
	frags, err := mp.NewFragmenter(mp.Long, 1614).Fragment(ppp.ProtocolIPv4, big, 1480)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 2 || !bytes.Equal(frags[0][:4], []byte{0x80, 0, 0, 0}) || !bytes.Equal(frags[1][:4], []byte{0x40, 0, 0, 1}) {
		t.Fatalf("fragment headers % x, % x", frags[0][:4], frags[1][:4])
	}
	if !bytes.Equal(append(frags[0][4:], frags[1][4:]...), append([]byte{0x00, 0x21}, big...)) {
		t.Fatal("fragments do not carry protocol + packet")
	}
}

// scapyMP runs frames (PPPoE session frames of protocol 0x003d) through
// a reassembler, each within mtu, then gives up what still waits.
func scapyMP(t *testing.T, r *mp.Reassembler, frames [][]byte, mtu int) []ppp.Frame {
	t.Helper()
	now := time.Unix(0, 0)
	var got []ppp.Frame
	for i, b := range frames {
		_, p, err := pppoe.ParseFrame(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var f ppp.Frame
		if err := f.UnmarshalBinary(p.Payload); err != nil || f.Protocol != ppp.ProtocolMP {
			t.Fatalf("frame %d: %v %v", i, f.Protocol, err)
		}
		if len(p.Payload) > mtu {
			t.Fatalf("frame %d: PPP payload %d over the %d MTU", i, len(p.Payload), mtu)
		}
		out, err := r.Receive(f.Information, now)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got = append(got, out...)
	}
	out, err := r.Expire(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return append(got, out...)
}

// TestScapyWindowsIPv6 is TestScapyWindows with IPv6 inside (Windows
// sends its IPv6 through the same MP bundle): a 1500-byte IPv6 packet in
// two fragments over a 1480-byte link and a Router Solicitation whole in
// one B&E fragment, then a reassembly over the MRRU (1614) whose
// fragments are all discarded while the packet after it flows. The last
// frames are the two IPv6 packets, to compare.
func TestScapyWindowsIPv6(t *testing.T) {
	frames := wire.Scapy(t, `
import struct
big = bytes(IPv6(src="2001:db8:1:2::2", dst="2001:db8:ffff::10")/UDP(sport=5000, dport=5001)/Raw(b"\x6a" * 1452))
rs = bytes(IPv6(src="fe80::2", dst="ff02::2", hlim=255)/ICMPv6ND_RS())
def mp(seq, b, e, data):
    flags = (0x80 if b else 0) | (0x40 if e else 0)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:aa")/PPPoE(sessionid=0x1234)/PPP(proto=0x003d)/Raw(struct.pack(">I", flags << 24 | seq) + data)
whole = b"\x00\x57" + big
frames = [
    mp(0x00fffe, True, False, whole[:751]),
    mp(0x00ffff, False, True, whole[751:]),
    mp(0x010000, True, True, b"\x00\x57" + rs),
    mp(0x010001, True, False, whole[:1400]),
    mp(0x010002, False, False, b"\x00" * 200),
    mp(0x010003, False, True, b"\x00" * 200),
    mp(0x010004, True, True, b"\x00\x57" + rs),
    big,
    rs,
]
`)
	big, rs := frames[len(frames)-2], frames[len(frames)-1]
	if len(big) != 1500 || big[0]>>4 != 6 {
		t.Fatalf("scapy's packet: %d octets, version %d; want 1500 of IPv6", len(big), big[0]>>4)
	}
	r := mp.NewReassembler(mp.ReassemblerConfig{Format: mp.Long, MRRU: 1614, MRU: 1480})
	got := scapyMP(t, r, frames[:len(frames)-2], 1480)
	if len(got) != 3 {
		t.Fatalf("%d packets, want big, RS, RS", len(got))
	}
	for i, want := range [][]byte{big, rs, rs} {
		if got[i].Protocol != ppp.ProtocolIPv6 || !bytes.Equal(got[i].Information, want) {
			t.Fatalf("packet %d: %v of %d octets, want scapy's IPv6 packet of %d", i, got[i].Protocol, len(got[i].Information), len(want))
		}
	}
	want := mp.Stats{Fragments: 7, Reassembled: 3, Oversize: 1, Discarded: 3}
	if st := r.Stats(); st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}
}

// TestScapyShortSequence: a peer that asked for 12-bit sequence numbers
// (RFC 1990 §3, Short-Sequence-Number-Header-Format, as pppd's mpshortseq
// sends them): an IPv4 and an IPv6 packet in fragments across the wrap of
// the sequence space (0xffe, 0xfff, 0x000), one fragment out of order.
func TestScapyShortSequence(t *testing.T) {
	frames := wire.Scapy(t, `
import struct
v4 = bytes(IP(src="100.64.0.2", dst="192.0.2.1", flags="DF")/ICMP()/Raw(b"\xa5" * 1472))
v6 = bytes(IPv6(src="2001:db8:1:2::2", dst="2001:db8:ffff::10")/UDP()/Raw(b"\x6a" * 1452))
def mp(seq, b, e, data):
    flags = (0x80 if b else 0) | (0x40 if e else 0)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:aa")/PPPoE(sessionid=0x1234)/PPP(proto=0x003d)/Raw(struct.pack(">H", flags << 8 | seq) + data)
a, b = b"\x00\x21" + v4, b"\x00\x57" + v6
frames = [
    mp(0xffe, True, False, a[:800]),
    mp(0x000, True, False, b[:800]),
    mp(0xfff, False, True, a[800:]),
    mp(0x001, False, True, b[800:]),
    v4,
    v6,
]
`)
	v4, v6 := frames[len(frames)-2], frames[len(frames)-1]
	r := mp.NewReassembler(mp.ReassemblerConfig{Format: mp.Short, MRRU: 1614, MRU: 1480})
	got := scapyMP(t, r, frames[:len(frames)-2], 1480)
	if len(got) != 2 || got[0].Protocol != ppp.ProtocolIPv4 || !bytes.Equal(got[0].Information, v4) ||
		got[1].Protocol != ppp.ProtocolIPv6 || !bytes.Equal(got[1].Information, v6) {
		t.Fatalf("reassembled %d packets, want scapy's IPv4 then IPv6", len(got))
	}
	if st, want := r.Stats(), (mp.Stats{Fragments: 4, Reassembled: 2}); st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}
	// And back: our short-format fragments of the IPv6 packet.
	frags, err := mp.NewFragmenter(mp.Short, 1614).Fragment(ppp.ProtocolIPv6, v6, 1480)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 2 || !bytes.Equal(frags[0][:2], []byte{0x80, 0}) || !bytes.Equal(frags[1][:2], []byte{0x40, 1}) ||
		!bytes.Equal(append(frags[0][2:], frags[1][2:]...), append([]byte{0x00, 0x57}, v6...)) {
		t.Fatal("short-format fragments do not carry protocol + packet")
	}
}
