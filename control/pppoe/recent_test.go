package pppoe

import (
	"runtime"
	"testing"
	"time"
)

// liveHeap is the heap's live bytes after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRecentGivesMemoryBack: the PADSs remembered for retransmitted
// PADRs take memory in proportion to a burst while it is within the
// duplicate window, and give it back afterwards, whether the sessions
// end (forget) or the window passes (a later PADR). A single Go map
// pruned in place keeps its peak table for the process's life.
func TestRecentGivesMemoryBack(t *testing.T) {
	const n = 5000 // forget scans the maps: a PADR burst of 2 windows
	const window = 5 * time.Second
	t0 := time.Unix(1e9, 0)
	for _, how := range []string{"forget", "window"} {
		s := NewServer(ServerConfig{}, &fakeAdm{}, nil)
		base := liveHeap()
		frame := make([]byte, 60)
		for i := range n {
			c := Circuit{Ifindex: 1, MAC: [6]byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}}
			s.remember(recentKey{c: c}, recentPADS{cookie: "c", sid: uint16(i%0xfffe + 1), frame: frame, at: t0}, t0, window)
		}
		peak := liveHeap() - base
		if peak < n*50 {
			t.Fatalf("%s: %d bytes for %d PADSs: the measurement cannot tell", how, peak, n)
		}
		switch how {
		case "forget": // every session ends by PADT
			for i := range n {
				c := Circuit{Ifindex: 1, MAC: [6]byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}}
				s.forget(c, uint16(i%0xfffe+1))
			}
		case "window": // one PADR two windows later
			later := t0.Add(2*window + time.Second)
			s.remember(recentKey{c: Circuit{Ifindex: 1}}, recentPADS{cookie: "c", sid: 1, frame: frame, at: later}, later, window)
		}
		after := liveHeap()
		if after > base && after-base > peak/10 {
			t.Errorf("%s: %d bytes kept of the %d the burst took", how, after-base, peak)
		}
		runtime.KeepAlive(s)
	}
}

// TestForgetFindsItsSession: forget (a PADT) drops the PADS of exactly
// the session it names, in either generation, by the session's index
// rather than by going through every PADS the window remembered; the
// others are still answered to a retransmitted PADR.
func TestForgetFindsItsSession(t *testing.T) {
	const window = 5 * time.Second
	t0 := time.Unix(1e9, 0)
	s := NewServer(ServerConfig{}, &fakeAdm{}, nil)
	circuit := func(i int) Circuit { return Circuit{Ifindex: 1, MAC: [6]byte{2, 0, 0, 0, 0, byte(i)}} }
	frame := []byte{1, 2, 3}
	// Sessions 1 and 2 in the older generation, 3 and 4 (3 on the same
	// circuit as 1, another Host-Uniq) in the recent one.
	s.remember(recentKey{c: circuit(1), hostUniq: "a"}, recentPADS{cookie: "c", sid: 1, frame: frame, at: t0}, t0, window)
	s.remember(recentKey{c: circuit(2), hostUniq: "a"}, recentPADS{cookie: "c", sid: 2, frame: frame, at: t0}, t0, window)
	t1 := t0.Add(window + time.Second)
	s.remember(recentKey{c: circuit(1), hostUniq: "b"}, recentPADS{cookie: "c", sid: 3, frame: frame, at: t1}, t1, window)
	s.remember(recentKey{c: circuit(4), hostUniq: "a"}, recentPADS{cookie: "c", sid: 4, frame: frame, at: t1}, t1, window)
	answered := func(c Circuit, hu string, at time.Time) bool {
		return s.duplicate(recentKey{c: c, hostUniq: hu}, "c", at, 2*window) != nil
	}
	s.forget(circuit(1), 1)
	s.forget(circuit(4), 4)
	for _, tt := range []struct {
		c    Circuit
		hu   string
		at   time.Time
		want bool
	}{
		{circuit(1), "a", t0, false}, // forgotten, older generation
		{circuit(2), "a", t0, true},
		{circuit(1), "b", t1, true},  // same circuit, another session
		{circuit(4), "a", t1, false}, // forgotten, recent generation
	} {
		if got := answered(tt.c, tt.hu, tt.at); got != tt.want {
			t.Errorf("%v %q: answered %v, want %v", tt.c, tt.hu, got, tt.want)
		}
	}
	if n := len(s.older.sessions) + len(s.recent.sessions); n != 2 {
		t.Errorf("%d sessions indexed, want 2", n)
	}
}

// TestRecentSizedFromLastWindow: a generation starts at the size the one
// it follows reached, so a steady stream of PADRs does not grow its maps
// from empty every window (bench-sessions' AC profile: the maps' splits
// were 3-5 % of its CPU per setup). The maps of a window that follows
// one of n PADSs take about half the bytes of a window grown from empty.
func TestRecentSizedFromLastWindow(t *testing.T) {
	const n = 20000
	const window = 5 * time.Second
	t0 := time.Unix(1e9, 0)
	s := NewServer(ServerConfig{}, &fakeAdm{}, nil)
	frame := make([]byte, 60)
	fill := func(at time.Time, base int) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			j := base + i
			c := Circuit{Ifindex: 1, MAC: [6]byte{2, 0, 0, byte(j >> 16), byte(j >> 8), byte(j)}}
			s.remember(recentKey{c: c}, recentPADS{cookie: "c", sid: uint16(j%0xfffe + 1), frame: frame, at: at}, at, window)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	grown := fill(t0, 0)
	sized := fill(t0.Add(window+time.Second), n)
	if sized*10 > grown*7 {
		t.Errorf("the second window's %d PADSs allocated %d bytes, the first's %d: want the maps made at their size", n, sized, grown)
	}
	t.Logf("allocated: first window %d bytes, second %d", grown, sized)
}
