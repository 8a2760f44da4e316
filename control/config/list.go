package config

import (
	"encoding/json"
	"iter"
)

// Item is an item of a menu with a list of items. Its key is unique within
// the menu: the name, or interface/service-name for a server.
type Item interface {
	Key() string
}

// referrer is an item whose references a List counts, so that Validate
// checks them per referenced name rather than per item: a secret's
// profile.
type referrer interface {
	ref() string
}

// List is the items of one menu, in print order (an item's number is its
// position). It is immutable and cheap to copy: configurations derived from
// one another share their lists' unchanged parts, so changing one item of
// a list of n costs O(log n), not a copy of the list. Lookups by key and by
// position are O(log n).
//
// The zero List is empty.
type List[T Item] struct {
	order *node[uint64, *T]     // by sequence number: print order
	keys  *node[string, uint64] // key → sequence number
	refs  *node[string, int]    // referenced name → items referring to it
	next  uint64                // sequence number of the next item added
}

// Len returns the number of items.
func (l List[T]) Len() int { return l.order.len() }

// At returns the item at position i, which must be below Len.
func (l List[T]) At(i int) T { return *nth(l.order, i).val }

// Get returns the item with key k.
func (l List[T]) Get(k string) (T, bool) {
	if n := get(l.keys, k); n != nil {
		return *get(l.order, n.val).val, true
	}
	var zero T
	return zero, false
}

// Index returns the position of the item with key k, or -1.
func (l List[T]) Index(k string) int {
	if n := get(l.keys, k); n != nil {
		return rank(l.order, n.val)
	}
	return -1
}

// All yields the items with their positions, in order.
func (l List[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		i := 0
		each(l.order, func(n *node[uint64, *T]) bool {
			ok := yield(i, *n.val)
			i++
			return ok
		})
	}
}

// Items returns the items as a slice, in order.
func (l List[T]) Items() []T {
	out := make([]T, 0, l.Len())
	for _, it := range l.All() {
		out = append(out, it)
	}
	return out
}

// With returns l with item appended, or false if its key is taken. l is
// not changed. It does not validate: Config.Apply is the way to change a
// configuration; With is for building one that is deliberately broken.
func (l List[T]) With(item T) (List[T], bool) {
	ok := l.add(0, item)
	return l, ok
}

// Changes yields, in print order, the items that differ between old and
// l by key: (old, new) for a changed item, (nil, new) for an added one,
// (old, nil) for a removed one. Removed items come first, in old's order;
// then added and changed ones in l's. Lists derived from one another share
// their unchanged parts, and those cost nothing to compare: the cost is
// that of the changes.
func (l List[T]) Changes(old List[T]) iter.Seq2[*T, *T] {
	return func(yield func(*T, *T) bool) {
		var gone []*T
		type pair struct{ old, new *T }
		var came []pair
		diffTrees(old.order, l.order, func(a, b *node[uint64, *T]) {
			switch {
			case b == nil:
				gone = append(gone, a.val)
			case a == nil:
				came = append(came, pair{nil, b.val})
			case a.val == b.val:
				// Same item, a node above it copied.
			case (*a.val).Key() == (*b.val).Key():
				came = append(came, pair{a.val, b.val})
			default: // renamed, or unrelated lists
				gone = append(gone, a.val)
				came = append(came, pair{nil, b.val})
			}
		})
		// An item removed and added again under the same key is a change.
		if len(gone) > 0 && len(came) > 0 {
			byKey := make(map[string]int, len(gone))
			for i, g := range gone {
				byKey[(*g).Key()] = i
			}
			for i, c := range came {
				if c.old != nil {
					continue
				}
				if j, ok := byKey[(*c.new).Key()]; ok {
					came[i].old, gone[j] = gone[j], nil
				}
			}
		}
		for _, g := range gone {
			if g != nil && !yield(g, nil) {
				return
			}
		}
		for _, c := range came {
			if !yield(c.old, c.new) {
				return
			}
		}
	}
}

// MarshalJSON implements json.Marshaler: a JSON array of the items.
func (l List[T]) MarshalJSON() ([]byte, error) { return json.Marshal(l.Items()) }

// add appends item, unless its key is taken. e is the edit (see node).
func (l *List[T]) add(e uint64, item T) bool {
	k := item.Key()
	if get(l.keys, k) != nil {
		return false
	}
	seq := l.next
	l.next++
	p := &item
	l.order = put(e, l.order, seq, p, seqPrio(seq))
	l.keys = put(e, l.keys, k, seq, stringPrio(k))
	l.count(e, p, 1)
	return true
}

// replace puts item at position i, unless it takes the key of another item.
func (l *List[T]) replace(e uint64, i int, item T) bool {
	n := nth(l.order, i)
	oldKey, newKey := (*n.val).Key(), item.Key()
	if newKey != oldKey {
		if get(l.keys, newKey) != nil {
			return false
		}
		l.keys = put(e, del(e, l.keys, oldKey), newKey, n.key, stringPrio(newKey))
	}
	p := &item
	l.count(e, n.val, -1)
	l.count(e, p, 1)
	l.order = put(e, l.order, n.key, p, n.prio)
	return true
}

// remove removes the item at position i.
func (l *List[T]) remove(e uint64, i int) {
	n := nth(l.order, i)
	l.keys = del(e, l.keys, (*n.val).Key())
	l.order = del(e, l.order, n.key)
	l.count(e, n.val, -1)
}

// count adds d to the count of the name item refers to, if it refers.
func (l *List[T]) count(e uint64, item *T, d int) {
	r, ok := any(item).(referrer)
	if !ok {
		return
	}
	name := r.ref()
	c := d
	if n := get(l.refs, name); n != nil {
		c += n.val
	}
	if c == 0 {
		l.refs = del(e, l.refs, name)
		return
	}
	l.refs = put(e, l.refs, name, c, stringPrio(name))
}

// referenced yields every name items refer to.
func (l List[T]) referenced() iter.Seq[string] {
	return func(yield func(string) bool) {
		each(l.refs, func(n *node[string, int]) bool { return yield(n.key) })
	}
}
