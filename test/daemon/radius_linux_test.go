package daemon

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// radiusServer is the Quick Example's server with its subscribers on
// RADIUS: a FreeRADIUS on the AC's loopback (the README's example), /ppp
// aaa use-radius=yes and /radius incoming for Disconnect.
const radiusServer = `/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/interface pppoe-server server
add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice
/system identity set name=bng1
/radius add service=ppp address=127.0.0.1 secret=%q
/ppp aaa set use-radius=yes accounting=yes interim-update=10s
/radius incoming set accept=yes
`

const radiusClient = `/interface pppoe-client add interface=ether2 password=rad-pw service-name=pppoeservice name=PPPoE-Out disabled=no user=rad-user
`

// TestRadiusDaemon runs pppoed with its subscribers on RADIUS, as the
// README tells an operator to: Accounting-On at start, Start and
// Interim-Update of the session, a Disconnect from radclient, the
// session's Stop and Accounting-Off at a clean stop, and the secret only
// in print with show-sensitive.
func TestRadiusDaemon(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	netns.RequireTool(t, "freeradius")
	netns.RequireTool(t, "radclient")
	fr, err := freeradius.Launch(t.TempDir(), freeradius.Options{
		Netns: l.ac.Name, AuthPort: 1812, AcctPort: 1813,
		Users: "rad-user\tCleartext-Password := \"rad-pw\"\n\tFramed-Pool = \"pppoe-pool\"\n",
	})
	must(t, err)
	t.Cleanup(fr.Close)
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(radiusServer, freeradius.Secret), l.pins, "--uplink", "up0")
	startDaemon(t, l.cl, "client", radiusClient, l.pins)

	var row map[string]string
	waitFor(t, 20*time.Second, "a RADIUS session", func() bool {
		rows := ac.active()
		if len(rows) == 1 && rows[0]["address"] != "" {
			row = rows[0]
			return true
		}
		return false
	})
	if row["name"] != "rad-user" || !strings.HasPrefix(row["address"], "10.0.0.") {
		t.Fatalf("active %v", row)
	}
	id := strings.TrimPrefix(row[".id"], "*")
	id = strings.Repeat("0", max(0, 8-len(id))) + id
	records := func(status string) []map[string]string {
		var out []map[string]string
		for _, r := range fr.Records() {
			if r["Acct-Status-Type"] == status {
				out = append(out, r)
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "Accounting-On and Start", func() bool { return len(records("Accounting-On")) == 1 && len(records("Start")) == 1 })
	if s := records("Start")[0]; s["Acct-Session-Id"] != id || s["NAS-Identifier"] != "bng1" || s["User-Name"] != "rad-user" {
		t.Errorf("Start %v (session .id %s)", s, row[".id"])
	}
	waitFor(t, 30*time.Second, "an Interim-Update (interim-update=10s)", func() bool { return len(records("Interim-Update")) >= 1 })

	if out := ac.ctl("/radius print detail"); strings.Contains(out, freeradius.Secret) {
		t.Errorf("print shows the secret:\n%s", out)
	}
	if out := ac.ctl("/radius print detail show-sensitive"); !strings.Contains(out, freeradius.Secret) {
		t.Errorf("print show-sensitive does not show the secret:\n%s", out)
	}

	cmd := exec.Command("ip", "netns", "exec", l.ac.Name, "radclient", "-x", "-t", "10", "-r", "1", "127.0.0.1:3799", "disconnect", freeradius.Secret)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("Acct-Session-Id = %q\n", id))
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "Received Disconnect-ACK") {
		t.Fatalf("radclient disconnect:\n%s", out)
	}
	waitFor(t, 10*time.Second, "the disconnected session's Stop", func() bool { return len(records("Stop")) == 1 })
	if s := records("Stop")[0]; s["Acct-Session-Id"] != id || s["Acct-Terminate-Cause"] != "Admin-Reset" {
		t.Errorf("Stop %v", s)
	}
	// The client dials again; a clean stop ends that session with a Stop
	// and then Accounting-Off.
	waitFor(t, 30*time.Second, "the client's next session", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["address"] != "" && rows[0][".id"] != row[".id"]
	})
	waitFor(t, 10*time.Second, "its Start", func() bool { return len(records("Start")) == 2 })
	ac.stop()
	recs := fr.Records()
	if n := len(recs); n == 0 || recs[n-1]["Acct-Status-Type"] != "Accounting-Off" {
		t.Fatalf("the last record is not Accounting-Off:\n%s", fr.Detail())
	}
	stops := records("Stop")
	if len(stops) != 2 || stops[1]["Acct-Terminate-Cause"] != "Admin-Reboot" {
		t.Errorf("stops %v, want the second one Admin-Reboot (pppoed stopped)", stops)
	}
}

