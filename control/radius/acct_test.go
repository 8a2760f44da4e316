package radius

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

var aliceSession = SessionInfo{
	User:     "alice",
	Port:     Port{AcctSessionID: "81000002", NASPort: 2, NASPortID: "ether1:100", CallingStationID: "02:00:00:00:00:02", CalledStationID: "isp"},
	FramedIP: netip.MustParseAddr("10.9.0.5"),
	Class:    [][]byte{[]byte("class-alice")},
}

// runAccounting runs a's sender until the test ends.
func runAccounting(t *testing.T, a *Accounting) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond until it holds, failing after a generous minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAccountingFreeRADIUS(t *testing.T) {
	r := startRadiusd(t)
	c := testClient(t, realServer(r))
	a := NewAccounting(c, AccountingOptions{})
	runAccounting(t, a)
	ctx := ctxFor(t)

	if err := a.On(); err != nil {
		t.Fatal(err)
	}
	s := a.Session(aliceSession)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	big := Usage{InOctets: 5<<32 + 7, OutOctets: 1<<32 + 9, InPackets: 11, OutPackets: 12, Time: 90 * time.Second}
	if err := s.Interim(big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interim update", func() bool { return len(r.Records()) >= 3 })
	final := Usage{InOctets: 6 << 32, OutOctets: 2<<32 + 100, InPackets: 20, OutPackets: 30, Time: 2 * time.Minute}
	if err := s.Stop(final, CauseLostCarrier); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(final, CauseLostCarrier); !errors.Is(err, ErrStopped) {
		t.Fatalf("second Stop: %v, want ErrStopped", err)
	}
	if err := s.Interim(final); !errors.Is(err, ErrStopped) {
		t.Fatalf("Interim after Stop: %v, want ErrStopped", err)
	}
	if err := a.Off(ctx); err != nil {
		t.Fatal(err)
	}

	recs := r.Records()
	want := []map[string]string{
		{"Acct-Status-Type": "Accounting-On", "NAS-Identifier": "bng-test", "NAS-IP-Address": "192.0.2.1", "Acct-Delay-Time": "0"},
		{"Acct-Status-Type": "Start", "User-Name": "alice", "Acct-Session-Id": "81000002", "Framed-IP-Address": "10.9.0.5",
			"Class": "0x636c6173732d616c696365", "Acct-Authentic": "RADIUS", "NAS-Port-Id": "ether1:100",
			"Calling-Station-Id": "02:00:00:00:00:02", "Called-Station-Id": "isp", "Acct-Delay-Time": "0"},
		{"Acct-Status-Type": "Interim-Update", "Acct-Session-Id": "81000002", "Acct-Input-Octets": "7", "Acct-Input-Gigawords": "5",
			"Acct-Output-Octets": "9", "Acct-Output-Gigawords": "1", "Acct-Input-Packets": "11", "Acct-Output-Packets": "12",
			"Acct-Session-Time": "90", "Class": "0x636c6173732d616c696365"},
		{"Acct-Status-Type": "Stop", "Acct-Session-Id": "81000002", "Acct-Input-Octets": "0", "Acct-Input-Gigawords": "6",
			"Acct-Output-Octets": "100", "Acct-Output-Gigawords": "2", "Acct-Session-Time": "120", "Acct-Terminate-Cause": "Lost-Carrier"},
		{"Acct-Status-Type": "Accounting-Off"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d accounting records, want %d:\n%s", len(recs), len(want), r.Detail())
	}
	for i, w := range want {
		for k, v := range w {
			if recs[i][k] != v {
				t.Errorf("record %d (%s): %s = %q, want %q", i, w["Acct-Status-Type"], k, recs[i][k], v)
			}
		}
	}
}

func TestAccountingSurvivesOutage(t *testing.T) {
	r := startRadiusd(t)
	r.Stop() // the server is down when the sessions come and go
	srv := realServer(r)
	// Short enough to see retries soon, long enough that the restarted
	// server, sharing the CPUs, answers before a try gives up (a record
	// whose tries all time out is sent again as a new packet, which the
	// server would log twice).
	srv.Timeout = time.Second
	c := testClient(t, srv)
	a := NewAccounting(c, AccountingOptions{RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	runAccounting(t, a)

	s := a.Session(aliceSession)
	queued := time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Interim(Usage{InOctets: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(Usage{InOctets: 2, Time: time.Second}, CauseAdminReset); err != nil {
		t.Fatal(err)
	}
	// Let the records wait, and be retried, for over a second so that
	// Acct-Delay-Time (whole seconds) must say so.
	waitFor(t, "retries", func() bool { return c.Stats().Retransmits.Load() >= 2 && time.Since(queued) > 1500*time.Millisecond })
	if a.Len() != 2 || r.Detail() != "" {
		t.Fatalf("queued %d (want Start and Stop: the Stop replaced the interim), detail %q", a.Len(), r.Detail())
	}
	r.Start()
	waitFor(t, "delivery after the outage", func() bool { return a.Len() == 0 })

	recs := r.Records()
	if len(recs) != 2 || recs[0]["Acct-Status-Type"] != "Start" || recs[1]["Acct-Status-Type"] != "Stop" {
		t.Fatalf("want Start then Stop, once each:\n%s", r.Detail())
	}
	for _, rec := range recs {
		if d, _ := strconv.Atoi(rec["Acct-Delay-Time"]); d < 1 {
			t.Errorf("%s: Acct-Delay-Time %q, want >= 1", rec["Acct-Status-Type"], rec["Acct-Delay-Time"])
		}
	}
	if recs[1]["Acct-Terminate-Cause"] != "Admin-Reset" || recs[1]["Acct-Input-Octets"] != "2" {
		t.Errorf("stop: %v", recs[1])
	}
}

func TestAccountingQueueBound(t *testing.T) {
	dead, _ := blackhole(t)
	c := testClient(t, Server{Address: dead.Addr(), Secret: testSecret, AcctPort: dead.Port()})
	// No Run: nothing leaves, the queue alone is under test.
	a := NewAccounting(c, AccountingOptions{QueueLimit: 3})
	sa, sb, sc := a.Session(aliceSession), a.Session(aliceSession), a.Session(aliceSession)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sa.Start())
	must(sa.Interim(Usage{InOctets: 1}))
	must(sa.Interim(Usage{InOctets: 2})) // replaces the queued one
	if a.Len() != 2 || a.queue[1].usage.InOctets != 2 {
		t.Fatalf("a second interim must replace the first: %d queued", a.Len())
	}
	must(sb.Start())
	must(sb.Interim(Usage{InOctets: 3})) // full: sa's interim gives way
	if a.Len() != 3 || a.Dropped.Load() != 1 || a.queue[2].sess != sb {
		t.Fatalf("queue %d, dropped %d", a.Len(), a.Dropped.Load())
	}
	must(sb.Stop(Usage{}, CauseUserRequest)) // takes sb's interim's place
	if a.Len() != 3 {
		t.Fatalf("queue %d after stop", a.Len())
	}
	if err := sc.Start(); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("no interim left to drop: %v, want ErrQueueFull", err)
	}
	if err := sa.Stop(Usage{}, CauseUserRequest); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("%v, want ErrQueueFull", err)
	}
	// A refused Stop may be retried: the session is not stopped.
	a.mu.Lock()
	a.queue = a.queue[:0]
	a.mu.Unlock()
	must(sa.Stop(Usage{}, CauseUserRequest))
}

func TestAccountingPacket(t *testing.T) {
	c := testClient(t, Server{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret})
	a := NewAccounting(c, AccountingOptions{})
	s := a.Session(aliceSession)
	event := time.Unix(1_700_000_000, 0)
	r := &record{status: rfc2866.AcctStatusType_Value_Stop, sess: s, event: event, cause: CauseSessionTimeout,
		usage: Usage{InOctets: 1<<40 + 3, OutOctets: 1<<32 - 1, InPackets: 1<<32 + 5, Time: 61500 * time.Millisecond}}
	p := a.packet(c.list()[0], r, event.Add(2500*time.Millisecond))
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"Acct-Input-Octets", uint64(rfc2866.AcctInputOctets_Get(p)), 3},
		{"Acct-Input-Gigawords", uint64(rfc2869.AcctInputGigawords_Get(p)), 1 << 8},
		{"Acct-Output-Octets", uint64(rfc2866.AcctOutputOctets_Get(p)), 1<<32 - 1},
		{"Acct-Output-Gigawords", uint64(rfc2869.AcctOutputGigawords_Get(p)), 0},
		{"Acct-Input-Packets (wraps)", uint64(rfc2866.AcctInputPackets_Get(p)), 5},
		{"Acct-Session-Time", uint64(rfc2866.AcctSessionTime_Get(p)), 61},
		{"Acct-Delay-Time", uint64(rfc2866.AcctDelayTime_Get(p)), 2},
		{"Acct-Terminate-Cause", uint64(rfc2866.AcctTerminateCause_Get(p)), 5},
		{"Event-Timestamp", uint64(rfc2869.EventTimestamp_Get(p).Unix()), 1_700_000_000},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %d, want %d", ck.name, ck.got, ck.want)
		}
	}
	if CauseLostCarrier.String() != "Lost-Carrier" || TerminateCause(99).String() != "TerminateCause(99)" {
		t.Error("TerminateCause names")
	}
}

