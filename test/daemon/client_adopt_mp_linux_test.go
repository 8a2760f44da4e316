package daemon

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientAdoptMultilink: a client session with multilink up (mrru
// 1614 on a 1480 link, both ends) survives the client's kill -9: a
// 100-a-second ping to the core loses nothing across it, no PADT or
// PADI is on the wire, and afterwards 1500-byte IPv4 with DF crosses the
// session whole both ways: the new client fragments what its data plane
// diverts with sequence numbers the AC's reassembler takes (past those
// of the killed one, which the AC has seen), and reassembles the AC's.
// Before, a multilink client session was ended with a PADT and dialed
// again.
func TestClientAdoptMultilink(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(mpServer, "1614"), l.pins, "--uplink", "up0")
	stateDir, resolv := t.TempDir(), filepath.Join(t.TempDir(), "resolv.conf")
	flags := []string{"--state-dir", stateDir, "--resolv-conf", resolv}
	conf := fmt.Sprintf(mpClient, "1614")
	cl := startDaemon(t, l.cl, "client", conf, l.pins, flags...)
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	// The core through the session (the netdev keeps it across the
	// adoption).
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	mon := cl.monitor("PPPoE-Out")
	if mon["mrru"] != "1614" {
		t.Fatalf("client monitor %v, want multilink up", mon)
	}
	before := ac.active()
	if len(before) != 1 {
		t.Fatalf("active before: %v", before)
	}
	sub := netip.MustParseAddr(before[0]["address"])
	// The client's fragments move its sequence numbers on, and the AC's
	// reassembler with them.
	if got := l.cl.Ping(t, sub, coreAddr, 10, 1472); got != 10 {
		t.Fatalf("1500-byte DF ping client → core over MP before the crash: %d/10", got)
	}
	capture := l.cl.StartCapture(t, "ether2")
	const count = 800
	pinged := make(chan int, 1)
	go func() { pinged <- l.cl.PingEvery(t, sub, coreAddr, count, 10*time.Millisecond) }()
	time.Sleep(time.Second)
	must(t, cl.cmd.Process.Kill())
	<-cl.done
	cl2 := startDaemon(t, l.cl, "client", conf, l.pins, flags...)
	if got := <-pinged; got != count {
		t.Errorf("ping across the client's crash: %d of %d answered", got, count)
	}
	log := cl2.log.String()
	if !strings.Contains(log, "session adopted") || strings.Contains(log, "session swept at start") ||
		strings.Contains(log, "session of the previous run ended") {
		t.Errorf("the new client did not adopt its session:\n%s", log)
	}
	if got := l.cl.Ping(t, sub, coreAddr, 10, 1472); got != 10 {
		t.Errorf("1500-byte DF ping client → core over MP after adoption: %d/10", got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 10, 1472); got != 10 {
		t.Errorf("1500-byte DF ping core → client over MP after adoption: %d/10", got)
	}
	if m := cl2.monitor("PPPoE-Out"); m["status"] != "connected" || m["mrru"] != "1614" || m["local-address"] != mon["local-address"] {
		t.Errorf("client monitor after adoption %v, was %v", m, mon)
	}
	after := ac.active()
	if len(after) != 1 || after[0][".id"] != before[0][".id"] || after[0]["session-id"] != before[0]["session-id"] {
		t.Errorf("active after %v, before %v", after, before)
	}
	capture.Stop()
	if rows := capture.Fields(t, "pppoe.code == 0xa7 || pppoe.code == 0x09", "eth.src", "pppoe.code"); len(rows) != 0 {
		t.Errorf("discovery on the wire across the client's crash: %v", rows)
	}
}
