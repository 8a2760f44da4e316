package mp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func TestFragment(t *testing.T) {
	tests := []struct {
		name  string
		f     Format
		mrru  uint16
		info  int
		mtu   int
		sizes []int // fragment data sizes (after the MP header)
	}{
		// A 1500-byte IPv4 packet over a 1480-byte link to a Windows peer
		// (MRRU 1614): 1502 octets with the protocol field, two halves.
		{name: "1500 over 1480, long", f: Long, mrru: 1614, info: 1500, mtu: 1480, sizes: []int{751, 751}},
		{name: "1500 over 1480, short", f: Short, mrru: 1614, info: 1500, mtu: 1480, sizes: []int{751, 751}},
		{name: "fits: one B&E fragment", f: Long, mrru: 1614, info: 1000, mtu: 1480, sizes: []int{1002}},
		{name: "exactly the room", f: Long, mrru: 1614, info: 1474, mtu: 1480, sizes: []int{1476}},
		{name: "one over the room", f: Long, mrru: 1614, info: 1475, mtu: 1480, sizes: []int{739, 738}},
		{name: "MRRU-sized over a small MTU", f: Short, mrru: 1614, info: 1614, mtu: 576, sizes: []int{539, 539, 538}},
		{name: "at the MRRU", f: Long, mrru: 4000, info: 4000, mtu: 1492, sizes: []int{1334, 1334, 1334}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := seq(tt.info)
			fr := NewFragmenter(tt.f, tt.mrru)
			frags, err := fr.Fragment(ppp.ProtocolIPv4, info, tt.mtu)
			if err != nil {
				t.Fatal(err)
			}
			if len(frags) != len(tt.sizes) {
				t.Fatalf("%d fragments, want %d", len(frags), len(tt.sizes))
			}
			var whole []byte
			for i, b := range frags {
				if len(b) > tt.mtu {
					t.Errorf("fragment %d: %d octets over MTU %d", i, len(b), tt.mtu)
				}
				h, data, err := ParseHeader(b, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				want := Header{Begin: i == 0, End: i == len(frags)-1, Seq: uint32(i)}
				if h != want || len(data) != tt.sizes[i] {
					t.Errorf("fragment %d: %+v of %d, want %+v of %d", i, h, len(data), want, tt.sizes[i])
				}
				whole = append(whole, data...)
			}
			if !bytes.Equal(whole, append([]byte{0x00, 0x21}, info...)) {
				t.Fatal("fragments do not join to protocol + packet")
			}
		})
	}
}

func TestFragmentErrors(t *testing.T) {
	fr := NewFragmenter(Long, 1614)
	if _, err := fr.Fragment(ppp.ProtocolIPv4, seq(1615), 1480); !errors.Is(err, ErrOversize) {
		t.Fatalf("1615 over MRRU 1614: %v", err)
	}
	if _, err := fr.Fragment(ppp.ProtocolIPv4, seq(10), 4); err == nil {
		t.Fatal("MTU 4 with a 4-octet header: no error")
	}
	// Errors consume no sequence number.
	frags, err := fr.Fragment(ppp.ProtocolIPv4, seq(10), 1480)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _ := ParseHeader(frags[0], Long); h.Seq != 0 {
		t.Fatalf("first sequence %d after errors, want 0", h.Seq)
	}
}

// The sequence number runs on across packets and wraps in its format.
func TestFragmentSequenceWraps(t *testing.T) {
	fr := NewFragmenter(Short, 1614)
	fr.seq = 0xffe
	frags, err := fr.Fragment(ppp.ProtocolIPv4, seq(1500), 600)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, b := range frags {
		h, _, _ := ParseHeader(b, Short)
		got = append(got, h.Seq)
	}
	if want := []uint32{0xffe, 0xfff, 0}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("sequence %x, want %x", got, want)
	}
}

// A fragmenter resumed from a recorded sequence number (a restarted
// pppoed) is taken up by the peer's reassembler, which has seen more
// fragments than the record knew of; one started from 0 again would be
// thrown away as duplicates.
func TestFragmenterResume(t *testing.T) {
	for _, f := range []Format{Long, Short} {
		re := NewReassembler(ReassemblerConfig{Format: f, MRRU: 1614, MRU: 1480})
		old := NewFragmenter(f, 1614)
		recorded := old.Seq()
		deliver := func(fr *Fragmenter) int {
			frags, err := fr.Fragment(ppp.ProtocolIPv4, seq(1500), 1480)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, b := range frags {
				out, err := re.Receive(b, t0)
				if err != nil {
					t.Fatal(err)
				}
				n += len(out)
			}
			return n
		}
		for range 50 { // sent after the record
			if deliver(old) != 1 {
				t.Fatalf("%v: packet before the restart not reassembled", f)
			}
		}
		if deliver(NewFragmenter(f, 1614)) != 0 {
			t.Fatalf("%v: a fragmenter starting from 0 again was taken up: the test shows nothing", f)
		}
		resumed := NewFragmenter(f, 1614)
		resumed.Resume(recorded)
		for i := range 3 {
			if deliver(resumed) != 1 {
				t.Fatalf("%v: packet %d after resuming not reassembled", f, i)
			}
		}
	}
}

// TestRecordDue: a record is due once the number moved 1/16 of the
// sequence space past it (256 short, 1,048,576 long), across the wrap too.
func TestRecordDue(t *testing.T) {
	for _, tt := range []struct {
		f             Format
		recorded, seq uint32
		want          bool
	}{
		{Short, 0, 0, false},
		{Short, 0, 255, false},
		{Short, 0, 256, true},
		{Short, 0xf80, 0x07f, false}, // 255 on, across the wrap
		{Short, 0xf80, 0x080, true},  // 256 on
		{Short, 0x100, 0x0ff, true},  // a whole space less one: far past
		{Long, 0, 0xfffff, false},
		{Long, 0, 0x100000, true},
		{Long, 0xf80000, 0x07ffff, false},
		{Long, 0xf80000, 0x080000, true},
	} {
		if got := tt.f.RecordDue(tt.recorded, tt.seq); got != tt.want {
			t.Errorf("%v RecordDue(%#x, %#x) = %v, want %v", tt.f, tt.recorded, tt.seq, got, tt.want)
		}
	}
}
