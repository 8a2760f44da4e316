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
