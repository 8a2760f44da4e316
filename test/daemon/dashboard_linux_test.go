package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDashboardMetrics holds scripts/grafana/pppoe-xdp.json against a real
// pppoed's /metrics: every metric, label and label value the dashboard
// queries must be there. Some series exist only once something happened (a
// Prometheus vector with no sample prints nothing), so the AC first gets
// what a running BNG has: a session up with traffic both ways through the
// data plane, a client failing authentication, and one refused at
// max-sessions.
func TestDashboardMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := dashboardQueries(b)
	if err != nil {
		t.Fatal(err)
	}

	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	server := strings.Replace(fmt.Sprintf(quickServer, "one"), "disabled=no interface=ether3", "disabled=no max-sessions=1 interface=ether3", 1)
	ac := startDaemon(t, l.ac, "ac", server, l.pins, "--uplink", "up0")
	// The client with the wrong password dials first and alone: with
	// max-sessions=1, once the good client's session is established every
	// later PADR is refused before authentication, so a bad client
	// dialling after it would never fail authentication (its PADI went
	// out 60 ms after the good one's under load, and lost that race).
	cl := startDaemon(t, l.cl, "client",
		`/interface pppoe-client add interface=ether2 password=wrong service-name=pppoeservice name=bad user=MT-User disabled=no
`, l.pins)
	waitFor(t, 10*time.Second, "an authentication failure", func() bool { return sampled(ac.metrics(), "pppoe_auth_failures_total") })
	cl.ctl("/" + strings.TrimSpace(quickClient))
	waitFor(t, 10*time.Second, "an active session", func() bool {
		rows := ac.active()
		return len(rows) == 1 && rows[0]["address"] == "10.0.0.2"
	})
	// The AC lists the session once its IPCP is open; the client may still
	// be setting up its side.
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	sub := netip.MustParseAddr("10.0.0.2")
	if got := l.cl.Ping(t, sub, coreAddr, 3, 200); got != 3 {
		t.Errorf("client → core: %d/3 replies", got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("core → client: %d/3 replies", got)
	}
	// A second good client once the first is up: max-sessions=1 refuses it.
	cl.ctl("/interface pppoe-client add interface=ether2 password=one service-name=pppoeservice name=third user=spare disabled=no")
	waitFor(t, 10*time.Second, "a PADR refused at max-sessions", func() bool {
		return ac.metrics()[`pppoe_padr_refused_total{limit="max-sessions"}`] > 0
	})

	// The new per-interface counters saw the echoes, each way.
	m := ac.metrics()
	for _, dir := range []string{"up", "down"} {
		k := fmt.Sprintf(`pppoe_interface_packets_total{direction="%s",interface="ether3"}`, dir)
		if m[k] < 3 {
			t.Errorf("%s = %v, want ≥ 3 (the pings)", k, m[k])
		}
	}

	fams := parseExposition(t, string(ac.metricsBody()))
	for _, err := range checkDashboard(qs, fams) {
		t.Error(err)
	}
}

// sampled tells whether m has a sample of name with some label at a value
// above zero.
func sampled(m map[string]float64, name string) bool {
	for k, v := range m {
		if strings.HasPrefix(k, name+"{") && v > 0 {
			return true
		}
	}
	return false
}
