package client

import (
	"net/netip"
	"testing"
	"time"
)

// TestPrefixPools: a client's pool is updated in place, another client
// cannot take its name, and removing is by owner only.
func TestPrefixPools(t *testing.T) {
	ps := NewPrefixPools()
	a := DynamicPool{Name: "isp-pd", Prefix: netip.MustParsePrefix("2001:db8:200::/56"), PrefixLength: 64, Expires: time.Unix(100, 0), Owner: "pppoe-out1"}
	if err := ps.Set(a); err != nil {
		t.Fatal(err)
	}
	a.Expires = time.Unix(200, 0)
	if err := ps.Set(a); err != nil {
		t.Fatalf("renewal refused: %v", err)
	}
	b := DynamicPool{Name: "isp-pd", Prefix: netip.MustParsePrefix("2001:db8:300::/56"), PrefixLength: 64, Owner: "pppoe-out2"}
	if err := ps.Set(b); err == nil {
		t.Fatal("another client took isp-pd")
	}
	ps.Remove("isp-pd", "pppoe-out2")
	if l := ps.List(); len(l) != 1 || l[0] != a {
		t.Fatalf("pools %+v, want %+v", l, a)
	}
	b.Name = "other"
	if err := ps.Set(b); err != nil {
		t.Fatal(err)
	}
	if l := ps.List(); len(l) != 2 || l[0].Name != "isp-pd" || l[1].Name != "other" {
		t.Fatalf("pools %+v, want by name", l)
	}
	ps.Remove("isp-pd", "pppoe-out1")
	if l := ps.List(); len(l) != 1 || l[0].Name != "other" {
		t.Fatalf("after remove: %+v", l)
	}
}
