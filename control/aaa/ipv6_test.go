package aaa_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

type secretMap map[string]aaa.Secret

func (m secretMap) Get(name string) (aaa.Secret, bool) { s, ok := m[name]; return s, ok }

// v6Local serves a dual-stack profile: link /64s from "links" (two of
// them), delegated /56s from "pd".
func v6Local(t *testing.T) *aaa.Local {
	t.Helper()
	l, err := aaa.New(aaa.Settings{
		Secrets: secretMap{
			"v6":    {Name: "v6", Password: "p", Profile: "dual"},
			"fixed": {Name: "fixed", Password: "p", Profile: "dual", RemoteIPv6Prefix: netip.MustParsePrefix("2001:db8:0:1::/64")},
			"v4":    {Name: "v4", Password: "p", Profile: "v4only"},
			"nopd":  {Name: "nopd", Password: "p", Profile: "badpd"},
		},
		Profiles: []aaa.Profile{
			{Name: "dual", LocalAddress: "10.0.0.1", RemoteAddress: "subs", RemoteIPv6PrefixPool: "links", DHCPv6PDPool: "pd",
				IPv6DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53")}},
			{Name: "v4only", LocalAddress: "10.0.0.1", RemoteAddress: "subs"},
			{Name: "badpd", LocalAddress: "10.0.0.1", RemoteAddress: "subs", DHCPv6PDPool: "missing"},
		},
		Pools: []pool.Spec{{Name: "subs", Ranges: []pool.Range{{First: netip.MustParseAddr("10.0.0.10"), Last: netip.MustParseAddr("10.0.0.20")}}}},
		PrefixPools: []pool.PrefixSpec{
			{Name: "links", Prefix: netip.MustParsePrefix("2001:db8::/63"), PrefixLength: 64},
			{Name: "pd", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 56},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func authenticate(t *testing.T, l *aaa.Local, user string) aaa.Answer {
	t.Helper()
	var a aaa.Answer
	l.Authenticate(context.Background(), aaa.Request{Service: aaa.ServicePPPoE, Method: auth.PAP, User: user, Password: []byte("p")},
		func(x aaa.Answer) { a = x })
	if !a.Accept {
		t.Fatalf("%s refused: %v", user, a.Err)
	}
	return a
}

func TestLocalIPv6FromProfilePools(t *testing.T) {
	l := v6Local(t)
	a := authenticate(t, l, "v6")
	if !a.IPv6 || a.IPv6Link.Bits() != 64 || !netip.MustParsePrefix("2001:db8::/63").Contains(a.IPv6Link.Addr()) {
		t.Fatalf("IPv6 %v link %v: want on with a /64 of links", a.IPv6, a.IPv6Link)
	}
	if len(a.IPv6DNS) != 1 || a.IPv6Delegate == nil {
		t.Fatalf("IPv6 DNS %v, delegate %v", a.IPv6DNS, a.IPv6Delegate)
	}
	if _, err := a.IPv6Delegate.Allocate(netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	if l.PrefixPoolUsed("links") != 1 || l.PrefixPoolUsed("pd") != 1 {
		t.Fatalf("pools used %d, %d; want 1, 1", l.PrefixPoolUsed("links"), l.PrefixPoolUsed("pd"))
	}
	a.Lease.Release()
	if l.PrefixPoolUsed("links") != 0 || l.PrefixPoolUsed("pd") != 0 {
		t.Fatalf("after release pools used %d, %d; want 0, 0", l.PrefixPoolUsed("links"), l.PrefixPoolUsed("pd"))
	}
}

func TestLocalIPv6PoolExhaustedKeepsIPv4(t *testing.T) {
	l := v6Local(t)
	a1, a2 := authenticate(t, l, "v6"), authenticate(t, l, "v6")
	a3 := authenticate(t, l, "v6") // links holds two /64s
	if !a1.IPv6 || !a2.IPv6 || a3.IPv6 {
		t.Fatalf("IPv6 %v %v %v: want the third off", a1.IPv6, a2.IPv6, a3.IPv6)
	}
	if _, err := a3.Lease.Assign(); err != nil {
		t.Fatalf("IPv4 of the third: %v", err)
	}
	if got := l.Counters().PoolExhausted; got != 1 {
		t.Fatalf("pool-exhausted %d, want 1", got)
	}
	for _, a := range []aaa.Answer{a1, a2, a3} {
		a.Lease.Release()
	}
	if l.PrefixPoolUsed("links") != 0 {
		t.Fatal("link prefixes leaked")
	}
}

func TestLocalIPv6SecretPrefixReserved(t *testing.T) {
	l := v6Local(t)
	a := authenticate(t, l, "fixed")
	if a.IPv6Link != netip.MustParsePrefix("2001:db8:0:1::/64") || l.PrefixPoolUsed("links") != 1 {
		t.Fatalf("link %v, links used %d", a.IPv6Link, l.PrefixPoolUsed("links"))
	}
	// The pool must not hand the fixed /64 to another session.
	b := authenticate(t, l, "v6")
	if b.IPv6Link == a.IPv6Link {
		t.Fatal("pool handed out a reserved /64")
	}
	a.Lease.Release()
	b.Lease.Release()
	if l.PrefixPoolUsed("links") != 0 {
		t.Fatal("link prefixes leaked")
	}
}

func TestLocalIPv6Off(t *testing.T) {
	l := v6Local(t)
	if a := authenticate(t, l, "v4"); a.IPv6 || a.IPv6Delegate != nil {
		t.Fatalf("IPv6 on without IPv6 settings: %+v", a)
	}
	if a := authenticate(t, l, "nopd"); a.IPv6 {
		t.Fatal("IPv6 on with a missing dhcpv6-pd-pool")
	}
}
