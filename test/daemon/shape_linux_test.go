package daemon

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// shapedServer is quickServer with MT-User on a profile whose download is
// shaped (queue-type=fq-codel-default) at 10M, and spare unlimited.
var shapedServer = fmt.Sprintf(quickServer, "two") +
	"/ppp profile add name=shaped local-address=10.0.0.1 remote-address=pppoe-pool rate-limit=10M/10M queue-type=fq-codel-default\n" +
	"/ppp secret set MT-User profile=shaped\n"

// htbClasses is pppoed's HTB classes on the AC's access interface, by
// class id, with their rate as tc prints it; and whether its qdisc is
// there.
func htbClasses(t *testing.T, l *lab) (map[string]string, bool) {
	t.Helper()
	q := l.ac.Run(t, "tc", "qdisc", "show", "dev", "ether3")
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`class htb (5050:[0-9a-f]+) root .*? rate (\S+)`).FindAllStringSubmatch(l.ac.Run(t, "tc", "class", "show", "dev", "ether3"), -1) {
		out[m[1]] = m[2]
	}
	return out, strings.Contains(q, "qdisc htb 5050: root")
}

// TestRateShapeHTB: with the HTB shaper (the one this kernel, without
// fq, can use; forced with --shaper htb so a kernel with fq tests it too)
// a shaped session gets a class of the access interface's HTB qdisc at
// its rate, which holds a real TCP download to the limit without starving
// it; an unshaped session on the same AC is not slowed; the class goes
// with its session, and the qdisc with the last one; a session the AC
// adopts after a kill -9 keeps its class.
//
// The accuracy bound is tight only above: the download must not exceed
// the limit by more than 5 % (HTB's bucket, 0.1 s at the rate, passes at
// line rate at the start: 1.25 % of an 8 s flow; TCP's payload is 0.965
// of the IP rate HTB holds). Below, it must get half (not starved): CPU
// load can only slow it, and on this shared 2-CPU VM a loaded moment
// would make a 5 % lower bound flaky. `make bench-ratelimit`'s down/htb
// rows measure how close it gets (0.974 at load 12).
func TestRateShapeHTB(t *testing.T) {
	// Not parallel: throughput bounds, which another test's load would move.
	netns.RequireTool(t, "iperf3")
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", shapedServer, l.pins, "--uplink", "up0", "--shaper", "htb", "--state-dir", stateDir)
	cl := startDaemon(t, l.cl, "client", quickClient, l.pins)
	iperfServer(t, l.core)
	const limit = 10e6

	session := func(user, iface string) string {
		t.Helper()
		var src string
		waitFor(t, 30*time.Second, user+"'s session", func() bool {
			for _, r := range ac.active() {
				if r["name"] == user && r["address"] != "" && cl.monitor(iface)["local-address"] == r["address"] {
					src = r["address"]
					return true
				}
			}
			return false
		})
		return src
	}
	src := session("MT-User", "PPPoE-Out")
	l.cl.Run(t, "ip", "route", "replace", "198.51.100.0/24", "dev", "PPPoE-Out")
	cl.ctl("/interface pppoe-client add interface=ether2 password=two service-name=pppoeservice name=Out2 disabled=no user=spare")
	src2 := session("spare", "Out2")
	l.cl.Run(t, "ip", "rule", "add", "from", src2, "table", "102")
	l.cl.Run(t, "ip", "route", "replace", "198.51.100.0/24", "dev", "Out2", "table", "102")

	cls, qdisc := htbClasses(t, l)
	if !qdisc || len(cls) != 1 {
		t.Fatalf("one shaped and one unshaped session: qdisc %v, classes %v; want one class", qdisc, cls)
	}
	var class string
	for c, rate := range cls {
		class = c
		if rate != "10Mbit" {
			t.Errorf("class %s at %s, want 10Mbit", c, rate)
		}
	}

	shaped := func(what string) {
		t.Helper()
		r, err := iperfAt(l.cl, src, "-t", "8", "-R")
		must(t, err)
		t.Logf("%s: TCP download %.2f Mbit/s through a 10M shaper, %d retransmissions", what, r.bps/1e6, r.retrans)
		if r.bps > 1.05*limit || r.bps < 0.5*limit {
			t.Errorf("%s: TCP download at %.2f Mbit/s through a 10M shaper", what, r.bps/1e6)
		}
	}
	shaped("shaped session")
	st := l.ac.Run(t, "tc", "-s", "class", "show", "dev", "ether3", "classid", class)
	if m := regexp.MustCompile(`Sent (\d+) bytes`).FindStringSubmatch(st); m == nil || len(m[1]) < 7 {
		t.Errorf("the class did not carry the download (%d MB expected):\n%s", int(8*limit/8/1e6), st)
	}
	// UDP at twice the rate: the class's leaf overflows, and the drops
	// are exported.
	udp, err := iperfAt(l.cl, src, "-t", "3", "-R", "-u", "-b", "20M", "-l", "1400")
	must(t, err)
	t.Logf("shaped session: UDP at 20M offered, %.2f Mbit/s received", udp.bps/1e6)
	if udp.bps > 1.05*limit {
		t.Errorf("shaped session: UDP at 20M offered, %.2f Mbit/s received through a 10M shaper", udp.bps/1e6)
	}
	if k := `pppoe_dataplane_packets_total{reason="rate_htb_drop"}`; ac.metrics()[k] == 0 {
		t.Errorf("%s = 0 after a UDP flood at twice the rate", k)
	}
	// /queue simple print's download drops include the class's (read
	// after it: the flood is over, they can only have grown).
	m := regexp.MustCompile(`dropped (\d+)`).FindStringSubmatch(l.ac.Run(t, "tc", "-s", "class", "show", "dev", "ether3", "classid", class))
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	q := ac.ctl("/queue simple print")
	p := regexp.MustCompile(`dropped=\d+/(\d+)`).FindStringSubmatch(q)
	if m == nil || m[1] == "0" || p == nil || num(p[1]) < num(m[1]) {
		t.Errorf("class %s dropped %v; /queue simple print's download drops must include them:\n%s", class, m, q)
	}
	free, err := iperfAt(l.cl, src2, "-t", "3", "-R")
	must(t, err)
	t.Logf("unshaped session on the same AC: TCP download %.0f Mbit/s", free.bps/1e6)
	if free.bps < 3*limit {
		t.Errorf("unshaped session's download at %.1f Mbit/s: held near the other's 10M", free.bps/1e6)
	}
	if q := ac.ctl("/queue simple print"); !strings.Contains(q, "queue=default-small/fq-codel-default") {
		t.Errorf("/queue simple print does not show the shaped download:\n%s", q)
	}

	// Adoption: the AC is killed and another takes the sessions over; the
	// shaped one keeps its class and is still held.
	ac = crashAndAdopt(t, l, ac, shapedServer, stateDir, 2)
	if cls, qdisc := htbClasses(t, l); !qdisc || len(cls) != 1 || cls[class] != "10Mbit" {
		t.Errorf("after adoption: qdisc %v, classes %v; want %s alone", qdisc, cls, class)
	}
	shaped("adopted shaped session")

	// The session ends: its class goes (a new session's class gets
	// another minor: the search goes on from the last one given); the
	// client dials again and gets a class again.
	ac.ctl("/ppp active remove [find name=MT-User]")
	waitFor(t, 10*time.Second, "class removed", func() bool {
		cls, _ := htbClasses(t, l)
		return cls[class] == ""
	})
	session("MT-User", "PPPoE-Out")
	waitFor(t, 10*time.Second, "a class for the new session", func() bool {
		cls, _ := htbClasses(t, l)
		return len(cls) == 1
	})
	// No shaped session left: no class and no qdisc stay.
	cl.ctl("/interface pppoe-client set [find] disabled=yes")
	waitFor(t, 20*time.Second, "sessions gone", func() bool { return len(ac.active()) == 0 })
	if cls, qdisc := htbClasses(t, l); qdisc || len(cls) != 0 {
		t.Errorf("no shaped session: qdisc %v, classes %v; want none", qdisc, cls)
	}
}
