package server

import (
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/shrink"
)

// traffic is what the data plane carried per interface: the live sessions'
// counters plus the final counters of ended ones. Its own lock, because
// replaced sessions leave s.sessions before they end.
//
// A scrape (sum) must neither count a session twice or not at all, nor
// hold up sessions that end meanwhile: it takes the retired sums and the
// live list together under mu, then reads each listed session's counters
// with mu released. A session that retires after that copy is in the list
// and not in the copied sums, and its counters read then are its final
// ones; one that retired before is in the sums only. So the sums never go
// down (Prometheus counters), and a scrape of 100,000 sessions holds mu
// for a copy of the list, not for 100,000 reads.
type traffic struct {
	mu      sync.Mutex
	live    []*live                  // in no order; l.trafficAt is l's index
	retired map[string]session.Stats // by interface
}

func (t *traffic) add(l *live) {
	t.mu.Lock()
	l.trafficAt = len(t.live)
	t.live = append(t.live, l)
	t.mu.Unlock()
}

// retire moves an ended session's final counters to its interface's sum.
func (t *traffic) retire(l *live) {
	final := l.sess.Stats() // ended: no data plane read, the final sum
	t.mu.Lock()
	if i := l.trafficAt; i >= 0 && i < len(t.live) && t.live[i] == l {
		last := len(t.live) - 1
		t.live[i] = t.live[last]
		t.live[i].trafficAt = i
		t.live[last] = nil
		t.live = shrink.Slice(t.live[:last])
		l.trafficAt = -1
		t.retired[l.server.iface] = t.retired[l.server.iface].Add(final)
	}
	t.mu.Unlock()
}

// sum returns the counters per interface, ended sessions included.
func (t *traffic) sum() map[string]session.Stats {
	t.mu.Lock()
	out := make(map[string]session.Stats, len(t.retired))
	for iface, st := range t.retired {
		out[iface] = st
	}
	ls := make([]*live, len(t.live))
	copy(ls, t.live)
	t.mu.Unlock()
	for _, l := range ls {
		out[l.server.iface] = out[l.server.iface].Add(l.sess.Stats())
	}
	return out
}

// liveCount is the number of sessions whose counters are read live.
func (t *traffic) liveCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}
