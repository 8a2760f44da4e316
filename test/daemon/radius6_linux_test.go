package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// radius6Server takes its subscribers' IPv6 from RADIUS: the pools the
// README's users name (pool-a for IPv4; link6 and pd6 for fay), and no
// IPv6 in the profile, so whatever IPv6 a session has came from the
// Access-Accept.
const radius6Server = `/ip pool add name=pool-a ranges=10.0.0.2-10.0.0.5
/ipv6 pool add name=link6 prefix=2001:db8:8000::/48 prefix-length=64
/ipv6 pool add name=pd6 prefix=2001:db8:9000::/48 prefix-length=56
/ppp profile add name=for-pppoe local-address=10.0.0.1
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=ether3 service-name=isp
/radius add service=ppp address=127.0.0.1 secret=%q
/ppp aaa set use-radius=yes accounting=yes
`

// radius6Client dials as the README's erin, then (pppoe-out2, disabled
// until erin has gone) as fay, each with the dhcp-client line.
const radius6Client = `/interface pppoe-client add name=pppoe-out1 interface=ether2 user=erin password=erin-pw service-name=isp add-default-route=yes use-peer-dns=yes disabled=no
/interface pppoe-client add name=pppoe-out2 interface=ether2 user=fay password=fay-pw service-name=isp add-default-route=yes disabled=yes
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd
/ipv6 dhcp-client add interface=pppoe-out2 request=prefix pool-name=isp-pd2
`

