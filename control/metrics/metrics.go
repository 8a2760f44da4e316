// Package metrics is pppoed's Prometheus endpoint. Everything but the session
// setup histogram is read from the daemon's components at scrape time, so a
// scrape always shows the live values and nothing is double-bookkept.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// Snapshot is what the daemon reports at a scrape.
type Snapshot struct {
	// SessionsByState counts sessions per state (e.g. "discovery",
	// "lcp", "auth", "ncp", "up" for servers; client names their own).
	SessionsByState map[string]int
	// Discovery are the access concentrator's RFC 2516 discovery counters,
	// summed over its interfaces.
	Discovery pppoe.Counters
	// AuthFailures counts failed authentications by method (pap, chap,
	// mschap1, mschap2).
	AuthFailures map[string]uint64
	// PoolExhausted counts sessions refused because no address was free.
	PoolExhausted uint64
	// HalfOpen and Established count the access concentrator's sessions
	// apart: admitted by a PADR and negotiating, or with IPCP opened
	// (what max-sessions counts).
	HalfOpen, Established int
	// Refused counts PADRs refused by admission, by limit (max-sessions,
	// max-starting, max-starting-per-host, other).
	Refused map[string]uint64
	// LateDuplicates counts PADRs repeated after the discovery server's
	// duplicate window that joined the attempt they repeat.
	LateDuplicates uint64
	// QueueDrops counts session frames the demultiplexer dropped because
	// their session's queue was full (or the session had just ended).
	QueueDrops uint64
	// Ended counts ended sessions by reason.
	Ended map[string]uint64
	// DataPlane are the BPF programs' per-reason packet counters, keyed by
	// reason name; nil when the data plane could not be read.
	DataPlane map[string]uint64
	// DataPlaneErr is why DataPlane could not be read, if it could not.
	DataPlaneErr error
	// Traffic is what the access concentrator's sessions carried through
	// the data plane, by interface (as the server entries name it), ended
	// sessions included.
	Traffic map[string]Traffic
	// Radius are the RADIUS client's, accounting's and /radius
	// incoming's counters; nil when RADIUS is not configured.
	Radius *radius.Counters
	// MPReassemblyDrops is what multilink reassembly dropped on the
	// access concentrator's sessions, by reason (session.MPDrops.Reasons),
	// ended sessions included.
	MPReassemblyDrops map[string]uint64
}

// Traffic is one interface's session traffic; up is from the subscribers.
type Traffic struct {
	PacketsUp, BytesUp, PacketsDown, BytesDown uint64
}

// Source returns the current snapshot.
type Source func() Snapshot

// SetupBuckets are the session setup latency buckets in seconds: a local
// setup takes milliseconds, a RADIUS round trip or a retransmitted PADR
// seconds.
var SetupBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is the registry served on the metrics address.
type Metrics struct {
	reg   *prometheus.Registry
	setup prometheus.Histogram
}

