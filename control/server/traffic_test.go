package server

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// TestScrapeDoesNotHoldUpEndingSessions: a metrics scrape (Counters) reads
// every live session's counters; while it does, sessions that end must
// still leave the server, or a scrape of 100,000 sessions stalls every
// session loop behind it (bench-sessions' 100k teardown did). The scrape
// is held inside one session's counter read; another session ends
// meanwhile, and the totals afterwards count both once.
func TestScrapeDoesNotHoldUpEndingSessions(t *testing.T) {
	r := newRig(t, `
/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	up := func(m net.HardwareAddr) *client {
		t.Helper()
		c, err := r.dial(m, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		c.waitUp(t)
		eventually(t, "install", func() bool {
			for _, e := range r.dp.all() {
				if e.SessionID == c.sess.SessionID && e.Circuit.MAC == [6]byte(m) {
					return true
				}
			}
			return false
		})
		return c
	}
	a, b := up(mac(1)), up(mac(2))
	st := func(n uint64) session.Stats {
		return session.Stats{PacketsUp: n, BytesUp: 100 * n, PacketsDown: 2 * n, BytesDown: 200 * n}
	}
	r.dp.setStats(t, a.sess.SessionID, st(3))
	r.dp.setStats(t, b.sess.SessionID, st(4))
	var bID session.ID
	for _, sn := range r.srv.Sessions() {
		if sn.SessionID == b.sess.SessionID && sn.Circuit.MAC == [6]byte(mac(2)) {
			bID = sn.ID
		}
	}

	// The next read of a's counters holds the scrape until released.
	ha := r.dp.handleOf(t, a.sess.SessionID)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.dp.mu.Lock()
	r.dp.statsHook = func(h int) {
		if h != ha {
			return
		}
		once.Do(func() {
			close(held)
			<-release
		})
	}
	r.dp.mu.Unlock()
	scraped := make(chan Counters, 1)
	go func() { scraped <- r.srv.Counters() }()
	<-held

	if n := r.srv.Remove(bID); n != 1 {
		close(release)
		t.Fatalf("Remove = %d", n)
	}
	gone := false
	for deadline := time.Now().Add(3 * time.Second); !gone && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		_, still := r.srv.Session(bID)
		gone = !still
	}
	close(release)
	if !gone {
		t.Fatal("an ended session stayed in the server while a scrape was reading another one's counters")
	}
	c := <-scraped
	// The held scrape counts a and b once each: b either live (read
	// after it ended: its final counts) or retired.
	want := st(7)
	got := c.Traffic["ether1"]
	got.LastSeen = 0
	if got != want {
		t.Errorf("held scrape: ether1 traffic %+v, want %+v", got, want)
	}
	got = r.srv.Counters().Traffic["ether1"]
	got.LastSeen = 0
	if got != want {
		t.Errorf("after: ether1 traffic %+v, want %+v", got, want)
	}
	if n := r.srv.traffic.liveCount(); n != 1 {
		t.Errorf("%d sessions read live, want 1 (a)", n)
	}
}
