package radiusaaa

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// scrape returns what Prometheus reads from the backend's counters.
func scrape(t *testing.T, b *Backend) string {
	t.Helper()
	m := metrics.New(func() metrics.Snapshot { return metrics.Snapshot{Radius: b.RadiusCounters()} })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if strings.Contains(string(body), testSecret) {
		t.Fatal("a secret is in the metrics")
	}
	return string(body)
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, l+"\n") {
			t.Errorf("metrics lack %q", l)
		}
	}
}

// The RADIUS metrics count what FreeRADIUS and radclient did: accepts,
// rejects, round trips, accounting, Disconnect answers and drops; and
// /radius incoming's address allow-list drops a client outside it.
func TestRadiusMetrics(t *testing.T) {
	r := startRadiusd(t)
	coa := freeradius.FreePorts(t, 1)[0]
	cfg := backendConfig(t, r, fmt.Sprintf("/radius incoming set accept=yes port=%d address=192.0.2.0/24\n", coa))
	b, _ := newBackend(t, cfg)
	if a := ask(t, b, 1, auth.PAP, "alice", "alice-pw"); !a.Accept {
		t.Fatal(a.Err)
	}
	if a := ask(t, b, 2, auth.CHAP, "alice", "wrong"); a.Accept {
		t.Fatal("a wrong password accepted")
	}
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(coa))
	// 127.0.0.1 is a /radius server but outside address=: no answer.
	if out := freeradius.Radclient(t, to, "disconnect", testSecret, `User-Name = "nobody"`, time.Second); !strings.Contains(out, "No reply") {
		t.Fatalf("a client outside /radius incoming address= was answered:\n%s", out)
	}
	next, err := config.Load(config.Export(cfg) + "/radius incoming set address=127.0.0.0/8\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Configure(next); err != nil {
		t.Fatal(err)
	}
	if out := freeradius.Radclient(t, to, "disconnect", testSecret, `User-Name = "nobody"`, 20*time.Second); !strings.Contains(out, "Received Disconnect-NAK") {
		t.Fatalf("inside the allow-list, no NAK:\n%s", out)
	}
	srv := fmt.Sprintf(`port="auth",server="127.0.0.1:%d"`, r.AuthPort)
	body := scrape(t, b)
	wantLines(t, body,
		`pppoe_radius_requests_total{`+srv+`} 2`,
		`pppoe_radius_answers_total{code="accept",`+srv+`} 1`,
		`pppoe_radius_answers_total{code="reject",`+srv+`} 1`,
		`pppoe_radius_timeouts_total{`+srv+`} 0`,
		`pppoe_radius_round_trip_seconds_count{`+srv+`} 2`,
		`pppoe_radius_round_trip_seconds_bucket{`+srv+`,le="+Inf"} 2`,
		`pppoe_radius_dynauth_requests_total{kind="disconnect"} 1`,
		`pppoe_radius_dynauth_answers_total{kind="disconnect",result="nak"} 1`,
		`pppoe_radius_dynauth_answers_total{kind="disconnect",result="ack"} 0`,
		`pppoe_radius_dynauth_dropped_total 1`,
		`pppoe_radius_accounting_dropped_total{record="refused"} 0`,
	)
	// Accounting-On went out when the configuration was first applied.
	acct := fmt.Sprintf(`port="acct",server="127.0.0.1:%d"`, r.AcctPort)
	for deadline := time.Now().Add(time.Minute); !strings.Contains(body, `pppoe_radius_answers_total{code="accounting_response",`+acct+`} 1`+"\n"); body = scrape(t, b) {
		if time.Now().After(deadline) {
			t.Fatalf("Accounting-On not counted:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantLines(t, body, `pppoe_radius_accounting_delivered_total 1`, `pppoe_radius_accounting_queued 0`)
}

// A server that never answers: its timeouts and retransmits are counted.
func TestRadiusMetricsTimeouts(t *testing.T) {
	dead := blackhole(t)
	cfg, err := config.Load(fmt.Sprintf(`
/ppp aaa set use-radius=yes accounting=no
/radius add service=ppp address=127.0.0.1 secret=%q authentication-port=%d accounting-port=%d timeout=100ms
`, testSecret, dead.Port(), dead.Port()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newBackend(t, cfg)
	if a := ask(t, b, 1, auth.PAP, "alice", "alice-pw"); a.Accept {
		t.Fatal("accepted by a server that never answers")
	}
	srv := fmt.Sprintf(`port="auth",server="%s"`, dead)
	wantLines(t, scrape(t, b),
		`pppoe_radius_requests_total{`+srv+`} 1`,
		`pppoe_radius_retransmits_total{`+srv+`} 2`,
		`pppoe_radius_timeouts_total{`+srv+`} 1`,
		`pppoe_radius_round_trip_seconds_count{`+srv+`} 0`,
	)
}
