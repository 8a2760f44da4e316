package aaa_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
)

// TestResume: a session taken over holds its address in its pool again
// (a new session cannot get it; Release returns it) and counts for
// only-one; a profile or pool gone, or an address taken, is an error and
// holds nothing.
func TestResume(t *testing.T) {
	l := newLocal(t)
	a := netip.MustParseAddr("10.0.0.10")
	ans, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "erin", Profile: "single", Pool: "small",
		Local: netip.MustParseAddr("10.0.0.1"), Remote: a})
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Accept || ans.Lease == nil || ans.Profile != "single" || l.PoolUsed("small") != 1 || l.Online("erin") != 1 {
		t.Fatalf("answer %+v, pool used %d, online %d", ans, l.PoolUsed("small"), l.Online("erin"))
	}
	got, err := ans.Lease.Assign()
	if err != nil || got.Remote != a {
		t.Errorf("Assign %+v, %v", got, err)
	}
	// Taken twice: refused, nothing more held.
	if _, err := l.Resume(aaa.Resumed{User: "erin", Profile: "single", Pool: "small", Remote: a}); err == nil {
		t.Error("the same address resumed twice")
	}
	for _, r := range []aaa.Resumed{
		{User: "erin", Profile: "gone", Pool: "small", Remote: netip.MustParseAddr("10.0.0.11")},
		{User: "erin", Profile: "single", Pool: "gone", Remote: netip.MustParseAddr("10.0.0.11")},
		{User: "erin", Profile: "single", Pool: "small", Remote: netip.MustParseAddr("10.7.0.1")},
	} {
		if _, err := l.Resume(r); err == nil || !strings.Contains(err.Error(), "erin") {
			t.Errorf("Resume %+v: %v, want an error naming the user", r, err)
		}
	}
	if l.PoolUsed("small") != 1 || l.Online("erin") != 1 || l.Counters().Leases != 1 {
		t.Errorf("failed resumes hold something: pool %d online %d %+v", l.PoolUsed("small"), l.Online("erin"), l.Counters())
	}
	ans.Lease.Release()
	if l.PoolUsed("small") != 0 || l.Online("erin") != 0 || l.Counters().Leases != 0 {
		t.Errorf("after release: pool %d online %d %+v", l.PoolUsed("small"), l.Online("erin"), l.Counters())
	}
}

// TestResumeLateNCP: what a resumed session had not opened yet is given
// as authentication would have given it. Recorded without IPv4 (IPCP
// not open), its address comes at Assign from the profile's pool, as at
// a first IPCP, and a service without IPv4 gets ErrNoAddress; recorded
// without IPv6, it gets the profile's IPv6 at once. Release returns
// everything.
func TestResumeLateNCP(t *testing.T) {
	l, err := aaa.New(load(t, `
/ip pool add name=subs ranges=10.0.0.10-10.0.0.11
/ipv6 pool add name=links prefix=2001:db8:1::/48 prefix-length=64
/ppp profile add name=dual local-address=10.0.0.1 remote-address=subs remote-ipv6-prefix-pool=links
/ppp profile add name=v6only remote-ipv6-prefix-pool=links
/ppp secret add name=alice password=a profile=dual
/ppp secret add name=carol password=c profile=v6only
`).LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	link := netip.MustParsePrefix("2001:db8:1:7::/64")
	v6 := &aaa.ResumedIPv6{Link: link}
	noV4, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "alice", Profile: "dual", IPv6: v6})
	if err != nil {
		t.Fatal(err)
	}
	if l.PoolUsed("subs") != 0 || noV4.IPv6Link != link {
		t.Fatalf("resumed without IPv4: pool %d, answer %+v", l.PoolUsed("subs"), noV4)
	}
	got, err := noV4.Lease.Assign()
	if err != nil || !got.Remote.Is4() || got.Local != netip.MustParseAddr("10.0.0.1") || l.PoolUsed("subs") != 1 {
		t.Fatalf("Assign %+v, %v; pool %d: want an address of subs", got, err, l.PoolUsed("subs"))
	}
	v6only, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "carol", Profile: "v6only",
		IPv6: &aaa.ResumedIPv6{Link: netip.MustParsePrefix("2001:db8:1:8::/64")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v6only.Lease.Assign(); !errors.Is(err, aaa.ErrNoAddress) {
		t.Errorf("Assign on a service without IPv4: %v, want ErrNoAddress", err)
	}
	noV6, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "alice", Profile: "dual", Pool: "subs",
		Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.11")})
	if err != nil {
		t.Fatal(err)
	}
	if !noV6.IPv6 || !noV6.IPv6Link.IsValid() || l.PrefixPoolUsed("links") != 3 {
		t.Fatalf("resumed without IPv6: answer IPv6 %v link %v, %d /64s out: want one of links given now",
			noV6.IPv6, noV6.IPv6Link, l.PrefixPoolUsed("links"))
	}
	if a, err := noV6.Lease.Assign(); err != nil || a.Remote != netip.MustParseAddr("10.0.0.11") {
		t.Errorf("Assign of the recorded address: %+v, %v", a, err)
	}
	for _, a := range []aaa.Answer{noV4, v6only, noV6} {
		a.Lease.Release()
	}
	if l.PoolUsed("subs") != 0 || l.PrefixPoolUsed("links") != 0 || l.Counters().Leases != 0 {
		t.Errorf("after release: pool %d, /64s %d, %+v", l.PoolUsed("subs"), l.PrefixPoolUsed("links"), l.Counters())
	}
}

