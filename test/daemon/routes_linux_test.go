package daemon

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// singleServer is a pool of one address, so its route on pppoe0 is the
// /32 a session with a small MTU needs for itself too.
const singleServer = `/ip pool add name=p ranges=10.0.0.250
/ppp profile add name=prof local-address=10.0.0.1 remote-address=p
/ppp secret add name=u password=pw profile=prof service=pppoe
/interface pppoe-server server add interface=ether3 service-name=svc default-profile=prof disabled=no max-mtu=1492 max-mru=1492
`

const singleClient = `/interface pppoe-client add name=pppoe-out1 interface=ether2 service-name=svc user=u password=pw add-default-route=yes disabled=no
`

// pppoe0Routes returns the AC's routes on pppoe0 as dst → the rest of
// the line ("10.0.0.250" → "proto 113 scope link mtu 1460").
func pppoe0Routes(t *testing.T, ac *netns.NS) map[string]string {
	t.Helper()
	out := ac.Run(t, "ip", "-4", "route", "show", "dev", "pppoe0")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if dst, rest, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			m[dst] = rest
		}
	}
	return m
}

// sessionAt waits for the one session of ac to be up at addr and returns
// its session id.
func sessionAt(t *testing.T, ac *daemon, addr string) string {
	t.Helper()
	var sid string
	waitFor(t, 15*time.Second, "a session at "+addr, func() bool {
		rows := ac.active()
		if len(rows) == 1 && rows[0]["address"] == addr {
			sid = rows[0]["session-id"]
			return true
		}
		return false
	})
	return sid
}

