package config

import (
	"net/netip"
	"slices"
	"testing"
)

// The /ipv6 pools and the profile's and secret's IPv6 properties reach
// the local backend's settings.
func TestLocalAAAIPv6(t *testing.T) {
	c, err := Load(`
/ipv6 pool
add name=links prefix=2001:db8::/48 prefix-length=64
add name=pd prefix=2001:db8:100::/40 prefix-length=56
/ppp profile
add name=dual local-address=10.0.0.1 remote-address=10.0.0.2 remote-ipv6-prefix-pool=links dhcpv6-pd-pool=pd dns-server=192.0.2.53,2001:db8::53
/ppp secret
add name=u password=p profile=dual remote-ipv6-prefix=2001:db8:0:7::/64
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.LocalAAA()
	if len(s.PrefixPools) != 2 || s.PrefixPools[1].Name != "pd" || s.PrefixPools[1].PrefixLength != 56 {
		t.Fatalf("prefix pools %+v", s.PrefixPools)
	}
	for _, p := range s.Profiles {
		if p.Name != "dual" {
			continue
		}
		if p.RemoteIPv6PrefixPool != "links" || p.DHCPv6PDPool != "pd" ||
			!slices.Equal(p.IPv6DNS, []netip.Addr{netip.MustParseAddr("2001:db8::53")}) ||
			!slices.Equal(p.DNS, []netip.Addr{netip.MustParseAddr("192.0.2.53")}) {
			t.Fatalf("profile %+v", p)
		}
	}
	sec, ok := s.Secrets.Get("u")
	if !ok || sec.RemoteIPv6Prefix != netip.MustParsePrefix("2001:db8:0:7::/64") {
		t.Fatalf("secret %+v", sec)
	}
}
