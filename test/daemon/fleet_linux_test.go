package daemon

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// fleetLab is one Ethernet segment, a bridge in a namespace of its own,
// with two pppoed access concentrators (ac1 and ac2, each its own
// namespace and ether3) and a namespace of subscribers (ether2): the
// fleet of issue 19, several ACs on one broadcast domain.
type fleetLab struct {
	sw, ac1, ac2, cl *netns.NS
	pins             string
	mac1, mac2       string // the ACs' ether3
}

func newFleetLab(t *testing.T) *fleetLab {
	netns.RequireRoot(t)
	netns.RequireTool(t, "bpftool")
	l := &fleetLab{sw: netns.New(t), ac1: netns.New(t), ac2: netns.New(t), cl: netns.New(t)}
	l.pins = bpffs(t)
	l.sw.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	netns.Veth(t, l.cl, "ether2", l.sw, "swc")
	netns.Veth(t, l.ac1, "ether3", l.sw, "swa1")
	netns.Veth(t, l.ac2, "ether3", l.sw, "swa2")
	for _, p := range []string{"swc", "swa1", "swa2"} {
		l.sw.Run(t, "ip", "link", "set", p, "master", "br0")
	}
	l.sw.Run(t, "ip", "link", "set", "br0", "up")
	l.mac1, l.mac2 = mac(t, l.ac1, "ether3"), mac(t, l.ac2, "ether3")
	return l
}

// fleetAC is an AC of the fleet: its own identity (AC-Name) and pool
// 10.<n>.0.0/24 (local pools until RADIUS is wired to sessions), the
// service "fleet", and pado-delay.
func fleetAC(identity string, n int, padoDelay string) string {
	return fmt.Sprintf(`/system identity set name=%s
/ip pool add name=p ranges=10.%d.0.10-10.%d.0.200
/ppp profile add name=prof local-address=10.%d.0.1 remote-address=p
/ppp secret add name=sub password=subpass profile=prof service=pppoe
/interface pppoe-server server add interface=ether3 service-name=fleet default-profile=prof pado-delay=%s disabled=no
`, identity, n, n, n, padoDelay)
}

// fleetClients are n pppoe-clients on ether2, disabled: the test enables
// them one at a time so that each sees the ACs' load of the ones before.
func fleetClients(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "/interface pppoe-client add name=pppoe-out%d interface=ether2 service-name=fleet user=sub password=subpass\n", i)
	}
	return b.String()
}

// dialOne enables client name and returns the AC-Name it connected to.
func dialOne(t *testing.T, cl *daemon, name string) string {
	t.Helper()
	cl.ctl("/interface pppoe-client set", name, "disabled=no")
	var mon map[string]string
	waitFor(t, 15*time.Second, name+" connected", func() bool {
		mon = cl.monitor(name)
		return mon["status"] == "connected"
	})
	return mon["ac-name"]
}

