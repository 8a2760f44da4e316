package config

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

const ipv6Script = `/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ipv6 pool
add name=links prefix=2001:db8:100::/48 prefix-length=64
add name=isp-pd prefix=2001:db8::/40 prefix-length=56 comment="delegated"
/ppp profile
add name=dual local-address=10.0.0.1 remote-address=pppoe-pool remote-ipv6-prefix-pool=links dhcpv6-pd-pool=isp-pd dns-server=10.0.0.1,2001:db8:53::1,10.0.0.2,2001:db8:53::2
/ppp secret
add name=fixed password=p profile=dual remote-ipv6-prefix=2001:db8:100:7::/64
`

func TestIPv6Config(t *testing.T) {
	c := mustLoad(t, ipv6Script)
	if got := c.IPv6PoolSpecs(); !reflect.DeepEqual(got, []pool.PrefixSpec{
		{Name: "links", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 64},
		{Name: "isp-pd", Prefix: netip.MustParsePrefix("2001:db8::/40"), PrefixLength: 56},
	}) {
		t.Fatalf("specs %+v", got)
	}
	for _, s := range c.IPv6PoolSpecs() {
		if _, err := pool.NewPrefixPool(s); err != nil {
			t.Errorf("pool %s: %v", s.Name, err)
		}
	}
	p, _ := c.Profiles.Get("dual")
	if p.RemoteIPv6PrefixPool != "links" || p.DHCPv6PDPool != "isp-pd" {
		t.Errorf("profile %+v", p)
	}
	// IPCP gets the IPv4 servers only, RDNSS the IPv6 ones, each in order.
	v4 := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}
	v6 := []netip.Addr{netip.MustParseAddr("2001:db8:53::1"), netip.MustParseAddr("2001:db8:53::2")}
	if !slices.Equal(p.DNSServer, v4) || !slices.Equal(p.IPv6DNS(), v6) {
		t.Errorf("dns: IPv4 %v IPv6 %v", p.DNSServer, p.IPv6DNS())
	}
	s, _ := c.Secrets.Get("fixed")
	if netip.Prefix(s.RemoteIPv6Prefix) != netip.MustParsePrefix("2001:db8:100:7::/64") {
		t.Errorf("secret prefix %v", s.RemoteIPv6Prefix)
	}

	// Export round-trips, and print shows the pools as RouterOS does.
	c2 := mustLoad(t, Export(c))
	if !Equal(c, c2) {
		t.Fatalf("export does not round-trip:\n%s\n---\n%s", Export(c), Export(c2))
	}
	want := " #   NAME   PREFIX            PREFIX-LENGTH\n" +
		" 0   links  2001:db8:100::/48 64\n" +
		" 1   ;;; delegated\n" +
		"     isp-pd 2001:db8::/40     56\n"
	if got := mustPrint(t, c, "/ipv6 pool", false); got != want {
		t.Errorf("print:\n%q\nwant\n%q", got, want)
	}
	for _, w := range []string{"remote-ipv6-prefix-pool=links", "dhcpv6-pd-pool=isp-pd", "dns-server=10.0.0.1,2001:db8:53::1,10.0.0.2,2001:db8:53::2"} {
		if got := mustPrint(t, c, "/ppp profile", true); !strings.Contains(got, w) {
			t.Errorf("profile print detail lacks %s:\n%s", w, got)
		}
	}

	// set keeps the derived IPv4 list in step; unset clears the pools.
	c3, err := c.Apply(mustParse(t, "/ppp profile set dual dns-server=2001:db8:53::9 remote-ipv6-prefix-pool=none\n/ppp profile unset dual value-name=dhcpv6-pd-pool"))
	if err != nil {
		t.Fatal(err)
	}
	p3, _ := c3.Profiles.Get("dual")
	if len(p3.DNSServer) != 0 || !slices.Equal(p3.IPv6DNS(), []netip.Addr{netip.MustParseAddr("2001:db8:53::9")}) ||
		p3.RemoteIPv6PrefixPool != "" || p3.DHCPv6PDPool != "" {
		t.Errorf("after set: %+v", p3)
	}
	// The pool is free to go now; before, removing it was refused and
	// nothing of the script applied.
	bad := "/ppp secret add name=other\n/ipv6 pool remove isp-pd"
	if _, err := c.Apply(mustParse(t, bad)); err == nil {
		t.Fatal("removing a pool in use accepted")
	}
	if _, ok := c.Secrets.Get("other"); ok || c.IPv6Pools.Len() != 2 {
		t.Fatal("a failed script changed the configuration")
	}
	if c4, err := c3.Apply(mustParse(t, bad)); err != nil || c4.IPv6Pools.Len() != 1 {
		t.Fatalf("remove unused pool: %v", err)
	}
}

func mustParse(t *testing.T, s string) []Command {
	t.Helper()
	cmds, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

// TestDHCPv6LeaseTime: a profile's dhcpv6-lease-time is 1d unless set,
// reads RouterOS time values, reaches AAA's profile, and one too short
// for a T1 of a whole second is refused at its line, changing nothing.
func TestDHCPv6LeaseTime(t *testing.T) {
	c := mustLoad(t, ipv6Script+"/ppp profile add name=short dhcpv6-lease-time=1m30s dhcpv6-pd-pool=isp-pd\n")
	dual, _ := c.Profiles.Get("dual")
	short, _ := c.Profiles.Get("short")
	if time.Duration(dual.DHCPv6LeaseTime) != 24*time.Hour || time.Duration(short.DHCPv6LeaseTime) != 90*time.Second {
		t.Errorf("dhcpv6-lease-time: dual %v short %v, want 24h and 1m30s",
			time.Duration(dual.DHCPv6LeaseTime), time.Duration(short.DHCPv6LeaseTime))
	}
	i := slices.IndexFunc(c.LocalAAA().Profiles, func(p aaa.Profile) bool { return p.Name == "short" })
	if i < 0 || c.LocalAAA().Profiles[i].DHCPv6LeaseTime != 90*time.Second {
		t.Errorf("AAA profiles %+v: want short with 1m30s", c.LocalAAA().Profiles)
	}
	if c2 := mustLoad(t, Export(c)); !Equal(c, c2) {
		t.Fatalf("export does not round-trip:\n%s", Export(c))
	}
	for _, v := range []string{"1", "0", "1s"} {
		_, err := c.Apply(mustParse(t, "/ppp profile set short dhcpv6-lease-time="+v))
		var e *Error
		if !errors.As(err, &e) || e.Property != "dhcpv6-lease-time" {
			t.Errorf("dhcpv6-lease-time=%s: %v, want refused", v, err)
		}
	}
	if p, _ := c.Profiles.Get("short"); time.Duration(p.DHCPv6LeaseTime) != 90*time.Second {
		t.Error("a refused set changed the profile")
	}
}