// TestPPPoE0RoutesFollowSessions: a pool of one address, so the pool's
// route on pppoe0 is the /32 that the session there also needs when its
// MTU is below pppoe0's. Sessions with different MTUs come and go at that
// address, and the pool is shrunk under a live session and edited again.
// Ending a session with an MTU route used to delete the pool's route (the
// next session there was unreachable from the AC), the next pool edit
// then failed to delete it again, and a shrunk pool left its live
// sessions without a route.
func TestPPPoE0RoutesFollowSessions(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	ac := startDaemon(t, l.ac, "ac", singleServer, l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", singleClient, l.pins)
	// Pings from the AC itself: the kernel routes them, where the core's
	// take the uplink's fast path, which finds a session by its address
	// in the maps, route or none.
	acLocal := netip.MustParseAddr("10.0.0.1")
	reachable := func(what string, a netip.Addr) {
		t.Helper()
		// The AC lists a session once its IPCP is open; the client may
		// still be setting up its side (address, netdev, routes).
		waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("pppoe-out1")["status"] == "connected" })
		if got := l.ac.Ping(t, acLocal, a, 2, 56); got != 2 {
			t.Errorf("%s: AC → %v: %d/2 replies; pppoe0 routes %v", what, a, got, pppoe0Routes(t, l.ac))
		}
	}
	sub := netip.MustParseAddr("10.0.0.250")

	// The client's max-mru (1460 by default) is below pppoe0's 1492: the
	// session's /32 carries its MTU, in place of the pool's.
	sid := sessionAt(t, ac, sub.String())
	if r := pppoe0Routes(t, l.ac)[sub.String()]; !strings.Contains(r, "mtu 1460") {
		t.Errorf("route to %v %q, want mtu 1460", sub, r)
	}
	reachable("session with mtu 1460", sub)

	// The next session at that address has pppoe0's MTU: it needs no
	// route of its own, and the pool's must be back.
	cl.ctl("/interface pppoe-client set pppoe-out1 max-mru=1492 max-mtu=1492")
	waitFor(t, 15*time.Second, "a new session", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["session-id"] != sid && rows[0]["address"] == sub.String()
	})
	sid = sessionAt(t, ac, sub.String())
	if r, ok := pppoe0Routes(t, l.ac)[sub.String()]; !ok || strings.Contains(r, "mtu") {
		t.Errorf("route to %v %q (present %v), want the pool's, without mtu", sub, r, ok)
	}
	reachable("session with mtu 1492 after one with 1460", sub)

	// The pool shrinks away from the live session: the edit applies, the
	// session keeps a route until it ends, the new ranges get theirs.
	ac.ctl("/ip pool set p ranges=10.0.0.240-10.0.0.249")
	routes := pppoe0Routes(t, l.ac)
	for _, want := range []string{"10.0.0.240/29", "10.0.0.248/31"} {
		if _, ok := routes[want]; !ok {
			t.Errorf("pppoe0 routes %v lack the new range's %s", routes, want)
		}
	}
	if _, ok := routes[sub.String()]; !ok {
		t.Errorf("pppoe0 routes %v: the live session at %v outside the shrunk pool lost its route", routes, sub)
	}
	reachable("session outside the shrunk pool", sub)
	if rows := ac.active(); len(rows) != 1 || rows[0]["session-id"] != sid {
		t.Errorf("sessions %v after the pool shrank, want %s kept", rows, sid)
	}

	// The client comes back with a small MTU, inside the new ranges; the
	// old session's route goes with it.
	cl.ctl("/interface pppoe-client set pppoe-out1 max-mru=1400 max-mtu=1400")
	var addr netip.Addr
	waitFor(t, 15*time.Second, "a session in the new range", func() bool {
		rows := ac.active()
		if len(rows) == 1 && rows[0]["session-id"] != sid && strings.HasPrefix(rows[0]["address"], "10.0.0.24") {
			addr = netip.MustParseAddr(rows[0]["address"])
			return true
		}
		return false
	})
	routes = pppoe0Routes(t, l.ac)
	if r, ok := routes[sub.String()]; ok {
		t.Errorf("route to %v %q left after its session ended outside the pool", sub, r)
	}
	if r := routes[addr.String()]; !strings.Contains(r, "mtu 1400") {
		t.Errorf("route to %v %q, want mtu 1400", addr, r)
	}
	reachable("session with mtu 1400 in the new range", addr)

	// The address comes back into the pool: its route with it, the live
	// session's stays.
	ac.ctl("/ip pool set p ranges=10.0.0.240-10.0.0.250")
	routes = pppoe0Routes(t, l.ac)
	if r, ok := routes[sub.String()]; !ok || strings.Contains(r, "mtu") {
		t.Errorf("route to %v %q (present %v), want the pool's back", sub, r, ok)
	}
	if r := routes[addr.String()]; !strings.Contains(r, "mtu 1400") {
		t.Errorf("route to %v %q after the pool edit, want mtu 1400 kept", addr, r)
	}

	// The session ends for good: its host route goes, the pool's stay.
	cl.ctl("/interface pppoe-client disable pppoe-out1")
	waitFor(t, 10*time.Second, "the session to end", func() bool { return len(ac.active()) == 0 })
	routes = pppoe0Routes(t, l.ac)
	if r, ok := routes[addr.String()]; ok {
		t.Errorf("route to %v %q left after its session ended", addr, r)
	}
	for _, want := range []string{"10.0.0.240/29", "10.0.0.248/31", sub.String()} {
		if _, ok := routes[want]; !ok {
			t.Errorf("pppoe0 routes %v lack the pool's %s", routes, want)
		}
	}

	ac.stop()
	if routes := pppoe0Routes(t, l.ac); len(routes) != 0 {
		t.Errorf("pppoe0 keeps routes after shutdown: %v", routes)
	}
}

// hairpinServer serves two access interfaces with one pool, so two
// subscribers share pppoe0.
const hairpinServer = `/ip pool add name=p ranges=10.0.0.2-10.0.0.5
/ppp profile add name=prof local-address=10.0.0.1 remote-address=p
/ppp secret add name=u1 password=pw profile=prof service=pppoe
/ppp secret add name=u2 password=pw profile=prof service=pppoe
/interface pppoe-server server add interface=ether3 service-name=svc default-profile=prof disabled=no
/interface pppoe-server server add interface=ether4 service-name=svc default-profile=prof disabled=no
`

