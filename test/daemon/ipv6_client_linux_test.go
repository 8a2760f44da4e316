package daemon

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// v6OnlyServer offers IPv6 alone: its profile has no IPv4 address (no
// local-address, no remote-address) but a link /64 pool and a delegated
// prefix pool, so the AC runs IPv6CP and Protocol-Rejects IPCP.
const v6OnlyServer = `/ipv6 pool add name=link6 prefix=2001:db8:100::/56 prefix-length=64
/ipv6 pool add name=pd6 prefix=2001:db8:200::/56 prefix-length=56
/ppp profile add name=v6only remote-ipv6-prefix-pool=link6 dhcpv6-pd-pool=pd6 dns-server=2001:db8:ffff::53
/ppp secret add name=one password=p1 profile=v6only service=pppoe
/interface pppoe-server server add interface=ether3 service-name=isp default-profile=v6only disabled=no
`

// v6Client is a pppoe-client with both stacks asked for, as a CPE is
// configured: default route, peer DNS, and the dhcp-client for a prefix.
const v6Client = `/interface pppoe-client add name=pppoe-out1 interface=ether2 user=one password=p1 service-name=isp add-default-route=yes use-peer-dns=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd add-default-route=yes
`

// v6Lab is newLab with IPv6 routed as TestDualStack has it, a host
// behind the client (lan) numbered from the delegated /56 once it is
// bound (see lanHost).
func v6Lab(t *testing.T) (*lab, *netns.NS) {
	t.Helper()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	lan := netns.New(t)
	netns.Veth(t, l.cl, "lan0", lan, "host0")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.cl.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "up0", "nodad")
	l.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/64", "dev", "cor0", "nodad")
	l.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:ffff::1")
	l.core.GRO(t, "cor0", true)
	return l, lan
}

// lanHost numbers the host behind the client from the delegated prefix
// 2001:db8:200::/56 and returns its address.
func lanHost(t *testing.T, l *lab, lan *netns.NS) netip.Addr {
	t.Helper()
	l.cl.Run(t, "ip", "-6", "addr", "add", "2001:db8:200:1::1/64", "dev", "lan0", "nodad")
	lan.Run(t, "ip", "-6", "addr", "add", "2001:db8:200:1::2/64", "dev", "host0", "nodad")
	lan.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:200:1::1")
	return netip.MustParseAddr("2001:db8:200:1::2")
}

