package radius

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// BenchmarkAccountingInterims measures the accounting goal: every
// one of 10,000 sessions sends an Interim-Update each minute, so a round
// of 10,000 interims must be delivered well within a minute or a backlog
// grows. One op is one round, queued at once and timed until the queue is
// empty; FreeRADIUS runs as in production (threaded, the README's
// configuration, detail files written).
func BenchmarkAccountingInterims(b *testing.B) {
	const sessions = 10000
	r := freeradius.Start(b, freeradius.Options{Threaded: true})
	c, err := NewClient([]Server{realServer(r)}, Options{NASIdentifier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	a := NewAccounting(c, AccountingOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ss := make([]*Session, sessions)
	for i := range ss {
		info := aliceSession
		info.Port.AcctSessionID = fmt.Sprintf("%08x", i)
		info.Port.NASPort = uint32(i)
		ss[i] = a.Session(info)
	}
	drain := func() {
		for a.Len() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, s := range ss {
		if err := s.Start(); err != nil {
			b.Fatal(err)
		}
	}
	drain()
	b.ResetTimer()
	var worst time.Duration
	for n := range b.N {
		start := time.Now()
		for i, s := range ss {
			u := Usage{InOctets: uint64(n*1000 + i), OutOctets: uint64(n * 2000), Time: time.Duration(n+1) * time.Minute}
			if err := s.Interim(u); err != nil {
				b.Fatal(err)
			}
		}
		drain()
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	if got := a.Delivered.Load(); got != uint64(sessions*(b.N+1)) {
		b.Fatalf("delivered %d records, want %d", got, sessions*(b.N+1))
	}
	b.ReportMetric(float64(sessions*b.N)/b.Elapsed().Seconds(), "interims/s")
	b.ReportMetric(worst.Seconds(), "worst-s/10k-round")
	if worst > time.Minute {
		b.Errorf("a round of %d interims took %v: a backlog grows at one interim per session per minute", sessions, worst)
	}
}

// BenchmarkAuthenticateFreeRADIUSThreaded is BenchmarkAuthenticateFreeRADIUS
// with FreeRADIUS threaded, as in production: the rate a BNG on the same
// box can set sessions up through RADIUS.
func BenchmarkAuthenticateFreeRADIUSThreaded(b *testing.B) {
	r := freeradius.Start(b, freeradius.Options{Threaded: true})
	c, err := NewClient([]Server{realServer(r)}, Options{NASIdentifier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := AuthRequest{Method: auth.PAP, User: "alice", Password: "alice-pw"}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Authenticate(context.Background(), req)
			if err != nil || !res.Accepted {
				b.Error(res, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
