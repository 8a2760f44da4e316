package pool

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustPool(t *testing.T, name, ranges string) *Pool {
	t.Helper()
	rs, err := ParseRanges(ranges)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(name, rs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseRanges(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // FormatRanges of the result
		size int
		err  string // substring of the error, "" for success
	}{
		{name: "reference pool", in: "10.1.1.62-10.1.1.72", want: "10.1.1.62-10.1.1.72", size: 11},
		{name: "quick example", in: "10.0.0.2-10.0.0.5", want: "10.0.0.2-10.0.0.5", size: 4},
		{name: "single", in: "10.0.0.9", want: "10.0.0.9", size: 1},
		{name: "one-address range", in: "10.0.0.9-10.0.0.9", want: "10.0.0.9", size: 1},
		// A CIDR hands out every address, network and broadcast included.
		{name: "cidr /30", in: "10.0.0.0/30", want: "10.0.0.0-10.0.0.3", size: 4},
		{name: "cidr /32", in: "10.0.0.7/32", want: "10.0.0.7", size: 1},
		{name: "cidr /16", in: "10.5.0.0/16", want: "10.5.0.0-10.5.255.255", size: 65536},
		{name: "list sorted", in: "10.0.1.0/31, 10.0.0.1,10.0.0.3-10.0.0.4", want: "10.0.0.1,10.0.0.3-10.0.0.4,10.0.1.0-10.0.1.1", size: 5},
		{name: "adjacent ok", in: "10.0.0.1-10.0.0.2,10.0.0.3", want: "10.0.0.1-10.0.0.2,10.0.0.3", size: 3},

		{name: "empty", in: "", err: "empty"},
		{name: "blank", in: "  ", err: "empty"},
		{name: "empty element", in: "10.0.0.1,,10.0.0.2", err: "empty element"},
		{name: "trailing comma", in: "10.0.0.1,", err: "empty element"},
		{name: "reversed", in: "10.0.0.5-10.0.0.2", err: "reversed"},
		{name: "mixed families", in: "10.0.0.1-::1", err: "mixed"},
		{name: "ipv6", in: "2001:db8::1-2001:db8::2", err: "IPv4 only"},
		{name: "ipv6 prefix", in: "2001:db8::/64", err: "IPv4 only"},
		{name: "mapped v6 end", in: "10.0.0.1-::ffff:10.0.0.2", err: "mixed"},
		{name: "garbage", in: "pool1", err: "ParseAddr"},
		{name: "garbage upper", in: "10.0.0.1-x", err: "ParseAddr"},
		{name: "octet overflow", in: "10.0.0.256", err: "ParseAddr"},
		{name: "double dash", in: "10.0.0.1-10.0.0.2-10.0.0.3", err: "ParseAddr"},
		{name: "bad prefix len", in: "10.0.0.0/33", err: "prefix"},
		{name: "host bits", in: "10.0.0.1/24", err: "host bits"},
		{name: "zone", in: "fe80::1%eth0", err: "IPv4 only"},
		{name: "overlap", in: "10.0.0.1-10.0.0.10,10.0.0.10-10.0.0.20", err: "overlap"},
		{name: "overlap cidr", in: "10.0.0.0/24,10.0.0.77", err: "overlap"},
		{name: "duplicate", in: "10.0.0.1,10.0.0.1", err: "overlap"},
		{name: "too large", in: "10.0.0.0/7", err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseRanges(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseRanges(%q) = %v, %v; want error containing %q", tt.in, rs, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRanges(%q): %v", tt.in, err)
			}
			if got := FormatRanges(rs); got != tt.want {
				t.Errorf("FormatRanges = %q, want %q", got, tt.want)
			}
			size := 0
			for _, r := range rs {
				size += r.Size()
			}
			if size != tt.size {
				t.Errorf("size = %d, want %d", size, tt.size)
			}
		})
	}
}

func FuzzParseRanges(f *testing.F) {
	for _, s := range []string{"10.0.0.2-10.0.0.5", "10.0.0.0/24,10.0.1.1", "1.2.3.4", "::1-10.0.0.1", "0.0.0.0/8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRanges(s)
		if err != nil {
			return
		}
		again, err := ParseRanges(FormatRanges(rs))
		if err != nil {
			t.Fatalf("reparse %q: %v", FormatRanges(rs), err)
		}
		if FormatRanges(again) != FormatRanges(rs) {
			t.Fatalf("round trip %q -> %q", FormatRanges(rs), FormatRanges(again))
		}
	})
}

