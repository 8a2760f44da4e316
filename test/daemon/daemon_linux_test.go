package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// quickServer is the Quick Example server block of the RouterOS reference,
// verbatim with the "[admin@MikroTik] > " prompts stripped, plus a second
// secret that the reload test changes.
const quickServer = `/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret
add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server
add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice
/ppp secret add name=spare password=%s profile=for-pppoe service=pppoe
`

// quickClient is the Quick Example client command as typed at the root
// prompt.
const quickClient = `interface pppoe-client add interface=ether2 password=StrongPass service-name=pppoeservice name=PPPoE-Out disabled=no user=MT-User
`

var coreAddr = netip.MustParseAddr("198.51.100.2")

// lab is core ─cor0/up0─ AC ─ether3/<client iface>─ client, with pppoed
// as the access concentrator (uplink up0) and as the client.
type lab struct {
	core, ac, cl *netns.NS
	pins         string
}

func newLab(t *testing.T, acIface, clIface string, pool string) *lab {
	netns.RequireRoot(t)
	netns.RequireTool(t, "bpftool")
	l := &lab{core: netns.New(t), ac: netns.New(t), cl: netns.New(t)}
	l.pins = bpffs(t)
	netns.Veth(t, l.cl, clIface, l.ac, acIface)
	netns.Veth(t, l.ac, "up0", l.core, "cor0")
	l.core.Run(t, "ip", "addr", "add", coreAddr.String()+"/24", "dev", "cor0")
	l.core.Run(t, "ip", "route", "add", pool, "via", "198.51.100.1")
	l.core.TxChecksumOff(t, "cor0")
	l.ac.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.ac.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
	return l
}