// TestResumeAuthorized: a RADIUS session adopted before IPCP or IPv6CP
// opened gets, when the peer opens it, what RADIUS granted (as the state
// record keeps it, JSON), not the profile's: Framed-Pool's or
// Framed-IP-Address's address and its DNS servers, Framed-IPv6-Pool's
// /64, Delegated-IPv6-Prefix-Pool, DNS-Server-IPv6-Address and
// Delegated-IPv6-Prefix.
func TestResumeAuthorized(t *testing.T) {
	l, err := aaa.New(load(t, `
/ip pool add name=subs ranges=10.0.0.10-10.0.0.11
/ip pool add name=radius ranges=10.9.0.10-10.9.0.11
/ipv6 pool add name=links prefix=2001:db8:1::/48 prefix-length=64
/ipv6 pool add name=radlinks prefix=2001:db8:9::/48 prefix-length=64
/ipv6 pool add name=radpd prefix=2001:db8:a00::/40 prefix-length=56
/ppp profile add name=dual local-address=10.0.0.1 remote-address=subs remote-ipv6-prefix-pool=links dns-server=192.0.2.1
`).LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The record's round trip (control/server keeps it as JSON).
	kept := func(a aaa.Authorized) *aaa.Authorized {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var out aaa.Authorized
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return &out
	}
	radDNS := netip.MustParseAddr("192.0.2.53")
	link := netip.MustParsePrefix("2001:db8:1:7::/64")

	// IPCP late: Framed-Pool and the RADIUS DNS server.
	pooled, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "r1", Profile: "dual",
		IPv6:       &aaa.ResumedIPv6{Link: link},
		Authorized: kept(aaa.Authorized{User: "r1", Profile: "dual", Pool: "radius", DNS: []netip.Addr{radDNS}})})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pooled.Lease.Assign()
	if err != nil || !netip.MustParsePrefix("10.9.0.0/24").Contains(got.Remote) || len(got.DNS) != 1 || got.DNS[0] != radDNS ||
		l.PoolUsed("radius") != 1 || l.PoolUsed("subs") != 0 {
		t.Fatalf("late IPCP with Framed-Pool: %+v, %v; radius %d, subs %d out", got, err, l.PoolUsed("radius"), l.PoolUsed("subs"))
	}
	// IPCP late: Framed-IP-Address.
	fixed := netip.MustParseAddr("10.9.0.11")
	framed, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "r2", Profile: "dual",
		IPv6:       &aaa.ResumedIPv6{Link: netip.MustParsePrefix("2001:db8:1:8::/64")},
		Authorized: kept(aaa.Authorized{User: "r2", Profile: "dual", Remote: fixed})})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := framed.Lease.Assign(); err != nil || got.Remote != fixed {
		t.Fatalf("late IPCP with Framed-IP-Address: %+v, %v", got, err)
	}
	// IPv6CP late: Framed-IPv6-Pool, Delegated-IPv6-Prefix-Pool,
	// DNS-Server-IPv6-Address, Delegated-IPv6-Prefix.
	radDNS6 := netip.MustParseAddr("2001:db8::53")
	pd := netip.MustParsePrefix("2001:db8:ff::/56")
	noV6, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "r3", Profile: "dual", Pool: "subs",
		Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.10"),
		Authorized: kept(aaa.Authorized{User: "r3", Profile: "dual", Pool: "radius", IPv6LinkPool: "radlinks",
			IPv6PDPool: "radpd", IPv6DNS: []netip.Addr{radDNS6}, IPv6Delegated: pd})})
	if err != nil {
		t.Fatal(err)
	}
	if !noV6.IPv6 || !netip.MustParsePrefix("2001:db8:9::/48").Contains(noV6.IPv6Link.Addr()) ||
		l.PrefixPoolUsed("radlinks") != 1 || noV6.IPv6Delegate == nil || noV6.IPv6Delegated != pd ||
		len(noV6.IPv6DNS) != 1 || noV6.IPv6DNS[0] != radDNS6 {
		t.Fatalf("late IPv6CP: %+v, radlinks %d out: want RADIUS's pools, prefix and DNS", noV6, l.PrefixPoolUsed("radlinks"))
	}
	if p, err := noV6.IPv6Delegate.Allocate(netip.Prefix{}); err != nil || !netip.MustParsePrefix("2001:db8:a00::/40").Contains(p.Addr()) {
		t.Fatalf("delegated %v, %v: want one of radpd", p, err)
	} else if err := noV6.IPv6Delegate.Release(p); err != nil {
		t.Fatal(err)
	}
	if a, err := noV6.Lease.Assign(); err != nil || a.Remote != netip.MustParseAddr("10.0.0.10") {
		t.Errorf("the recorded address: %+v, %v", a, err)
	}
	for _, a := range []aaa.Answer{pooled, framed, noV6} {
		if a.Authorized == nil {
			t.Errorf("answer for %s lost the authorization: a second restart would not have it", a.User)
		}
		a.Lease.Release()
	}
	if l.PoolUsed("radius") != 0 || l.PoolUsed("subs") != 0 || l.PrefixPoolUsed("radlinks") != 0 || l.PrefixPoolUsed("links") != 0 {
		t.Errorf("after release: radius %d, subs %d, radlinks %d, links %d", l.PoolUsed("radius"), l.PoolUsed("subs"),
			l.PrefixPoolUsed("radlinks"), l.PrefixPoolUsed("links"))
	}
}
