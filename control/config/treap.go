package config

import (
	"cmp"
	"hash/maphash"
	"sync/atomic"
)

// A treap is a binary search tree by key that is a heap by priority. Here
// it is persistent: a change copies the nodes on the path it walks (about
// 2 ln n of them) and shares every other node with the tree it came from,
// so a configuration and the one a command derives from it share all but
// a few nodes, and telling them apart (diff) costs the size of the
// difference, not of the configuration.
//
// A node's priority is a hash of its key, so the shape of a tree depends
// only on the keys it holds: two trees with the same keys have the same
// shape, which is what makes diff cheap.
//
// Changes carry an edit number: a node made by the same edit is not shared
// with any other tree yet, so that edit changes it in place instead of
// copying it (Clojure's transients). One Config.Apply is one edit, so a
// script of n adds allocates about n nodes, not n log n. Edit 0 copies
// always.

type node[K cmp.Ordered, V any] struct {
	key         K
	val         V
	prio        uint64
	size        int    // nodes in this subtree
	edit        uint64 // the edit that made the node; 0: shared
	left, right *node[K, V]
}

func (n *node[K, V]) len() int {
	if n == nil {
		return 0
	}
	return n.size
}

// with returns n with other children: n itself if edit e made it, else a
// copy.
func (n *node[K, V]) with(e uint64, left, right *node[K, V]) *node[K, V] {
	c := n
	if e == 0 || n.edit != e {
		c = new(node[K, V])
		*c = *n
		c.edit = e
	}
	c.left, c.right = left, right
	c.size = 1 + left.len() + right.len()
	return c
}

// above reports whether a belongs above b in the heap. Ties between
// priorities (hash collisions) are broken by key, so the order is total
// and the shape still depends on the keys alone.
func above[K cmp.Ordered, V any](a, b *node[K, V]) bool {
	return a.prio > b.prio || a.prio == b.prio && a.key < b.key
}

// get returns the node with key k, or nil.
func get[K cmp.Ordered, V any](n *node[K, V], k K) *node[K, V] {
	for n != nil {
		switch c := cmp.Compare(k, n.key); {
		case c == 0:
			return n
		case c < 0:
			n = n.left
		default:
			n = n.right
		}
	}
	return nil
}

// rank returns the number of keys below k.
func rank[K cmp.Ordered, V any](n *node[K, V], k K) int {
	r := 0
	for n != nil {
		if k <= n.key {
			n = n.left
			continue
		}
		r += n.left.len() + 1
		n = n.right
	}
	return r
}

// nth returns the node at position i (0-based, in key order); i must be
// below n.len().
func nth[K cmp.Ordered, V any](n *node[K, V], i int) *node[K, V] {
	for {
		switch l := n.left.len(); {
		case i < l:
			n = n.left
		case i == l:
			return n
		default:
			i -= l + 1
			n = n.right
		}
	}
}

// split returns the nodes with keys below k, the node with key k (nil if
// there is none) and the nodes above k, changing only nodes of edit e.
func split[K cmp.Ordered, V any](e uint64, n *node[K, V], k K) (lo, mid, hi *node[K, V]) {
	if n == nil {
		return nil, nil, nil
	}
	switch c := cmp.Compare(k, n.key); {
	case c == 0:
		return n.left, n, n.right
	case c < 0:
		lo, mid, hi = split(e, n.left, k)
		return lo, mid, n.with(e, hi, n.right)
	default:
		lo, mid, hi = split(e, n.right, k)
		return n.with(e, n.left, lo), mid, hi
	}
}

// join joins two trees, every key of lo below every key of hi.
func join[K cmp.Ordered, V any](e uint64, lo, hi *node[K, V]) *node[K, V] {
	switch {
	case lo == nil:
		return hi
	case hi == nil:
		return lo
	case above(lo, hi):
		return lo.with(e, lo.left, join(e, lo.right, hi))
	default:
		return hi.with(e, join(e, lo, hi.left), hi.right)
	}
}

// put returns n with k mapped to v; prio must be k's priority.
func put[K cmp.Ordered, V any](e uint64, n *node[K, V], k K, v V, prio uint64) *node[K, V] {
	if n == nil {
		return &node[K, V]{key: k, val: v, prio: prio, size: 1, edit: e}
	}
	if k == n.key {
		c := n.with(e, n.left, n.right)
		c.val = v
		return c
	}
	if prio > n.prio || prio == n.prio && k < n.key { // above(k, n)
		// k is not below n: its priority would have put it here.
		lo, _, hi := split(e, n, k)
		return &node[K, V]{key: k, val: v, prio: prio, size: 1 + lo.len() + hi.len(), edit: e, left: lo, right: hi}
	}
	if k < n.key {
		return n.with(e, put(e, n.left, k, v, prio), n.right)
	}
	return n.with(e, n.left, put(e, n.right, k, v, prio))
}

// del returns n without key k.
func del[K cmp.Ordered, V any](e uint64, n *node[K, V], k K) *node[K, V] {
	if get(n, k) == nil {
		return n
	}
	return remove(e, n, k)
}

// remove returns n without key k, which n has.
func remove[K cmp.Ordered, V any](e uint64, n *node[K, V], k K) *node[K, V] {
	switch c := cmp.Compare(k, n.key); {
	case c == 0:
		return join(e, n.left, n.right)
	case c < 0:
		return n.with(e, remove(e, n.left, k), n.right)
	default:
		return n.with(e, n.left, remove(e, n.right, k))
	}
}

// each calls f on every node in key order until f returns false, and
// reports whether it got to the end.
func each[K cmp.Ordered, V any](n *node[K, V], f func(*node[K, V]) bool) bool {
	for n != nil {
		if !each(n.left, f) || !f(n) {
			return false
		}
		n = n.right
	}
	return true
}

// diffTrees calls f(a, b) for every key whose node differs between the
// trees a and b: b nil for a key only a has, a nil for one only b has.
// Calls come in key order. Subtrees the trees share are skipped, so
// comparing a tree with one derived from it by k changes costs about
// k log n.
func diffTrees[K cmp.Ordered, V any](a, b *node[K, V], f func(a, b *node[K, V])) {
	switch {
	case a == b:
		return
	case a == nil:
		each(b, func(n *node[K, V]) bool { f(nil, n); return true })
		return
	case b == nil:
		each(a, func(n *node[K, V]) bool { f(n, nil); return true })
		return
	}
	// With the same keys at the top the split takes b apart without
	// copying anything.
	lo, mid, hi := split(0, b, a.key)
	diffTrees(a.left, lo, f)
	if mid != a {
		f(a, mid)
	}
	diffTrees(a.right, hi, f)
}

// edits numbers the edits; 0 is never handed out.
var edits atomic.Uint64

func newEdit() uint64 { return edits.Add(1) }

var prioSeed = maphash.MakeSeed()

func stringPrio(s string) uint64 { return maphash.String(prioSeed, s) }

// seqPrio is splitmix64's finaliser: consecutive sequence numbers get
// unrelated priorities.
func seqPrio(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
