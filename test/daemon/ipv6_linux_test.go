package daemon

import (
	"bytes"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// dualStackServer hands each session an IPv4 address, a link /64 for
// SLAAC and, by DHCPv6-PD, a /56 from a pool holding exactly one, so a
// second subscriber gets a prefix only once the first gave it back.
const dualStackServer = `/ip pool add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ipv6 pool add name=link6 prefix=2001:db8:100::/56 prefix-length=64
/ipv6 pool add name=pd6 prefix=2001:db8:200::/56 prefix-length=56
/ppp profile add name=v6 local-address=10.0.0.1 remote-address=pppoe-pool remote-ipv6-prefix-pool=link6 dhcpv6-pd-pool=pd6 dns-server=192.0.2.53,2001:db8:ffff::53
/ppp secret add name=one password=p1 profile=v6 service=pppoe
/ppp secret add name=two password=p2 profile=v6 service=pppoe
/interface pppoe-server server add interface=ether3 service-name=isp default-profile=v6 disabled=no
`

// dualStackClient is the dhcp-client line on a pppoe-client with
// a default route (distance 2, so the dhcp-client's, distance 1, is a
// route of its own) and the peer's DNS; pppoe-out2, disabled, is the
// second subscriber.
const dualStackClient = `/interface pppoe-client add name=pppoe-out1 interface=ether2 user=one password=p1 service-name=isp add-default-route=yes default-route-distance=2 use-peer-dns=yes disabled=no
/interface pppoe-client add name=pppoe-out2 interface=ether2 user=two password=p2 service-name=isp disabled=yes
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd add-default-route=yes
/ipv6 dhcp-client add interface=pppoe-out2 request=prefix pool-name=isp-pd2
`

// dualStackND is /ipv6 nd on the AC for TestDualStack: RAs every 3–4 s
// with a 20 min router lifetime and MTU 1400, prefix lifetimes 1 d / 12 h.
const dualStackND = `/ipv6 nd set [ find default=yes ] ra-interval=3s-4s ra-lifetime=20m mtu=1400
/ipv6 nd prefix default set valid-lifetime=1d preferred-lifetime=12h
`

var (
	core6 = netip.MustParseAddr("2001:db8:ffff::2")
	pdRE  = regexp.MustCompile(`(2001:db8:200::/56), (\S+)`)
)

// TestDualStack runs pppoed as the AC and pppoed as the client, both
// stacks: IPv6CP, SLAAC from the AC's RA with the default route and the
// RDNSS server, DHCPv6-PD into a dynamic pool, IPv6 both ways through the
// data plane, a host behind the client numbered from the delegated prefix
// reaching the core, the Release on the wire when the client goes down,
// and the prefix back in the AC's pool for the next subscriber. The AC's
// RAs carry its /ipv6 nd values, and a change reaches the live session;
// the client, forwarding IPv6, sends none of the AC's DHCPv6 Replies back.
func TestDualStack(t *testing.T) {
	t.Parallel()
	netns.RequireTool(t, "tshark")
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	lan := netns.New(t)
	netns.Veth(t, l.cl, "lan0", lan, "host0")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.cl.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "up0", "nodad")
	l.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/64", "dev", "cor0", "nodad")
	l.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:ffff::1")
	// The test exists to show IPv6 on the XDP fast path upstream too: the
	// AC's uplink veth takes redirected frames only with GRO on its peer.
	l.core.GRO(t, "cor0", true)

	ac := startDaemon(t, l.ac, "ac", dualStackServer+dualStackND, l.pins, "--uplink", "up0")
	capture := l.cl.StartCapture(t, "ether2")
	cl := startDaemon(t, l.cl, "client", dualStackClient, l.pins)

	// IPv6CP, the RA's address and the delegated prefix.
	var mon map[string]string
	waitFor(t, 20*time.Second, "IPv6 and the delegated prefix on the client", func() bool {
		mon = cl.monitor("pppoe-out1")
		return mon["status"] == "connected" && mon["ipv6-address"] != "" && mon["dhcpv6-status"] == "bound"
	})
	// A live session's next RA (at most 4 s on) says what /ipv6 nd says
	// now; the pings below take their time, the wait makes sure.
	ac.ctl("/ipv6 nd set [ find default=yes ] ra-lifetime=25m")
	changed := time.Now()
	if !strings.HasPrefix(mon["local-ipv6"], "fe80::") || !strings.HasPrefix(mon["remote-ipv6"], "fe80::") ||
		mon["local-ipv6"] == mon["remote-ipv6"] || mon["local-ipv6"] == "fe80::" {
		t.Errorf("IPv6CP identifiers: local %q remote %q", mon["local-ipv6"], mon["remote-ipv6"])
	}
	slaac, err := netip.ParsePrefix(mon["ipv6-address"])
	if err != nil || slaac.Bits() != 64 || !netip.MustParsePrefix("2001:db8:100::/56").Contains(slaac.Addr()) {
		t.Fatalf("monitor ipv6-address %q, want a /64 address from link6", mon["ipv6-address"])
	}
	// The interface identifier is IPv6CP's (RFC 5072 §5): the SLAAC
	// address ends as the link-local one does.
	ll := netip.MustParseAddr(mon["local-ipv6"]).As16()
	if a := slaac.Addr().As16(); !bytes.Equal(a[8:], ll[8:]) {
		t.Errorf("SLAAC address %s does not carry the IPv6CP identifier of %s", slaac.Addr(), mon["local-ipv6"])
	}
	if mon["dhcpv6-prefix"] != "2001:db8:200::/56" || mon["ipv6-dns"] != "2001:db8:ffff::53" {
		t.Errorf("monitor: dhcpv6-prefix %q ipv6-dns %q", mon["dhcpv6-prefix"], mon["ipv6-dns"])
	}
	addrOut := l.cl.Run(t, "ip", "-6", "addr", "show", "dev", "pppoe-out1")
	if !strings.Contains(addrOut, slaac.String()) {
		t.Errorf("pppoe-out1 lacks %s:\n%s", slaac, addrOut)
	}
	if strings.Contains(addrOut, "fe80::") {
		// The kernel's own link-local (from the veth's MAC) would mean
		// its own RS and SLAAC run beside ours.
		t.Errorf("pppoe-out1 has a kernel link-local address:\n%s", addrOut)
	}
	routes := l.cl.Run(t, "ip", "-6", "route", "show", "default")
	for _, want := range []string{"default dev pppoe-out1 metric 2", "default dev pppoe-out1 metric 1"} {
		if !strings.Contains(routes, want) {
			t.Errorf("IPv6 default routes lack %q:\n%s", want, routes)
		}
	}
	resolv, _ := os.ReadFile(cl.resolv)
	if !strings.Contains(string(resolv), "nameserver 192.0.2.53\nnameserver 2001:db8:ffff::53\n") {
		t.Errorf("resolv.conf:\n%s\nwant IPCP's then RDNSS's server", resolv)
	}
	print := cl.ctl("/ipv6 dhcp-client print")
	if m := pdRE.FindStringSubmatch(print); m == nil || !strings.Contains(print, "bound") || !strings.Contains(print, "pppoe-out1") {
		t.Errorf("/ipv6 dhcp-client print:\n%s", print)
	}
	if pools := cl.ctl("/ipv6 pool print"); !regexp.MustCompile(`D isp-pd +2001:db8:200::/56 +64 `).MatchString(pools) {
		t.Errorf("/ipv6 pool print lacks the dynamic pool:\n%s", pools)
	}

	// IPv6 both ways over the session, through the AC's XDP fast path.
	// A first echo makes the AC resolve the core's neighbour entry (until
	// then XDP leaves packets to the kernel, counted no_neigh).
	if got := l.cl.Ping(t, slaac.Addr(), core6, 1, 56); got != 1 {
		t.Errorf("client → core over IPv6: %d/1 replies", got)
	}
	before := ac.metrics()
	if got := l.cl.Ping(t, slaac.Addr(), core6, 3, 56); got != 3 {
		t.Errorf("client → core over IPv6: %d/3 replies", got)
	}
	if got := l.core.Ping(t, core6, slaac.Addr(), 3, 56); got != 3 {
		t.Errorf("core → client over IPv6: %d/3 replies", got)
	}
	after := ac.metrics()
	for _, r := range []string{"fast_up", "fast_down"} {
		k := `pppoe_dataplane_packets_total{reason="` + r + `"}`
		if after[k]-before[k] < 6 {
			t.Errorf("%s moved %v, want the 6 echoes of IPv6 it forwarded", k, after[k]-before[k])
		}
	}

	// A host behind the client, numbered from the delegated prefix.
	l.cl.Run(t, "ip", "-6", "addr", "add", "2001:db8:200:1::1/64", "dev", "lan0", "nodad")
	lan.Run(t, "ip", "-6", "addr", "add", "2001:db8:200:1::2/64", "dev", "host0", "nodad")
	lan.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:200:1::1")
	host := netip.MustParseAddr("2001:db8:200:1::2")
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

	if d := 5*time.Second - time.Since(changed); d > 0 {
		time.Sleep(d)
	}

	// The first subscriber goes: Release on the wire, the prefix back in
	// the AC's pool, and the second subscriber gets it.
	cl.ctl("/interface pppoe-client disable pppoe-out1")
	waitFor(t, 10*time.Second, "the session to end on the AC", func() bool { return len(ac.active()) == 0 })
	if out := l.cl.Run(t, "ip", "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("IPv6 default routes stay after the client went down:\n%s", out)
	}
	cl.ctl("/interface pppoe-client enable pppoe-out2")
	waitFor(t, 20*time.Second, "the second subscriber's delegated prefix", func() bool {
		return cl.monitor("pppoe-out2")["dhcpv6-prefix"] == "2001:db8:200::/56"
	})
	rows := capture.Fields(t, "dhcpv6.msgtype == 8", "dhcpv6.iaprefix.pref_addr", "dhcpv6.iaprefix.pref_len")
	if len(rows) == 0 || rows[0][0] != "2001:db8:200::" || rows[0][1] != "56" {
		t.Errorf("Release frames on ether2: %v, want one for 2001:db8:200::/56", rows)
	}

	// The first session's RAs: /ipv6 nd's values, 20 min then, after the
	// change, 25 min (it ended by the client's PADT: no final RA).
	ras := capture.Fields(t, "icmpv6.type == 134", "pppoe.session_id", "icmpv6.nd.ra.router_lifetime", "icmpv6.opt.mtu",
		"icmpv6.opt.prefix.valid_lifetime", "icmpv6.opt.prefix.preferred_lifetime")
	var lifetimes []string
	for _, r := range ras {
		if len(r) != 5 || len(ras) == 0 || r[0] != ras[0][0] {
			continue
		}
		if r[2] != "1400" || r[3] != "86400" || r[4] != "43200" {
			t.Errorf("RA %v: want MTU 1400, prefix lifetimes 86400/43200", r)
		}
		if len(lifetimes) == 0 || lifetimes[len(lifetimes)-1] != r[1] {
			lifetimes = append(lifetimes, r[1])
		}
	}
	if strings.Join(lifetimes, ",") != "1200,1500" {
		t.Errorf("the first session's RA router lifetimes went %v; want 1200, then 1500", lifetimes)
	}
	// With forwarding on, the client kept the AC's Replies to itself:
	// every Reply on ether2 comes from one MAC, the AC's.
	replies := capture.Fields(t, "dhcpv6.msgtype == 7", "eth.src", "ipv6.hlim")
	for _, r := range replies {
		if r[0] != replies[0][0] {
			t.Errorf("DHCPv6 Reply from %s (hop limit %s) after the AC's from %s: the client sent it back", r[0], r[1], replies[0][0])
			break
		}
	}
	if len(replies) == 0 {
		t.Error("no DHCPv6 Reply on ether2")
	}
}