// TestIPv6OnlyClient: pppoed as an AC offering IPv6 alone and pppoed as
// its client, which asks for both stacks. The client comes up on IPv6CP
// alone: connected without an IPv4 address or route, SLAAC's address and
// default route, the RDNSS server, the delegated prefix, and IPv6 both
// ways through the data plane, from the client and from a host inside
// the delegated prefix. Before, the client's data plane entry was IPCP's,
// so nothing forwarded; and the AC ended a session without IPv4.
func TestIPv6OnlyClient(t *testing.T) {
	t.Parallel()
	l, lan := v6Lab(t)
	ac := startDaemon(t, l.ac, "ac", v6OnlyServer, l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", v6Client, l.pins)

	var mon map[string]string
	waitFor(t, 20*time.Second, "the client up on IPv6 alone", func() bool {
		mon = cl.monitor("pppoe-out1")
		return mon["status"] == "connected" && mon["ipv6-address"] != "" && mon["dhcpv6-status"] == "bound"
	})
	if mon["local-address"] != "" || mon["remote-address"] != "" || mon["dhcpv6-prefix"] != "2001:db8:200::/56" ||
		mon["ipv6-dns"] != "2001:db8:ffff::53" {
		t.Errorf("monitor of an IPv6-only session: %v", mon)
	}
	slaac, err := netip.ParsePrefix(mon["ipv6-address"])
	if err != nil || !netip.MustParsePrefix("2001:db8:100::/56").Contains(slaac.Addr()) {
		t.Fatalf("monitor ipv6-address %q, want an address from link6", mon["ipv6-address"])
	}
	if out := l.cl.Run(t, "ip", "-4", "addr", "show", "dev", "pppoe-out1"); strings.Contains(out, "inet ") {
		t.Errorf("pppoe-out1 has IPv4 without IPCP:\n%s", out)
	}
	if out := l.cl.Run(t, "ip", "-4", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("IPv4 default route without IPCP:\n%s", out)
	}
	if out := l.cl.Run(t, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "dev pppoe-out1") {
		t.Errorf("no IPv6 default route through pppoe-out1:\n%s", out)
	}
	if rows := ac.active(); len(rows) != 1 || rows[0]["address"] != "" {
		t.Errorf("AC active %v, want one session without an IPv4 address", rows)
	}

	if got := l.cl.Ping(t, slaac.Addr(), core6, 3, 56); got < 2 {
		t.Errorf("client → core over IPv6: %d/3 replies", got)
	}
	if got := l.core.Ping(t, core6, slaac.Addr(), 3, 56); got != 3 {
		t.Errorf("core → client over IPv6: %d/3 replies", got)
	}
	host := lanHost(t, l, lan)
	// The LAN's neighbours (the host's router, the client's host) are
	// resolved by the first echo; the three counted are the path's.
	if !lan.Reachable(t, host, core6, 3) {
		t.Errorf("host in the delegated prefix → core: no echo of 3 answered")
	}
	if got := lan.Ping(t, host, core6, 3, 56); got != 3 {
		t.Errorf("host in the delegated prefix → core: %d/3 replies", got)
	}
	if got := l.core.Ping(t, core6, host, 3, 56); got != 3 {
		t.Errorf("core → host in the delegated prefix: %d/3 replies", got)
	}
}

// renewServer is TestDualStack's AC with a DHCPv6 lease of 6 s: T1 3 s,
// T2 4.8 s (RFC 8415 §21.4's 0.5 and 0.8), so a Renew comes within the
// test.
var renewServer = strings.Replace(dualStackServer, "dhcpv6-pd-pool=pd6", "dhcpv6-pd-pool=pd6 dhcpv6-lease-time=6s", 1)

// TestDHCPv6RenewEndToEnd: the AC hands out the profile's
// dhcpv6-lease-time; our client Renews at T1 and keeps the prefix, and a
// host inside the delegated prefix reaches the core throughout. Seen on
// the wire: the Reply's lifetimes and T1, the Renew for the same prefix
// about T1 after it, and its Reply. Before, the lease was a fixed day.
func TestDHCPv6RenewEndToEnd(t *testing.T) {
	t.Parallel()
	rows, _ := leaseAcrossRenews(t, false)
	var bound float64 = -1
	renews := 0
	for _, r := range rows {
		at, _ := strconv.ParseFloat(r[0], 64)
		switch r[1] {
		case "7":
			if bound < 0 {
				bound = at
			}
		case "5":
			if r[5] != "2001:db8:200::" {
				t.Errorf("Renew %v: want the bound prefix 2001:db8:200::", r)
			}
			// The first at T1 after the first Reply; a loaded box may
			// be late, never early.
			if renews == 0 && (bound < 0 || at-bound < 2.5 || at-bound > 6) {
				t.Errorf("first Renew at %.2f s, the lease bound at %.2f s: want it T1 (3 s) later", at, bound)
			}
			renews++
		}
	}
	if renews == 0 || !answered(rows, "5") {
		t.Errorf("%d Renews on ether2, want one answered by a Reply: %v", renews, rows)
	}
}

// TestDHCPv6RebindEndToEnd: the client's Renews never reach the AC
// (dropped on their way out of the client's ether2), so at T2 it Rebinds
// (RFC 8415 §18.2.5), the AC answers, and the prefix, its route and the
// traffic from inside it go on.
func TestDHCPv6RebindEndToEnd(t *testing.T) {
	t.Parallel()
	rows, dropped := leaseAcrossRenews(t, true)
	rebinds := 0
	for _, r := range rows {
		switch r[1] {
		case "5":
			t.Errorf("a Renew got past the filter: %v", r)
		case "6":
			if r[5] != "2001:db8:200::" {
				t.Errorf("Rebind %v: want the bound prefix 2001:db8:200::", r)
			}
			rebinds++
		}
	}
	if dropped == 0 || rebinds == 0 || !answered(rows, "6") {
		t.Errorf("%d Renews dropped, %d Rebinds on ether2: want both, a Rebind answered by a Reply: %v", dropped, rebinds, rows)
	}
}

// leaseAcrossRenews runs renewServer and dualStackClient, with the
// client's DHCPv6 Renews dropped on the way out if dropRenew, and pings
// the core from a host inside the delegated prefix every half second for
// 8 s (two lifetimes of Renews or Rebinds). It checks that (nearly) every
// echo was answered, that /ipv6 dhcp-client print still shows the prefix
// bound, and that every Reply carried the profile's lifetimes. It returns
// the DHCPv6 client messages and Replies on ether2 (time, msgtype, T1,
// preferred and valid lifetime, prefix) and how many Renews were dropped.
func leaseAcrossRenews(t *testing.T, dropRenew bool) ([][]string, int) {
	t.Helper()
	netns.RequireTool(t, "tshark")
	l, lan := v6Lab(t)
	startDaemon(t, l.ac, "ac", renewServer, l.pins, "--uplink", "up0")
	if dropRenew {
		netns.RequireTool(t, "nft")
		// At the netdev egress hook, after the client's packet socket
		// wrote the frame: PPPoE session (0x8864), PPP IPv6 (0x0057 at
		// byte 20), UDP to 547 (byte 64), DHCPv6 message type 5 (byte
		// 70). Offsets are in bits from the Ethernet header.
		l.cl.Run(t, "nft", "add", "table", "netdev", "renew")
		l.cl.Run(t, "nft", "add", "chain", "netdev", "renew", "out",
			"{ type filter hook egress device ether2 priority 0; }")
		l.cl.Run(t, "nft", "add", "rule", "netdev", "renew", "out", "ether", "type", "0x8864",
			"@ll,160,16", "0x0057", "@ll,512,16", "547", "@ll,560,8", "5", "counter", "drop")
	}
	capture := l.cl.StartCapture(t, "ether2")
	cl := startDaemon(t, l.cl, "client", dualStackClient, l.pins)
	waitFor(t, 20*time.Second, "the delegated prefix", func() bool {
		return cl.monitor("pppoe-out1")["dhcpv6-status"] == "bound"
	})
	host := lanHost(t, l, lan)

	sent, answered := 0, 0
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		sent++
		answered += lan.Ping(t, host, core6, 1, 56)
	}
	// One lost echo is the neighbour resolution's; anything more is the
	// prefix gone or its route lost across a Renew.
	if answered < sent-1 {
		t.Errorf("host in the delegated prefix → core: %d/%d replies across the Renews", answered, sent)
	}
	print := cl.ctl("/ipv6 dhcp-client print")
	if m := pdRE.FindStringSubmatch(print); m == nil || !strings.Contains(print, "bound") {
		t.Errorf("/ipv6 dhcp-client print after the Renews:\n%s", print)
	}
	dropped := 0
	if dropRenew {
		out := l.cl.Run(t, "nft", "list", "chain", "netdev", "renew", "out")
		if m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out); m != nil {
			dropped, _ = strconv.Atoi(m[1])
		}
	}

	// msgtype 5 Renew, 6 Rebind, 7 Reply; IA_PD's T1 is dhcpv6.iaid.t1.
	rows := capture.Fields(t, "dhcpv6.msgtype == 5 || dhcpv6.msgtype == 6 || dhcpv6.msgtype == 7", "frame.time_relative",
		"dhcpv6.msgtype", "dhcpv6.iaid.t1", "dhcpv6.iaprefix.pref_lifetime", "dhcpv6.iaprefix.valid_lifetime", "dhcpv6.iaprefix.pref_addr")
	for _, r := range rows {
		if r[1] == "7" && (r[2] != "3" || r[3] != "6" || r[4] != "6" || r[5] != "2001:db8:200::") {
			t.Errorf("Reply %v: want T1 3, lifetimes 6 and 6, prefix 2001:db8:200::", r)
		}
	}
	return rows, dropped
}

