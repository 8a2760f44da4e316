package aaa_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
)

func TestHasSecret(t *testing.T) {
	l := newLocal(t)
	for _, tc := range []struct {
		user string
		want bool
	}{
		{"alice", true},  // service any (the default)
		{"bob", true},    // service pppoe
		{"carol", false}, // l2tp only: a RADIUS user for PPPoE
		{"dave", false},  // disabled
		{"nobody", false},
	} {
		if got := l.HasSecret(tc.user, aaa.ServicePPPoE); got != tc.want {
			t.Errorf("HasSecret(%q) = %v, want %v", tc.user, got, tc.want)
		}
	}
}

// A user authenticated elsewhere (RADIUS) takes its addresses from the
// overrides, then the profile, from the same pools, and its only-one slot.
func TestAdmit(t *testing.T) {
	l := newLocal(t)
	// Framed-Pool over the profile's pool; the profile's local address
	// and DNS.
	le, err := l.Admit(aaa.ServicePPPoE, aaa.Authorized{User: "r1", Profile: "pooled", Pool: "big"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := le.Assign()
	if err != nil || !netip.MustParsePrefix("10.1.0.0/24").Contains(a.Remote) || a.Local != netip.MustParseAddr("10.0.0.1") ||
		len(a.DNS) != 2 || l.PoolUsed("big") != 1 {
		t.Fatalf("pooled: %+v, %v, big used %d", a, err, l.PoolUsed("big"))
	}
	le.Release()
	if l.PoolUsed("big") != 0 {
		t.Errorf("big used %d after release", l.PoolUsed("big"))
	}
	// Framed-IP-Address inside a pool is reserved there; DNS replaced.
	dns := []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	le, err = l.Admit(aaa.ServicePPPoE, aaa.Authorized{User: "r2", Profile: "pooled", Remote: netip.MustParseAddr("10.0.0.11"), DNS: dns})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := le.Assign(); err != nil || a.Remote != netip.MustParseAddr("10.0.0.11") || len(a.DNS) != 1 || a.DNS[0] != dns[0] || l.PoolUsed("small") != 1 {
		t.Fatalf("fixed: %+v, %v", a, err)
	}
	le.Release()
	// only-one counts admitted users like local ones.
	first, err := l.Admit(aaa.ServicePPPoE, aaa.Authorized{User: "r3", Profile: "single"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(aaa.ServicePPPoE, aaa.Authorized{User: "r3", Profile: "single"}); !errors.Is(err, aaa.ErrOnlyOne) {
		t.Fatalf("second r3: %v, want ErrOnlyOne", err)
	}
	first.Release()
	if _, err := l.Admit(aaa.ServicePPPoE, aaa.Authorized{User: "r4", Profile: "no-such"}); !errors.Is(err, aaa.ErrAuthFailed) {
		t.Errorf("missing profile: %v", err)
	}
	if c := l.Counters(); c.Leases != 0 {
		t.Errorf("%d leases left", c.Leases)
	}
}
