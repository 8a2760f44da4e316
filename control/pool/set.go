package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// Spec describes one /ip pool as configured.
type Spec struct {
	Name     string
	Ranges   []Range
	NextPool string // "" for none
}

// Set holds the configured pools by name and follows next-pool chains:
// when a pool is exhausted, allocation continues in its next-pool.
type Set struct {
	mu    sync.RWMutex
	pools map[string]*Pool
	next  map[string]string
	// retired pools were removed from the configuration while addresses
	// were still handed out; they only serve Release, and go when empty.
	retired map[string]*Pool
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{pools: map[string]*Pool{}, next: map[string]string{}, retired: map[string]*Pool{}}
}

// CheckChains verifies that every next-pool names a pool of specs and that
// no chain loops back on itself.
func CheckChains(specs []Spec) error {
	next := map[string]string{}
	for _, s := range specs {
		if _, dup := next[s.Name]; dup {
			return fmt.Errorf("pool %s: duplicate name", s.Name)
		}
		next[s.Name] = s.NextPool
	}
	for _, s := range specs {
		seen := map[string]bool{}
		for n := s.Name; n != ""; n = next[n] {
			if seen[n] {
				return fmt.Errorf("pool %s: next-pool loop through %s", s.Name, n)
			}
			seen[n] = true
			if _, ok := next[n]; !ok {
				return fmt.Errorf("pool %s: next-pool %s: no such pool", s.Name, n)
			}
		}
	}
	return nil
}

// Update replaces the configuration with specs. Pools that keep their name
// keep their allocations (see Pool.SetRanges); removed pools with addresses
// still handed out are retired until those are released. On error nothing
// changes.
//
// Only new pools and pools whose ranges changed are built again, so an
// update that leaves the pools as they were costs O(pools), whatever their
// sizes and the addresses handed out: the daemon updates on every
// configuration change.
func (s *Set) Update(specs []Spec) error {
	if err := CheckChains(specs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := map[string]bool{}
	for _, sp := range specs {
		p := s.pools[sp.Name]
		if p == nil {
			p = s.retired[sp.Name]
		}
		if p != nil && p.sameRanges(sp.Ranges) {
			continue
		}
		if _, err := New(sp.Name, sp.Ranges); err != nil {
			return err
		}
		changed[sp.Name] = true
	}
	pools := map[string]*Pool{}
	next := map[string]string{}
	for _, sp := range specs {
		p := s.pools[sp.Name]
		if p == nil {
			p = s.retired[sp.Name]
			delete(s.retired, sp.Name)
		}
		switch {
		case p == nil:
			p, _ = New(sp.Name, sp.Ranges) // validated above
		case changed[sp.Name]:
			if err := p.SetRanges(sp.Ranges); err != nil {
				return err // cannot happen: validated above
			}
		}
		pools[sp.Name], next[sp.Name] = p, sp.NextPool
	}
	for name, p := range s.pools {
		if _, ok := pools[name]; !ok && p.Used() > 0 {
			s.retired[name] = p
		}
	}
	s.pools, s.next = pools, next
	return nil
}

// Pool returns the named pool, or nil.
func (s *Set) Pool(name string) *Pool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pools[name]
}

// chain lists the pools from name along next-pool.
func (s *Set) chain(name string) ([]*Pool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Pool
	seen := map[string]bool{}
	for n := name; n != ""; n = s.next[n] {
		p := s.pools[n]
		if p == nil {
			return nil, fmt.Errorf("pool %s: no such pool", n)
		}
		if seen[n] { // Update rejects loops; guard anyway
			return nil, fmt.Errorf("pool %s: next-pool loop through %s", name, n)
		}
		seen[n] = true
		out = append(out, p)
	}
	return out, nil
}

// Allocate allocates from the named pool, continuing along next-pool when
// it is exhausted, and returns the address with the name of the pool that
// gave it. A free hint anywhere along the chain wins.
func (s *Set) Allocate(name string, hint netip.Addr) (netip.Addr, string, error) {
	ps, err := s.chain(name)
	if err != nil {
		return netip.Addr{}, "", err
	}
	if hint.IsValid() {
		for _, p := range ps {
			if p.Reserve(hint) == nil {
				return hint, p.Name(), nil
			}
		}
	}
	for _, p := range ps {
		a, err := p.Allocate(netip.Addr{})
		if err == nil {
			return a, p.Name(), nil
		}
		if !errors.Is(err, ErrNoAddrAvail) {
			return netip.Addr{}, "", err
		}
	}
	return netip.Addr{}, "", fmt.Errorf("pool %s and its next-pools: %w", name, ErrNoAddrAvail)
}

// Reserve reserves addr in the first pool of name's chain whose ranges hold
// it.
func (s *Set) Reserve(name string, addr netip.Addr) error {
	ps, err := s.chain(name)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Contains(addr) {
			return p.Reserve(addr)
		}
	}
	return fmt.Errorf("pool %s: reserve %s: not in the pool or its next-pools", name, addr)
}

// Release returns addr to whichever pool handed it out.
func (s *Set) Release(addr netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		if p.Owns(addr) {
			return p.Release(addr)
		}
	}
	for name, p := range s.retired {
		if p.Owns(addr) {
			err := p.Release(addr)
			if p.Used() == 0 {
				delete(s.retired, name)
			}
			return err
		}
	}
	return fmt.Errorf("pool: release %s: %w", addr, ErrNotAllocated)
}

// Allocator returns an Allocator view of the named pool's chain. Used and
// Size add up the pools of the chain as it is when called.
func (s *Set) Allocator(name string) Allocator { return chainAllocator{s, name} }

type chainAllocator struct {
	s    *Set
	name string
}

func (c chainAllocator) Allocate(hint netip.Addr) (netip.Addr, error) {
	a, _, err := c.s.Allocate(c.name, hint)
	return a, err
}
func (c chainAllocator) Reserve(a netip.Addr) error { return c.s.Reserve(c.name, a) }
func (c chainAllocator) Release(a netip.Addr) error { return c.s.Release(a) }
func (c chainAllocator) Used() int                  { return c.sum((*Pool).Used) }
func (c chainAllocator) Size() int                  { return c.sum((*Pool).Size) }
func (c chainAllocator) sum(f func(*Pool) int) int {
	ps, _ := c.s.chain(c.name)
	n := 0
	for _, p := range ps {
		n += f(p)
	}
	return n
}
