package radius

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// RTTBuckets are the upper bounds of the round-trip histogram: a server
// on the same network answers in a millisecond, a loaded or distant one
// in tens, a retransmitted request in timeouts.
var RTTBuckets = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// endpointCounts are one server port's counters, kept with its sockets.
type endpointCounts struct {
	requests, retransmits, timeouts atomic.Uint64
	// answers by code: Access-Accept, Access-Reject,
	// Accounting-Response, anything else.
	accepts, rejects, acctResponses, others atomic.Uint64
	rtt                                     [13]atomic.Uint64 // per RTTBuckets, then +Inf
	rttSum                                  atomic.Int64      // nanoseconds
}

func (c *endpointCounts) observe(code byte, rtt time.Duration) {
	switch code {
	case 2:
		c.accepts.Add(1)
	case 3:
		c.rejects.Add(1)
	case 5:
		c.acctResponses.Add(1)
	default:
		c.others.Add(1)
	}
	i := 0
	for i < len(RTTBuckets) && rtt > RTTBuckets[i] {
		i++
	}
	c.rtt[i].Add(1)
	c.rttSum.Add(int64(rtt))
}

// ServerStats are one /radius server port's counters, for metrics. They
// name the server by address and port, never by its secret.
type ServerStats struct {
	Server netip.AddrPort
	// Accounting is true for the accounting port, false for
	// authentication.
	Accounting bool
	// Requests are requests sent (a retransmission is one request),
	// Retransmits the transmissions after each first, Timeouts the
	// requests that got no valid answer within their tries.
	Requests, Retransmits, Timeouts uint64
	// Accepts, Rejects and AccountingResponses count the valid answers
	// by code (Access-Challenge counts in none).
	Accepts, Rejects, AccountingResponses uint64
	// RTT counts the answered requests' round trips (first transmission
	// to answer) at or below each of RTTBuckets, cumulative as Prometheus
	// histograms are; RTTCount and RTTSum are their count and total.
	RTT      []uint64
	RTTCount uint64
	RTTSum   time.Duration
}

func (e *endpoint) snapshot(acct bool) ServerStats {
	c := &e.counts
	s := ServerStats{
		Server: e.remote, Accounting: acct,
		Requests: c.requests.Load(), Retransmits: c.retransmits.Load(), Timeouts: c.timeouts.Load(),
		Accepts: c.accepts.Load(), Rejects: c.rejects.Load(), AccountingResponses: c.acctResponses.Load(),
		RTT: make([]uint64, len(RTTBuckets)), RTTSum: time.Duration(c.rttSum.Load()),
	}
	var cum uint64
	for i := range RTTBuckets {
		cum += c.rtt[i].Load()
		s.RTT[i] = cum
	}
	s.RTTCount = cum + c.rtt[len(RTTBuckets)].Load()
	return s
}

// ServerStats returns the counters of every server port in the list, in
// its order, authentication before accounting.
func (c *Client) ServerStats() []ServerStats {
	var out []ServerStats
	for _, s := range c.list() {
		out = append(out, s.auth.snapshot(false), s.acct.snapshot(true))
	}
	return out
}

// Counters are everything RADIUS counts, for metrics: per server port,
// the accounting queue, and /radius incoming. No secret is in them.
type Counters struct {
	Servers []ServerStats
	// AccountingQueued are the records queued or in flight;
	// AccountingDropped the Interim-Updates that gave way to a full
	// queue, AccountingRefused the records refused by one;
	// AccountingDelivered the records a server answered.
	AccountingQueued                                          int
	AccountingDropped, AccountingRefused, AccountingDelivered uint64
	DynAuth                                                   DynAuthStats
}
