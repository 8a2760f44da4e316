package pool

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"sync"
)

// ErrNoAddrAvail is returned when a pool (and its next-pool chain) has no
// free address left.
var ErrNoAddrAvail = errors.New("pool: no address available")

// ErrInUse is returned by Reserve when the address is already handed out.
var ErrInUse = errors.New("pool: address in use")

// ErrNotAllocated is returned by Release for an address that is not handed
// out by the pool.
var ErrNotAllocated = errors.New("pool: address not allocated")

// Allocator hands out addresses. Implementations are safe for concurrent
// use.
type Allocator interface {
	// Allocate returns hint when it is a free address of the pool, else
	// the next free address.
	Allocate(hint netip.Addr) (netip.Addr, error)
	// Reserve marks addr as used (a static secret's remote-address).
	Reserve(addr netip.Addr) error
	// Release returns addr to the pool.
	Release(addr netip.Addr) error
	// Used is the number of addresses handed out.
	Used() int
	// Size is the number of addresses in the ranges.
	Size() int
}

// Pool is one /ip pool: a bitmap over its ranges. Allocation is next-fit
// from a cursor that moves past each address handed out, so a just-released
// address is the last one reused: a subscriber who reconnects quickly is
// unlikely to find its old address taken by someone else, and stale routes
// or ARP caches elsewhere get time to expire.
type Pool struct {
	mu      sync.Mutex
	name    string
	ranges  []Range
	offsets []int    // offsets[i] is the bit index of ranges[i].First
	bits    []uint64 // one bit per address, set when handed out
	full    []uint64 // one bit per word of bits, set when it has no free bit
	size    int
	inBits  int
	cursor  int
	// stray holds addresses handed out under earlier ranges that the
	// current ranges no longer cover; they stay allocated until released.
	stray map[netip.Addr]struct{}
}

var _ Allocator = (*Pool)(nil)

// New returns a pool named name over ranges (as returned by ParseRanges).
func New(name string, ranges []Range) (*Pool, error) {
	p := &Pool{name: name, stray: map[netip.Addr]struct{}{}}
	if err := p.SetRanges(ranges); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Ranges returns a copy of the pool's current ranges.
func (p *Pool) Ranges() []Range {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ranges)
}

// SetRanges replaces the pool's ranges. Addresses already handed out stay
// allocated, whether or not the new ranges cover them; those outside are
// dropped from the pool when released.
func (p *Pool) SetRanges(ranges []Range) error {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b Range) int { return a.First.Compare(b.First) })
	size := 0
	offsets := make([]int, len(rs))
	for i, r := range rs {
		if !r.First.Is4() || !r.Last.Is4() || r.Last.Less(r.First) {
			return fmt.Errorf("pool %s: bad range %s", p.name, r)
		}
		if i > 0 && r.First.Compare(rs[i-1].Last) <= 0 {
			return fmt.Errorf("pool %s: ranges %s and %s overlap", p.name, rs[i-1], r)
		}
		offsets[i] = size
		size += r.Size()
	}
	if size > maxPoolSize {
		return fmt.Errorf("pool %s: more than %d addresses", p.name, maxPoolSize)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.allocatedLocked()
	p.ranges, p.offsets, p.size = rs, offsets, size
	p.bits = make([]uint64, (size+63)/64)
	p.full = make([]uint64, (len(p.bits)+63)/64)
	p.inBits, p.cursor = 0, 0
	p.stray = map[netip.Addr]struct{}{}
	for _, a := range old {
		if i, ok := p.index(a); ok {
			p.set(i)
		} else {
			p.stray[a] = struct{}{}
		}
	}
	return nil
}

// sameRanges reports whether the pool has exactly ranges.
func (p *Pool) sameRanges(ranges []Range) bool {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b Range) int { return a.First.Compare(b.First) })
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Equal(rs, p.ranges)
}

// allocatedLocked lists every address handed out.
func (p *Pool) allocatedLocked() []netip.Addr {
	var out []netip.Addr
	for w, word := range p.bits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			out = append(out, p.addrAt(w*64+b))
		}
	}
	for a := range p.stray {
		out = append(out, a)
	}
	return out
}

// Allocated lists the addresses handed out, in no particular order.
func (p *Pool) Allocated() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocatedLocked()
}

// index maps an address to its bit, by binary search over the ranges.
func (p *Pool) index(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	i := sort.Search(len(p.ranges), func(i int) bool { return a.Compare(p.ranges[i].Last) <= 0 })
	if i == len(p.ranges) || !p.ranges[i].Contains(a) {
		return 0, false
	}
	return p.offsets[i] + int(u32(a)-u32(p.ranges[i].First)), true
}

