package daemon

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// startRPServer runs rp-pppoe's pppoe-server (Debian package pppoe) in the
// foreground in ns. It cannot start pppd on this kernel, so it confirms
// every PADR with a PADS and then ends the session with a PADT.
func startRPServer(t *testing.T, ns *netns.NS, args ...string) {
	t.Helper()
	netns.RequireTool(t, "pppoe-server")
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "pppoe-server", "-F"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	t.Cleanup(func() {
		// The whole group: pppoe-server forks a child per session.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("pppoe-server output:\n%s", out.String())
		}
	})
}

// switchLab is one Ethernet segment, a bridge in its own namespace, with
// the client (ether2), pppoed's AC (ether3) and rp-pppoe's pppoe-server on
// the bridge device itself, each with its own MAC address.
type switchLab struct {
	sw, ac, cl *netns.NS
	pins       string
	rpMAC      string // br0, where pppoe-server listens
}

func newSwitchLab(t *testing.T) *switchLab {
	netns.RequireRoot(t)
	netns.RequireTool(t, "bpftool")
	netns.RequireTool(t, "pppoe-server")
	l := &switchLab{sw: netns.New(t), ac: netns.New(t), cl: netns.New(t)}
	l.pins = bpffs(t)
	l.sw.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	netns.Veth(t, l.cl, "ether2", l.sw, "swc")
	netns.Veth(t, l.ac, "ether3", l.sw, "swa")
	for _, p := range []string{"swc", "swa"} {
		l.sw.Run(t, "ip", "link", "set", p, "master", "br0")
	}
	l.sw.Run(t, "ip", "link", "set", "br0", "up")
	l.rpMAC = mac(t, l.sw, "br0")
	return l
}

// mac returns the address of dev in n, lower case.
func mac(t *testing.T, n *netns.NS, dev string) string {
	t.Helper()
	var hw net.HardwareAddr
	must(t, n.Do(t, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			hw = ifi.HardwareAddr
		}
		return err
	}))
	return hw.String()
}

// monitorJSON returns "monitor NAME once" --json.
func (d *daemon) monitorJSON(name string) map[string]any {
	d.t.Helper()
	out := d.ctl("--json /interface pppoe-client monitor", name, "once")
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		d.t.Fatalf("monitor --json: %v\n%s", err, out)
	}
	return m
}

const rpClient = `/interface pppoe-client add name=pppoe-out1 interface=ether2 service-name=rpsvc user=rpuser password=rppass disabled=no
`

// xdpAC serves the same service as rp-pppoe, under an AC-Name of its own.
const xdpAC = `/system identity set name=xdp-ac
/ip pool add name=p ranges=10.9.0.10-10.9.0.20
/ppp profile add name=prof local-address=10.9.0.1 remote-address=p
/ppp secret add name=rpuser password=rppass profile=prof service=pppoe
/interface pppoe-server server add interface=ether3 service-name=rpsvc default-profile=prof disabled=no
`