// icmpCounter reads one field of the Icmp line of /proc/net/snmp in n.
func icmpCounter(t *testing.T, n *netns.NS, field string) uint64 {
	t.Helper()
	var names []string
	for _, line := range strings.Split(n.Run(t, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Icmp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == field && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					t.Fatalf("/proc/net/snmp Icmp %s=%q: %v", field, f[i], err)
				}
				return v
			}
		}
	}
	t.Fatalf("/proc/net/snmp has no Icmp %s", field)
	return 0
}

// TestHairpinNoRedirect: traffic between two subscribers enters pppoe0
// and leaves through it again. A kernel forwarding a packet out of the
// interface it came in on tells the sender, with an ICMP Redirect, to
// use the next hop directly; behind pppoe0 there is no shared link to
// do that on (each subscriber has a point-to-point session), so the AC
// must send none.
func TestHairpinNoRedirect(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("three daemons")
	}
	l := &lab{ac: netns.New(t)}
	l.pins = bpffs(t)
	cl1, cl2 := netns.New(t), netns.New(t)
	netns.Veth(t, cl1, "ether2", l.ac, "ether3")
	netns.Veth(t, cl2, "ether2", l.ac, "ether4")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// The kernel's defaults, stated: a namespace may inherit others.
	l.ac.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=1")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv4.conf.default.send_redirects=1")
	ac := startDaemon(t, l.ac, "ac", hairpinServer, l.pins)
	c1 := startDaemon(t, cl1, "cl1", strings.Replace(singleClient, "user=u ", "user=u1 ", 1), l.pins)
	c2 := startDaemon(t, cl2, "cl2", strings.Replace(singleClient, "user=u ", "user=u2 ", 1), l.pins)
	var a1, a2 netip.Addr
	waitFor(t, 15*time.Second, "both clients connected", func() bool {
		m1, m2 := c1.monitor("pppoe-out1"), c2.monitor("pppoe-out1")
		if m1["status"] != "connected" || m2["status"] != "connected" {
			return false
		}
		a1, a2 = netip.MustParseAddr(m1["local-address"]), netip.MustParseAddr(m2["local-address"])
		return true
	})
	// pppoe0's 0 counts only with all at 0 (the kernel ORs them); the
	// daemon changed all and said so.
	for _, dev := range []string{"pppoe0", "all"} {
		if out := l.ac.Run(t, "sysctl", "-n", "net.ipv4.conf."+dev+".send_redirects"); strings.TrimSpace(out) != "0" {
			t.Errorf("net.ipv4.conf.%s.send_redirects = %s, want 0", dev, strings.TrimSpace(out))
		}
	}
	if !strings.Contains(ac.log.String(), "set net.ipv4.conf.all.send_redirects=0") {
		t.Error("the AC changed net.ipv4.conf.all.send_redirects without a word in its log")
	}

	sent, got := icmpCounter(t, l.ac, "OutRedirects"), icmpCounter(t, cl1, "InRedirects")
	if n := cl1.Ping(t, a1, a2, 5, 56); n != 5 {
		t.Errorf("subscriber %v → subscriber %v: %d/5 replies", a1, a2, n)
	}
	if n := cl2.Ping(t, a2, a1, 2, 56); n != 2 {
		t.Errorf("subscriber %v → subscriber %v: %d/2 replies", a2, a1, n)
	}
	if d := icmpCounter(t, l.ac, "OutRedirects") - sent; d != 0 {
		t.Errorf("the AC sent %d ICMP Redirects for hairpin traffic, want none", d)
	}
	if d := icmpCounter(t, cl1, "InRedirects") - got; d != 0 {
		t.Errorf("subscriber %v received %d ICMP Redirects, want none", a1, d)
	}
}
