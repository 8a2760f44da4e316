package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// scrape fetches /metrics over HTTP and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestScrape(t *testing.T) {
	var mu sync.Mutex
	snap := Snapshot{
		SessionsByState:   map[string]int{"up": 3, "lcp": 1},
		Discovery:         pppoe.Counters{PADIReceived: 10, PADIDropped: 2, PADOSent: 8, PADRDuplicates: 4, PADTSent: 1, MACLimited: 6, GlobalLimited: 9},
		AuthFailures:      map[string]uint64{"pap": 5, "mschap2": 1},
		PoolExhausted:     7,
		DataPlane:         map[string]uint64{"fast_up": 1000, "spoofed": 3, "discovery_mac_limit": 11},
		HalfOpen:          40,
		Established:       3,
		Refused:           map[string]uint64{"max-starting-per-host": 19998},
		LateDuplicates:    2,
		QueueDrops:        13,
		Ended:             map[string]uint64{"setup-timeout": 12, "auth-failed": 1},
		Traffic:           map[string]Traffic{"ether3": {PacketsUp: 11, BytesUp: 1100, PacketsDown: 22, BytesDown: 2200}, "vlan7": {PacketsUp: 1}},
		MPReassemblyDrops: map[string]uint64{"lost": 4, "oversize": 1, "overflow": 0},
	}
	m := New(func() Snapshot { mu.Lock(); defer mu.Unlock(); return snap })
	m.ObserveSetup(3 * time.Millisecond)
	m.ObserveSetup(2 * time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/metrics"

	fams := scrape(t, url)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"pppoe_sessions", map[string]string{"state": "up"}, 3},
		{"pppoe_sessions", map[string]string{"state": "lcp"}, 1},
		{"pppoe_discovery_padi_received_total", nil, 10},
		{"pppoe_discovery_padi_dropped_total", nil, 2},
		{"pppoe_discovery_pado_sent_total", nil, 8},
		{"pppoe_discovery_padr_duplicates_total", nil, 4},
		{"pppoe_discovery_padt_sent_total", nil, 1},
		{"pppoe_discovery_pads_sent_total", nil, 0},
		{"pppoe_discovery_mac_limited_total", nil, 6},
		{"pppoe_discovery_global_limited_total", nil, 9},
		{"pppoe_auth_failures_total", map[string]string{"method": "pap"}, 5},
		{"pppoe_auth_failures_total", map[string]string{"method": "mschap2"}, 1},
		{"pppoe_pool_exhausted_total", nil, 7},
		{"pppoe_dataplane_packets_total", map[string]string{"reason": "fast_up"}, 1000},
		{"pppoe_dataplane_packets_total", map[string]string{"reason": "spoofed"}, 3},
		{"pppoe_dataplane_packets_total", map[string]string{"reason": "discovery_mac_limit"}, 11},
		{"pppoe_session_setup_seconds", nil, 2},
		{"pppoe_interface_packets_total", map[string]string{"interface": "ether3", "direction": "up"}, 11},
		{"pppoe_interface_packets_total", map[string]string{"interface": "ether3", "direction": "down"}, 22},
		{"pppoe_interface_bytes_total", map[string]string{"interface": "ether3", "direction": "up"}, 1100},
		{"pppoe_interface_bytes_total", map[string]string{"interface": "ether3", "direction": "down"}, 2200},
		{"pppoe_interface_packets_total", map[string]string{"interface": "vlan7", "direction": "up"}, 1},
		{"pppoe_interface_bytes_total", map[string]string{"interface": "vlan7", "direction": "down"}, 0},
		{"pppoe_sessions_half_open", nil, 40},
		{"pppoe_sessions_established", nil, 3},
		{"pppoe_padr_refused_total", map[string]string{"limit": "max-starting-per-host"}, 19998},
		{"pppoe_padr_late_duplicates_total", nil, 2},
		{"pppoe_session_queue_drops_total", nil, 13},
		{"pppoe_sessions_ended_total", map[string]string{"reason": "setup-timeout"}, 12},
		{"pppoe_mp_reassembly_drops_total", map[string]string{"reason": "lost"}, 4},
		{"pppoe_mp_reassembly_drops_total", map[string]string{"reason": "oversize"}, 1},
		{"pppoe_mp_reassembly_drops_total", map[string]string{"reason": "overflow"}, 0},
		{"pppoe_sessions_ended_total", map[string]string{"reason": "auth-failed"}, 1},
	}
	for _, c := range checks {
		got, ok := value(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	h := fams["pppoe_session_setup_seconds"].Metric[0].Histogram
	if s := h.GetSampleSum(); s < 2.003-1e-9 || s > 2.003+1e-9 {
		t.Errorf("setup sum %v, want 2.003", s)
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.003 {
			want++
		}
		if b.GetUpperBound() >= 2 {
			want++
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	// Read at scrape time: a change shows on the next scrape, and a data
	// plane that cannot be read hides only its own family.
	mu.Lock()
	snap.SessionsByState = map[string]int{"up": 4}
	snap.DataPlane, snap.DataPlaneErr = nil, errors.New("map gone")
	mu.Unlock()
	fams = scrape(t, url)
	if got, _ := value(t, fams, "pppoe_sessions", map[string]string{"state": "up"}); got != 4 {
		t.Errorf("sessions up after change = %v, want 4", got)
	}
	if _, ok := value(t, fams, "pppoe_sessions", map[string]string{"state": "lcp"}); ok {
		t.Error("a state with no sessions left is still reported")
	}
	if _, ok := fams["pppoe_dataplane_packets_total"]; ok {
		t.Error("data plane family served from an unreadable data plane")
	}
	if got, _ := value(t, fams, "pppoe_pool_exhausted_total", nil); got != 7 {
		t.Errorf("pool exhausted after data plane error = %v", got)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "pppoe_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected family %s", name)
		}
	}
}
