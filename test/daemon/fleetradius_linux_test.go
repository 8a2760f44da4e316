package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
	"github.com/pppoe-xdp/pppoe-xdp/test/sqlippool"
)

// The fleet on RADIUS (issue 19): two pppoed ACs on one bridge, their
// addresses from one SQL pool (FreeRADIUS sqlippool on PostgreSQL) in a
// core namespace both ACs reach through up0:
//
//	subscribers ── br0 ── ac-one ether3 │ up0 192.0.2.1, .11 ── br1 ── core 192.0.2.254
//	                  └── ac-two ether3 │ up0 192.0.2.2, .12 ──┘      FreeRADIUS, radclient
//
// Each AC sends RADIUS from its own src-address (.11, .12), which is the
// NAS-IP-Address sqlippool keys its leases by, not the kernel's first
// address on up0 (.1, .2).
const (
	fleetSubscribers = 200
	fleetDialers     = 8   // subscribers dialling at once in the first wave
	fleetThreshold   = 100 // ac-one answers at once below this many sessions
	// fleetKeepalive is the subscribers' keepalive-timeout: Echo-Requests
	// after 1 s of silence, the AC declared gone after 2 s. Short, to
	// keep the suite lean; a real CPE's is tens of seconds.
	fleetKeepalive = time.Second
)

// fleetRadiusAC is an AC of the RADIUS fleet: identity (AC-Name and
// NAS-Identifier), pado-delay, and the src-address its RADIUS requests
// leave from. No pool and no secret of its own: every subscriber is
// RADIUS's, every address sqlippool's. keepalive-timeout=5 (RouterOS's
// default is 10) ends sooner the sessions a subscriber abandoned under
// load (its PPP timed out while the AC went on) and will never answer.
func fleetRadiusAC(identity, padoDelay, src string) string {
	return fmt.Sprintf(`/system identity set name=%s
/ppp profile add name=prof local-address=100.64.255.1
/interface pppoe-server server add interface=ether3 service-name=fleet default-profile=prof pado-delay=%s keepalive-timeout=5 disabled=no
/radius add service=ppp address=192.0.2.254 secret=%s src-address=%s timeout=2s
/ppp aaa set use-radius=yes accounting=yes
/radius incoming set accept=yes
`, identity, padoDelay, sqlippool.Secret, src)
}

