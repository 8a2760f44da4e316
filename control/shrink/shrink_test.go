package shrink

import (
	"runtime"
	"testing"
)

// live is the heap in use after a collection.
func live() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMapGivesBackPeak fills a map to 100,000 entries, deletes all but
// ten and checks that what it holds then is a small fraction of what a
// Go map that went through the same churn holds.
func TestMapGivesBackPeak(t *testing.T) {
	const peak, keep = 100000, 10
	churn := func(set func(int), del func(int)) {
		for i := range peak {
			set(i)
		}
		for i := keep; i < peak; i++ {
			del(i)
		}
	}

	base := live()
	plain := map[int]int{}
	churn(func(i int) { plain[i] = i }, func(i int) { delete(plain, i) })
	plainHeld := int64(live()) - int64(base)
	runtime.KeepAlive(plain)
	plain = nil

	base = live()
	var m Map[int, int]
	churn(func(i int) { m.Set(i, i) }, m.Delete)
	held := int64(live()) - int64(base)

	t.Logf("after %d entries down to %d: Go map holds %d B, shrink.Map %d B (re-made %d times)", peak, keep, plainHeld, held, m.remade)
	if plainHeld < 1<<20 {
		t.Fatalf("a Go map of %d entries emptied holds %d B: the churn no longer shows what it is meant to", peak, plainHeld)
	}
	if held > plainHeld/20 {
		t.Errorf("shrink.Map holds %d B after the churn, a Go map %d B: want at most a twentieth", held, plainHeld)
	}
	if m.remade == 0 {
		t.Error("never re-made")
	}
	if m.Len() != keep {
		t.Errorf("Len %d, want %d", m.Len(), keep)
	}
	for i := range keep {
		if v, ok := m.Lookup(i); !ok || v != i {
			t.Errorf("Lookup(%d) = %d, %v after the re-makes; want %d, true", i, v, ok, i)
		}
	}
	n := 0
	for k, v := range m.All() {
		if k != v || k >= keep {
			t.Errorf("All yields %d: %d", k, v)
		}
		n++
	}
	if n != keep {
		t.Errorf("All yields %d entries, want %d", n, keep)
	}
}

// TestMapRemakePoint checks when the map is re-made: not for a small
// peak, and for a large one only at a quarter of it, after which the
// peak is what was left.
func TestMapRemakePoint(t *testing.T) {
	var small Map[int, bool]
	for i := range minPeak - 1 {
		small.Set(i, true)
	}
	for i := range minPeak - 1 {
		small.Delete(i)
	}
	if small.remade != 0 {
		t.Errorf("a map that peaked at %d entries was re-made %d times; want none below %d", minPeak-1, small.remade, minPeak)
	}

	var m Map[int, bool]
	for i := range 4000 {
		m.Set(i, true)
	}
	m.Set(0, false) // an overwrite is not growth
	if m.peak != 4000 {
		t.Fatalf("peak %d after 4000 keys, want 4000", m.peak)
	}
	for i := range 2999 {
		m.Delete(i)
	}
	if m.remade != 0 {
		t.Fatalf("re-made at %d of a peak of 4000; want at 1000", m.Len())
	}
	m.Delete(2999)
	if m.remade != 1 || m.peak != 1000 {
		t.Fatalf("at 1000 of 4000: re-made %d times, peak %d; want once, 1000", m.remade, m.peak)
	}
	m.Delete(-1) // absent: nothing
	if m.Len() != 1000 || m.remade != 1 {
		t.Errorf("deleting an absent key: Len %d, re-made %d", m.Len(), m.remade)
	}
}

func TestSlice(t *testing.T) {
	s := make([]int, 0, 4096)
	for i := range 4096 {
		s = append(s, i)
	}
	for len(s) > 1025 {
		s = Slice(s[:len(s)-1])
	}
	if cap(s) != 4096 {
		t.Fatalf("cap %d at len %d of 4096: re-made before a quarter", cap(s), len(s))
	}
	s = Slice(s[:1024])
	if cap(s) != 2048 || len(s) != 1024 {
		t.Fatalf("at a quarter: len %d cap %d, want 1024, 2048", len(s), cap(s))
	}
	for i, v := range s {
		if v != i {
			t.Fatalf("s[%d] = %d after the copy", i, v)
		}
	}
	if got := Slice(make([]int, 1, minPeak-1)); cap(got) != minPeak-1 {
		t.Errorf("a slice of capacity %d was re-made (cap %d)", minPeak-1, cap(got))
	}
	if got := Slice(make([]int, 0, 8192)); got == nil || len(got) != 0 || cap(got) != 0 {
		t.Errorf("an empty slice of capacity 8192: len %d cap %d nil %v; want an empty non-nil one", len(got), cap(got), got == nil)
	}
}
