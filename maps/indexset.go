package maps

// indexSet is the set of allocated session indices: one bit per index of
// the maps' capacity, made once. A Go map of the indices kept the table
// of its peak after a teardown (1.5 MiB after 100,000 sessions), and cost
// a hash per install; the bits cost max/8 bytes for good (32 KiB for
// DefaultMaxSessions).
type indexSet struct {
	words []uint64
	n     int
}

func newIndexSet(max uint32) indexSet {
	return indexSet{words: make([]uint64, (uint64(max)+63)/64)}
}

// has reports whether i is in the set; an index beyond the capacity is
// not.
func (s *indexSet) has(i Index) bool {
	w := uint64(i) / 64
	return w < uint64(len(s.words)) && s.words[w]&(1<<(uint64(i)%64)) != 0
}

// add puts i, which must be below the capacity, in the set.
func (s *indexSet) add(i Index) {
	w, b := uint64(i)/64, uint64(1)<<(uint64(i)%64)
	if s.words[w]&b == 0 {
		s.words[w] |= b
		s.n++
	}
}

// remove takes i out of the set and reports whether it was there.
func (s *indexSet) remove(i Index) bool {
	if !s.has(i) {
		return false
	}
	s.words[uint64(i)/64] &^= 1 << (uint64(i) % 64)
	s.n--
	return true
}

func (s *indexSet) len() int { return s.n }