func (p *Pool) addrAt(idx int) netip.Addr {
	i := sort.Search(len(p.offsets), func(i int) bool { return p.offsets[i] > idx }) - 1
	return addr4(u32(p.ranges[i].First) + uint32(idx-p.offsets[i]))
}

func (p *Pool) isSet(i int) bool { return p.bits[i/64]&(1<<(i%64)) != 0 }

func (p *Pool) set(i int) {
	w := i / 64
	p.bits[w] |= 1 << (i % 64)
	p.inBits++
	if p.freeMask(w) == 0 {
		p.full[w/64] |= 1 << (w % 64)
	}
}

func (p *Pool) clear(i int) {
	w := i / 64
	p.bits[w] &^= 1 << (i % 64)
	p.inBits--
	p.full[w/64] &^= 1 << (w % 64)
}

// Contains reports whether a lies within the pool's current ranges.
func (p *Pool) Contains(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.index(a)
	return ok
}

// Owns reports whether a is handed out by this pool.
func (p *Pool) Owns(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ownsLocked(a)
}

func (p *Pool) ownsLocked(a netip.Addr) bool {
	if i, ok := p.index(a); ok {
		return p.isSet(i)
	}
	_, ok := p.stray[a]
	return ok
}

// Allocate implements Allocator.
func (p *Pool) Allocate(hint netip.Addr) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.index(hint); ok && !p.isSet(i) {
		p.set(i)
		return hint, nil
	}
	i, ok := p.nextFree()
	if !ok {
		return netip.Addr{}, fmt.Errorf("pool %s: %w", p.name, ErrNoAddrAvail)
	}
	p.set(i)
	p.cursor = (i + 1) % p.size
	return p.addrAt(i), nil
}

// nextFree finds the first free address at or after the cursor, wrapping
// once. A summary bitmap with one bit per full word lets it skip 4096
// addresses per step: at most 16 summary words for a /16.
func (p *Pool) nextFree() (int, bool) {
	if p.inBits == p.size {
		return 0, false
	}
	cw, cb := p.cursor/64, uint(p.cursor%64)
	if f := p.freeMask(cw) &^ (1<<cb - 1); f != 0 {
		return cw*64 + bits.TrailingZeros64(f), true
	}
	if w, ok := p.nextNonFull(cw+1, len(p.bits)); ok {
		return w*64 + bits.TrailingZeros64(p.freeMask(w)), true
	}
	if w, ok := p.nextNonFull(0, cw); ok {
		return w*64 + bits.TrailingZeros64(p.freeMask(w)), true
	}
	if f := p.freeMask(cw) & (1<<cb - 1); f != 0 {
		return cw*64 + bits.TrailingZeros64(f), true
	}
	return 0, false // unreachable while inBits counts right
}

// freeMask is word w's free bits, without the bits past the pool's end.
func (p *Pool) freeMask(w int) uint64 {
	f := ^p.bits[w]
	if w == len(p.bits)-1 && p.size%64 != 0 {
		f &= 1<<(p.size%64) - 1
	}
	return f
}

// nextNonFull returns the first word in [from, to) with a free bit.
func (p *Pool) nextNonFull(from, to int) (int, bool) {
	for w := from; w < to; w = (w/64 + 1) * 64 {
		if s := ^p.full[w/64] &^ (1<<uint(w%64) - 1); s != 0 {
			if c := w/64*64 + bits.TrailingZeros64(s); c < to {
				return c, true
			}
			return 0, false
		}
	}
	return 0, false
}

// Reserve implements Allocator. The address must lie within the ranges.
func (p *Pool) Reserve(a netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.index(a)
	if !ok {
		return fmt.Errorf("pool %s: reserve %s: not in ranges %s", p.name, a, FormatRanges(p.ranges))
	}
	if p.isSet(i) {
		return fmt.Errorf("pool %s: reserve %s: %w", p.name, a, ErrInUse)
	}
	p.set(i)
	return nil
}

// Release implements Allocator.
func (p *Pool) Release(a netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.index(a); ok && p.isSet(i) {
		p.clear(i)
		return nil
	}
	if _, ok := p.stray[a]; ok {
		delete(p.stray, a)
		return nil
	}
	return fmt.Errorf("pool %s: release %s: %w", p.name, a, ErrNotAllocated)
}

// Used implements Allocator; addresses outside the current ranges that are
// still handed out count.
func (p *Pool) Used() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inBits + len(p.stray)
}

// Size implements Allocator.
func (p *Pool) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}
