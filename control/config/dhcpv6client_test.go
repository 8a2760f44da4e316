package config

import (
	"net/netip"
	"strings"
	"testing"
)

const dhcpv6ClientScript = `/interface pppoe-client add interface=ether1 user=u password=p disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd pool-prefix-length=64 add-default-route=yes use-peer-dns=yes
`

// TestDHCPv6Client: the line loads with RouterOS's defaults for
// what it leaves out, prints as a table and in detail, and exports to a
// script that loads to the same item.
func TestDHCPv6Client(t *testing.T) {
	c := mustLoad(t, dhcpv6ClientScript)
	if c.DHCPv6Clients.Len() != 1 {
		t.Fatalf("%d dhcp-clients", c.DHCPv6Clients.Len())
	}
	d := c.DHCPv6Clients.At(0)
	want := DHCPv6Client{meta: meta{2}, Interface: "pppoe-out1", Request: DHCPv6Request{"prefix"}, PoolName: "isp-pd", PoolPrefixLength: 64,
		PrefixHint: PrefixHint(netip.MustParsePrefix("::/0")), AddDefaultRoute: true, DefaultRouteDistance: 1, UsePeerDNS: true, RapidCommit: true}
	if d.Interface != want.Interface || strings.Join(d.Request, ",") != "prefix" || d.PoolName != want.PoolName || d.PoolPrefixLength != 64 ||
		d.PrefixHint != want.PrefixHint || !d.AddDefaultRoute || d.DefaultRouteDistance != 1 || !d.UsePeerDNS || !d.RapidCommit || d.Disabled {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	out, err := Print(c, "/ipv6 dhcp-client", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"INTERFACE", "REQUEST", "POOL-NAME", "pppoe-out1", "prefix", "isp-pd"} {
		if !strings.Contains(out, w) {
			t.Errorf("print lacks %q:\n%s", w, out)
		}
	}
	out, err = Print(c, "/ipv6 dhcp-client", true)
	if err != nil || !strings.Contains(out, "prefix-hint=::/0") || !strings.Contains(out, "rapid-commit=yes") {
		t.Fatalf("print detail: %v\n%s", err, out)
	}
	exp := Export(c)
	if !strings.Contains(exp, "/ipv6 dhcp-client") {
		t.Fatalf("export lacks the menu:\n%s", exp)
	}
	c2 := mustLoad(t, exp)
	if got := c2.DHCPv6Clients.At(0); got.PoolName != "isp-pd" || !got.AddDefaultRoute || strings.Join(got.Request, ",") != "prefix" {
		t.Fatalf("after export and load: %+v\n%s", got, exp)
	}
}

// TestDHCPv6ClientRejected: what cannot run is refused with the line and
// property at fault.
func TestDHCPv6ClientRejected(t *testing.T) {
	base := "/interface pppoe-client add interface=ether1 user=u password=p\n"
	for _, tc := range []struct{ name, line, want string }{
		{"no such pppoe-client", "/ipv6 dhcp-client add interface=ether9 request=prefix pool-name=x", "not a pppoe-client"},
		{"no request", "/ipv6 dhcp-client add interface=pppoe-out1 pool-name=x", "request"},
		{"prefix without pool-name", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix", "pool-name"},
		{"pool-name of a configured pool", "/ipv6 pool add name=lan prefix=2001:db8::/48 prefix-length=64\n/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=lan", "is an /ipv6 pool already"},
		{"unknown request", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix,foo pool-name=x", "foo"},
		{"IPv4 hint", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=x prefix-hint=10.0.0.0/8", "IPv6 prefix"},
		{"hint longer than pool pieces", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=x prefix-hint=::/64 pool-prefix-length=56", "pool-prefix-length"},
		{"pool-prefix-length out of range", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=x pool-prefix-length=129", "129"},
		{"two on one interface", "/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=x\n/ipv6 dhcp-client add interface=pppoe-out1 request=address", "pppoe-out1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(base + tc.line)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// Removing the pppoe-client a dhcp-client runs on is refused too.
	if _, err := Load(dhcpv6ClientScript + "/interface pppoe-client remove pppoe-out1\n"); err == nil {
		t.Fatal("pppoe-client removed from under its dhcp-client")
	}
}
