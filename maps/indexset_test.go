package maps

import "testing"

func TestIndexSet(t *testing.T) {
	s := newIndexSet(130) // three words, the last one partly used
	for _, i := range []Index{0, 63, 64, 129} {
		s.add(i)
	}
	s.add(64) // again: still one
	if s.len() != 4 {
		t.Fatalf("len %d after adding 0, 63, 64, 129 (64 twice); want 4", s.len())
	}
	for i := Index(0); i < 200; i++ {
		want := i == 0 || i == 63 || i == 64 || i == 129
		if s.has(i) != want {
			t.Errorf("has(%d) = %v, want %v", i, s.has(i), want)
		}
	}
	s.remove(63)
	s.remove(63)  // not there: nothing
	s.remove(62)  // never there
	s.remove(500) // beyond the capacity
	if s.len() != 3 || s.has(63) || !s.has(0) || !s.has(64) {
		t.Errorf("after removing 63: len %d, has 63 %v, 0 %v, 64 %v; want 3, false, true, true", s.len(), s.has(63), s.has(0), s.has(64))
	}
}