// TestRadiusFramedRoute runs the README's alice: a Framed-IP-Address
// outside every /ip pool and a Framed-Route to a LAN behind her. Both
// forward both ways, through the data plane and the kernel's routes on
// pppoe0 (which name them as pppoed's), and the routes go with the
// session.
func TestRadiusFramedRoute(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	netns.RequireTool(t, "freeradius")
	fr, err := freeradius.Launch(t.TempDir(), freeradius.Options{Netns: l.ac.Name, AuthPort: 1812, AcctPort: 1813})
	must(t, err)
	t.Cleanup(fr.Close)
	// The core routes alice's address and LAN to the AC, as an upstream
	// router told of them would.
	l.core.Run(t, "ip", "route", "add", "10.9.0.5/32", "via", "198.51.100.1")
	l.core.Run(t, "ip", "route", "add", "192.0.2.0/24", "via", "198.51.100.1")
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(radiusServer, freeradius.Secret), l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", strings.ReplaceAll(strings.ReplaceAll(radiusClient, "user=rad-user", "user=alice"), "password=rad-pw", "password=alice-pw"), l.pins)
	waitFor(t, 20*time.Second, "alice's session", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["address"] == "10.9.0.5"
	})
	waitFor(t, 10*time.Second, "the client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	routes := l.ac.Run(t, "ip", "route", "show", "dev", "pppoe0", "proto", "33")
	for _, want := range []string{"10.9.0.5 ", "192.0.2.0/24 "} {
		if !strings.Contains(routes, want) {
			t.Errorf("pppoe0 routes lack %s:\n%s", want, routes)
		}
	}
	// Alice's LAN: an address on her router's loopback.
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	l.cl.Run(t, "ip", "addr", "add", "192.0.2.1/32", "dev", "lo")
	alice, lan := netip.MustParseAddr("10.9.0.5"), netip.MustParseAddr("192.0.2.1")
	for _, p := range []struct {
		name     string
		ns       *netns.NS
		src, dst netip.Addr
	}{
		{"alice → core", l.cl, alice, coreAddr},
		{"core → alice", l.core, coreAddr, alice},
		{"alice's LAN → core", l.cl, lan, coreAddr},
		{"core → alice's LAN", l.core, coreAddr, lan},
	} {
		if got := p.ns.Ping(t, p.src, p.dst, 3, 200); got != 3 {
			t.Errorf("%s: %d/3 replies", p.name, got)
		}
	}
	if m := ac.metrics(); m[`pppoe_dataplane_packets_total{reason="spoofed"}`] != 0 {
		t.Errorf("the LAN's packets were dropped as spoofed: %v", m[`pppoe_dataplane_packets_total{reason="spoofed"}`])
	}
	cl.stop()
	waitFor(t, 20*time.Second, "the session's end", func() bool { return len(ac.active()) == 0 })
	if routes := l.ac.Run(t, "ip", "route", "show", "dev", "pppoe0", "proto", "33"); strings.Contains(routes, "192.0.2.0/24") || strings.Contains(routes, "10.9.0.5 ") {
		t.Errorf("alice's routes outlived her session:\n%s", routes)
	}
}
