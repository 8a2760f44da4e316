package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
)

// ErrNoPrefixAvail is returned when an IPv6 prefix pool has no free prefix
// left.
var ErrNoPrefixAvail = errors.New("pool: no prefix available")

// MaxPrefixSpan is the most bits a prefix pool may split its prefix by
// (prefix-length minus the prefix's length): 2^63 prefixes.
const MaxPrefixSpan = 63

// PrefixSpec is one /ipv6 pool as configured.
type PrefixSpec struct {
	Name         string
	Prefix       netip.Prefix // e.g. 2001:db8::/40
	PrefixLength int          // what each allocation is, e.g. 56
}

// CheckPrefixSpec reports what is wrong with a pool's prefix and length.
func CheckPrefixSpec(prefix netip.Prefix, length int) error {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Addr().Is4In6() || prefix.Addr().Zone() != "" {
		return fmt.Errorf("%v: not an IPv6 prefix", prefix)
	}
	if prefix.Masked() != prefix {
		return fmt.Errorf("%v: host bits set (the prefix is %v)", prefix, prefix.Masked())
	}
	if length < prefix.Bits() || length > 128 {
		return fmt.Errorf("prefix-length %d: want %d..128 for %v", length, prefix.Bits(), prefix)
	}
	if length-prefix.Bits() > MaxPrefixSpan {
		return fmt.Errorf("prefix-length %d: splits %v into more than 2^%d prefixes", length, prefix, MaxPrefixSpan)
	}
	return nil
}

// PrefixPool is one /ipv6 pool: prefix split into prefixes of length
// PrefixLength (RFC 8415 §6.3 delegation, or the link /64 of RFC 4862
// SLAAC). Allocation is next-fit from a cursor, as in Pool, so a released
// prefix is the last one handed out again: routes and leases elsewhere for
// it get time to go. Only the allocated prefixes are stored, so a pool of
// 2^40 prefixes costs what its allocations cost. Safe for concurrent use.
type PrefixPool struct {
	mu     sync.Mutex
	name   string
	prefix netip.Prefix
	length int
	size   uint64 // 2^(length - prefix bits)
	cursor uint64
	used   map[uint64]struct{}
}

// NewPrefixPool returns an empty pool.
func NewPrefixPool(s PrefixSpec) (*PrefixPool, error) {
	if err := CheckPrefixSpec(s.Prefix, s.PrefixLength); err != nil {
		return nil, fmt.Errorf("pool %s: %w", s.Name, err)
	}
	return &PrefixPool{name: s.Name, prefix: s.Prefix, length: s.PrefixLength,
		size: 1 << (s.PrefixLength - s.Prefix.Bits()), used: map[uint64]struct{}{}}, nil
}

// Name is the pool's name.
func (p *PrefixPool) Name() string { return p.name }

// Prefix is the pool's prefix and PrefixLength the length it hands out.
func (p *PrefixPool) Prefix() netip.Prefix { return p.prefix }

// PrefixLength is the length of the prefixes the pool hands out.
func (p *PrefixPool) PrefixLength() int { return p.length }

// at returns the i-th prefix of the pool.
func (p *PrefixPool) at(i uint64) netip.Prefix {
	a := p.prefix.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	s := uint(128 - p.length)
	if s >= 64 {
		hi |= i << (s - 64)
	} else {
		lo |= i << s
		hi |= i >> (64 - s) // 0 when s is 0: Go shifts by >= 64 give 0
	}
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), p.length)
}

// index returns q's position in the pool, or an error if q is not one of
// its prefixes.
func (p *PrefixPool) index(q netip.Prefix) (uint64, error) {
	if !q.IsValid() || q.Bits() != p.length || q.Masked() != q || !p.prefix.Contains(q.Addr()) || q.Addr().Zone() != "" {
		return 0, fmt.Errorf("pool %s: %v is not a /%d of %v", p.name, q, p.length, p.prefix)
	}
	a := q.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	s := uint(128 - p.length)
	var i uint64
	if s >= 64 {
		i = hi >> (s - 64)
	} else {
		i = lo>>s | hi<<(64-s)
	}
	return i & (p.size - 1), nil
}

// Allocate returns hint when it is a free prefix of the pool, else the
// next free one after the cursor; ErrNoPrefixAvail when all are taken.
func (p *PrefixPool) Allocate(hint netip.Prefix) (netip.Prefix, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hint.IsValid() {
		if i, err := p.index(hint); err == nil {
			if _, taken := p.used[i]; !taken {
				p.used[i] = struct{}{}
				return hint, nil
			}
		}
	}
	if uint64(len(p.used)) >= p.size {
		return netip.Prefix{}, fmt.Errorf("pool %s: %w", p.name, ErrNoPrefixAvail)
	}
	// A free one exists, so this ends; it is long only when the pool is
	// nearly full.
	for {
		i := p.cursor
		p.cursor = (p.cursor + 1) & (p.size - 1)
		if _, taken := p.used[i]; !taken {
			p.used[i] = struct{}{}
			return p.at(i), nil
		}
	}
}

// Reserve marks q as handed out (a secret's fixed prefix); ErrInUse if it
// is.
func (p *PrefixPool) Reserve(q netip.Prefix) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.index(q)
	if err != nil {
		return err
	}
	if _, taken := p.used[i]; taken {
		return fmt.Errorf("pool %s: %v: %w", p.name, q, ErrInUse)
	}
	p.used[i] = struct{}{}
	return nil
}

// Release returns q to the pool; ErrNotAllocated if it was not handed out.
func (p *PrefixPool) Release(q netip.Prefix) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.index(q)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrNotAllocated)
	}
	if _, taken := p.used[i]; !taken {
		return fmt.Errorf("pool %s: %v: %w", p.name, q, ErrNotAllocated)
	}
	delete(p.used, i)
	return nil
}

// Contains reports whether q is one of the pool's prefixes.
func (p *PrefixPool) Contains(q netip.Prefix) bool {
	_, err := p.index(q)
	return err == nil
}

// Used is the number of prefixes handed out.
func (p *PrefixPool) Used() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// Size is the number of prefixes in the pool, at most math.MaxInt.
func (p *PrefixPool) Size() int {
	if p.size > math.MaxInt {
		return math.MaxInt
	}
	return int(p.size)
}
