package config

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is what a List must behave as: a slice of items with unique keys.
type model []Secret

func (m model) index(k string) int {
	return slices.IndexFunc(m, func(s Secret) bool { return s.Name == k })
}

func checkList(t *testing.T, step string, l List[Secret], m model) {
	t.Helper()
	if l.Len() != len(m) {
		t.Fatalf("%s: Len %d, want %d", step, l.Len(), len(m))
	}
	if got := l.Items(); len(m) > 0 && !slices.Equal(got, m) {
		t.Fatalf("%s: items %v, want %v", step, got, m)
	}
	for i, s := range m {
		if l.At(i) != s || l.Index(s.Name) != i {
			t.Fatalf("%s: At(%d) = %v, Index(%s) = %d; want %v, %d", step, i, l.At(i), s.Name, l.Index(s.Name), s, i)
		}
		if g, ok := l.Get(s.Name); !ok || g != s {
			t.Fatalf("%s: Get(%s) = %v, %v", step, s.Name, g, ok)
		}
	}
	if _, ok := l.Get("absent"); ok || l.Index("absent") != -1 {
		t.Fatalf("%s: found an absent key", step)
	}
	refs := map[string]int{}
	for _, s := range m {
		refs[s.Profile]++
	}
	var got []string
	for name := range l.referenced() {
		got = append(got, name)
	}
	if len(got) != len(refs) {
		t.Fatalf("%s: referenced %v, want the keys of %v", step, got, refs)
	}
	for _, name := range got {
		if n := get(l.refs, name); n == nil || n.val != refs[name] {
			t.Fatalf("%s: %s referenced %v times, want %d", step, name, n, refs[name])
		}
	}
	checkTree(t, step, l.order)
	checkTree(t, step, l.keys)
}

// checkTree checks the treap's invariants: keys in order, heap by
// priority, sizes right.
func checkTree[K interface{ ~uint64 | ~string }, V any](t *testing.T, step string, n *node[K, V]) int {
	t.Helper()
	if n == nil {
		return 0
	}
	for _, c := range []*node[K, V]{n.left, n.right} {
		if c != nil && above(c, n) {
			t.Fatalf("%s: child %v above its parent %v", step, c.key, n.key)
		}
	}
	if n.left != nil && n.left.key >= n.key || n.right != nil && n.right.key <= n.key {
		t.Fatalf("%s: keys out of order at %v", step, n.key)
	}
	if size := 1 + checkTree(t, step, n.left) + checkTree(t, step, n.right); size != n.size {
		t.Fatalf("%s: size %d at %v, want %d", step, n.size, n.key, size)
	} else {
		return size
	}
	return 0
}

// naiveChanges is List.Changes by brute force.
func naiveChanges(old, new model) (removed, changed []string) {
	for _, s := range old {
		if new.index(s.Name) < 0 {
			removed = append(removed, "-"+s.Name)
		}
	}
	for _, s := range new {
		switch i := old.index(s.Name); {
		case i < 0:
			changed = append(changed, "+"+s.Name)
		case old[i] != s:
			changed = append(changed, "~"+s.Name)
		}
	}
	return removed, changed
}

// TestListModel drives Lists through random adds, replacements (renames
// among them) and removals, in edits of several steps as Apply makes them,
// and checks each against a slice: the contents, every lookup, the
// treaps' invariants, that older versions are untouched, and Changes
// against a brute-force diff.
func TestListModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func() string { return fmt.Sprintf("u%d", rng.IntN(300)) }
	type version struct {
		l List[Secret]
		m model
	}
	var history []version
	var l List[Secret]
	var m model
	for round := range 250 {
		e := newEdit()
		if round%7 == 0 {
			e = 0 // the persistent path, as With takes
		}
		for range 1 + rng.IntN(6) {
			switch op := rng.IntN(10); {
			case op < 5 || len(m) == 0:
				s := Secret{Name: name(), Password: fmt.Sprint(round), Profile: fmt.Sprintf("p%d", rng.IntN(4))}
				ok := l.add(e, s)
				if want := m.index(s.Name) < 0; ok != want {
					t.Fatalf("round %d: add %s = %v, want %v", round, s.Name, ok, want)
				}
				if ok {
					m = append(m, s)
				}
			case op < 8:
				i := rng.IntN(len(m))
				s := m[i]
				s.Password += "'"
				if rng.IntN(3) == 0 {
					s.Name = name()
				}
				if rng.IntN(2) == 0 {
					s.Profile = fmt.Sprintf("p%d", rng.IntN(4))
				}
				ok := l.replace(e, i, s)
				if j := m.index(s.Name); ok != (j < 0 || j == i) {
					t.Fatalf("round %d: replace %d with %s = %v", round, i, s.Name, ok)
				}
				if ok {
					m = slices.Clone(m)
					m[i] = s
				}
			default:
				i := rng.IntN(len(m))
				l.remove(e, i)
				m = slices.Delete(slices.Clone(m), i, i+1)
			}
		}
		step := fmt.Sprintf("round %d", round)
		checkList(t, step, l, m)
		history = append(history, version{l, slices.Clone(m)})
		for k := max(0, len(history)-4); k < len(history); k++ {
			old := history[k]
			checkList(t, fmt.Sprintf("%s: version %d", step, k), old.l, old.m)
			var removed, changed []string
			for o, n := range l.Changes(old.l) {
				switch {
				case n == nil:
					removed = append(removed, "-"+o.Name)
				case o == nil:
					changed = append(changed, "+"+n.Name)
				case *o != *n:
					changed = append(changed, "~"+n.Name)
				}
			}
			wantRemoved, wantChanged := naiveChanges(old.m, m)
			if !slices.Equal(removed, wantRemoved) || !slices.Equal(changed, wantChanged) {
				t.Fatalf("%s: Changes from version %d = %v %v, want %v %v", step, k, removed, changed, wantRemoved, wantChanged)
			}
		}
	}
}

// Lists built separately from the same items have the same shape, so a
// reload of an unchanged file diffs at no cost beyond the walk.
func TestListCanonicalShape(t *testing.T) {
	var a, b List[Secret]
	for i := range 1000 {
		a.add(1<<62, Secret{Name: fmt.Sprint(i)})
	}
	for i := range 1000 {
		b.add(0, Secret{Name: fmt.Sprint(i)})
	}
	var same func(x, y *node[uint64, *Secret]) bool
	same = func(x, y *node[uint64, *Secret]) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.key == y.key && same(x.left, y.left) && same(x.right, y.right)
	}
	if !same(a.order, b.order) {
		t.Fatal("same keys, different shapes")
	}
	for o, n := range b.Changes(a) {
		if o == nil || n == nil || *o != *n {
			t.Fatalf("equal lists differ: %v %v", o, n)
		}
	}
}
