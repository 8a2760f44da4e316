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
