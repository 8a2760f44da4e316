// Package shrink holds the AC's per-session maps and slices in a form that
// gives their memory back after churn. A Go map keeps the table of its
// largest population after its entries are deleted, and a slice keeps its
// capacity: after 100,000 sessions came and went, the maps and lists that
// indexed them held some 18 MiB for none (bench-sessions, issue 18).
//
// Both are re-made, smaller, once their population has fallen to a quarter
// of the peak since they were last made. The copy costs what a quarter of
// the peak's inserts did, and three quarters of the peak must be deleted
// before the next one, so it adds a constant to each delete and nothing to
// an insert but a comparison.
package shrink

import "iter"

// minPeak is the smallest peak worth re-making for: below it the table
// left over is a few tens of kilobytes at most.
const minPeak = 1024

// Map is a map that is re-made when its population falls to a quarter of
// its peak. Its zero value is an empty map ready to use. It is not safe
// for concurrent use.
type Map[K comparable, V any] struct {
	m    map[K]V
	peak int // largest len(m) since m was made
	// remade counts the re-makes, for tests.
	remade int
}

// Get returns the value of k, or the zero value.
func (m *Map[K, V]) Get(k K) V { return m.m[k] }

// Lookup returns the value of k and whether it is there.
func (m *Map[K, V]) Lookup(k K) (V, bool) {
	v, ok := m.m[k]
	return v, ok
}

// Set sets k's value.
func (m *Map[K, V]) Set(k K, v V) {
	if m.m == nil {
		m.m = make(map[K]V)
	}
	m.m[k] = v
	if len(m.m) > m.peak {
		m.peak = len(m.m)
	}
}

// Delete removes k, re-making the map if that leaves a quarter of its
// peak.
func (m *Map[K, V]) Delete(k K) {
	delete(m.m, k)
	if n := len(m.m); m.peak >= minPeak && n <= m.peak/4 {
		fresh := make(map[K]V, n)
		for k, v := range m.m {
			fresh[k] = v
		}
		m.m, m.peak = fresh, n
		m.remade++
	}
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return len(m.m) }

// All returns the entries, in no order. The map must not change while
// they are walked (as for a Go map, entries deleted meanwhile may be
// seen; unlike one, a delete may re-make it under the walk).
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range m.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Slice returns s, or a copy of it in a smaller array once it fills at
// most a quarter of its capacity: call it after taking elements off the
// end of s. The copy keeps the order, so indices into s stay valid.
func Slice[T any](s []T) []T {
	if cap(s) < minPeak || len(s) > cap(s)/4 {
		return s
	}
	fresh := make([]T, len(s), 2*len(s))
	copy(fresh, s)
	return fresh
}