// TestFleetPADODelayRace: two pppoed ACs on one bridge answer the same
// PADI; the client takes the first PADO, so the AC with RouterOS's fixed
// pado-delay loses the race, although it did answer. Swapping the delays
// on the running ACs swaps the winner: the delay decides, not the order
// the namespaces were made in.
func TestFleetPADODelayRace(t *testing.T) {
	// Not parallel: PADO delays 400 ms apart decide which AC wins; another
	// test's load could reorder the answers.
	l := newFleetLab(t)
	const delay = 400 * time.Millisecond
	ac1 := startDaemon(t, l.ac1, "ac1", fleetAC("ac-fast", 20, "0"), l.pins)
	ac2 := startDaemon(t, l.ac2, "ac2", fleetAC("ac-slow", 21, "400"), l.pins)
	capture := l.cl.StartCapture(t, "ether2")
	cl := startDaemon(t, l.cl, "client", fleetClients(1), l.pins)

	if got := dialOne(t, cl, "pppoe-out1"); got != "ac-fast" {
		t.Fatalf("client connected to %q, want ac-fast (ac-slow delays its PADO %v)", got, delay)
	}
	if n := len(ac1.active()); n != 1 {
		t.Errorf("ac-fast has %d sessions, want 1", n)
	}
	if n := len(ac2.active()); n != 0 {
		t.Errorf("ac-slow has %d sessions, want 0", n)
	}
	if m := ac2.metrics(); m["pppoe_discovery_pado_delayed_total"] < 1 || m["pppoe_discovery_pads_sent_total"] != 0 {
		t.Errorf("ac-slow: %v PADOs delayed and %v PADS sent, want at least 1 and 0",
			m["pppoe_discovery_pado_delayed_total"], m["pppoe_discovery_pads_sent_total"])
	}

	// Swap the delays on the running ACs, then end the session: the
	// client rediscovers and ac-slow now answers first.
	ac1.ctl("/interface pppoe-server server set 0 pado-delay=400")
	ac2.ctl("/interface pppoe-server server set 0 pado-delay=0")
	ac1.ctl("/ppp active remove [find]")
	waitFor(t, 20*time.Second, "the client on ac-slow", func() bool {
		return cl.monitor("pppoe-out1")["ac-name"] == "ac-slow" && cl.monitor("pppoe-out1")["status"] == "connected"
	})
	if n := len(ac2.active()); n != 1 {
		t.Errorf("after the swap ac-slow has %d sessions, want 1", n)
	}
	// rp-pppoe's client, from a MAC of its own, does discovery only (-d:
	// PADI, the first PADO, PADR, PADS) and completes with the AC that
	// now answers first; then ends the session with a PADT (-k).
	netns.RequireTool(t, "pppoe")
	out := strings.TrimSpace(l.cl.Run(t, "pppoe", "-I", "ether2", "-H", "02:00:00:00:aa:01", "-U", "-S", "fleet", "-d"))
	t.Logf("rp-pppoe pppoe -d: %s", out)
	sid, acMAC, _ := strings.Cut(out[strings.LastIndex(out, "\n")+1:], ":")
	if !strings.EqualFold(acMAC, l.mac2) || sid == "" || sid == "0" {
		t.Errorf("rp-pppoe discovery: %q, want a session with ac-slow %s", out, l.mac2)
	} else {
		l.cl.Run(t, "pppoe", "-I", "ether2", "-H", "02:00:00:00:aa:01", "-e", sid+":"+acMAC, "-k")
	}
	waitFor(t, 10*time.Second, "ac-slow back to one session", func() bool { return len(ac2.active()) == 1 })

	// On the wire: the first PADI got both offers, the undelayed one
	// first and the delayed one at least the delay after the PADI.
	type ev struct {
		code, src string
		at        float64
	}
	var evs []ev
	for _, f := range capture.Fields(t, "pppoed", "pppoe.code", "eth.src", "frame.time_relative") {
		at, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("time %q: %v", f[2], err)
		}
		evs = append(evs, ev{f[0], strings.ToLower(f[1]), at})
	}
	var padi, fast, slow = -1.0, -1.0, -1.0
	for _, e := range evs {
		switch {
		case e.code == "0x09" && padi < 0:
			padi = e.at
		case e.code == "0x07" && e.src == l.mac1 && fast < 0 && padi >= 0:
			fast = e.at
		case e.code == "0x07" && e.src == l.mac2 && slow < 0 && padi >= 0:
			slow = e.at
		}
	}
	t.Logf("first PADI at %.3fs, PADO from ac-fast at %.3fs, from ac-slow at %.3fs", padi, fast, slow)
	if padi < 0 || fast < 0 || slow < 0 {
		t.Fatalf("capture lacks the first PADI or a PADO of each AC: %v", evs)
	}
	if !(fast < slow) || slow-padi < delay.Seconds() {
		t.Errorf("PADO from ac-fast %.3fs and ac-slow %.3fs after the PADI, want ac-fast first and ac-slow at least %v",
			fast-padi, slow-padi, delay)
	}
}