// TestFleetRadiusFailover is the namespace lab of issue 19: 200
// subscribers from the project's load client (test/peer, as make
// bench-sessions) on two ACs whose pado-delay splits them by load, every
// address from one SQL pool and none given twice (on the subscribers, on
// the ACs, in PostgreSQL); a Disconnect-Request to the AC that does not
// own the session gets Error-Cause 503, the owner ACKs; then ac-one is
// killed (kill -9) and every subscriber's keepalive notices, rediscovers
// and comes back on ac-two, still with no address twice. ac-one's leases
// are released by its Accounting-On when it is started again (Debian's
// sqlippool on_clear: every lease of that NAS-IP-Address), after which
// the database holds exactly ac-two's sessions.
//
//	ac-one pado-delay=0,300:100  at once below 100 sessions, then 300 ms
//	ac-two pado-delay=150        always 150 ms (RouterOS's fixed form)
func TestFleetRadiusFailover(t *testing.T) {
	// Not parallel: PADO delays 150 ms apart split the subscribers; another
	// test's load could shift the split.
	netns.RequireTool(t, "radclient")
	l := newFleetLab(t)
	core := netns.New(t)
	core.Run(t, "ip", "link", "add", "br1", "type", "bridge")
	netns.Veth(t, l.ac1, "up0", core, "c1")
	netns.Veth(t, l.ac2, "up0", core, "c2")
	for _, p := range []string{"c1", "c2"} {
		core.Run(t, "ip", "link", "set", p, "master", "br1")
	}
	core.Run(t, "ip", "link", "set", "br1", "up")
	core.Run(t, "ip", "addr", "add", "192.0.2.254/24", "dev", "br1")
	for _, a := range []struct {
		ns    *netns.NS
		addrs []string
	}{{l.ac1, []string{"192.0.2.1/24", "192.0.2.11/24"}}, {l.ac2, []string{"192.0.2.2/24", "192.0.2.12/24"}}} {
		for _, addr := range a.addrs {
			a.ns.Run(t, "ip", "addr", "add", addr, "dev", "up0")
		}
	}
	var pool []netip.Addr
	for a, i := netip.MustParseAddr("100.64.0.1"), 0; i < 2*fleetSubscribers; a, i = a.Next(), i+1 {
		pool = append(pool, a) // twice the subscribers: the dead AC's leases stay until it is back
	}
	lab := sqlippool.Start(t, sqlippool.Options{Pool: pool, Netns: core.Name, Listen: "192.0.2.254",
		Clients: "192.0.2.0/24", AuthPort: 1812, AcctPort: 1813})

	state1 := filepath.Join(t.TempDir(), "ac1.state")
	conf1 := fleetRadiusAC("ac-one", fmt.Sprintf("0,300:%d", fleetThreshold), "192.0.2.11")
	ac1 := radiusAC{startDaemon(t, l.ac1, "ac1", conf1, l.pins, "--state-dir", state1), "ac-one", "192.0.2.11"}
	ac2 := radiusAC{startDaemon(t, l.ac2, "ac2", fleetRadiusAC("ac-two", "150", "192.0.2.12"), l.pins), "ac-two", "192.0.2.12"}

	var mux *peer.Mux
	must(t, l.cl.Do(t, func() (err error) { mux, err = peer.Listen("ether2"); return err }))
	defer mux.Close()
	ctx, cancel := context.WithCancel(context.Background())
	subs := make([]*peer.Subscriber, fleetSubscribers)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // before the ACs stop (t.Cleanup)
	sem := make(chan struct{}, fleetDialers)
	start := time.Now()
	for i := range subs {
		subs[i] = peer.NewSubscriber(peer.Config{
			MAC:         []byte{0x02, 0xf1, 0, 0, byte(i >> 8), byte(i)},
			ServiceName: "fleet", User: "sub", Password: "subpass",
			Methods: []auth.Method{auth.PAP},
			Timeout: time.Second, MaxTimeout: 4 * time.Second, Restart: time.Second,
			Keepalive: fleetKeepalive,
		})
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[i].Run(ctx, mux, func() { <-sem })
		}()
	}
	allOn := func(want string) func() bool {
		return func() bool {
			for _, s := range subs {
				if ac := s.State().ACName; ac == "" || (want != "" && ac != want) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 3*time.Minute, "every subscriber up", allOn(""))
	t.Logf("%d subscribers up in %v", fleetSubscribers, time.Since(start).Round(time.Millisecond))

	// The split, as the subscribers and the ACs count it.
	split := map[string]int{}
	for _, s := range subs {
		split[s.State().ACName]++
	}
	t.Logf("split by pado-delay: ac-one %d, ac-two %d", split["ac-one"], split["ac-two"])
	if split["ac-one"] > fleetThreshold+fleetDialers || split["ac-one"] < fleetThreshold/2 || split["ac-one"]+split["ac-two"] != fleetSubscribers {
		t.Errorf("split %v: want ac-one up to its %d-session threshold (+%d dialling at once), ac-two the rest", split, fleetThreshold, fleetDialers)
	}
	settle(t, subs, ac1, ac2)
	checkFleet(t, lab, subs, ac1, ac2)

	// Disconnect-Request for a session of ac-two: ac-one does not own it
	// (503, Session-Context-Not-Found), ac-two does (ACK). The session is
	// named by its Acct-Session-Id and its address; the ids are per AC and
	// may repeat across the fleet, the address may not.
	var row map[string]string
	for _, r := range ac2.d.active() {
		if r["address"] != "" {
			row = r
			break
		}
	}
	if row == nil {
		t.Fatal("ac-two has no session to disconnect")
	}
	sel := fmt.Sprintf("Acct-Session-Id = %q\nFramed-IP-Address = %s\n", acctSessionID(row), row["address"])
	disconnect := func(nas string) string {
		cmd := exec.Command("ip", "netns", "exec", core.Name, "radclient", "-x", "-t", "5", "-r", "1", nas+":3799", "disconnect", sqlippool.Secret)
		cmd.Stdin = strings.NewReader(sel)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := disconnect("192.0.2.1"); !strings.Contains(out, "Received Disconnect-NAK") || !strings.Contains(out, "Error-Cause = Session-Context-Not-Found") {
		t.Errorf("Disconnect-Request to ac-one for ac-two's session %s: want a NAK with Error-Cause 503:\n%s", row["address"], out)
	} else {
		t.Logf("Disconnect-Request to ac-one for ac-two's session %s: NAK, Error-Cause = Session-Context-Not-Found (503)", row["address"])
	}
	if !hasSession(ac2.d, row[".id"]) {
		t.Errorf("after ac-one's NAK ac-two's session %s is gone", row[".id"])
	}
	if out := disconnect("192.0.2.2"); !strings.Contains(out, "Received Disconnect-ACK") {
		t.Errorf("Disconnect-Request to ac-two for its session %s: want an ACK:\n%s", row["address"], out)
	}
	waitFor(t, 10*time.Second, "the session ac-two ACKed ended", func() bool { return !hasSession(ac2.d, row[".id"]) })
	// The disconnected subscriber dials again.
	settle(t, subs, ac1, ac2)

	// ac-one dies.
	killed := time.Now()
	must(t, ac1.d.cmd.Process.Kill())
	<-ac1.d.done
	waitFor(t, 3*time.Minute, "every subscriber on ac-two", allOn("ac-two"))
	var last time.Duration
	for _, s := range subs {
		if up := s.State().Up; up.After(killed) && up.Sub(killed) > last {
			last = up.Sub(killed)
		}
	}
	t.Logf("failover: %d subscribers of ac-one back on ac-two %v after kill -9 (keepalive-timeout %v: gone after %v)",
		split["ac-one"], last.Round(10*time.Millisecond), fleetKeepalive, 2*fleetKeepalive)
	settle(t, subs, ac2)
	// ac-one's leases are still in the pool (lease_duration: an hour);
	// every address on ac-two is one of ac-two's leases and none twice.
	checkSubscribers(t, subs)
	for _, le := range lab.Leases(t) {
		if le.NAS != "192.0.2.11" && le.NAS != "192.0.2.12" {
			t.Errorf("lease %+v of no AC", le)
		}
	}

	// ac-one comes back (same state and pins, as systemd restarts it):
	// its Accounting-On clears its leases; the pool then holds exactly
	// ac-two's sessions.
	startDaemon(t, l.ac1, "ac1", conf1, l.pins, "--state-dir", state1)
	waitFor(t, time.Minute, "ac-one's leases released by its Accounting-On", func() bool {
		for _, le := range lab.Leases(t) {
			if le.NAS == "192.0.2.11" {
				return false
			}
		}
		return true
	})
	checkFleet(t, lab, subs, ac2)
}

// acctSessionID is the Acct-Session-Id of an active row: its .id as eight
// hex digits.
func acctSessionID(row map[string]string) string {
	id := strings.TrimPrefix(row[".id"], "*")
	return strings.Repeat("0", max(0, 8-len(id))) + id
}

// checkSubscribers: every subscriber is up with an address no other has.
func checkSubscribers(t *testing.T, subs []*peer.Subscriber) {
	t.Helper()
	owner := map[netip.Addr]int{}
	for i, s := range subs {
		a := s.State().Addr
		if j, dup := owner[a]; dup {
			t.Errorf("%v given to subscribers %d and %d", a, j, i)
		}
		owner[a] = i
	}
}

// radiusAC is an AC of the lab as the checks see it.
type radiusAC struct {
	d        *daemon
	identity string // NAS-Identifier
	nasIP    string // NAS-IP-Address: its src-address
}

// hasSession reports whether d has the session .id.
func hasSession(d *daemon, id string) bool {
	for _, r := range d.active() {
		if r[".id"] == id {
			return true
		}
	}
	return false
}

// settle waits until the ACs' sessions with an address are exactly the
// subscribers' (the same AC, the same address): under load a subscriber
// may give up on a session the AC went on with (its discovery or PPP
// timed out) and dial again, and the AC ends the abandoned one only after
// its keepalive-timeout.
func settle(t *testing.T, subs []*peer.Subscriber, acs ...radiusAC) {
	t.Helper()
	waitFor(t, 2*time.Minute, "the ACs' sessions to be the subscribers'", func() bool {
		want := map[string]bool{}
		for _, s := range subs {
			st := s.State()
			if st.ACName == "" {
				return false
			}
			want[st.ACName+" "+st.Addr.String()] = true
		}
		n := 0
		for _, ac := range acs {
			for _, r := range ac.d.active() {
				if r["address"] == "" {
					continue // not up yet, or abandoned: no address to share
				}
				if !want[ac.identity+" "+r["address"]] {
					return false
				}
				n++
			}
		}
		return n == len(want)
	})
}

// checkFleet: no address twice on the subscribers or across the ACs, and
// PostgreSQL's live leases are exactly the ACs' sessions: each lease held
// by the AC's NAS-IP-Address (its src-address) and keyed by its
// NAS-Identifier and a live session's Acct-Session-Id, with the session's
// address once it has one; each session with an address has its lease. A
// session still negotiating may hold a lease (Access-Accept came) before
// it shows an address. The ACs' accounting is queued, so a session that
// just ended may still hold its lease: the check is repeated for up to
// 30 s before the differences count.
func checkFleet(t *testing.T, lab *sqlippool.Lab, subs []*peer.Subscriber, acs ...radiusAC) {
	t.Helper()
	checkSubscribers(t, subs)
	var diff []string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var dups []string
		diff, dups = fleetDiff(t, lab, acs)
		for _, d := range dups {
			t.Errorf("address given twice: %s", d) // never transient
		}
		if len(diff) == 0 || len(dups) > 0 || time.Now().After(end) {
			break
		}
	}
	if len(diff) > 0 {
		t.Errorf("the ACs' sessions and the pool's leases differ:\n%s", strings.Join(diff, "\n"))
	}
}

// fleetDiff returns how the ACs' sessions and the live leases differ, and
// the addresses on two sessions at once.
func fleetDiff(t *testing.T, lab *sqlippool.Lab, acs []radiusAC) (diff, dups []string) {
	type holder struct{ nas, key string }
	sessions := map[holder]netip.Addr{} // invalid while it has no address
	byAddr := map[netip.Addr]string{}
	for _, ac := range acs {
		for _, row := range ac.d.active() {
			h := holder{ac.nasIP, ac.identity + "/" + acctSessionID(row)}
			a, _ := netip.ParseAddr(row["address"])
			sessions[h] = a
			if !a.IsValid() {
				continue
			}
			if prev, dup := byAddr[a]; dup {
				dups = append(dups, fmt.Sprintf("%v on %s and on %s", a, prev, h.key))
			}
			byAddr[a] = h.key
		}
	}
	leased := map[holder]bool{}
	for _, le := range lab.Leases(t) {
		h := holder{le.NAS, le.PoolKey}
		a, live := sessions[h]
		switch {
		case !live:
			diff = append(diff, fmt.Sprintf("%v: lease %+v of no session", le.Addr, h))
		case a.IsValid() && a != le.Addr:
			diff = append(diff, fmt.Sprintf("%v: lease %+v, but the session has %v", le.Addr, h, a))
		}
		leased[h] = true
	}
	for h, a := range sessions {
		if a.IsValid() && !leased[h] {
			diff = append(diff, fmt.Sprintf("%v: session %+v without a lease", a, h))
		}
	}
	sort.Strings(diff)
	return diff, dups
}
