package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientAdoptIPv6AfterCrash: a dual-stack client session with SLAAC
// and a delegated prefix; the client's pppoed is killed (SIGKILL) while
// the client pings the core over IPv6 100 times a second from its SLAAC
// address, and a host inside the delegated prefix does the same; the
// next pppoed takes the session over and both streams lose nothing. No
// PADT or PADI on the wire; the same session on both ends, the same
// SLAAC address, default routes and delegated prefix (still bound), the
// netdev as it was.
func TestClientAdoptIPv6AfterCrash(t *testing.T) {
	t.Parallel()
	testClientAdoptIPv6(t, dualStackServer)
}

// TestClientAdoptIPv6OnlyAfterCrash: the same with an AC that offers
// IPv6 alone (the client's IPCP is rejected, IPv6CP is its only network
// protocol). Before, the client wrote its record when IPCP opened, so
// such a session had none: the next pppoed ended it with a PADT and
// dialed again.
func TestClientAdoptIPv6OnlyAfterCrash(t *testing.T) {
	t.Parallel()
	testClientAdoptIPv6(t, v6OnlyServer)
}

func testClientAdoptIPv6(t *testing.T, server string) {
	l, lan := v6Lab(t)
	ac := startDaemon(t, l.ac, "ac", server, l.pins, "--uplink", "up0")
	stateDir, resolv := t.TempDir(), filepath.Join(t.TempDir(), "resolv.conf")
	flags := []string{"--state-dir", stateDir, "--resolv-conf", resolv}
	cl := startDaemon(t, l.cl, "client", v6Client, l.pins, flags...)
	var mon map[string]string
	waitFor(t, 20*time.Second, "the client up with its delegated prefix", func() bool {
		mon = cl.monitor("pppoe-out1")
		return mon["status"] == "connected" && mon["ipv6-address"] != "" && mon["dhcpv6-status"] == "bound"
	})
	before := ac.active()
	if len(before) != 1 {
		t.Fatalf("active before: %v", before)
	}
	slaac, err := netip.ParsePrefix(mon["ipv6-address"])
	if err != nil {
		t.Fatalf("monitor ipv6-address %q: %v", mon["ipv6-address"], err)
	}
	host := lanHost(t, l, lan)
	net1 := netdevOf(t, l.cl, "pppoe-out1")
	resolvConf, err := os.ReadFile(resolv)
	if err != nil || !strings.Contains(string(resolvConf), "2001:db8:ffff::53") {
		t.Fatalf("resolv.conf %q, %v: want the AC's IPv6 DNS server", resolvConf, err)
	}
	capture := l.cl.StartCapture(t, "ether2")

	const count = 800 // 8 s at 100 a second, across the restart
	fromClient, fromHost := make(chan int, 1), make(chan int, 1)
	go func() { fromClient <- l.cl.PingEvery(t, slaac.Addr(), core6, count, 10*time.Millisecond) }()
	go func() { fromHost <- lan.PingEvery(t, host, core6, count, 10*time.Millisecond) }()
	time.Sleep(time.Second)
	must(t, cl.cmd.Process.Kill())
	<-cl.done
	cl2 := startDaemon(t, l.cl, "client", v6Client, l.pins, flags...)
	gotClient, gotHost := <-fromClient, <-fromHost

	log := cl2.log.String()
	if !strings.Contains(log, "session adopted") || strings.Contains(log, "session swept at start") ||
		strings.Contains(log, "session of the previous run ended") {
		t.Errorf("the new client did not adopt its session:\n%s", log)
	}
	if gotClient != count || gotHost != count {
		t.Errorf("ping6 across the crash: %d of %d answered from the client, %d of %d from the host in the delegated prefix",
			gotClient, count, gotHost, count)
	}
	mon2 := cl2.monitor("pppoe-out1")
	for _, k := range []string{"status", "ac-mac", "local-address", "remote-address", "ipv6-address", "ipv6-dns",
		"dhcpv6-status", "dhcpv6-prefix", "mtu", "mru"} {
		if mon2[k] != mon[k] {
			t.Errorf("client's %s %q after the crash, was %q", k, mon2[k], mon[k])
		}
	}
	after := ac.active()
	if len(after) != 1 {
		t.Fatalf("active after: %v", after)
	}
	for _, k := range []string{".id", "session-id", "address", "caller-id"} {
		if after[0][k] != before[0][k] {
			t.Errorf("AC's %s %q after the client's crash, was %q", k, after[0][k], before[0][k])
		}
	}
	if net2 := netdevOf(t, l.cl, "pppoe-out1"); fmt.Sprint(net2) != fmt.Sprint(net1) {
		t.Errorf("netdev after the crash %+v, was %+v", net2, net1)
	}
	if now, err := os.ReadFile(resolv); err != nil || string(now) != string(resolvConf) {
		t.Errorf("resolv.conf %q after, %q before (%v)", now, resolvConf, err)
	}
	capture.Stop()
	if rows := capture.Fields(t, "pppoe.code == 0xa7 || pppoe.code == 0x09", "eth.src", "pppoe.code"); len(rows) != 0 {
		t.Errorf("discovery on the wire across the client's crash: %v", rows)
	}
	for _, r := range capture.Fields(t, "pppoes", "pppoe.session_id") {
		if hexNum(t, r[0]) != hexNum(t, before[0]["session-id"]) {
			t.Errorf("a session frame with id %s, the session is %s", r[0], before[0]["session-id"])
			break
		}
	}
}
