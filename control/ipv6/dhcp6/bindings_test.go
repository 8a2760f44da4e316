package dhcp6

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestBindingsRestore: a server's committed bindings, taken by a new
// server of the session (pppoed's restart) with their pool prefix held
// again, are the same bindings: listed alike, the pool prefix returned
// at Close, an expired one ended by Step with its prefix back in the
// pool; bindings that do not fit the new server are refused whole.
func TestBindingsRestore(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/48", 56)
	p1, err := pd.Allocate(netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	fixed := netip.MustParsePrefix("2001:db8:f00::/56")
	duid := clientID.ToBytes()
	bs := []Binding{
		{DUID: duid, PD: true, IAID: [4]byte{0, 0, 0, 1}, Prefix: p1, Expires: t0.Add(time.Hour)},
		{DUID: duid, PD: true, IAID: [4]byte{0, 0, 0, 2}, Prefix: fixed, Fixed: true, Expires: t0.Add(-time.Second)},
		{DUID: duid, IAID: [4]byte{0, 0, 0, 3}, Prefix: netip.MustParsePrefix("2001:db8:1:2::9/128"), Expires: t0.Add(time.Hour)},
	}
	s := newServer(t, ServerConfig{Delegate: pd, FixedPrefix: fixed, Link: link64})
	if err := s.Restore(bs); err != nil {
		t.Fatal(err)
	}
	if got := s.Bindings(); !reflect.DeepEqual(got, bs) {
		t.Errorf("bindings after restore\n got %+v\nwant %+v", got, bs)
	}
	if got := s.LatestExpiry(); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("latest expiry %v", got)
	}
	// The fixed prefix's lifetime ran out while no process ran: the
	// first Step ends it.
	if next, ok := s.Next(); !ok || next.After(t0) {
		t.Fatalf("next %v %v, want due now", next, ok)
	}
	if res := s.Step(t0); !reflect.DeepEqual(res.Unbound, []netip.Prefix{fixed}) {
		t.Errorf("Step unbound %v, want %v", res.Unbound, fixed)
	}
	if res := s.Close(); !reflect.DeepEqual(res.Unbound, []netip.Prefix{p1}) || pd.Used() != 0 {
		t.Errorf("Close unbound %v, pool %d used; want %v back", res.Unbound, pd.Used(), p1)
	}

	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		b    Binding
	}{
		{"no DUID", ServerConfig{Delegate: pd}, Binding{PD: true, Prefix: p1}},
		{"pool prefix without a pool", ServerConfig{}, Binding{DUID: duid, PD: true, Prefix: p1}},
		{"another fixed prefix", ServerConfig{FixedPrefix: fixed}, Binding{DUID: duid, PD: true, Fixed: true, Prefix: p1}},
		{"address outside the link", ServerConfig{Link: link64}, Binding{DUID: duid, Prefix: netip.MustParsePrefix("2001:db8:9::1/128")}},
		{"IPv4", ServerConfig{Delegate: pd}, Binding{DUID: duid, PD: true, Prefix: netip.MustParsePrefix("10.0.0.0/24")}},
	} {
		s := newServer(t, tc.cfg)
		if err := s.Restore([]Binding{tc.b}); err == nil {
			t.Errorf("%s: restored", tc.name)
		}
		if len(s.Bindings()) != 0 {
			t.Errorf("%s: bindings left", tc.name)
		}
	}
	s = newServer(t, ServerConfig{Delegate: pd})
	if err := s.Restore([]Binding{bs[0], bs[0]}); err == nil || len(s.Bindings()) != 0 {
		t.Errorf("an IA bound twice: %v, %d bindings", err, len(s.Bindings()))
	}
}
