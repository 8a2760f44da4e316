package daemon

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// How the client's pppoed goes away in a client adoption test.
const (
	clientCrash   = "crash"   // kill -9, the same configuration after
	clientRestart = "restart" // pppoectl /system restart (exit 75)
	clientUpgrade = "upgrade" // SIGUSR2, then another build of pppoed
	clientChanged = "changed" // kill -9, a changed client after
)

// TestClientAdoptAfterCrash: the client's pppoed is killed (SIGKILL)
// while its session carries a 100-a-second ping to the core; the next
// pppoed takes the session over: the ping loses nothing (the data plane
// forwards while no daemon runs, and the new one leaves it as it is), no
// PADT or PADI is on the wire, both ends show the same session id, the
// AC's /ppp active row goes on (same .id, uptime growing), the netdev,
// its address and routes and resolv.conf are the same, not made again,
// and keepalive goes on both ways: the AC (keepalive-timeout 3) keeps the
// session through 8 s of silence only if its Echo-Requests are answered,
// and the client (keepalive-timeout 2) keeps it only if its are.
func TestClientAdoptAfterCrash(t *testing.T) {
	t.Parallel()
	testClientAdopt(t, clientCrash)
}

// TestClientAdoptAfterPlannedRestart: the same through pppoectl /system
// restart on the client.
func TestClientAdoptAfterPlannedRestart(t *testing.T) {
	t.Parallel()
	testClientAdopt(t, clientRestart)
}

// TestClientAdoptAfterUpgrade: the same with a second build of pppoed
// (same map layout) started after a SIGUSR2: its programs replace the
// old ones in the pinned links without a gap.
func TestClientAdoptAfterUpgrade(t *testing.T) {
	t.Parallel()
	testClientAdopt(t, clientUpgrade)
}

// TestClientNotAdoptedWhenChanged: the client's pppoed is killed and
// comes back with the client configured otherwise (another user): the
// session is not adopted but ended properly, a
// PADT to the AC for the old session id with one log line saying why,
// the netdev made anew, and the client dials a new session.
func TestClientNotAdoptedWhenChanged(t *testing.T) {
	t.Parallel()
	testClientAdopt(t, clientChanged)
}

// adoptServer is the Quick Example's AC with a short keepalive and a DNS
// server for the client's resolv.conf.
var adoptServer = strings.NewReplacer(
	"remote-address=pppoe-pool", "remote-address=pppoe-pool dns-server=192.0.2.53",
	"service-name=pppoeservice", "service-name=pppoeservice keepalive-timeout=3",
).Replace(fmt.Sprintf(quickServer, "one"))

var adoptClient = strings.Replace(quickClient, "disabled=no",
	"disabled=no keepalive-timeout=2 use-peer-dns=yes add-default-route=yes", 1)

