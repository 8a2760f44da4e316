package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/sqlippool"
)

// TestFleetDelegatedPrefixes: the fleet's delegated IPv6 prefixes come
// from one SQL pool too (issue 19). Two ACs on one bridge, RADIUS from
// FreeRADIUS's second sqlippool instance (radippool_pd) in the core; two
// subscribers of one client, one on each AC (ac-one's pado-delay defers
// to ac-two from its first session on). Each session's Access-Accept
// carries a different Delegated-IPv6-Prefix from the pool, the AC
// delegates exactly that one by DHCPv6-PD (the client's dhcp-client is
// bound to it), the lease names the AC and the session; a subscriber that
// hangs up (the client sends its DHCPv6 Release, then PADT) has its
// prefix released by the AC's Accounting-Stop, and the next subscriber
// gets it.
func TestFleetDelegatedPrefixes(t *testing.T) {
	// Not parallel: PADO delays 150 ms apart decide which AC wins; another
	// test's load could reorder the answers.
	l := newFleetLab(t)
	core := netns.New(t)
	core.Run(t, "ip", "link", "add", "br1", "type", "bridge")
	netns.Veth(t, l.ac1, "up0", core, "c1")
	netns.Veth(t, l.ac2, "up0", core, "c2")
	for _, p := range []string{"c1", "c2"} {
		core.Run(t, "ip", "link", "set", p, "master", "br1")
	}
	core.Run(t, "ip", "link", "set", "br1", "up")
	core.Run(t, "ip", "addr", "add", "192.0.2.254/24", "dev", "br1")
	l.ac1.Run(t, "ip", "addr", "add", "192.0.2.11/24", "dev", "up0")
	l.ac2.Run(t, "ip", "addr", "add", "192.0.2.12/24", "dev", "up0")
	pd := []netip.Prefix{netip.MustParsePrefix("2001:db8:300::/56"), netip.MustParsePrefix("2001:db8:300:100::/56")}
	lab := sqlippool.Start(t, sqlippool.Options{
		Pool:   []netip.Addr{netip.MustParseAddr("100.64.9.1"), netip.MustParseAddr("100.64.9.2"), netip.MustParseAddr("100.64.9.3")},
		PDPool: pd, Netns: core.Name, Listen: "192.0.2.254", Clients: "192.0.2.0/24", AuthPort: 1812, AcctPort: 1813})

	startDaemon(t, l.ac1, "ac1", fleetRadiusAC("ac-one", "0,300:1", "192.0.2.11"), l.pins)
	startDaemon(t, l.ac2, "ac2", fleetRadiusAC("ac-two", "150", "192.0.2.12"), l.pins)
	// allow=pap: the lab's FreeRADIUS knows the subscriber's password
	// for PAP only (test/sqlippool's users file).
	var conf strings.Builder
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&conf, "/interface pppoe-client add name=pppoe-out%d interface=ether2 service-name=fleet user=sub password=subpass allow=pap\n", i)
		fmt.Fprintf(&conf, "/ipv6 dhcp-client add interface=pppoe-out%d request=prefix pool-name=pd%d\n", i, i)
	}
	cl := startDaemon(t, l.cl, "client", conf.String(), l.pins)

	// bound dials name and returns its AC and the prefix its dhcp-client
	// is bound to.
	bound := func(name string) (string, netip.Prefix) {
		t.Helper()
		ac := dialOne(t, cl, name)
		var mon map[string]string
		waitFor(t, 20*time.Second, name+"'s delegated prefix", func() bool {
			mon = cl.monitor(name)
			return mon["dhcpv6-status"] == "bound"
		})
		p, err := netip.ParsePrefix(mon["dhcpv6-prefix"])
		if err != nil {
			t.Fatalf("%s: monitor dhcpv6-prefix %q: %v", name, mon["dhcpv6-prefix"], err)
		}
		if print := cl.ctl("/ipv6 dhcp-client print"); !strings.Contains(print, p.String()) {
			t.Errorf("/ipv6 dhcp-client print lacks %s:\n%s", p, print)
		}
		return ac, p
	}
	ac1, p1 := bound("pppoe-out1")
	ac2, p2 := bound("pppoe-out2")
	if ac1 != "ac-one" || ac2 != "ac-two" {
		t.Fatalf("subscribers on %s and %s, want one on each AC", ac1, ac2)
	}
	if p1 == p2 || !slices.Contains(pd, p1) || !slices.Contains(pd, p2) {
		t.Fatalf("delegated %v (ac-one) and %v (ac-two), want the SQL pool's two %v", p1, p2, pd)
	}
	// The leases: one per session, held by the AC that delegated it
	// (NAS-IP-Address its src-address, pool_key its NAS-Identifier).
	holder := map[netip.Prefix]string{p1: "192.0.2.11 ac-one/", p2: "192.0.2.12 ac-two/"}
	ds := lab.Delegations(t)
	if len(ds) != 2 {
		t.Fatalf("prefix leases %+v, want two", ds)
	}
	for _, d := range ds {
		if h := holder[d.Prefix]; h == "" || !strings.HasPrefix(d.NAS+" "+d.PoolKey, h) {
			t.Errorf("prefix lease %+v, want it held by %q", d, h)
		}
	}

	// ac-one's subscriber hangs up: its Stop releases p1, and only p1.
	cl.ctl("/interface pppoe-client set pppoe-out1 disabled=yes")
	waitFor(t, 20*time.Second, "ac-one's Stop to release "+p1.String(), func() bool {
		ds = lab.Delegations(t)
		return len(ds) == 1
	})
	if ds[0].Prefix != p2 {
		t.Fatalf("after pppoe-out1 hung up: prefix leases %+v, want only %v", ds, p2)
	}
	if _, p3 := bound("pppoe-out3"); p3 != p1 {
		t.Errorf("the next subscriber got %v, want the released %v", p3, p1)
	}
}
