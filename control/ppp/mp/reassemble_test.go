package mp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

var t0 = time.Unix(1_700_000_000, 0)

// frag builds one MP packet's information field.
func frag(f Format, b, e bool, s uint32, data ...byte) []byte {
	out, err := AppendHeader(nil, Header{Begin: b, End: e, Seq: s}, f)
	if err != nil {
		panic(err)
	}
	return append(out, data...)
}

// step is one fragment arriving, or (with expire) the timer firing, at t0
// plus at.
type step struct {
	in     []byte
	expire bool
	at     time.Duration
	want   []string // Information of the frames delivered by this step
}

func TestReassembler(t *testing.T) {
	ip := []byte{0x00, 0x21} // protocol IPv4, uncompressed
	tests := []struct {
		name  string
		f     Format
		mrru  uint16
		steps []step
		stats Stats
	}{
		{
			name: "in order, two packets",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 10, append(ip, 'a', 'b')...)},
				{in: frag(Long, false, true, 11, 'c'), want: []string{"abc"}},
				{in: frag(Long, true, true, 12, append(ip, 'd')...), want: []string{"d"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 2},
		},
		{
			name: "three fragments, short format, wrapping",
			f:    Short,
			mrru: 1614,
			steps: []step{
				{in: frag(Short, true, false, 0xffe, append(ip, 'x')...)},
				{in: frag(Short, false, false, 0xfff, 'y')},
				{in: frag(Short, false, true, 0, 'z'), want: []string{"xyz"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 1},
		},
		{
			name: "out of order",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				{in: frag(Long, false, true, 3, 'c')},
				{in: frag(Long, false, false, 2, 'b'), want: []string{"abc"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 1},
		},
		{
			name: "next packet complete before this one: waits, in order",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				{in: frag(Long, true, true, 3, append(ip, 'n')...)},
				{in: frag(Long, false, true, 2, 'b'), want: []string{"ab", "n"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 2},
		},
		{
			name: "duplicates held and delivered",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 5, append(ip, 'a')...)},
				{in: frag(Long, true, false, 5, append(ip, 'a')...)},
				{in: frag(Long, false, true, 6, 'b'), want: []string{"ab"}},
				{in: frag(Long, false, true, 6, 'b')},
			},
			stats: Stats{Fragments: 4, Reassembled: 1, Duplicates: 2},
		},
		{
			name: "lost middle fragment: discarded at the timeout, counted, next packet flows",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				// 2 lost
				{in: frag(Long, false, true, 3, 'c'), at: time.Millisecond},
				{in: frag(Long, true, true, 4, append(ip, 'd')...), at: 2 * time.Millisecond},
				{expire: true, at: 499 * time.Millisecond},
				{expire: true, at: 500 * time.Millisecond, want: []string{"d"}},
				{in: frag(Long, false, false, 2, 'b'), at: 600 * time.Millisecond}, // too late
			},
			stats: Stats{Fragments: 4, Reassembled: 1, Lost: 1, Discarded: 2, Duplicates: 1},
		},
		{
			name: "lost end fragment: the next beginning does not complete it",
			f:    Short,
			mrru: 1614,
			steps: []step{
				{in: frag(Short, true, false, 1, append(ip, 'a')...)},
				// 2 (E) lost
				{in: frag(Short, true, false, 3, append(ip, 'x')...)},
				{in: frag(Short, false, true, 4, 'y')},
				{expire: true, at: time.Second, want: []string{"xy"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 1, Lost: 1, Discarded: 1},
		},
		{
			// The packet after a lost end arrives after the timeout gave
			// up what came of its own: the gap before its beginning is
			// the same loss, not one to wait for (and count) again.
			name: "lost end fragment: what comes after the timeout flows at once",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				// 2 (E) lost
				{expire: true, at: time.Second},
				{in: frag(Long, true, false, 3, append(ip, 'x')...), at: 2 * time.Second},
				{in: frag(Long, false, true, 4, 'y'), at: 2 * time.Second, want: []string{"xy"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 1, Lost: 1, Discarded: 1},
		},
		{
			name: "lost first fragment: the orphans are discarded",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, true, 7, append(ip, 'p')...), want: []string{"p"}},
				// 8 (B) lost
				{in: frag(Long, false, true, 9, 'q')},
				{in: frag(Long, true, true, 10, append(ip, 'r')...)},
				{expire: true, at: time.Second, want: []string{"r"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 2, Lost: 1, Discarded: 1},
		},
		{
			name: "starts mid-packet: orphans discarded at once",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, false, false, 100, 'm')},
				{in: frag(Long, false, true, 101, 'n')},
				{in: frag(Long, true, true, 102, append(ip, 'o')...), want: []string{"o"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 1, Discarded: 2},
		},
		{
			name: "oversize reassembly over the MRRU is discarded",
			f:    Long,
			mrru: 512,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, make([]byte, 300)...)...)},
				{in: frag(Long, false, true, 2, make([]byte, 213)...)}, // 513 octets of information
				{in: frag(Long, true, false, 3, append(ip, make([]byte, 300)...)...)},
				{in: frag(Long, false, true, 4, make([]byte, 212)...), want: []string{string(make([]byte, 512))}},
			},
			stats: Stats{Fragments: 4, Reassembled: 1, Oversize: 1, Discarded: 2},
		},
		{
			name: "malformed fragment loses nothing held",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				{in: []byte{0x40, 0x00}},
				{in: frag(Long, false, true, 2, 'b'), want: []string{"ab"}},
			},
			stats: Stats{Fragments: 2, Reassembled: 1, Malformed: 1},
		},
		{
			name: "PFC-compressed protocol inside",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, true, 1, 0x21, 'c'), want: []string{"c"}},
			},
			stats: Stats{Fragments: 1, Reassembled: 1},
		},
		{
			name: "far ahead: the peer renumbered",
			f:    Long,
			mrru: 1614,
			steps: []step{
				{in: frag(Long, true, false, 1, append(ip, 'a')...)},
				{in: frag(Long, true, true, 50000, append(ip, 'z')...), want: []string{"z"}},
				{in: frag(Long, true, true, 50001, append(ip, 'y')...), want: []string{"y"}},
			},
			stats: Stats{Fragments: 3, Reassembled: 2, Overflow: 1, Discarded: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReassembler(ReassemblerConfig{Format: tt.f, MRRU: tt.mrru})
			for i, s := range tt.steps {
				var (
					got []ppp.Frame
					err error
				)
				if s.expire {
					got, err = r.Expire(t0.Add(s.at))
				} else {
					got, err = r.Receive(s.in, t0.Add(s.at))
				}
				if err != nil && !(len(s.in) > 0 && len(s.in) < 4) {
					t.Fatalf("step %d: %v", i, err)
				}
				if len(got) != len(s.want) {
					t.Fatalf("step %d: %d packets, want %d", i, len(got), len(s.want))
				}
				for j, fr := range got {
					if fr.Protocol != ppp.ProtocolIPv4 || string(fr.Information) != s.want[j] {
						t.Fatalf("step %d packet %d: %v %q, want IPv4 %q", i, j, fr.Protocol, fr.Information, s.want[j])
					}
				}
			}
			if got := r.Stats(); got != tt.stats {
				t.Fatalf("stats %+v\nwant  %+v", got, tt.stats)
			}
		})
	}
}

