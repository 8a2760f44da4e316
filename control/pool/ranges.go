// Package pool holds the address pools of RouterOS's /ip pool menu: the
// ranges syntax, an allocator per pool, and a Set that follows next-pool
// chains.
//
// Only IPv4 is handled here, as in RouterOS, where /ip pool is IPv4 and
// IPv6 prefixes come from the separate /ipv6 pool menu.
package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Range is an inclusive range of IPv4 addresses, one element of a RouterOS
// pool's ranges property.
type Range struct {
	First, Last netip.Addr
}

// Contains reports whether a lies within r.
func (r Range) Contains(a netip.Addr) bool {
	return a.Is4() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Size is the number of addresses in r.
func (r Range) Size() int {
	return int(u32(r.Last)-u32(r.First)) + 1
}

// String prints r the way ParseRanges reads it: a single address, or
// first-last.
func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// maxPoolSize bounds the bitmap (2 MiB at 1<<24 addresses); larger pools are
// a configuration mistake rather than a real deployment.
const maxPoolSize = 1 << 24

// ParseRanges parses RouterOS's ranges syntax: a comma-separated list of
// first-last ranges, single addresses and CIDR prefixes, for example
// "10.0.0.2-10.0.0.5,10.0.1.0/24,10.0.2.1".
//
// A CIDR prefix yields every address in it, network and broadcast
// included, exactly as RouterOS hands them out: on a point-to-point PPP link
// neither address is special. Ranges must not overlap. The result is sorted.
func ParseRanges(s string) ([]Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("pool: ranges: empty")
	}
	var out []Range
	total := 0
	for item := range strings.SplitSeq(s, ",") {
		r, err := parseRange(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("pool: range %q: %w", item, err)
		}
		total += r.Size()
		if total > maxPoolSize {
			return nil, fmt.Errorf("pool: ranges: more than %d addresses", maxPoolSize)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Range) int { return a.First.Compare(b.First) })
	for i := 1; i < len(out); i++ {
		if out[i].First.Compare(out[i-1].Last) <= 0 {
			return nil, fmt.Errorf("pool: ranges %s and %s overlap", out[i-1], out[i])
		}
	}
	return out, nil
}

func parseRange(s string) (Range, error) {
	if s == "" {
		return Range{}, errors.New("empty element")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, err
		}
		if !p.Addr().Is4() {
			return Range{}, errors.New("not IPv4 (/ip pool is IPv4 only)")
		}
		if p.Masked() != p {
			return Range{}, fmt.Errorf("host bits set, did you mean %s", p.Masked())
		}
		first := u32(p.Addr())
		last := first | (1<<(32-p.Bits()) - 1)
		if p.Bits() == 0 {
			last = 0xffffffff
		}
		return Range{First: p.Addr(), Last: addr4(last)}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	first, err := netip.ParseAddr(strings.TrimSpace(lo))
	if err != nil {
		return Range{}, err
	}
	last := first
	if isRange {
		if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
			return Range{}, err
		}
	}
	if first.Is4() != last.Is4() {
		return Range{}, errors.New("mixed address families")
	}
	if !first.Is4() {
		return Range{}, errors.New("not IPv4 (/ip pool is IPv4 only)")
	}
	if last.Less(first) {
		return Range{}, errors.New("reversed range")
	}
	return Range{First: first, Last: last}, nil
}

// FormatRanges prints ranges in the syntax ParseRanges reads.
func FormatRanges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
