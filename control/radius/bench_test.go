package radius

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

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

// BenchmarkAccessRequestWire is the AC's own work for one Access-Request
// and its answer, without the sockets: the packet built as Authenticate
// builds it, encoded and signed, then a signed Access-Accept verified and
// parsed as the endpoint's reader and exchange do. With the datagrams, it
// is what the setup path pays per session beyond the local secrets' path.
func BenchmarkAccessRequestWire(b *testing.B) {
	c, err := NewClient([]Server{{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret}}, Options{NASIdentifier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := AuthRequest{Method: auth.PAP, User: "alice", Password: "alice-pw", Port: aliceSession.Port}
	s := c.list()[0]
	local := netip.MustParseAddr("127.0.0.1")
	// One authenticator for every request, so that one answer fits them
	// all (the random one is still drawn, by radius.New).
	fixed := [16]byte{0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	build := func() []byte {
		p := c.accessRequest(s, req)
		p.Authenticator = fixed
		p.Identifier = 7
		addSourceNAS(p, local)
		wire, err := encodeRequest(p)
		if err != nil {
			b.Fatal(err)
		}
		return wire
	}
	q, err := radius.Parse(build(), []byte(testSecret))
	if err != nil {
		b.Fatal(err)
	}
	a := q.Response(radius.CodeAccessAccept)
	_ = rfc2865.FramedIPAddress_Set(a, net.IPv4(10, 0, 0, 9))
	_ = rfc2869.AcctInterimInterval_Set(a, 300)
	answer, err := encodeResponse(a, q.Authenticator)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		wire := build()
		if err := verifyResponse(answer, wire, s.secret, true); err != nil {
			b.Fatal(err)
		}
		resp, err := radius.Parse(answer, s.secret)
		if err != nil {
			b.Fatal(err)
		}
		if r := c.parseReply(resp); !r.Accepted {
			b.Fatal("not accepted")
		}
	}
}

// BenchmarkAccountingStartWire is BenchmarkAccessRequestWire for the
// Accounting-Request Start that follows every session's setup.
func BenchmarkAccountingStartWire(b *testing.B) {
	c, err := NewClient([]Server{{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret}}, Options{NASIdentifier: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	acct := NewAccounting(c, AccountingOptions{})
	sess := acct.Session(aliceSession)
	r := &record{sess: sess, status: rfc2866.AcctStatusType_Value_Start, event: time.Now()}
	s := c.list()[0]
	build := func() []byte {
		p := acct.packet(s, r, r.event)
		p.Identifier = 7
		wire, err := encodeRequest(p)
		if err != nil {
			b.Fatal(err)
		}
		return wire
	}
	q, err := radius.Parse(build(), []byte(testSecret))
	if err != nil {
		b.Fatal(err)
	}
	answer, err := encodeResponse(q.Response(radius.CodeAccountingResponse), q.Authenticator)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := verifyResponse(answer, build(), s.secret, false); err != nil {
			b.Fatal(err)
		}
	}
}