// TestClientAgainstRPPPPoE: pppoed's client against rp-pppoe's
// pppoe-server, which confirms every session (PADS, RFC 2516 §5.4) and then
// ends it with a PADT (§5.5) because it cannot start pppd here. The client
// must report that honestly, retry, and leave nothing behind; the scanner
// then lists rp-pppoe's AC and pppoed's side by side, and pinned with
// ac-name to pppoed's AC the client connects.
func TestClientAgainstRPPPPoE(t *testing.T) {
	t.Parallel()
	l := newSwitchLab(t)
	startRPServer(t, l.sw, "-I", "br0", "-C", "rpac", "-S", "rpsvc")
	capture := l.cl.StartCapture(t, "ether2")
	cl := startDaemon(t, l.cl, "client", rpClient, l.pins)

	// Watch the monitor through at least three attempts (the daemon logs
	// each failed one; the dialing phase is too short to poll): every
	// status it passes through, and the reason the last attempt ended with.
	seen := map[string]bool{}
	var reason string
	waitFor(t, 12*time.Second, "three attempts against pppoe-server", func() bool {
		m := cl.monitor("pppoe-out1")
		seen[m["status"]] = true
		if m["status"] == "disconnected" && m["reason"] != "" {
			reason = m["reason"]
		}
		return strings.Count(cl.log.String(), "session failed") >= 3 && reason != ""
	})
	if seen["connected"] || seen["verifying password..."] {
		t.Errorf("monitor went through %v against an AC that never runs PPP", seen)
	}
	if !strings.Contains(reason, "PADT") {
		t.Errorf("monitor reason %q, want one naming the AC's PADT", reason)
	}
	js := cl.monitorJSON("pppoe-out1")
	if js["status"] != "disconnected" || !strings.Contains(js["last-disconnect-reason"].(string), "PADT") {
		t.Errorf("monitor --json %v, want disconnected with the PADT as last-disconnect-reason", js)
	}
	if js["local-address"] != "" || js["active-links"] != 0.0 {
		t.Errorf("monitor --json %v shows link fields while disconnected", js)
	}

	// On the wire: a PADR and a PADS per attempt, each ended by a PADT
	// from rp-pppoe (RFC 2516 codes 0x19, 0x65, 0xa7).
	count := map[string]int{}
	for _, f := range capture.Fields(t, "pppoed", "pppoe.code", "eth.src", "eth.dst") {
		switch {
		case f[0] == "0x19" && f[2] == l.rpMAC:
			count["padr"]++
		case f[0] == "0x65" && f[1] == l.rpMAC:
			count["pads"]++
		case f[0] == "0xa7" && f[1] == l.rpMAC:
			count["padt"]++
		}
	}
	t.Logf("on ether2 with pppoe-server: %v", count)
	if count["padr"] < 3 || count["pads"] < 3 || count["padt"] < 3 {
		t.Errorf("on ether2: %v, want at least 3 PADR→PADS→PADT exchanges with pppoe-server %s", count, l.rpMAC)
	}

	// Between attempts nothing is left: no address or route on the
	// netdev, no session in the data plane, and the daemon still runs.
	select {
	case <-cl.done:
		t.Fatalf("client daemon exited: %v", cl.cmd.ProcessState)
	default:
	}
	if got, ok := addrs(l.cl, "pppoe-out1"); !ok || got != "" {
		t.Errorf("pppoe-out1: addresses %q (exists %v), want the netdev bare", got, ok)
	}
	if out := l.cl.Run(t, "ip", "route", "show", "dev", "pppoe-out1"); strings.TrimSpace(out) != "" {
		t.Errorf("routes left on pppoe-out1:\n%s", out)
	}
	if n := pinnedEntries(t, filepath.Join(cl.pins, "sessions")); n != 0 {
		t.Errorf("client map sessions holds %d entries with no session up", n)
	}

	// pppoed's AC joins the segment with the same service.
	acMAC := mac(t, l.ac, "ether3")
	ac := startDaemon(t, l.ac, "ac", xdpAC, l.pins)
	want := map[string]bool{
		"rpsvc|" + l.rpMAC + "|rpac": true,
		"rpsvc|" + acMAC + "|xdp-ac": true,
	}
	out := cl.ctl("/interface pppoe-client scan ether2 duration=2")
	t.Logf("scan ether2:\n%s", out)
	for w := range want {
		f := strings.Split(w, "|")
		if !scanHasRow(out, f[0], f[1], f[2]) {
			t.Errorf("scan ether2:\n%s\nlacks %v", out, f)
		}
	}
	var offers []map[string]string
	out = cl.ctl("--json /interface pppoe-client scan ether2 duration=2")
	must(t, json.Unmarshal([]byte(out), &offers))
	got := map[string]bool{}
	for _, o := range offers {
		got[o["service"]+"|"+strings.ToLower(o["mac-address"])+"|"+o["ac-name"]] = true
	}
	if len(got) != len(want) || len(offers) != len(want) {
		t.Errorf("scan --json %v, want exactly %v", offers, want)
	}
	for w := range want {
		if !got[w] {
			t.Errorf("scan --json %v lacks %s", offers, w)
		}
	}

	// Both answer PADIs for rpsvc, and the client takes the first PADO;
	// ac-name pins it to the AC that can complete.
	cl.ctl("/interface pppoe-client set pppoe-out1 ac-name=xdp-ac")
	waitFor(t, 10*time.Second, "the client connected to xdp-ac", func() bool {
		return cl.monitor("pppoe-out1")["status"] == "connected"
	})
	mon := cl.monitor("pppoe-out1")
	if mon["ac-name"] != "xdp-ac" || !strings.EqualFold(mon["ac-mac"], acMAC) || mon["service-name"] != "rpsvc" {
		t.Errorf("monitor %v, want connected to xdp-ac %s for rpsvc", mon, acMAC)
	}
	rows := ac.active()
	if len(rows) != 1 || rows[0]["name"] != "rpuser" || rows[0]["address"] != mon["local-address"] {
		t.Errorf("AC active %v, want rpuser at the client's %s", rows, mon["local-address"])
	}
	if got, _ := addrs(l.cl, "pppoe-out1"); got != mon["local-address"] { // "inet LOCAL peer REMOTE/32"
		t.Errorf("pppoe-out1 addresses %q, want %s", got, mon["local-address"])
	}

	cl.stop()
	waitFor(t, 5*time.Second, "the AC to see the client's PADT", func() bool { return len(ac.active()) == 0 })
	if _, ok := addrs(l.cl, "pppoe-out1"); ok {
		t.Error("pppoe-out1 still exists after the client stopped")
	}
	if n := pinnedEntries(t, filepath.Join(cl.pins, "sessions")); n != 0 {
		t.Errorf("client map sessions holds %d entries after shutdown", n)
	}
}

// scanHasRow reports whether the scan table has a line with service, mac
// (any case) and ac-name as its columns.
func scanHasRow(table string, service, mac, acName string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[len(f)-3] == service && strings.EqualFold(f[len(f)-2], mac) && f[len(f)-1] == acName {
			return true
		}
	}
	return false
}