// The window bounds what is held: a gap that never fills is given up when
// the window is full, without waiting for the timer.
func TestReassemblerWindow(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{Format: Long, MRRU: 1614, MRU: 1480, Window: 8})
	if _, err := r.Receive(frag(Long, true, false, 0, 0, 0x21, 'a'), t0); err != nil {
		t.Fatal(err)
	}
	// 1 is lost; 2.. are whole packets.
	var got []ppp.Frame
	for s := uint32(2); s < 40; s++ {
		out, err := r.Receive(frag(Long, true, true, s, 0, 0x21, byte(s)), t0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Held() > 8 {
			t.Fatalf("holding %d fragments over a window of 8", r.Held())
		}
		got = append(got, out...)
	}
	if len(got) != 38 {
		t.Fatalf("%d delivered, want all 38 after the gap", len(got))
	}
	for i, fr := range got {
		if fr.Information[0] != byte(i+2) {
			t.Fatalf("packet %d is %d: out of order", i, fr.Information[0])
		}
	}
	if st := r.Stats(); st.Overflow != 1 || st.Lost != 0 || st.Discarded != 1 {
		t.Fatalf("stats %+v: want 1 given up for the window (not the timeout), 1 discarded", st)
	}
	if _, ok := r.Deadline(); ok {
		t.Fatal("nothing held, yet a deadline")
	}
}