// New returns the metrics of a daemon whose counters src reports.
func New(src Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pppoe_session_setup_seconds",
			Help:    "Time from PADR to the network layer up (IPCP opened) of sessions that came up.",
			Buckets: SetupBuckets,
		}),
	}
	m.reg.MustRegister(m.setup, &collector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveSetup records one session's setup latency.
func (m *Metrics) ObserveSetup(d time.Duration) { m.setup.Observe(d.Seconds()) }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	// ContinueOnError: an unreadable data plane must not hide the rest.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve serves /metrics on ln until ctx ends.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

var (
	descSessions = prometheus.NewDesc("pppoe_sessions",
		"Sessions by state.", []string{"state"}, nil)
	descAuthFail = prometheus.NewDesc("pppoe_auth_failures_total",
		"Failed PPP authentications by method (RFC 1334 pap, RFC 1994 chap, RFC 2433 mschap1, RFC 2759 mschap2).",
		[]string{"method"}, nil)
	descPoolExhausted = prometheus.NewDesc("pppoe_pool_exhausted_total",
		"Sessions refused because their address pool had no free address.", nil, nil)
	descDataPlane = prometheus.NewDesc("pppoe_dataplane_packets_total",
		"Packets the BPF data plane handled, by reason.", []string{"reason"}, nil)
	descIfPackets = prometheus.NewDesc("pppoe_interface_packets_total",
		"Packets of the access concentrator's sessions by access interface and direction (up: from subscribers), ended sessions included.",
		[]string{"interface", "direction"}, nil)
	descIfBytes = prometheus.NewDesc("pppoe_interface_bytes_total",
		"Bytes (IP packets, without PPPoE and Ethernet headers) of the access concentrator's sessions by access interface and direction (up: from subscribers), ended sessions included.",
		[]string{"interface", "direction"}, nil)
	descHalfOpen = prometheus.NewDesc("pppoe_sessions_half_open",
		"Server sessions admitted by a PADR whose IPCP has not opened yet (bounded by --max-starting).", nil, nil)
	descEstablished = prometheus.NewDesc("pppoe_sessions_established",
		"Server sessions whose IPCP has opened: what max-sessions counts.", nil, nil)
	descRefused = prometheus.NewDesc("pppoe_padr_refused_total",
		"PADRs refused with an AC-System-Error PADS, by the limit that refused them.", []string{"limit"}, nil)
	descLateDup = prometheus.NewDesc("pppoe_padr_late_duplicates_total",
		"PADRs repeated after the duplicate window that joined the attempt they repeat.", nil, nil)
	descQueueDrops = prometheus.NewDesc("pppoe_session_queue_drops_total",
		"Session frames (PPP control, MP fragments) dropped because their session already had its queue waiting for its event loop, or had just ended: the demultiplexer never waits.", nil, nil)
	descEnded = prometheus.NewDesc("pppoe_sessions_ended_total",
		"Server sessions ended, by what ended them first.", []string{"reason"}, nil)
	descMPDrops = prometheus.NewDesc("pppoe_mp_reassembly_drops_total",
		"What multilink (RFC 1990, mrru) reassembly dropped on the access concentrator's sessions, ended sessions included, by reason: "+
			"packets given up for a fragment that never came within the timeout (lost), because the window filled first (overflow), "+
			"or for exceeding the MRRU (oversize); fragments duplicated or too short (duplicate, malformed); reassembled packets refused (refused).",
		[]string{"reason"}, nil)
)

// discovery maps each RFC 2516 counter to its metric.
var discovery = []struct {
	desc *prometheus.Desc
	get  func(*pppoe.Counters) uint64
}{
	{disc("malformed", "Frames that did not parse as PPPoE."), func(c *pppoe.Counters) uint64 { return c.Malformed }},
	{disc("ignored", "Well-formed frames not for this AC."), func(c *pppoe.Counters) uint64 { return c.Ignored }},
	{disc("mac_limited", "PADIs and PADRs over their host's limit, turned away by the discovery server (the data plane's drops are pppoe_dataplane_packets_total{reason=\"discovery_mac_limit\"})."), func(c *pppoe.Counters) uint64 { return c.MACLimited }},
	{disc("global_limited", "PADIs over the global limit, turned away by the discovery server (the data plane's drops are pppoe_dataplane_packets_total{reason=\"discovery_global_limit\"})."), func(c *pppoe.Counters) uint64 { return c.GlobalLimited }},
	{disc("padi_received", "PADIs received (RFC 2516 §5.1)."), func(c *pppoe.Counters) uint64 { return c.PADIReceived }},
	{disc("padi_dropped", "PADIs dropped as invalid (RFC 2516 §5.1)."), func(c *pppoe.Counters) uint64 { return c.PADIDropped }},
	{disc("padi_unserved", "PADIs for a service not offered here (RFC 2516 §5.2)."), func(c *pppoe.Counters) uint64 { return c.PADIUnserved }},
	{disc("padi_silenced", "PADIs left unanswered because pado-delay is -1 at the AC's load."), func(c *pppoe.Counters) uint64 { return c.PADISilenced }},
	{disc("pado_sent", "PADOs sent (RFC 2516 §5.2)."), func(c *pppoe.Counters) uint64 { return c.PADOSent }},
	{disc("pado_delayed", "PADOs held back by pado-delay (counted in pado_sent too)."), func(c *pppoe.Counters) uint64 { return c.PADODelayed }},
	{disc("pado_dropped", "PADOs held back by pado-delay that could not be queued (queue full)."), func(c *pppoe.Counters) uint64 { return c.PADODropped }},
	{disc("padr_received", "PADRs received (RFC 2516 §5.3)."), func(c *pppoe.Counters) uint64 { return c.PADRReceived }},
	{disc("padr_dropped", "PADRs dropped as invalid (RFC 2516 §5.3)."), func(c *pppoe.Counters) uint64 { return c.PADRDropped }},
	{disc("padr_bad_cookie", "PADRs with a missing, forged or expired AC-Cookie."), func(c *pppoe.Counters) uint64 { return c.PADRBadCookie }},
	{disc("padr_duplicates", "Retransmitted PADRs answered from memory."), func(c *pppoe.Counters) uint64 { return c.PADRDuplicates }},
	{disc("pads_sent", "PADSs sent (RFC 2516 §5.4)."), func(c *pppoe.Counters) uint64 { return c.PADSSent }},
	{disc("pads_errors", "PADSs refusing a session (RFC 2516 §5.4)."), func(c *pppoe.Counters) uint64 { return c.PADSErrors }},
	{disc("padt_received", "PADTs received (RFC 2516 §5.5)."), func(c *pppoe.Counters) uint64 { return c.PADTReceived }},
	{disc("padt_sent", "PADTs sent (RFC 2516 §5.5)."), func(c *pppoe.Counters) uint64 { return c.PADTSent }},
	{disc("write_errors", "Discovery frames that could not be sent."), func(c *pppoe.Counters) uint64 { return c.WriteErrors }},
}

func disc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("pppoe_discovery_"+name+"_total", help, nil, nil)
}

