package pool

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustPrefixPool(t testing.TB, prefix string, length int) *PrefixPool {
	t.Helper()
	p, err := NewPrefixPool(PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix(prefix), PrefixLength: length})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrefixSpec(t *testing.T) {
	for _, c := range []struct {
		prefix string
		length int
		want   string // "" = valid
	}{
		{"2001:db8::/40", 56, ""},
		{"2001:db8::/40", 40, ""},
		{"2001:db8::/65", 128, ""},
		{"2001:db8::/64", 128, "more than 2^63"},
		{"2001:db8::/32", 95, ""},
		{"2001:db8::/32", 96, "more than 2^63"},
		{"2001:db8::1/40", 56, "host bits set"},
		{"2001:db8::/40", 39, "want 40..128"},
		{"2001:db8::/40", 129, "want 40..128"},
		{"10.0.0.0/8", 16, "not an IPv6 prefix"},
		{"::ffff:10.0.0.0/104", 120, "not an IPv6 prefix"},
	} {
		err := CheckPrefixSpec(netip.MustParsePrefix(c.prefix), c.length)
		if (err == nil) != (c.want == "") || err != nil && !contains(err.Error(), c.want) {
			t.Errorf("%s length %d: %v, want %q", c.prefix, c.length, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestPrefixPoolAllocate(t *testing.T) {
	p := mustPrefixPool(t, "2001:db8:ab00::/40", 42)
	if p.Size() != 4 {
		t.Fatalf("size %d", p.Size())
	}
	want := []string{"2001:db8:ab00::/42", "2001:db8:ab40::/42", "2001:db8:ab80::/42", "2001:db8:abc0::/42"}
	for _, w := range want {
		got, err := p.Allocate(netip.Prefix{})
		if err != nil || got.String() != w {
			t.Fatalf("allocate: %v %v, want %s", got, err, w)
		}
	}
	if _, err := p.Allocate(netip.Prefix{}); !errors.Is(err, ErrNoPrefixAvail) {
		t.Fatalf("exhausted pool: %v", err)
	}
	// Next-fit: a released prefix is reused only after the others.
	if err := p.Release(netip.MustParsePrefix(want[1])); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(netip.MustParsePrefix(want[1])); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("double release: %v", err)
	}
	if got, err := p.Allocate(netip.Prefix{}); err != nil || got.String() != want[1] {
		t.Errorf("reallocate: %v %v", got, err)
	}
	if err := p.Release(netip.MustParsePrefix(want[2])); err != nil {
		t.Fatal(err)
	}
	// A free hint is honoured; a taken one or a stranger's is not.
	if got, err := p.Allocate(netip.MustParsePrefix(want[0])); err != nil || got.String() != want[2] {
		t.Errorf("taken hint: %v %v, want the free %s", got, err, want[2])
	}
	if err := p.Release(netip.MustParsePrefix(want[3])); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Allocate(netip.MustParsePrefix(want[3])); err != nil || got.String() != want[3] {
		t.Errorf("free hint: %v %v", got, err)
	}
	// Reserve: a fixed prefix.
	if err := p.Release(netip.MustParsePrefix(want[3])); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve(netip.MustParsePrefix(want[3])); err != nil {
		t.Errorf("reserve free: %v", err)
	}
	if err := p.Reserve(netip.MustParsePrefix(want[3])); !errors.Is(err, ErrInUse) {
		t.Errorf("reserve taken: %v", err)
	}
	for _, bad := range []string{"2001:db8:ab00::/48", "2001:db8:ac00::/42", "2001:db8:ab00::1/42", "10.0.0.0/8"} {
		if err := p.Reserve(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("reserve %s: no error", bad)
		}
		if err := p.Release(netip.MustParsePrefix(bad)); !errors.Is(err, ErrNotAllocated) {
			t.Errorf("release %s: %v", bad, err)
		}
	}
	if p.Used() != 4 {
		t.Errorf("used %d, want 4", p.Used())
	}
}

func TestPrefixPoolLengths(t *testing.T) {
	// Allocations land on the right bits at every shift: across the
	// 64-bit halves, at /64, /128, and a pool of 2^63.
	for _, c := range []struct {
		prefix string
		length int
		first  []string
	}{
		{"2001:db8::/40", 56, []string{"2001:db8::/56", "2001:db8:0:100::/56", "2001:db8:0:200::/56"}},
		{"2001:db8:1::/48", 64, []string{"2001:db8:1::/64", "2001:db8:1:1::/64"}},
		{"2001:db8:1:4::/62", 65, []string{"2001:db8:1:4::/65", "2001:db8:1:4:8000::/65", "2001:db8:1:5::/65"}},
		{"2001:db8::ff00/120", 128, []string{"2001:db8::ff00/128", "2001:db8::ff01/128"}},
		{"2001:db8::/32", 95, []string{"2001:db8::/95", "2001:db8::2:0:0/95"}},
	} {
		p := mustPrefixPool(t, c.prefix, c.length)
		for _, w := range c.first {
			got, err := p.Allocate(netip.Prefix{})
			if err != nil || got.String() != w {
				t.Errorf("%s /%d: %v %v, want %s", c.prefix, c.length, got, err, w)
			}
			if i, err := p.index(got); err != nil || p.at(i) != got {
				t.Errorf("%s /%d: index of %v: %d %v", c.prefix, c.length, got, i, err)
			}
		}
	}
	if p := mustPrefixPool(t, "2001:db8::/32", 95); p.Size() != math.MaxInt {
		t.Errorf("2^63 pool size %d", p.Size())
	}
	// The last prefix of a pool.
	p := mustPrefixPool(t, "2001:db8::/40", 56)
	last := netip.MustParsePrefix("2001:db8:ff:ff00::/56")
	if err := p.Reserve(last); err != nil {
		t.Errorf("reserve last: %v", err)
	}
}

// checkPrefixModel holds a pool to a model of what it handed out.
func checkPrefixModel(t *testing.T, p *PrefixPool, model map[netip.Prefix]bool) {
	t.Helper()
	if p.Used() != len(model) {
		t.Fatalf("used %d, model %d", p.Used(), len(model))
	}
	for q := range model {
		if !p.Contains(q) {
			t.Fatalf("%v handed out, not the pool's", q)
		}
	}
}

// FuzzPrefixPool runs a sequence of allocations, reservations and releases
// against a model: nothing handed out twice, nothing outside the pool or
// of the wrong length, no leak, exhaustion exactly when all are out.
func FuzzPrefixPool(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, uint8(3))
	f.Add([]byte{2, 5, 0, 1, 3, 0, 2, 5, 2, 5}, uint8(4))
	f.Fuzz(func(t *testing.T, ops []byte, span uint8) {
		span %= 7
		p := mustPrefixPool(t, "2001:db8:100::/40", 40+int(span))
		model := map[netip.Prefix]bool{}
		for i := 0; i+1 < len(ops); i += 2 {
			q := p.at(uint64(ops[i+1]) & (p.size - 1))
			switch ops[i] % 4 {
			case 0, 1:
				hint := netip.Prefix{}
				if ops[i]%4 == 1 {
					hint = q
				}
				got, err := p.Allocate(hint)
				if len(model) == p.Size() {
					if !errors.Is(err, ErrNoPrefixAvail) {
						t.Fatalf("full pool allocated %v, %v", got, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("allocate with %d of %d out: %v", len(model), p.Size(), err)
				}
				if model[got] || got.Bits() != p.length || got.Masked() != got || !p.prefix.Contains(got.Addr()) {
					t.Fatalf("allocated %v (taken %v)", got, model[got])
				}
				if hint.IsValid() && !model[hint] && got != hint {
					t.Fatalf("free hint %v not honoured: %v", hint, got)
				}
				model[got] = true
			case 2:
				err := p.Reserve(q)
				if model[q] != errors.Is(err, ErrInUse) || !model[q] && err != nil {
					t.Fatalf("reserve %v (taken %v): %v", q, model[q], err)
				}
				model[q] = true
			case 3:
				err := p.Release(q)
				if model[q] != (err == nil) {
					t.Fatalf("release %v (taken %v): %v", q, model[q], err)
				}
				delete(model, q)
			}
			checkPrefixModel(t, p, model)
		}
		// Release all: nothing leaked.
		for q := range model {
			if err := p.Release(q); err != nil {
				t.Fatal(err)
			}
		}
		if p.Used() != 0 {
			t.Fatalf("leaked %d", p.Used())
		}
	})
}

// TestPrefixPoolRandom is a larger deterministic run of the fuzz target's
// model check.
func TestPrefixPoolRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := mustPrefixPool(t, "2001:db8::/40", 50) // 1024 prefixes
	model := map[netip.Prefix]bool{}
	for n := 0; n < 20000; n++ {
		if r.IntN(3) > 0 {
			got, err := p.Allocate(netip.Prefix{})
			if len(model) == p.Size() {
				if !errors.Is(err, ErrNoPrefixAvail) {
					t.Fatalf("full pool: %v %v", got, err)
				}
				continue
			}
			if err != nil || model[got] {
				t.Fatalf("allocate: %v %v (taken %v)", got, err, model[got])
			}
			model[got] = true
		} else {
			for q := range model {
				if err := p.Release(q); err != nil {
					t.Fatal(err)
				}
				delete(model, q)
				break
			}
		}
	}
	checkPrefixModel(t, p, model)
}
