package pool

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func spec(t *testing.T, name, ranges, next string) Spec {
	t.Helper()
	rs, err := ParseRanges(ranges)
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Ranges: rs, NextPool: next}
}

func TestCheckChains(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		err   string
	}{
		{"no chain", []Spec{{Name: "a"}, {Name: "b"}}, ""},
		{"chain", []Spec{{Name: "a", NextPool: "b"}, {Name: "b", NextPool: "c"}, {Name: "c"}}, ""},
		{"self loop", []Spec{{Name: "a", NextPool: "a"}}, "loop"},
		{"two loop", []Spec{{Name: "a", NextPool: "b"}, {Name: "b", NextPool: "a"}}, "loop"},
		{"loop behind", []Spec{{Name: "x", NextPool: "a"}, {Name: "a", NextPool: "b"}, {Name: "b", NextPool: "a"}}, "loop"},
		{"unknown", []Spec{{Name: "a", NextPool: "zz"}}, "no such pool"},
		{"duplicate", []Spec{{Name: "a"}, {Name: "a"}}, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckChains(tt.specs)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("CheckChains = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestSetNextPool(t *testing.T) {
	s := NewSet()
	if err := s.Update([]Spec{
		spec(t, "first", "10.0.0.1-10.0.0.2", "second"),
		spec(t, "second", "10.0.1.1", ""),
	}); err != nil {
		t.Fatal(err)
	}
	want := []struct{ addr, pool string }{
		{"10.0.0.1", "first"}, {"10.0.0.2", "first"}, {"10.0.1.1", "second"},
	}
	for i, w := range want {
		got, from, err := s.Allocate("first", netip.Addr{})
		if err != nil || got != a(w.addr) || from != w.pool {
			t.Fatalf("allocation %d = %s from %s, %v; want %s from %s", i, got, from, err, w.addr, w.pool)
		}
	}
	if _, _, err := s.Allocate("first", netip.Addr{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("chain exhausted: %v", err)
	}
	if err := s.Release(a("10.0.1.1")); err != nil {
		t.Fatal(err)
	}
	// A free hint in a later pool of the chain wins over the order.
	if err := s.Release(a("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if got, from, err := s.Allocate("first", a("10.0.1.1")); err != nil || got != a("10.0.1.1") || from != "second" {
		t.Fatalf("hint in next pool: %s %s %v", got, from, err)
	}
	if _, _, err := s.Allocate("nope", netip.Addr{}); err == nil {
		t.Fatal("unknown pool allocated")
	}
	al := s.Allocator("first")
	if al.Size() != 3 || al.Used() != 2 {
		t.Fatalf("chain Used/Size = %d/%d", al.Used(), al.Size())
	}
	if err := al.Reserve(a("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := al.Reserve(a("10.9.9.9")); err == nil {
		t.Fatal("reserve outside chain succeeded")
	}
	if _, err := al.Allocate(netip.Addr{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("want ErrNoAddrAvail, got %v", err)
	}
	if err := s.Release(a("10.0.0.77")); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("release unknown: %v", err)
	}
}

func TestSetUpdate(t *testing.T) {
	s := NewSet()
	if err := s.Update([]Spec{spec(t, "p", "10.0.0.1-10.0.0.3", ""), spec(t, "q", "10.0.2.1", "")}); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Allocate("p", a("10.0.0.3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Allocate("q", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	// A loop is rejected and leaves the set as it was.
	if err := s.Update([]Spec{spec(t, "p", "10.0.0.1", "p")}); err == nil {
		t.Fatal("loop accepted")
	}
	if s.Pool("q") == nil {
		t.Fatal("failed update changed the set")
	}
	// Shrink p and drop q: both allocations survive until released.
	if err := s.Update([]Spec{spec(t, "p", "10.0.0.1", "")}); err != nil {
		t.Fatal(err)
	}
	if s.Pool("q") != nil {
		t.Fatal("q still configured")
	}
	if _, _, err := s.Allocate("q", netip.Addr{}); err == nil {
		t.Fatal("allocated from a removed pool")
	}
	if !s.Pool("p").Owns(got) {
		t.Fatal("allocation lost")
	}
	for _, x := range []string{"10.0.0.3", "10.0.2.1"} {
		if err := s.Release(a(x)); err != nil {
			t.Fatalf("release %s: %v", x, err)
		}
	}
	if err := s.Release(a("10.0.2.1")); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("double release: %v", err)
	}
}

func TestSetConcurrent(t *testing.T) {
	s := NewSet()
	if err := s.Update([]Spec{spec(t, "a", "10.0.0.0/26", "b"), spec(t, "b", "10.0.1.0/26", "")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				x, _, err := s.Allocate("a", netip.Addr{})
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Release(x); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := s.Update([]Spec{spec(t, "a", "10.0.0.0/27", "b"), spec(t, "b", "10.0.1.0/26", "")}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if u := s.Allocator("a").Used(); u != 0 {
		t.Fatalf("Used = %d", u)
	}
}

// An update that leaves a pool's ranges as they were does not rebuild its
// bitmap (every configuration change updates the set, and a rebuild costs
// the pool's size plus the addresses handed out); one that changes them
// does, keeping the allocations.
func TestSetUpdateKeepsUnchangedPools(t *testing.T) {
	s := NewSet()
	specs := []Spec{spec(t, "big", "100.64.0.0/12", ""), spec(t, "small", "10.0.0.1-10.0.0.9", "")}
	if err := s.Update(specs); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Allocate("big", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	bits := &s.Pool("big").bits[0]
	if err := s.Update([]Spec{specs[0], spec(t, "small", "10.0.0.1-10.0.0.20", "")}); err != nil {
		t.Fatal(err)
	}
	if &s.Pool("big").bits[0] != bits {
		t.Error("an unchanged pool was rebuilt")
	}
	if s.Pool("small").Size() != 20 {
		t.Errorf("changed pool has %d addresses, want 20", s.Pool("small").Size())
	}
	if err := s.Update([]Spec{spec(t, "big", "100.64.0.0/11", ""), specs[1]}); err != nil {
		t.Fatal(err)
	}
	if &s.Pool("big").bits[0] == bits || !s.Pool("big").Owns(got) {
		t.Error("a changed pool was not rebuilt, or lost its allocation")
	}
}