// collector reads a Snapshot per scrape.
type collector struct{ src Source }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSessions
	ch <- descAuthFail
	ch <- descPoolExhausted
	ch <- descDataPlane
	ch <- descIfPackets
	ch <- descIfBytes
	ch <- descHalfOpen
	ch <- descEstablished
	ch <- descRefused
	ch <- descLateDup
	ch <- descQueueDrops
	ch <- descEnded
	ch <- descMPDrops
	for _, d := range discovery {
		ch <- d.desc
	}
	for _, d := range radiusDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	for state, n := range s.SessionsByState {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(n), state)
	}
	for method, n := range s.AuthFailures {
		ch <- prometheus.MustNewConstMetric(descAuthFail, prometheus.CounterValue, float64(n), method)
	}
	for iface, t := range s.Traffic {
		ch <- prometheus.MustNewConstMetric(descIfPackets, prometheus.CounterValue, float64(t.PacketsUp), iface, "up")
		ch <- prometheus.MustNewConstMetric(descIfPackets, prometheus.CounterValue, float64(t.PacketsDown), iface, "down")
		ch <- prometheus.MustNewConstMetric(descIfBytes, prometheus.CounterValue, float64(t.BytesUp), iface, "up")
		ch <- prometheus.MustNewConstMetric(descIfBytes, prometheus.CounterValue, float64(t.BytesDown), iface, "down")
	}
	ch <- prometheus.MustNewConstMetric(descPoolExhausted, prometheus.CounterValue, float64(s.PoolExhausted))
	ch <- prometheus.MustNewConstMetric(descHalfOpen, prometheus.GaugeValue, float64(s.HalfOpen))
	ch <- prometheus.MustNewConstMetric(descEstablished, prometheus.GaugeValue, float64(s.Established))
	for limit, n := range s.Refused {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), limit)
	}
	ch <- prometheus.MustNewConstMetric(descLateDup, prometheus.CounterValue, float64(s.LateDuplicates))
	ch <- prometheus.MustNewConstMetric(descQueueDrops, prometheus.CounterValue, float64(s.QueueDrops))
	for reason, n := range s.Ended {
		ch <- prometheus.MustNewConstMetric(descEnded, prometheus.CounterValue, float64(n), reason)
	}
	for reason, n := range s.MPReassemblyDrops {
		ch <- prometheus.MustNewConstMetric(descMPDrops, prometheus.CounterValue, float64(n), reason)
	}
	for _, d := range discovery {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(&s.Discovery)))
	}
	if s.Radius != nil {
		collectRadius(ch, s.Radius)
	}
	if s.DataPlaneErr != nil {
		ch <- prometheus.NewInvalidMetric(descDataPlane, fmt.Errorf("metrics: data plane counters: %w", s.DataPlaneErr))
		return
	}
	for reason, n := range s.DataPlane {
		ch <- prometheus.MustNewConstMetric(descDataPlane, prometheus.CounterValue, float64(n), reason)
	}
}