func testClientAdopt(t *testing.T, how string) {
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	next := filepath.Join(bin, "pppoed")
	if how == clientUpgrade {
		next = upgradeBuild(t)
	}
	ac := startDaemon(t, l.ac, "ac", adoptServer, l.pins, "--uplink", "up0")
	// What outlives the client's pppoed: its state directory, its
	// resolv.conf, its pins (the same name: the same pin directory).
	stateDir, resolv := t.TempDir(), filepath.Join(t.TempDir(), "resolv.conf")
	flags := []string{"--state-dir", stateDir, "--resolv-conf", resolv}
	cl := startDaemon(t, l.cl, "client", adoptClient, l.pins, flags...)
	waitFor(t, 20*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	before := ac.active()
	if len(before) != 1 || before[0]["address"] == "" {
		t.Fatalf("active before: %v", before)
	}
	b := before[0]
	sub := netip.MustParseAddr(b["address"])
	mon := cl.monitor("PPPoE-Out")
	if mon["local-address"] != b["address"] {
		t.Fatalf("client monitor %v, AC row %v", mon, b)
	}
	net1 := netdevState(t, l.cl)
	resolvConf, err := os.ReadFile(resolv)
	if err != nil || !strings.Contains(string(resolvConf), "nameserver 192.0.2.53") {
		t.Fatalf("resolv.conf %q, %v: want the AC's DNS server", resolvConf, err)
	}
	resolvStat, _ := os.Stat(resolv)
	capture := l.cl.StartCapture(t, "ether2")

	// 100 pings a second for 8 s from the client to the core, through
	// the session, across the client's restart.
	const count = 800
	pinged := make(chan int, 1)
	if how == clientChanged {
		// The session ends: nothing to stream through.
		pinged <- 0
	} else {
		go func() { pinged <- l.cl.PingEvery(t, sub, coreAddr, count, 10*time.Millisecond) }()
	}
	time.Sleep(time.Second)
	cfg := adoptClient
	switch how {
	case clientCrash:
		must(t, cl.cmd.Process.Kill())
		<-cl.done
	case clientRestart:
		cl.ctl("/system restart")
		if code := waitExit(t, cl); code != exitRestart {
			t.Fatalf("client exited with %d after /system restart, want %d", code, exitRestart)
		}
	case clientUpgrade:
		must(t, cl.cmd.Process.Signal(syscall.SIGUSR2))
		if code := waitExit(t, cl); code != exitRestart {
			t.Fatalf("client exited with %d after SIGUSR2, want %d", code, exitRestart)
		}
	case clientChanged:
		must(t, cl.cmd.Process.Kill())
		<-cl.done
		cfg = strings.Replace(strings.Replace(adoptClient, "user=MT-User", "user=spare", 1), "password=StrongPass", "password=one", 1)
	}
	cl2 := startBinary(t, next, l.cl, "client", cfg, l.pins, flags...)
	got := <-pinged

	if how == clientChanged {
		waitFor(t, 20*time.Second, "the client dialed again", func() bool {
			rows := ac.active()
			return cl2.monitor("PPPoE-Out")["status"] == "connected" && len(rows) == 1 && rows[0][".id"] != b[".id"]
		})
		log := cl2.log.String()
		if strings.Count(log, "session swept at start") != 1 || !strings.Contains(log, "configured otherwise since") ||
			strings.Contains(log, "session adopted") {
			t.Errorf("no line saying the session was swept because the client changed:\n%s", log)
		}
		capture.Stop()
		padts := capture.Fields(t, "pppoe.code == 0xa7", "eth.src", "eth.dst", "pppoe.session_id")
		if len(padts) != 1 || padts[0][0] != linkMAC(t, l.cl, "ether2") || hexNum(t, padts[0][2]) != hexNum(t, b["session-id"]) {
			t.Errorf("PADTs %v, want one from the client for the old session %s", padts, b["session-id"])
		}
		if rows := capture.Fields(t, "pppoe.code == 0x09", "eth.src"); len(rows) == 0 {
			t.Error("no PADI: the client did not dial again")
		}
		if net2 := netdevState(t, l.cl); net2.Ifindex == net1.Ifindex {
			t.Errorf("netdev ifindex %d kept, want it made anew", net2.Ifindex)
		}
		return
	}

	log := cl2.log.String()
	if !strings.Contains(log, "session adopted") || strings.Contains(log, "session swept at start") ||
		strings.Contains(log, "session of the previous run ended") {
		t.Errorf("the new client did not adopt its session:\n%s", log)
	}
	if got != count {
		t.Errorf("ping across the client's %s: %d of %d answered", how, got, count)
	}
	// Silence past both keepalives: the AC probes after 3 s and gives up
	// after 6 s, the client probes after 2 s and gives up after 4 s.
	time.Sleep(8 * time.Second)
	after := ac.active()
	if len(after) != 1 {
		t.Fatalf("active after: %v", after)
	}
	a := after[0]
	for _, k := range []string{".id", "session-id", "address", "caller-id"} {
		if a[k] != b[k] {
			t.Errorf("AC's %s %q after the client's %s, was %q", k, a[k], how, b[k])
		}
	}
	if ub, ua := uptime(t, b["uptime"]), uptime(t, a["uptime"]); ua < ub+8*time.Second {
		t.Errorf("AC's uptime %s after, %s before: not going on", a["uptime"], b["uptime"])
	}
	mon2 := cl2.monitor("PPPoE-Out")
	for _, k := range []string{"status", "ac-mac", "ac-name", "local-address", "remote-address", "dns-servers", "mtu", "mru"} {
		if mon2[k] != mon[k] {
			t.Errorf("client's %s %q after the %s, was %q", k, mon2[k], how, mon[k])
		}
	}
	if net2 := netdevState(t, l.cl); fmt.Sprint(net2) != fmt.Sprint(net1) {
		t.Errorf("netdev after the %s %+v, was %+v", how, net2, net1)
	}
	if now, err := os.ReadFile(resolv); err != nil || string(now) != string(resolvConf) {
		t.Errorf("resolv.conf %q after, %q before (%v)", now, resolvConf, err)
	}
	if st, err := os.Stat(resolv); err != nil || !os.SameFile(st, resolvStat) || !st.ModTime().Equal(resolvStat.ModTime()) {
		t.Errorf("resolv.conf written again across the %s (%v)", how, err)
	}
	capture.Stop()
	if rows := capture.Fields(t, "pppoe.code == 0xa7 || pppoe.code == 0x09", "eth.src", "pppoe.code"); len(rows) != 0 {
		t.Errorf("discovery on the wire across the client's %s: %v", how, rows)
	}
	// Both ends go on with the same session: every session frame on the
	// wire (the pings, the echoes both ways) carries the AC's id.
	for _, r := range capture.Fields(t, "pppoes", "pppoe.session_id") {
		if hexNum(t, r[0]) != hexNum(t, b["session-id"]) {
			t.Errorf("a session frame with id %s, the session is %s", r[0], b["session-id"])
			break
		}
	}
	if echoes := capture.Fields(t, "lcp && (ppp.code == 9 || ppp.code == 10)", "eth.src", "ppp.code"); len(echoes) == 0 {
		t.Error("no LCP echo on the wire: keepalive was not exercised")
	}
}

var (
	inet6RE   = regexp.MustCompile(`inet6 (\S+) scope global`)
	expiresRE = regexp.MustCompile(`expires \S+ ?`) // counts down
)

// netdev is what the kernel has of the client's netdev.
type netdev struct {
	Ifindex int
	MTU     int
	Addrs   string
	Routes  string
}

func netdevState(t *testing.T, n *netns.NS) netdev { return netdevOf(t, n, "PPPoE-Out") }

// netdevOf is what the kernel has of the client netdev name: IPv4 and
// IPv6 addresses and routes.
func netdevOf(t *testing.T, n *netns.NS, name string) netdev {
	t.Helper()
	var links []struct {
		Ifindex int `json:"ifindex"`
		MTU     int `json:"mtu"`
	}
	out := n.Run(t, "ip", "-j", "link", "show", "dev", name)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show %s: %q, %v", name, out, err)
	}
	as, _ := addrs(n, name)
	for _, m := range inet6RE.FindAllStringSubmatch(n.Run(t, "ip", "-6", "addr", "show", "dev", name), -1) {
		as += " " + m[1]
	}
	routes := n.Run(t, "ip", "route", "show", "dev", name) + n.Run(t, "ip", "-6", "route", "show", "dev", name)
	return netdev{Ifindex: links[0].Ifindex, MTU: links[0].MTU, Addrs: as,
		Routes: strings.TrimSpace(expiresRE.ReplaceAllString(routes, ""))}
}
