package daemon

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// TestAdoptRadiusAccounting: a session authenticated and accounted on a
// real FreeRADIUS survives a kill -9 of pppoed with its accounting going
// on. FreeRADIUS's detail file then holds, for the session's
// Acct-Session-Id, one Start (none from the new run), Interim-Updates
// from both runs with Acct-Session-Time and counters growing across the
// crash, and one Stop carrying the whole session's time and every ping of
// both runs; and one Accounting-On: the new run tells the server nothing
// that would close the session.
func TestAdoptRadiusAccounting(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	netns.RequireTool(t, "freeradius")
	fr, err := freeradius.Launch(t.TempDir(), freeradius.Options{
		Netns: l.ac.Name, AuthPort: 1812, AcctPort: 1813,
		Users: "rad-user\tCleartext-Password := \"rad-pw\"\n\tFramed-Pool = \"pppoe-pool\",\n\tClass = \"plan-gold\"\n",
	})
	must(t, err)
	t.Cleanup(fr.Close)
	stateDir := t.TempDir()
	conf := fmt.Sprintf(radiusServer, freeradius.Secret)
	ac := startDaemon(t, l.ac, "ac", conf, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	cl := startDaemon(t, l.cl, "client", strings.Replace(radiusClient, "disabled=no", "disabled=no keepalive-timeout=10", 1), l.pins)
	var row map[string]string
	waitFor(t, 20*time.Second, "a RADIUS session", func() bool {
		rows := ac.active()
		if len(rows) == 1 && rows[0]["address"] != "" {
			row = rows[0]
			return true
		}
		return false
	})
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	id := strings.TrimPrefix(row[".id"], "*")
	id = strings.Repeat("0", max(0, 8-len(id))) + id
	of := func(status string) []map[string]string {
		var out []map[string]string
		for _, r := range fr.Records() {
			if r["Acct-Status-Type"] == status && (r["Acct-Session-Id"] == id || status == "Accounting-On") {
				out = append(out, r)
			}
		}
		return out
	}
	addr := netip.MustParseAddr(row["address"])
	const pings = 200
	// The first replies wait for the client's neighbour and route set-up:
	// not what is measured.
	waitFor(t, 10*time.Second, "the subscriber answering", func() bool { return l.core.PingEvery(t, coreAddr, addr, 1, 10*time.Millisecond) == 1 })
	if got := l.core.PingEvery(t, coreAddr, addr, pings, 10*time.Millisecond); got != pings {
		t.Fatalf("ping before the crash: %d of %d", got, pings)
	}
	waitFor(t, 30*time.Second, "an Interim-Update before the crash", func() bool { return len(of("Interim-Update")) >= 1 })
	before := of("Interim-Update")
	last := before[len(before)-1]
	if num(t, last, "Acct-Output-Packets") < pings {
		t.Fatalf("interim before the crash counts %s packets to the subscriber, want ≥ %d", last["Acct-Output-Packets"], pings)
	}

	must(t, ac.cmd.Process.Kill())
	<-ac.done
	crashed := time.Now()
	ac2 := startDaemon(t, l.ac, "ac", conf, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	if log := ac2.log.String(); !strings.Contains(log, `"adopted": 1`) || strings.Contains(log, "session swept at start") {
		t.Fatalf("the new AC did not adopt the RADIUS session:\n%s", log)
	}
	if got := l.core.PingEvery(t, coreAddr, addr, pings, 10*time.Millisecond); got != pings {
		t.Errorf("ping after the crash: %d of %d", got, pings)
	}
	waitFor(t, 30*time.Second, "an Interim-Update of the new run", func() bool {
		n := len(of("Interim-Update"))
		return n > len(before) && num(t, of("Interim-Update")[n-1], "Acct-Session-Time") > num(t, last, "Acct-Session-Time")
	})
	if st := cl.monitor("PPPoE-Out")["status"]; st != "connected" {
		t.Fatalf("client %q after the crash", st)
	}
	// Taken before the stop: the Stop's session time is read when the
	// stop begins, and the daemon's exit after it is not session time.
	up := time.Since(crashed)
	ac2.stop()

	if n := len(of("Start")); n != 1 {
		t.Errorf("%d Starts for %s, want 1:\n%s", n, id, fr.Detail())
	}
	if n := len(of("Accounting-On")); n != 1 {
		t.Errorf("%d Accounting-On, want the first run's only", n)
	}
	stops := of("Stop")
	if len(stops) != 1 {
		t.Fatalf("%d Stops for %s, want 1:\n%s", len(stops), id, fr.Detail())
	}
	stop := stops[0]
	if got, want := num(t, stop, "Acct-Session-Time"), num(t, last, "Acct-Session-Time")+uint64(up/time.Second); got < want {
		t.Errorf("Stop's Acct-Session-Time %d, want ≥ %d (the interim before the crash and the time since)", got, want)
	}
	if got := num(t, stop, "Acct-Output-Packets"); got < 2*pings {
		t.Errorf("Stop's Acct-Output-Packets %d, want ≥ %d (the pings of both runs)", got, 2*pings)
	}
	if got := num(t, stop, "Acct-Input-Packets"); got < 2*pings {
		t.Errorf("Stop's Acct-Input-Packets %d, want ≥ %d (the replies of both runs)", got, 2*pings)
	}
	if stop["Class"] == "" || stop["Class"] != of("Start")[0]["Class"] {
		t.Errorf("Stop's Class %q, the Start's %q", stop["Class"], of("Start")[0]["Class"])
	}
	interims := of("Interim-Update")
	for i := 1; i < len(interims); i++ {
		if num(t, interims[i], "Acct-Output-Packets") < num(t, interims[i-1], "Acct-Output-Packets") {
			t.Errorf("interim %d counts fewer packets than the one before: %v then %v", i, interims[i-1], interims[i])
		}
	}
}

// num reads a numeric attribute of a detail record.
func num(t *testing.T, r map[string]string, attr string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(r[attr], 10, 64)
	if err != nil {
		t.Fatalf("%s %q: %v in %v", attr, r[attr], err, r)
	}
	return n
}