// TestFleetLoadSplit: accel-ppp's load-based pado-delay splits
// subscribers dialling one after another between two ACs: each AC's delay
// grows with its sessions, so the next subscriber goes to the less loaded
// one, and ac1's -1 step stops it answering at all.
//
//	ac1 0,600:1,-1:2   0 ms idle, 600 ms from 1 session, silent from 2
//	ac2 300,800:2      300 ms below 2 sessions, 800 ms from 2
//
// Each subscriber takes the smaller delay at the ACs' load then:
//
//	subscriber  ac1 sessions → delay  ac2 sessions → delay  goes to
//	1           0 → 0 ms              0 → 300 ms            ac1
//	2           1 → 600 ms            0 → 300 ms            ac2
//	3           1 → 600 ms            1 → 300 ms            ac2
//	4           1 → 600 ms            2 → 800 ms            ac1
//	5           2 → silent            2 → 800 ms            ac2
func TestFleetLoadSplit(t *testing.T) {
	// Not parallel: PADO delays 300 ms apart decide which AC wins; another
	// test's load could reorder the answers.
	l := newFleetLab(t)
	ac1 := startDaemon(t, l.ac1, "ac1", fleetAC("ac-one", 20, "0,600:1,-1:2"), l.pins)
	ac2 := startDaemon(t, l.ac2, "ac2", fleetAC("ac-two", 21, "300,800:2"), l.pins)
	cl := startDaemon(t, l.cl, "client", fleetClients(5), l.pins)

	want := []string{"ac-one", "ac-two", "ac-two", "ac-one", "ac-two"}
	var got []string
	for i := range want {
		got = append(got, dialOne(t, cl, fmt.Sprintf("pppoe-out%d", i+1)))
	}
	t.Logf("subscribers went to %v", got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("subscribers went to %v, want %v", got, want)
	}
	if n1, n2 := len(ac1.active()), len(ac2.active()); n1 != 2 || n2 != 3 {
		t.Errorf("ac-one %d and ac-two %d sessions, want 2 and 3", n1, n2)
	}
	if m := ac1.metrics(); m["pppoe_discovery_padi_silenced_total"] < 1 {
		t.Errorf("ac-one silenced %v PADIs, want at least 1 (subscriber 5)", m["pppoe_discovery_padi_silenced_total"])
	}
	// No address given twice across the fleet (disjoint local pools
	// here; with RADIUS, one SQL pool).
	seen := map[string]string{}
	for _, ac := range []*daemon{ac1, ac2} {
		for _, r := range ac.active() {
			if prev, dup := seen[r["address"]]; dup {
				t.Errorf("address %s on %s and %s", r["address"], prev, ac.name)
			}
			seen[r["address"]] = ac.name
		}
	}
}

// foreignCookie is run by scapy on the subscribers' side: one PADI, the
// two ACs' PADOs, then a PADR to the first AC carrying the second's
// AC-Cookie, and one carrying its own. It prints JSON.
const foreignCookie = `
import json, sys, time
from scapy.all import Ether, AsyncSniffer, sendp, get_if_hwaddr
from scapy.layers.ppp import PPPoED, PPPoED_Tags, PPPoETag

iface = "ether2"
me = get_if_hwaddr(iface)
SN, ACN, HU, COOKIE = 0x0101, 0x0102, 0x0103, 0x0104

def frame(dst, code, tags, sid=0):
    return (Ether(dst=dst, src=me, type=0x8863) / PPPoED(code=code, sessionid=sid) /
            PPPoED_Tags(tag_list=[PPPoETag(tag_type=t, tag_value=v) for t, v in tags]))

def exchange(pkt, code, wait):
    s = AsyncSniffer(iface=iface, lfilter=lambda p: PPPoED in p and p[PPPoED].code == code and p[Ether].dst == me)
    s.start()
    time.sleep(0.3)
    sendp(pkt, iface=iface, verbose=False)
    time.sleep(wait)
    return s.stop()

def tags(p):
    return {t.tag_type: bytes(t.tag_value) for t in p[PPPoED_Tags].tag_list} if PPPoED_Tags in p else {}

offers = {}
for p in exchange(frame("ff:ff:ff:ff:ff:ff", 0x09, [(SN, b"fleet"), (HU, b"scapy-1")]), 0x07, 1.0):
    offers[p[Ether].src] = tags(p)
macs = sys.argv[1:3]
if sorted(offers) != sorted(macs):
    print(json.dumps({"error": "offers from %s, want %s" % (sorted(offers), macs)}))
    sys.exit(0)
first, second = macs
out = {"offers": {m: offers[m][ACN].decode() for m in macs}}
foreign = exchange(frame(first, 0x19, [(SN, b"fleet"), (HU, b"scapy-2"), (COOKIE, offers[second][COOKIE])]), 0x65, 1.0)
out["foreign_pads"] = [p[PPPoED].sessionid for p in foreign if p[Ether].src == first]
own = exchange(frame(first, 0x19, [(SN, b"fleet"), (HU, b"scapy-3"), (COOKIE, offers[first][COOKIE])]), 0x65, 1.0)
out["own_pads"] = [p[PPPoED].sessionid for p in own if p[Ether].src == first]
for sid in out["own_pads"]:
    if sid:
        sendp(frame(first, 0xa7, [], sid=sid), iface=iface, verbose=False)
print(json.dumps(out))
`

