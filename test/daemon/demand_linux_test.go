package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// demandClient is the Quick Example client with dial-on-demand and a
// default route, so that the route catches traffic while it is down.
const demandClient = `/interface pppoe-client add name=pppoe-out1 interface=ether2 user=MT-User password=StrongPass service-name=pppoeservice dial-on-demand=yes add-default-route=yes disabled=no
`

// sendUDP sends one datagram from n to dst:9 (discard) through whatever
// route n has for it.
func sendUDP(t *testing.T, n *netns.NS, dst netip.Addr) {
	t.Helper()
	must(t, n.Do(t, func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(dst, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("dial"))
		return err
	}))
}

// demandParked checks the client waiting for traffic: disconnected, with
// the placeholder address and a default route through a gateway in
// 10.112.112.0/24 on its netdev, and no session on the AC.
func demandParked(t *testing.T, l *lab, ac, cl *daemon) {
	t.Helper()
	if mon := cl.monitor("pppoe-out1"); mon["status"] != "disconnected" || mon["local-address"] != "" {
		t.Errorf("monitor %v, want disconnected with no address while waiting for traffic", mon)
	}
	if js := cl.monitorJSON("pppoe-out1"); js["status"] != "disconnected" || js["session-id"] != nil {
		t.Errorf("monitor --json %v, want disconnected with no session", js)
	}
	if got, _ := addrs(l.cl, "pppoe-out1"); got != "10.112.112.2" { // "inet 10.112.112.2 peer 10.112.112.1/32"
		t.Errorf("pppoe-out1 addresses %q, want the dial-on-demand placeholder 10.112.112.2", got)
	}
	if out := l.cl.Run(t, "ip", "route", "show", "default"); !strings.Contains(out, "via 10.112.112.1 dev pppoe-out1") {
		t.Errorf("default route %q, want via 10.112.112.1 dev pppoe-out1", out)
	}
	if rows := ac.active(); len(rows) != 0 {
		t.Errorf("AC has sessions %v before any traffic", rows)
	}
}

// TestDialOnDemand: a dial-on-demand client does not dial until a packet
// goes through its route; that packet starts discovery, the session comes
// up and traffic flows; when the AC ends the session the client parks again.
func TestDialOnDemand(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", demandClient, l.pins)

	waitFor(t, 5*time.Second, "the dial-on-demand route", func() bool {
		out, _ := l.cl.Output("ip", "route", "show", "default")
		return strings.Contains(out, "10.112.112.1")
	})
	// Long enough for an eager client to have dialed (the AC answers at
	// once), short enough to keep the test quick.
	time.Sleep(1500 * time.Millisecond)
	demandParked(t, l, ac, cl)
	if n := ac.metrics()["pppoe_discovery_padi_received_total"]; n != 0 {
		t.Errorf("AC received %v PADIs before any traffic", n)
	}

	// One packet towards the core dials.
	start := time.Now()
	sendUDP(t, l.cl, coreAddr)
	waitFor(t, 10*time.Second, "the session started by the packet", func() bool {
		return cl.monitor("pppoe-out1")["status"] == "connected"
	})
	t.Logf("connected %v after the first packet", time.Since(start).Round(time.Millisecond))
	mon := cl.monitor("pppoe-out1")
	rows := ac.active()
	if len(rows) != 1 || rows[0]["address"] != mon["local-address"] || mon["local-address"] != "10.0.0.2" {
		t.Fatalf("AC active %v, client monitor %v, want one session at 10.0.0.2", rows, mon)
	}
	if got, _ := addrs(l.cl, "pppoe-out1"); got != "10.0.0.2" {
		t.Errorf("pppoe-out1 addresses %q, want only IPCP's 10.0.0.2", got)
	}
	if out := l.cl.Run(t, "ip", "route", "show", "default"); strings.Contains(out, "10.112.112.") || !strings.Contains(out, "dev pppoe-out1") {
		t.Errorf("default route %q, want the session's device route, not the placeholder gateway", out)
	}

	// Traffic flows both ways through the session.
	sub := netip.MustParseAddr("10.0.0.2")
	if got := l.cl.Ping(t, sub, coreAddr, 3, 200); got != 3 {
		t.Errorf("client → core: %d/3 replies", got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("core → client: %d/3 replies", got)
	}
	if r := ac.active()[0]; counter(t, r, "packets-in") < 3 || counter(t, r, "packets-out") < 3 {
		t.Errorf("AC counters %v, want the echoes each way", r)
	}

	// The AC ends the session: the client parks on its placeholder route
	// again and does not redial without traffic.
	ac.ctl("/ppp active remove [find name=MT-User]")
	waitFor(t, 5*time.Second, "the client to park again", func() bool {
		out, _ := l.cl.Output("ip", "route", "show", "default")
		return strings.Contains(out, "via 10.112.112.1")
	})
	time.Sleep(1500 * time.Millisecond)
	demandParked(t, l, ac, cl)
	t.Logf("parked again: %s", cl.ctl("/interface pppoe-client monitor pppoe-out1 once"))
	if mon := cl.monitor("pppoe-out1"); !strings.Contains(mon["reason"], "PADT") && !strings.Contains(strings.ToLower(mon["reason"]), "terminate") {
		t.Errorf("monitor %v, want the AC's PADT or Terminate-Request as reason", mon)
	}
	sendUDP(t, l.cl, coreAddr)
	waitFor(t, 10*time.Second, "the redial started by the next packet", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["address"] != ""
	})
}