// TestRadiusIPv6 checks RADIUS's IPv6 attributes on the wire, with
// pppoed as the AC (FreeRADIUS in its namespace, the README's users) and
// pppoed as the client. erin: her SLAAC address is in the
// Framed-IPv6-Prefix, her dhcp-client holds the Delegated-IPv6-Prefix,
// the DNS-Server-IPv6-Address is in the client's resolv.conf, IPv6 both
// ways, and her Start and Stop carry both prefixes. fay: a /64 and a /56
// from the /ipv6 pools her Framed-IPv6-Pool and Delegated-IPv6-Prefix-Pool
// name, which her Stop reports.
func TestRadiusIPv6(t *testing.T) {
	t.Parallel()
	netns.RequireTool(t, "freeradius")
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "up0", "nodad")
	l.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/64", "dev", "cor0", "nodad")
	// The core routes the subscribers' prefixes to the AC, as an upstream
	// router told of them would.
	l.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:ffff::1")
	// The AC's uplink veth takes XDP-redirected frames only with GRO on
	// its peer (as TestDualStack).
	l.core.GRO(t, "cor0", true)
	fr, err := freeradius.Launch(t.TempDir(), freeradius.Options{Netns: l.ac.Name, AuthPort: 1812, AcctPort: 1813})
	must(t, err)
	t.Cleanup(fr.Close)
	startDaemon(t, l.ac, "ac", fmt.Sprintf(radius6Server, freeradius.Secret), l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", radius6Client, l.pins)

	record := func(user, status string) map[string]string {
		for _, r := range fr.Records() {
			if r["User-Name"] == user && r["Acct-Status-Type"] == status {
				return r
			}
		}
		return nil
	}
	// up waits for the client's IPv6 on iface and returns its SLAAC
	// address and delegated prefix.
	up := func(iface string) (netip.Prefix, netip.Prefix) {
		t.Helper()
		var mon map[string]string
		waitFor(t, 20*time.Second, iface+"'s IPv6 and delegated prefix", func() bool {
			mon = cl.monitor(iface)
			return mon["status"] == "connected" && mon["ipv6-address"] != "" && mon["dhcpv6-status"] == "bound"
		})
		slaac, err := netip.ParsePrefix(mon["ipv6-address"])
		if err != nil {
			t.Fatalf("%s: monitor ipv6-address %q", iface, mon["ipv6-address"])
		}
		pd, err := netip.ParsePrefix(mon["dhcpv6-prefix"])
		if err != nil {
			t.Fatalf("%s: monitor dhcpv6-prefix %q", iface, mon["dhcpv6-prefix"])
		}
		if print := cl.ctl("/ipv6 dhcp-client print"); !strings.Contains(print, pd.String()) {
			t.Errorf("/ipv6 dhcp-client print lacks %s:\n%s", pd, print)
		}
		if got := l.cl.Ping(t, slaac.Addr(), core6, 3, 56); got == 0 {
			t.Errorf("%s → core over IPv6: no reply", iface)
		}
		if got := l.core.Ping(t, core6, slaac.Addr(), 3, 56); got != 3 {
			t.Errorf("core → %s over IPv6: %d/3 replies", iface, got)
		}
		return slaac, pd
	}

	// erin: everything fixed by the Access-Accept.
	slaac, pd := up("pppoe-out1")
	link, delegated := netip.MustParsePrefix("2001:db8:0:1::/64"), netip.MustParsePrefix("2001:db8:100::/56")
	if slaac.Bits() != 64 || !link.Contains(slaac.Addr()) {
		t.Errorf("erin's SLAAC address %s, want one in her Framed-IPv6-Prefix %s", slaac, link)
	}
	if pd != delegated {
		t.Errorf("erin's delegated prefix %s, want her Delegated-IPv6-Prefix %s", pd, delegated)
	}
	if mon := cl.monitor("pppoe-out1"); mon["ipv6-dns"] != "2001:db8::53" {
		t.Errorf("monitor ipv6-dns %q, want erin's DNS-Server-IPv6-Address", mon["ipv6-dns"])
	}
	if resolv, _ := os.ReadFile(cl.resolv); !strings.Contains(string(resolv), "nameserver 2001:db8::53\n") {
		t.Errorf("resolv.conf:\n%s\nwant erin's DNS-Server-IPv6-Address", resolv)
	}
	cl.ctl("/interface pppoe-client disable pppoe-out1")
	waitFor(t, 10*time.Second, "erin's Start and Stop", func() bool {
		return record("erin", "Start") != nil && record("erin", "Stop") != nil
	})
	for _, st := range []string{"Start", "Stop"} {
		r := record("erin", st)
		if r["Framed-IPv6-Prefix"] != link.String() || r["Delegated-IPv6-Prefix"] != delegated.String() {
			t.Errorf("erin's %s: Framed-IPv6-Prefix %q Delegated-IPv6-Prefix %q, want %s and %s",
				st, r["Framed-IPv6-Prefix"], r["Delegated-IPv6-Prefix"], link, delegated)
		}
	}

	// fay: both prefixes from the AC's /ipv6 pools.
	cl.ctl("/interface pppoe-client enable pppoe-out2")
	slaac, pd = up("pppoe-out2")
	if slaac.Bits() != 64 || !netip.MustParsePrefix("2001:db8:8000::/48").Contains(slaac.Addr()) {
		t.Errorf("fay's SLAAC address %s, want one from link6", slaac)
	}
	if pd.Bits() != 56 || !netip.MustParsePrefix("2001:db8:9000::/48").Contains(pd.Addr()) {
		t.Errorf("fay's delegated prefix %s, want a /56 from pd6", pd)
	}
	cl.ctl("/interface pppoe-client disable pppoe-out2")
	waitFor(t, 10*time.Second, "fay's Stop", func() bool { return record("fay", "Stop") != nil })
	if r := record("fay", "Stop"); r["Framed-IPv6-Prefix"] != slaac.Masked().String() || r["Delegated-IPv6-Prefix"] != pd.String() {
		t.Errorf("fay's Stop: Framed-IPv6-Prefix %q Delegated-IPv6-Prefix %q, want %s and %s",
			r["Framed-IPv6-Prefix"], r["Delegated-IPv6-Prefix"], slaac.Masked(), pd)
	}
}