// TestFleetForeignCookie: each AC has its own /system identity (AC-Name)
// and its own AC-Cookie key; a PADR to one carrying the cookie the other
// issued gets no PADS (RFC 2516 §5.3: the AC-Cookie is the AC's own), and
// one carrying its own cookie gets its session. Frames are scapy's, not
// pppoed's client, so nothing of ours builds the PADR.
func TestFleetForeignCookie(t *testing.T) {
	// Not parallel: the scapy script gives its sniffer 0.3 s to start and
	// the AC 1 s to answer; another test's load could make it miss a PADO or
	// PADS.
	l := newFleetLab(t)
	ac1 := startDaemon(t, l.ac1, "ac1", fleetAC("ac-one", 20, "0"), l.pins)
	ac2 := startDaemon(t, l.ac2, "ac2", fleetAC("ac-two", 21, "0"), l.pins)
	const python = "/usr/bin/python3" // Debian's, where python3-scapy lives
	if _, err := exec.LookPath(python); err != nil {
		t.Fatalf("%s missing (Debian package python3-scapy): `make test` installs it, or scripts/deps.sh test", python)
	}
	raw := l.cl.Run(t, python, "-c", foreignCookie, l.mac1, l.mac2)
	line := raw[strings.LastIndex(strings.TrimSpace(raw), "\n")+1:]
	var res struct {
		Error   string            `json:"error"`
		Offers  map[string]string `json:"offers"`
		Foreign []int             `json:"foreign_pads"`
		Own     []int             `json:"own_pads"`
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil || res.Error != "" {
		t.Fatalf("scapy: %v %s\n%s", err, res.Error, raw)
	}
	t.Logf("scapy: %s", strings.TrimSpace(line))
	if res.Offers[l.mac1] != "ac-one" || res.Offers[l.mac2] != "ac-two" {
		t.Errorf("AC-Names %v, want %s ac-one and %s ac-two", res.Offers, l.mac1, l.mac2)
	}
	if len(res.Foreign) != 0 {
		t.Errorf("ac-one answered a PADR carrying ac-two's cookie with PADS %v", res.Foreign)
	}
	if len(res.Own) != 1 || res.Own[0] == 0 {
		t.Errorf("ac-one answered a PADR carrying its own cookie with PADS %v, want one with a session", res.Own)
	}
	m1, m2 := ac1.metrics(), ac2.metrics()
	if m1["pppoe_discovery_padr_bad_cookie_total"] != 1 || m1["pppoe_discovery_pads_sent_total"] != 1 {
		t.Errorf("ac-one: %v bad cookies and %v PADS, want 1 and 1",
			m1["pppoe_discovery_padr_bad_cookie_total"], m1["pppoe_discovery_pads_sent_total"])
	}
	if m2["pppoe_discovery_padr_received_total"] != 0 {
		t.Errorf("ac-two received %v PADRs, all went to ac-one", m2["pppoe_discovery_padr_received_total"])
	}
}
