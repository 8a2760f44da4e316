package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// The RADIUS metrics. A server is labelled by address:port and port kind
// (auth, acct), never by its secret.
var (
	serverLabels      = []string{"server", "port"}
	descRadiusReqs    = radiusDesc("requests_total", "RADIUS requests sent, by server port (a retransmission is the same request).", serverLabels)
	descRadiusRetrans = radiusDesc("retransmits_total", "RADIUS transmissions after each request's first, by server port.", serverLabels)
	descRadiusTimeout = radiusDesc("timeouts_total", "RADIUS requests that got no valid answer within their tries, by server port.", serverLabels)
	descRadiusAnswers = radiusDesc("answers_total", "Valid RADIUS answers by server port and code (accept, reject, accounting_response).", append(serverLabels, "code"))
	descRadiusRTT     = radiusDesc("round_trip_seconds", "Time from a RADIUS request's first transmission to its valid answer, by server port.", serverLabels)
	descAcctQueued    = radiusDesc("accounting_queued", "Accounting records queued or in flight (RFC 2866), kept through an outage.", nil)
	descAcctDropped   = radiusDesc("accounting_dropped_total", "Accounting records lost to a full queue: interim (an Interim-Update gave way to a newer record) or refused (a new record was refused).", []string{"record"})
	descAcctDelivered = radiusDesc("accounting_delivered_total", "Accounting records a server answered.", nil)
	descDynReceived   = radiusDesc("dynauth_requests_total", "Authenticated Disconnect-Requests and CoA-Requests received on /radius incoming (RFC 5176), by kind.", []string{"kind"})
	descDynAnswers    = radiusDesc("dynauth_answers_total", "Answers to Disconnect-Requests and CoA-Requests, by kind and result (ack, nak).", []string{"kind", "result"})
	descDynDropped    = radiusDesc("dynauth_dropped_total", "Datagrams on /radius incoming dropped unanswered: not an allowed client, malformed, failed authentication or replayed.", nil)

	radiusDescs = []*prometheus.Desc{descRadiusReqs, descRadiusRetrans, descRadiusTimeout, descRadiusAnswers, descRadiusRTT,
		descAcctQueued, descAcctDropped, descAcctDelivered, descDynReceived, descDynAnswers, descDynDropped}
)

func radiusDesc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("pppoe_radius_"+name, help, labels, nil)
}

func collectRadius(ch chan<- prometheus.Metric, r *radius.Counters) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range r.Servers {
		port := "auth"
		if s.Accounting {
			port = "acct"
		}
		l := []string{s.Server.String(), port}
		counter(descRadiusReqs, s.Requests, l...)
		counter(descRadiusRetrans, s.Retransmits, l...)
		counter(descRadiusTimeout, s.Timeouts, l...)
		if s.Accounting {
			counter(descRadiusAnswers, s.AccountingResponses, append(l, "accounting_response")...)
		} else {
			counter(descRadiusAnswers, s.Accepts, append(l, "accept")...)
			counter(descRadiusAnswers, s.Rejects, append(l, "reject")...)
		}
		buckets := make(map[float64]uint64, len(s.RTT))
		for i, ub := range radius.RTTBuckets {
			buckets[ub.Seconds()] = s.RTT[i]
		}
		ch <- prometheus.MustNewConstHistogram(descRadiusRTT, s.RTTCount, s.RTTSum.Seconds(), buckets, l...)
	}
	ch <- prometheus.MustNewConstMetric(descAcctQueued, prometheus.GaugeValue, float64(r.AccountingQueued))
	counter(descAcctDropped, r.AccountingDropped, "interim")
	counter(descAcctDropped, r.AccountingRefused, "refused")
	counter(descAcctDelivered, r.AccountingDelivered)
	for _, k := range []struct {
		name string
		s    radius.DynAuthKindStats
	}{{"disconnect", r.DynAuth.Disconnect}, {"coa", r.DynAuth.CoA}} {
		counter(descDynReceived, k.s.Received, k.name)
		counter(descDynAnswers, k.s.Acked, k.name, "ack")
		counter(descDynAnswers, k.s.Naked, k.name, "nak")
	}
	counter(descDynDropped, r.DynAuth.Dropped)
}