func TestReassemblerWindowFitsMRRU(t *testing.T) {
	// 576-byte link, MRRU 4000: a packet is 8 fragments; the window
	// holds two.
	r := NewReassembler(ReassemblerConfig{Format: Long, MRRU: 4000, MRU: 576, Window: 4})
	fr := NewFragmenter(Long, 4000)
	frags, err := fr.Fragment(ppp.ProtocolIPv4, seq(4000), 576)
	if err != nil {
		t.Fatal(err)
	}
	var got []ppp.Frame
	for _, b := range frags {
		out, err := r.Receive(b, t0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	if len(got) != 1 || !bytes.Equal(got[0].Information, seq(4000)) {
		t.Fatalf("got %d packets, want the 4000-byte one", len(got))
	}
	if d, ok := r.Deadline(); ok {
		t.Fatalf("deadline %v with nothing held", d)
	}
}

// Fragmenter output, shuffled within a small distance, duplicated and
// with some fragments dropped, comes out as exactly the packets none of
// whose fragments were dropped, in order.
func TestFragmentReassembleProperty(t *testing.T) {
	for _, f := range []Format{Long, Short} {
		rng := rand.New(rand.NewPCG(1, uint64(f)))
		fr := NewFragmenter(f, 1614)
		r := NewReassembler(ReassemblerConfig{Format: f, MRRU: 1614, MRU: 600})
		var (
			sent [][]byte // fragments in order
			want []int
		)
		dropped := map[int]bool{}
		for p := 0; p < 400; p++ {
			info := append([]byte{byte(p), byte(p >> 8)}, seq(rng.IntN(1612))...)
			frags, err := fr.Fragment(ppp.ProtocolIPv4, info, 600)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range frags {
				if rng.IntN(50) == 0 {
					dropped[p] = true
					continue
				}
				sent = append(sent, b)
			}
		}
		for p := 0; p < 400; p++ {
			if !dropped[p] {
				want = append(want, p)
			}
		}
		// Swap neighbours now and then; duplicate some.
		for i := 0; i+1 < len(sent); i++ {
			if rng.IntN(10) == 0 {
				sent[i], sent[i+1] = sent[i+1], sent[i]
			}
		}
		var got []int
		now := t0
		for i, b := range sent {
			out, err := r.Receive(b, now)
			if err != nil {
				t.Fatal(err)
			}
			if rng.IntN(20) == 0 {
				r.Receive(sent[i], now)
			}
			for _, fr := range out {
				got = append(got, int(fr.Information[0])|int(fr.Information[1])<<8)
			}
			now = now.Add(time.Millisecond)
		}
		out, _ := r.Expire(now.Add(time.Hour))
		for _, fr := range out {
			got = append(got, int(fr.Information[0])|int(fr.Information[1])<<8)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d packets, want %d (stats %+v)", f, len(got), len(want), r.Stats())
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v: packet %d is %d, want %d", f, i, got[i], want[i])
			}
		}
		if r.Held() != 0 {
			t.Fatalf("%v: %d fragments left", f, r.Held())
		}
	}
}

// FuzzReassembler: any fragment stream never panics, never holds more
// than the window, never delivers more than the MRRU.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0x21, 0x45, 0x40, 0, 0, 2, 0x00}, false, uint16(512))
	f.Add([]byte{0x8f, 0xff, 0, 0x21, 0x4f, 0xff}, true, uint16(600))
	f.Fuzz(func(t *testing.T, stream []byte, short bool, mrru uint16) {
		fm := Long
		if short {
			fm = Short
		}
		r := NewReassembler(ReassemblerConfig{Format: fm, MRRU: mrru, Window: 8})
		now := t0
		// Each chunk: one length octet, then that many octets.
		for len(stream) > 0 {
			n := min(int(stream[0]), len(stream)-1)
			chunk := stream[1 : 1+n]
			stream = stream[1+n:]
			out, _ := r.Receive(chunk, now)
			if n%3 == 0 {
				more, _ := r.Expire(now.Add(time.Second))
				out = append(out, more...)
			}
			for _, fr := range out {
				if len(fr.Information) > int(mrru) {
					t.Fatalf("delivered %d octets over MRRU %d", len(fr.Information), mrru)
				}
			}
			if r.Held() > 8 {
				t.Fatalf("holding %d", r.Held())
			}
			now = now.Add(10 * time.Millisecond)
		}
	})
}