// TestQuickExample runs the reference's Quick Example: pppoed as the
// access concentrator and pppoed as the client, then the operator's view
// (active print, monitor, metrics), remove, reload and shutdown.
func TestQuickExample(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", quickClient, l.pins)

	// Session up on both ends.
	var row map[string]string
	waitFor(t, 10*time.Second, "an active session", func() bool {
		rows := ac.active()
		if len(rows) == 1 && rows[0]["address"] != "" {
			row = rows[0]
			return true
		}
		return false
	})
	if row["name"] != "MT-User" || row["service"] != "pppoe" || row["address"] != "10.0.0.2" {
		t.Fatalf("active row %v, want MT-User pppoe 10.0.0.2", row)
	}
	waitFor(t, 5*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	mon := cl.monitor("PPPoE-Out")
	for k, want := range map[string]string{"local-address": "10.0.0.2", "remote-address": "10.0.0.1", "service-name": "pppoeservice"} {
		if mon[k] != want {
			t.Errorf("monitor %s=%q, want %q", k, mon[k], want)
		}
	}
	if mon["ac-mac"] == "" || mon["ac-name"] == "" {
		t.Errorf("monitor has no ac-mac or ac-name: %v", mon)
	}
	if got, _ := addrs(l.ac, "pppoe0"); got != "10.0.0.1/32" {
		t.Errorf("pppoe0 addresses %q, want the profile's local-address 10.0.0.1/32", got)
	}
	if out := l.ac.Run(t, "ip", "route", "show", "dev", "pppoe0"); !strings.Contains(out, "10.0.0.2/31") || !strings.Contains(out, "10.0.0.4/31") {
		t.Errorf("pppoe0 routes do not cover the pool 10.0.0.2-10.0.0.5:\n%s", out)
	}
	// The scanner finds the AC's service (RFC 2516 §5.2 PADO).
	if out := cl.ctl("/interface pppoe-client scan ether2 duration=1"); !strings.Contains(out, "pppoeservice") ||
		!strings.Contains(strings.ToLower(out), strings.ToLower(mon["ac-mac"])) {
		t.Errorf("scan ether2:\n%s\nwant pppoeservice from %s", out, mon["ac-mac"])
	}
	// The Quick Example client adds no default route: route the core by hand.
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")

	// Traffic both ways through the BPF paths; counters move.
	sub := netip.MustParseAddr("10.0.0.2")
	if got := l.cl.Ping(t, sub, coreAddr, 3, 200); got != 3 {
		t.Errorf("client → core: %d/3 replies", got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("core → client: %d/3 replies", got)
	}
	if got := l.cl.Ping(t, sub, netip.MustParseAddr("10.0.0.1"), 2, 200); got != 2 {
		t.Errorf("client → AC's local-address (slow path): %d/2 replies", got)
	}
	after := ac.active()[0]
	for _, col := range []string{"packets-in", "packets-out", "bytes-in", "bytes-out"} {
		if counter(t, after, col) <= counter(t, row, col) {
			t.Errorf("%s did not move: %s → %s", col, row[col], after[col])
		}
	}
	if counter(t, after, "packets-in") < 8 || counter(t, after, "packets-out") < 8 {
		t.Errorf("counters %v, want at least the 8 echoes each way", after)
	}
	if table := ac.ctl("/ppp active print"); !strings.Contains(table, "MT-User") || !strings.Contains(table, "10.0.0.2") {
		t.Errorf("active print:\n%s", table)
	}

	// Metrics.
	m := ac.metrics()
	if m[`pppoe_sessions{state="up"}`] != 1 {
		t.Errorf("pppoe_sessions{state=up} = %v, want 1", m[`pppoe_sessions{state="up"}`])
	}
	for _, k := range []string{"pppoe_discovery_padi_received_total", "pppoe_discovery_pado_sent_total",
		"pppoe_discovery_padr_received_total", "pppoe_discovery_pads_sent_total", "pppoe_session_setup_seconds_count"} {
		if m[k] < 1 {
			t.Errorf("%s = %v, want ≥ 1", k, m[k])
		}
	}
	if m[`pppoe_dataplane_packets_total{reason="fast_up"}`]+m[`pppoe_dataplane_packets_total{reason="slow_up"}`] < 5 {
		t.Errorf("data plane counted no upstream packets: %v", m)
	}

	// SIGHUP with a changed secret of another user: the session stays.
	sid := after["session-id"]
	must(t, os.WriteFile(ac.cfg, []byte(fmt.Sprintf(quickServer, "two")), 0o600))
	must(t, ac.cmd.Process.Signal(syscall.SIGHUP))
	waitFor(t, 5*time.Second, "the reload", func() bool {
		return strings.Contains(ac.ctl("/ppp secret print detail"), `password="two"`)
	})
	time.Sleep(300 * time.Millisecond)
	if rows := ac.active(); len(rows) != 1 || rows[0]["session-id"] != sid {
		t.Fatalf("after reload: %v, want session %s kept", rows, sid)
	}
	if got := l.cl.Ping(t, sub, coreAddr, 1, 200); got != 1 {
		t.Errorf("after reload, client → core: %d/1", got)
	}

	// /ppp active remove ends it with a PADT; the client redials.
	padts := m["pppoe_discovery_padt_sent_total"]
	ac.ctl("/ppp active remove [find name=MT-User]")
	// (Late frames of the ended session may draw rate-limited PADTs too.)
	if m := ac.metrics(); m["pppoe_discovery_padt_sent_total"] < padts+1 {
		t.Errorf("padt_sent %v → %v, want a PADT for the removal", padts, m["pppoe_discovery_padt_sent_total"])
	}
	for _, r := range ac.active() {
		if r["session-id"] == sid {
			t.Errorf("session %s still active after remove", sid)
		}
	}
	waitFor(t, 10*time.Second, "the client to redial", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["session-id"] != sid && rows[0]["address"] != ""
	})

	// Shutdown of the AC: PADT to the client, pppoe0 bare, maps empty.
	ac.stop()
	waitFor(t, 5*time.Second, "the client to see the PADT", func() bool { return cl.monitor("PPPoE-Out")["status"] != "connected" })
	if got, _ := addrs(l.ac, "pppoe0"); got != "" {
		t.Errorf("pppoe0 keeps %q after shutdown", got)
	}
	if out := l.ac.Run(t, "ip", "route", "show", "dev", "pppoe0"); strings.TrimSpace(out) != "" {
		t.Errorf("pppoe0 keeps routes after shutdown:\n%s", out)
	}
	for _, mp := range []string{"sessions", "subscribers_v4"} {
		if n := pinnedEntries(t, filepath.Join(ac.pins, mp)); n != 0 {
			t.Errorf("AC map %s holds %d entries after shutdown", mp, n)
		}
	}
	cl.stop()
	if _, ok := addrs(l.cl, "PPPoE-Out"); ok {
		t.Error("PPPoE-Out still exists after the client stopped")
	}
	if n := pinnedEntries(t, filepath.Join(cl.pins, "sessions")); n != 0 {
		t.Errorf("client map sessions holds %d entries after shutdown", n)
	}
}

// olderServer is the reference's first server example (a pool from
// 10.1.1.62 to 10.1.1.72, a profile, secrets, the server) written out as
// commands, with the profile's DNS servers for use-peer-dns.
const olderServer = `/ip pool add name=pppoe-pool ranges=10.1.1.62-10.1.1.72
/ppp profile add name=pppoe-profile local-address=10.1.1.1 remote-address=pppoe-pool dns-server=192.0.2.53,192.0.2.54
/ppp secret add name=user password=passwd profile=pppoe-profile service=pppoe
/ppp secret add name=user2 password=passwd2 profile=pppoe-profile service=pppoe
/ppp secret add name=user3 password=passwd3 profile=pppoe-profile service=pppoe
/interface pppoe-server server add interface=ether1 service-name=internet default-profile=pppoe-profile disabled=no
`

// olderClients is the reference's client example line verbatim, given a
// default route and the peer's DNS, and two more clients on the same
// interface.
const olderClients = `/interface pppoe-client add name=pppoe-user-mike user=user password=passwd interface=wlan1 service-name=internet disabled=no
/interface pppoe-client set pppoe-user-mike add-default-route=yes default-route-distance=3 use-peer-dns=yes
/interface pppoe-client add name=pppoe-out2 user=user2 password=passwd2 interface=wlan1 service-name=internet disabled=no
/interface pppoe-client add name=pppoe-out3 user=user3 password=passwd3 interface=wlan1 service-name=internet disabled=no
`

// TestSeveralClientsOneInterface runs three pppoed clients in one
// namespace on one interface against pppoed as the AC: each has its own
// session, address and traffic; the first has the default route with its
// distance as metric and writes the peer's DNS servers; all of it goes
// when the client daemon stops.
func TestSeveralClientsOneInterface(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether1", "wlan1", "10.1.1.0/24")
	ac := startDaemon(t, l.ac, "ac", olderServer, l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", olderClients, l.pins)

	users := map[string]string{"pppoe-user-mike": "user", "pppoe-out2": "user2", "pppoe-out3": "user3"}
	var rows []map[string]string
	waitFor(t, 15*time.Second, "three sessions", func() bool {
		rows = ac.active()
		n := 0
		for _, r := range rows {
			if r["address"] != "" {
				n++
			}
		}
		return n == 3
	})
	byUser := map[string]map[string]string{}
	seenSID, seenAddr := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		byUser[r["name"]] = r
		a := netip.MustParseAddr(r["address"])
		if a.Less(netip.MustParseAddr("10.1.1.62")) || netip.MustParseAddr("10.1.1.72").Less(a) {
			t.Errorf("%s got %s, outside the pool 10.1.1.62-10.1.1.72", r["name"], a)
		}
		if seenSID[r["session-id"]] || seenAddr[r["address"]] {
			t.Errorf("session id or address shared: %v", rows)
		}
		seenSID[r["session-id"]], seenAddr[r["address"]] = true, true
	}
	for name, user := range users {
		waitFor(t, 5*time.Second, name+" connected", func() bool { return cl.monitor(name)["status"] == "connected" })
		mon := cl.monitor(name)
		if r := byUser[user]; r == nil || mon["local-address"] != r["address"] || mon["remote-address"] != "10.1.1.1" || mon["service-name"] != "internet" {
			t.Errorf("%s monitor %v, AC row %v", name, mon, byUser[user])
		}
	}
	if got, _ := addrs(l.ac, "pppoe0"); got != "10.1.1.1/32" {
		t.Errorf("pppoe0 addresses %q, want 10.1.1.1/32", got)
	}
	routes := l.ac.Run(t, "ip", "route", "show", "dev", "pppoe0")
	for _, want := range []string{"10.1.1.62/31", "10.1.1.64/29", "10.1.1.72 "} {
		if !strings.Contains(routes, want) {
			t.Errorf("pppoe0 routes lack %s:\n%s", want, routes)
		}
	}

	// Default route through the first client, metric = distance.
	if out := l.cl.Run(t, "ip", "route", "show", "default"); !strings.Contains(out, "dev pppoe-user-mike") || !strings.Contains(out, "metric 3") {
		t.Errorf("default route %q, want dev pppoe-user-mike metric 3", out)
	}
	resolv, err := os.ReadFile(cl.resolv)
	if err != nil || !strings.Contains(string(resolv), "nameserver 192.0.2.53") || !strings.Contains(string(resolv), "nameserver 192.0.2.54") {
		t.Errorf("resolv.conf %q (%v), want the profile's dns-server", resolv, err)
	}

	// Traffic both ways in each session: the others route by source.
	for i, name := range []string{"pppoe-out2", "pppoe-out3"} {
		table := fmt.Sprint(100 + i)
		l.cl.Run(t, "ip", "rule", "add", "from", byUser[users[name]]["address"], "table", table)
		l.cl.Run(t, "ip", "route", "add", "default", "dev", name, "table", table)
	}
	for name, user := range users {
		a := netip.MustParseAddr(byUser[user]["address"])
		if got := l.cl.Ping(t, a, coreAddr, 2, 200); got != 2 {
			t.Errorf("%s → core: %d/2 replies", name, got)
		}
		if got := l.core.Ping(t, coreAddr, a, 2, 200); got != 2 {
			t.Errorf("core → %s: %d/2 replies", name, got)
		}
	}
	for _, r := range ac.active() {
		if counter(t, r, "packets-in") < 4 || counter(t, r, "packets-out") < 4 {
			t.Errorf("%s counters %v, want its own 4 echoes each way", r["name"], r)
		}
	}

	// The client daemon stops: sessions end, and everything it made goes.
	cl.stop()
	for name := range users {
		if _, ok := addrs(l.cl, name); ok {
			t.Errorf("%s still exists", name)
		}
	}
	if out := l.cl.Run(t, "ip", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("default route left: %s", out)
	}
	if _, err := os.Stat(cl.resolv); !os.IsNotExist(err) {
		t.Errorf("resolv.conf left behind: %v", err)
	}
	if n := pinnedEntries(t, filepath.Join(cl.pins, "sessions")); n != 0 {
		t.Errorf("client map sessions holds %d entries", n)
	}
	waitFor(t, 5*time.Second, "the AC to see the PADTs", func() bool { return len(ac.active()) == 0 })
	if n := pinnedEntries(t, filepath.Join(ac.pins, "sessions")); n != 0 {
		t.Errorf("AC map sessions holds %d entries with no session", n)
	}
}

// TestCrashRestart: the AC dies (SIGKILL) with a session up, and comes
// back with a configuration whose profile has another name. Its maps and
// links stay pinned, its state store holds the session's record; the next
// pppoed cannot restore the session (its profile is gone), so it sweeps
// it (PADT) with one line saying why, and the client connects again.
func TestCrashRestart(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", stateDir)
	// keepalive-timeout 2: the client probes the AC after 2 s of silence
	// (RouterOS's default is 60).
	cl := startDaemon(t, l.cl, "client", strings.Replace(quickClient, "disabled=no", "disabled=no keepalive-timeout=2", 1), l.pins)
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	first := cl.monitor("PPPoE-Out")["uptime"]

	must(t, ac.cmd.Process.Kill())
	<-ac.done
	if n := pinnedEntries(t, filepath.Join(ac.pins, "sessions")); n != 1 {
		t.Fatalf("%d sessions pinned after the crash, want the 1 left behind", n)
	}
	renamed := strings.ReplaceAll(fmt.Sprintf(quickServer, "one"), "for-pppoe", "renamed")
	ac2 := startDaemon(t, l.ac, "ac", renamed, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	if log := ac2.log.String(); strings.Count(log, "session swept at start") != 1 || !strings.Contains(log, "MT-User") ||
		!strings.Contains(log, `profile \"for-pppoe\" gone`) || !strings.Contains(log, `"ended": "crash"`) {
		t.Errorf("no word of the crash and of the swept session, by its stored user and why, in the log:\n%s", log)
	}
	waitFor(t, 20*time.Second, "the client connected to the new AC", func() bool {
		rows := ac2.active()
		return len(rows) == 1 && rows[0]["address"] != "" && cl.monitor("PPPoE-Out")["status"] == "connected"
	})
	if n := pinnedEntries(t, filepath.Join(ac2.pins, "sessions")); n != 1 {
		t.Errorf("%d sessions pinned, want the new one only", n)
	}
	t.Logf("client uptime before the crash %s; reconnected", first)
}

// TestNoBPFFS starts the AC and the client where nothing is mounted on
// /sys/fs/bpf: `ip netns exec` gives each daemon a private mount namespace
// with a fresh sysfs, as on a host nobody prepared. Each mounts its own
// bpffs there, serves, and says once that its pins will not outlive it.
func TestNoBPFFS(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	pins := "/sys/fs/bpf/pppoe-xdp-test" // inside each daemon's own sysfs
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", quickClient, pins)
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	for _, d := range []*daemon{ac, cl} {
		if n := strings.Count(d.log.String(), "private mount namespace"); n != 1 {
			t.Errorf("%s: %d warnings about the private mount namespace, want 1:\n%s", d.name, n, d.log.String())
		}
	}
}
