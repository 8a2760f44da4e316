package pppoe0

import (
	"net/netip"
	"reflect"
	"testing"
)

type sess struct {
	addr string
	mtu  int
}

func TestTableWant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pools    []string
		sessions []sess
		want     map[string]int
	}{
		{"pools only", []string{"10.0.0.2/31", "10.0.0.4/31", "192.0.2.9/32"}, nil,
			map[string]int{"10.0.0.2/31": 0, "10.0.0.4/31": 0, "192.0.2.9/32": 0}},
		{"no pools, no sessions", nil, nil, map[string]int{}},
		{"session at pppoe0's MTU inside a pool: the pool's prefix covers it", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 1492}}, map[string]int{"10.0.0.0/24": 0}},
		{"session with MTU 0 (not negotiated) inside a pool", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 0}}, map[string]int{"10.0.0.0/24": 0}},
		{"session above pppoe0's MTU (a multilink MRRU): a host route with it", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 9000}}, map[string]int{"10.0.0.0/24": 0, "10.0.0.7/32": 9000}},
		{"session below pppoe0's MTU: a host route with its MTU", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 1400}}, map[string]int{"10.0.0.0/24": 0, "10.0.0.7/32": 1400}},
		{"one below by one octet", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 1491}}, map[string]int{"10.0.0.0/24": 0, "10.0.0.7/32": 1491}},
		{"the pool's /32 and a session there with a small MTU are one route", []string{"10.0.0.248/31", "10.0.0.250/32"},
			[]sess{{"10.0.0.250", 1460}}, map[string]int{"10.0.0.248/31": 0, "10.0.0.250/32": 1460}},
		{"the pool's /32 and a session there at pppoe0's MTU", []string{"10.0.0.250/32"},
			[]sess{{"10.0.0.250", 1492}}, map[string]int{"10.0.0.250/32": 0}},
		{"session outside every pool keeps a route", []string{"10.0.0.2/31"},
			[]sess{{"10.0.0.9", 1492}, {"10.0.0.10", 0}, {"10.0.0.11", 1400}},
			map[string]int{"10.0.0.2/31": 0, "10.0.0.9/32": 0, "10.0.0.10/32": 0, "10.0.0.11/32": 1400}},
		{"two sessions at one address: the smaller MTU", []string{"10.0.0.0/24"},
			[]sess{{"10.0.0.7", 1480}, {"10.0.0.7", 1400}, {"10.0.0.7", 1492}},
			map[string]int{"10.0.0.0/24": 0, "10.0.0.7/32": 1400}},
		{"overlapping pools, IPv6 and unmasked prefixes", []string{"10.0.0.0/24", "10.0.0.5/32", "2001:db8::/64", "10.1.0.9/16"},
			[]sess{{"10.0.0.5", 1492}}, map[string]int{"10.0.0.0/24": 0, "10.0.0.5/32": 0, "10.1.0.0/16": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(1492)
			var pools []netip.Prefix
			for _, p := range tc.pools {
				pools = append(pools, netip.MustParsePrefix(p))
			}
			tb.setPools(pools)
			for _, s := range tc.sessions {
				tb.addSession(netip.MustParseAddr(s.addr), s.mtu)
			}
			got := map[string]int{}
			for p, mtu := range tb.want() {
				got[p.String()] = mtu
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("want() = %v, want %v", got, tc.want)
			}
			// Every session gone: the pools' routes alone.
			for _, s := range tc.sessions {
				if !tb.removeSession(netip.MustParseAddr(s.addr), s.mtu) {
					t.Errorf("removeSession(%s, %d) found no such session", s.addr, s.mtu)
				}
			}
			if len(tb.sessions) != 0 {
				t.Errorf("sessions left: %v", tb.sessions)
			}
			for p, mtu := range tb.want() {
				if !tb.pools[p] || mtu != 0 {
					t.Errorf("with no session %v mtu %d is wanted", p, mtu)
				}
			}
		})
	}
}

func TestTableRemoveUnknown(t *testing.T) {
	tb := newTable(1492)
	a := netip.MustParseAddr("10.0.0.7")
	if tb.removeSession(a, 1400) {
		t.Error("removed a session never added")
	}
	tb.addSession(a, 1400)
	if tb.removeSession(a, 1480) {
		t.Error("removed a session by the wrong MTU")
	}
	// MTUs that need no host route are one class: pppoe0's and none;
	// a larger one (a multilink MRRU) has its own.
	tb.addSession(a, 1492)
	tb.addSession(a, 9000)
	if tb.removeSession(a, 1614) || !tb.removeSession(a, 9000) || !tb.removeSession(a, 0) ||
		!tb.removeSession(a, 1400) || len(tb.sessions) != 0 {
		t.Errorf("sessions left: %v", tb.sessions)
	}
}