func TestAllocateExhaustion(t *testing.T) {
	p := mustPool(t, "p", "10.0.0.2-10.0.0.5")
	if p.Size() != 4 {
		t.Fatalf("Size = %d", p.Size())
	}
	seen := map[netip.Addr]bool{}
	for i := range 4 {
		got, err := p.Allocate(netip.Addr{})
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if !p.Contains(got) || seen[got] {
			t.Fatalf("allocation %d: %s outside the pool or duplicate", i, got)
		}
		seen[got] = true
	}
	if _, err := p.Allocate(netip.Addr{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("allocate on full pool: %v, want ErrNoAddrAvail", err)
	}
	if _, err := p.Allocate(a("10.0.0.3")); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("allocate hint on full pool: %v, want ErrNoAddrAvail", err)
	}
	if p.Used() != 4 {
		t.Fatalf("Used = %d", p.Used())
	}
	if err := p.Release(a("10.0.0.4")); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Allocate(netip.Addr{}); err != nil || got != a("10.0.0.4") {
		t.Fatalf("after release got %s, %v; want the only free address", got, err)
	}
}

func TestAllocateHintAndSpreading(t *testing.T) {
	p := mustPool(t, "p", "10.0.0.1-10.0.0.3,10.0.0.100")
	tests := []struct {
		op   string // "alloc" or "release"
		addr string // hint or released address
		want string
	}{
		{"alloc", "10.0.0.2", "10.0.0.2"},          // free hint honoured, cursor stays
		{"alloc", "10.0.0.2", "10.0.0.1"},          // taken hint: next free from the cursor
		{"alloc", "192.0.2.1", "10.0.0.3"},         // hint outside: next free
		{"release", "10.0.0.1", ""},                //
		{"alloc", "", "10.0.0.100"},                // across ranges; the just-freed .1 is not first
		{"alloc", "", "10.0.0.1"},                  // wraps, only then .1
		{"release", "10.0.0.3", ""},                //
		{"alloc", "10.0.0.3", "10.0.0.3"},          // a free hint still wins over spreading
		{"release", "10.0.0.100", ""},              //
		{"alloc", "::ffff:10.0.0.2", "10.0.0.100"}, // a v6 hint is never honoured
	}
	for i, tt := range tests {
		var hint netip.Addr
		if tt.addr != "" {
			hint = a(tt.addr)
		}
		switch tt.op {
		case "alloc":
			got, err := p.Allocate(hint)
			if err != nil || got != a(tt.want) {
				t.Fatalf("step %d: Allocate(%s) = %s, %v; want %s", i, tt.addr, got, err, tt.want)
			}
		case "release":
			if err := p.Release(hint); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
	}
}

func TestReserveRelease(t *testing.T) {
	p := mustPool(t, "p", "10.0.0.0/30")
	if err := p.Reserve(a("10.0.0.0")); err != nil { // network address is a host here
		t.Fatal(err)
	}
	if err := p.Reserve(a("10.0.0.0")); !errors.Is(err, ErrInUse) {
		t.Fatalf("double reserve: %v", err)
	}
	if err := p.Reserve(a("10.0.0.9")); err == nil {
		t.Fatal("reserve outside ranges succeeded")
	}
	if err := p.Release(a("10.0.0.1")); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("release of free address: %v", err)
	}
	if err := p.Release(a("10.0.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(a("10.0.0.0")); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("double release: %v", err)
	}
	if p.Used() != 0 {
		t.Fatalf("Used = %d", p.Used())
	}
}

func TestSetRangesKeepsAllocations(t *testing.T) {
	p := mustPool(t, "p", "10.0.0.1-10.0.0.4")
	for _, s := range []string{"10.0.0.1", "10.0.0.4"} {
		if err := p.Reserve(a(s)); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := ParseRanges("10.0.0.3-10.0.0.5")
	if err := p.SetRanges(rs); err != nil {
		t.Fatal(err)
	}
	if p.Used() != 2 || p.Size() != 3 {
		t.Fatalf("Used/Size = %d/%d, want 2/3", p.Used(), p.Size())
	}
	if !p.Owns(a("10.0.0.1")) || !p.Owns(a("10.0.0.4")) {
		t.Fatal("allocations lost on reconfiguration")
	}
	if err := p.Reserve(a("10.0.0.4")); !errors.Is(err, ErrInUse) {
		t.Fatalf("10.0.0.4 should still be in use: %v", err)
	}
	// Two of the three new addresses are free.
	for range 2 {
		if _, err := p.Allocate(netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Allocate(netip.Addr{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("want exhaustion, got %v", err)
	}
	// The stray address returns on release, and is gone from the pool.
	if err := p.Release(a("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if p.Owns(a("10.0.0.1")) || p.Used() != 3 {
		t.Fatalf("stray not released: used %d", p.Used())
	}
	if err := p.Release(a("10.0.0.1")); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("double release of stray: %v", err)
	}
	bad := []Range{{First: a("10.0.0.5"), Last: a("10.0.0.1")}}
	if err := p.SetRanges(bad); err == nil {
		t.Fatal("reversed range accepted by SetRanges")
	}
}

func TestLargePool(t *testing.T) {
	p := mustPool(t, "big", "10.20.0.0/16")
	for i := range 65536 {
		if _, err := p.Allocate(netip.Addr{}); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
	if _, err := p.Allocate(netip.Addr{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("want exhaustion: %v", err)
	}
	if err := p.Release(a("10.20.128.7")); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Allocate(netip.Addr{}); err != nil || got != a("10.20.128.7") {
		t.Fatalf("got %s, %v", got, err)
	}
}

func TestConcurrent(t *testing.T) {
	p := mustPool(t, "p", "10.0.0.0/22")
	var mu sync.Mutex
	owner := map[netip.Addr]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				var held []netip.Addr
				for range 10 {
					got, err := p.Allocate(netip.Addr{})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if o, dup := owner[got]; dup {
						t.Errorf("%s handed to %d and %d", got, o, g)
					}
					owner[got] = g
					mu.Unlock()
					held = append(held, got)
				}
				for _, x := range held {
					mu.Lock()
					delete(owner, x)
					mu.Unlock()
					if err := p.Release(x); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if p.Used() != 0 {
		t.Fatalf("Used = %d after all released", p.Used())
	}
}

func BenchmarkAllocateRelease16(b *testing.B) {
	rs, _ := ParseRanges("10.0.0.0/16")
	p, _ := New("b", rs)
	for range 65000 {
		p.Allocate(netip.Addr{})
	}
	for b.Loop() {
		x, err := p.Allocate(netip.Addr{})
		if err != nil {
			b.Fatal(err)
		}
		p.Release(x)
	}
}

// TestAgainstModel drives a pool with random operations and checks each
// result against a plain slice model of next-fit allocation. The ranges
// straddle 64-bit word boundaries and leave a partial last word.
func TestAgainstModel(t *testing.T) {
	p := mustPool(t, "m", "10.0.0.0/25,10.0.0.130-10.0.0.200,10.0.1.7,10.0.2.0/26,10.0.3.0-10.0.3.72")
	var addrs []netip.Addr // index order
	for _, r := range p.Ranges() {
		for x := r.First; x.Compare(r.Last) <= 0; x = x.Next() {
			addrs = append(addrs, x)
		}
	}
	used := make([]bool, len(addrs))
	cursor := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		i := rng.IntN(len(addrs))
		switch op := rng.IntN(10); {
		case op < 6: // allocate without a hint
			want, ok := -1, false
			for k := range len(addrs) {
				if j := (cursor + k) % len(addrs); !used[j] {
					want, ok = j, true
					break
				}
			}
			got, err := p.Allocate(netip.Addr{})
			if !ok {
				if !errors.Is(err, ErrNoAddrAvail) {
					t.Fatalf("step %d: full pool gave %s, %v", step, got, err)
				}
				continue
			}
			if err != nil || got != addrs[want] {
				t.Fatalf("step %d: Allocate = %s, %v; want %s", step, got, err, addrs[want])
			}
			used[want], cursor = true, (want+1)%len(addrs)
		case op < 7: // reserve
			err := p.Reserve(addrs[i])
			if used[i] != errors.Is(err, ErrInUse) || (!used[i] && err != nil) {
				t.Fatalf("step %d: Reserve(%s) = %v, used %v", step, addrs[i], err, used[i])
			}
			used[i] = true
		default: // release
			err := p.Release(addrs[i])
			if used[i] == (err != nil) {
				t.Fatalf("step %d: Release(%s) = %v, used %v", step, addrs[i], err, used[i])
			}
			used[i] = false
		}
		n := 0
		for _, u := range used {
			if u {
				n++
			}
		}
		if p.Used() != n {
			t.Fatalf("step %d: Used = %d, model %d", step, p.Used(), n)
		}
	}
}