// answered reports whether a Reply follows the first message of type
// msgtype in rows (leaseAcrossRenews'): the lease was extended.
func answered(rows [][]string, msgtype string) bool {
	asked := false
	for _, r := range rows {
		asked = asked || r[1] == msgtype
		if asked && r[1] == "7" {
			return true
		}
	}
	return false
}

// TestServerDUIDAcrossRestart: the AC's DHCPv6 DUID is a DUID-UUID kept
// in its --state-dir: after pppoed stops and starts again the client's
// new lease comes with the same server DUID. Before, each session's DUID
// was made from the access interface's MAC (one per interface, and gone
// with a replaced card).
func TestServerDUIDAcrossRestart(t *testing.T) {
	t.Parallel()
	netns.RequireTool(t, "tshark")
	l, _ := v6Lab(t)
	stateDir := filepath.Join(t.TempDir(), "ac.state")
	ac := startDaemon(t, l.ac, "ac", dualStackServer, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	capture := l.cl.StartCapture(t, "ether2")
	cl := startDaemon(t, l.cl, "client", dualStackClient, l.pins)
	bound := func() bool { return cl.monitor("pppoe-out1")["dhcpv6-status"] == "bound" }
	waitFor(t, 20*time.Second, "the delegated prefix", bound)
	ac.stop()
	waitFor(t, 20*time.Second, "the client to see the AC gone", func() bool { return !bound() })
	startDaemon(t, l.ac, "ac", dualStackServer, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	waitFor(t, 30*time.Second, "the delegated prefix from the restarted AC", bound)

	rows := capture.Fields(t, "dhcpv6.msgtype == 7", "frame.time_relative", "dhcpv6.duiduuid.bytes")
	var duids []string
	for _, r := range rows {
		duids = append(duids, r[1])
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{32}$`)
	if len(duids) < 2 || !uuid.MatchString(strings.ReplaceAll(duids[0], ":", "")) ||
		slices.IndexFunc(duids, func(d string) bool { return d != duids[0] }) >= 0 {
		t.Errorf("server DUID-UUIDs in the Replies of both runs: %q, want one and the same", duids)
	}
}