func TestInterimInterval(t *testing.T) {
	for _, tc := range []struct{ configured, server, want time.Duration }{
		{0, 0, 0},
		{5 * time.Minute, 0, 5 * time.Minute},
		{5 * time.Minute, 30 * time.Second, 30 * time.Second}, // the server's attribute wins
		{0, 30 * time.Second, 30 * time.Second},
		{time.Second, 0, 10 * time.Second}, // the only floor: 10 s
		{0, 10 * time.Second, 10 * time.Second},
		{0, 11 * time.Second, 11 * time.Second}, // no hidden floor above it
	} {
		if got := InterimInterval(tc.configured, tc.server); got != tc.want {
			t.Errorf("InterimInterval(%v, %v) = %v, want %v", tc.configured, tc.server, got, tc.want)
		}
	}
}

// A Stop whose counters fall below an earlier Interim-Update's (the
// accel-ppp complaint: zero counters after the data plane's entry was
// already gone) carries the interim's counters instead.
func TestStopNeverBelowInterim(t *testing.T) {
	dead, _ := blackhole(t)
	c := testClient(t, Server{Address: dead.Addr(), Secret: testSecret, AcctPort: dead.Port()})
	a := NewAccounting(c, AccountingOptions{}) // no Run: the queue is under test
	s := a.Session(aliceSession)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Interim(Usage{InOctets: 1000, OutOctets: 2000, InPackets: 10, OutPackets: 20, Time: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := s.Interim(Usage{InOctets: 1500, OutOctets: 2500, InPackets: 15, OutPackets: 25, Time: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	// Zero bytes, but more packets and time than the interim: each
	// counter is judged on its own.
	if err := s.Stop(Usage{InPackets: 16, Time: 3 * time.Minute}, CauseLostCarrier); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	last := a.queue[len(a.queue)-1]
	a.mu.Unlock()
	want := Usage{InOctets: 1500, OutOctets: 2500, InPackets: 16, OutPackets: 25, Time: 3 * time.Minute}
	if last.status != rfc2866.AcctStatusType_Value_Stop || last.usage != want {
		t.Fatalf("stop record %v %+v, want Stop %+v", last.status, last.usage, want)
	}

	// Without an interim, the Stop's counters are taken as given.
	s2 := a.Session(aliceSession)
	if err := s2.Stop(Usage{InOctets: 7}, CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	last = a.queue[len(a.queue)-1]
	a.mu.Unlock()
	if last.usage != (Usage{InOctets: 7}) {
		t.Fatalf("stop without interim: %+v", last.usage)
	}
}

// acctRecorder is an accounting server that checks each request's
// Request Authenticator and Message-Authenticator (required), records it,
// and answers only while open is set.
type acctRecorder struct {
	addr netip.AddrPort
	open atomic.Bool
	mu   sync.Mutex
	got  []recorded
}

type recorded struct {
	status  rfc2866.AcctStatusType
	id      string
	delay   uint32
	auth    [16]byte
	answerd bool
}

func newAcctRecorder(t *testing.T) *acctRecorder {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &acctRecorder{addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b, err := frame(buf[:n])
			if err != nil || verifyRequest(b, []byte(testSecret), true) != nil {
				t.Errorf("accounting request does not verify with a required Message-Authenticator: %v", err)
				continue
			}
			p, err := radius.Parse(b, []byte(testSecret))
			if err != nil {
				t.Error(err)
				continue
			}
			open := r.open.Load()
			id, _ := rfc2866.AcctSessionID_LookupString(p)
			r.mu.Lock()
			r.got = append(r.got, recorded{rfc2866.AcctStatusType_Get(p), id, uint32(rfc2866.AcctDelayTime_Get(p)), p.Authenticator, open})
			r.mu.Unlock()
			if open {
				answer, err := encodeResponse(p.Response(radius.CodeAccountingResponse), p.Authenticator)
				if err != nil {
					t.Error(err)
					continue
				}
				_, _ = c.WriteToUDPAddrPort(answer, from)
			}
		}
	}()
	return r
}

func (r *acctRecorder) records() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

// Through an outage the records are sent again as new packets whose
// Acct-Delay-Time grows, and are delivered oldest first.
func TestAccountingRetriesOldestFirst(t *testing.T) {
	srv := newAcctRecorder(t)
	c := testClient(t, Server{Address: srv.addr.Addr(), Secret: testSecret, AcctPort: srv.addr.Port(), Timeout: 100 * time.Millisecond})
	// One record at a time, so the order of arrival is the order of
	// sending.
	a := NewAccounting(c, AccountingOptions{InFlight: 1, RetryMin: 200 * time.Millisecond, RetryMax: 400 * time.Millisecond})
	one := aliceSession
	two := aliceSession
	two.Port.AcctSessionID = "81000003"
	s1, s2 := a.Session(one), a.Session(two)
	for _, err := range []error{s1.Start(), s2.Start(), s1.Stop(Usage{InOctets: 5}, CauseUserRequest), s2.Stop(Usage{}, CauseIdleTimeout)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	runAccounting(t, a)
	// Closed long enough for the first record's Acct-Delay-Time (whole
	// seconds) to reach 2.
	waitFor(t, "new packets for the first record", func() bool {
		recs := srv.records()
		return len(recs) > 0 && recs[len(recs)-1].delay >= 2
	})
	srv.open.Store(true)
	waitFor(t, "delivery", func() bool { return a.Len() == 0 })

	recs := srv.records()
	// Before the server opened, only the oldest record was tried; its
	// packets carry a delay that never shrinks, and each new delay is a
	// new packet (new Request Authenticator).
	var last recorded
	packets := map[[16]byte]uint32{}
	var delivered []recorded
	for i, r := range recs {
		if !r.answerd {
			if r.id != "81000002" || r.status != rfc2866.AcctStatusType_Value_Start {
				t.Fatalf("record %d tried during the outage: %s %v; want only the oldest (81000002 Start)", i, r.id, r.status)
			}
			if i > 0 && r.delay < last.delay {
				t.Errorf("Acct-Delay-Time went down: %d after %d", r.delay, last.delay)
			}
			if d, seen := packets[r.auth]; seen && d != r.delay {
				t.Errorf("one packet (same authenticator) with delays %d and %d", d, r.delay)
			}
			packets[r.auth] = r.delay
			last = r
			continue
		}
		delivered = append(delivered, r)
	}
	if len(packets) < 3 {
		t.Errorf("%d distinct packets during the outage, want retries as new packets", len(packets))
	}
	want := []struct {
		id     string
		status rfc2866.AcctStatusType
	}{
		{"81000002", rfc2866.AcctStatusType_Value_Start},
		{"81000003", rfc2866.AcctStatusType_Value_Start},
		{"81000002", rfc2866.AcctStatusType_Value_Stop},
		{"81000003", rfc2866.AcctStatusType_Value_Stop},
	}
	if len(delivered) != len(want) {
		t.Fatalf("delivered %d records, want %d: %+v", len(delivered), len(want), delivered)
	}
	for i, w := range want {
		if delivered[i].id != w.id || delivered[i].status != w.status {
			t.Errorf("delivered %d: %s %v, want %s %v", i, delivered[i].id, delivered[i].status, w.id, w.status)
		}
		if delivered[i].delay < 2 {
			t.Errorf("delivered %d: Acct-Delay-Time %d, want >= 2 (it waited that long)", i, delivered[i].delay)
		}
	}
}

// A session's IPv6 prefixes reach FreeRADIUS in its records, as
// accel-ppp sends them: Framed-IPv6-Prefix for the link, a
// Delegated-IPv6-Prefix per delegation; SetIPv6 changes later records.
func TestAccountingIPv6FreeRADIUS(t *testing.T) {
	r := startRadiusd(t)
	c := testClient(t, realServer(r))
	a := NewAccounting(c, AccountingOptions{})
	runAccounting(t, a)

	info := aliceSession
	info.IPv6 = IPv6Prefixes{Link: netip.MustParsePrefix("2001:db8:0:1::/64")}
	s := a.Session(info)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.SetIPv6(IPv6Prefixes{Link: info.IPv6.Link, Delegated: []netip.Prefix{netip.MustParsePrefix("2001:db8:100::/56")}})
	if err := s.Stop(Usage{Time: time.Minute}, CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "start and stop", func() bool { return len(r.Records()) >= 2 })
	recs := r.Records()
	if got := recs[0]["Framed-IPv6-Prefix"]; got != "2001:db8:0:1::/64" {
		t.Errorf("Start: Framed-IPv6-Prefix %q", got)
	}
	if got := recs[0]["Delegated-IPv6-Prefix"]; got != "" {
		t.Errorf("Start: Delegated-IPv6-Prefix %q before any delegation", got)
	}
	if got := recs[1]["Framed-IPv6-Prefix"]; got != "2001:db8:0:1::/64" {
		t.Errorf("Stop: Framed-IPv6-Prefix %q", got)
	}
	if got := recs[1]["Delegated-IPv6-Prefix"]; got != "2001:db8:100::/56" {
		t.Errorf("Stop: Delegated-IPv6-Prefix %q", got)
	}
}

// next keeps each session's records in order with several in flight, and
// Accounting-On/Off as barriers; a session blocked in one pick is free in
// the next once its record in flight is answered.
func TestAccountingNext(t *testing.T) {
	c, err := NewClient([]Server{{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := NewAccounting(c, AccountingOptions{})
	sa, sb, sc := a.Session(aliceSession), a.Session(aliceSession), a.Session(aliceSession)
	rec := func(s *Session, status rfc2866.AcctStatusType, sending bool) *record {
		return &record{sess: s, status: status, sending: sending}
	}
	const (
		start   = rfc2866.AcctStatusType_Value_Start
		interim = rfc2866.AcctStatusType_Value_InterimUpdate
		stop    = rfc2866.AcctStatusType_Value_Stop
		on      = rfc2866.AcctStatusType_Value_AccountingOn
	)
	aStart, aStop := rec(sa, start, true), rec(sa, stop, false)
	bStart, bInterim, bStop := rec(sb, start, true), rec(sb, interim, false), rec(sb, stop, false)
	cStart := rec(sc, start, false)
	onIdle := &record{status: on}
	for _, tc := range []struct {
		name     string
		queue    []*record
		inflight int
		want     *record
	}{
		{"empty", nil, 0, nil},
		{"the oldest", []*record{cStart, aStop}, 0, cStart},
		{"behind its own session's record in flight", []*record{aStart, aStop, cStart}, 1, cStart},
		{"behind a waiting record of a session in flight", []*record{bStart, bInterim, bStop, cStart}, 1, cStart},
		{"every session blocked", []*record{aStart, bStart, aStop, bInterim}, 2, nil},
		{"Accounting-On first and nothing in flight", []*record{onIdle, cStart}, 0, onIdle},
		{"Accounting-On waits for what is in flight", []*record{aStart, onIdle, cStart}, 1, nil},
		{"nothing passes Accounting-On", []*record{aStart, aStop, onIdle, cStart}, 1, nil},
		// The previous rows marked a and b blocked; with their records
		// in flight answered, the next pick must not see stale marks.
		{"a's Stop once its Start is answered", []*record{aStop, cStart}, 0, aStop},
		{"b's Interim once its Start is answered", []*record{bInterim, bStop}, 0, bInterim},
	} {
		a.queue, a.inflight = tc.queue, tc.inflight
		if got := a.next(); got != tc.want {
			t.Errorf("%s: next = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
