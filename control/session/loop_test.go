package session

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// tickRole is a Role with one timer: it wakes ticks times, period apart,
// then ends; frames, pokes and stops are counted. Its methods run on its
// loop's goroutine only, so the counts need no lock until it has ended.
type tickRole struct {
	period  time.Duration
	ticks   int
	next    time.Time
	woke    int
	frames  int
	poked   int
	stopped Reason
	ended   bool
}

func (r *tickRole) Start(now time.Time)          { r.next = now.Add(r.period) }
func (r *tickRole) Receive(ppp.Frame, time.Time) { r.frames++ }
func (r *tickRole) Poked(time.Time)              { r.poked++ }
func (r *tickRole) Next() time.Time              { return r.next }
func (r *tickRole) Ended() bool                  { return r.ended }
func (r *tickRole) Act(link.Event, time.Time)    {}
func (r *tickRole) Send(ppp.Frame)               {}
func (r *tickRole) Stop(q StopRequest, _ time.Time) {
	r.stopped, r.ended, r.next = q.Reason, true, time.Time{}
}

func (r *tickRole) Wake(now time.Time) {
	if r.next.IsZero() || now.Before(r.next) {
		return
	}
	r.woke++
	if r.woke >= r.ticks {
		r.ended, r.next = true, time.Time{}
		return
	}
	r.next = r.next.Add(r.period)
}

// TestSchedulerTimersWithoutGoroutines: a thousand sessions, each with
// its own timer, run on two loops; none costs a goroutine, every timer
// fires its count of times (never before its time) and each session's
// end is reported once.
func TestSchedulerTimersWithoutGoroutines(t *testing.T) {
	const n = 1000
	before := runtime.NumGoroutine()
	sc := NewScheduler(context.Background(), 2)
	engines := make([]Engine, n)
	roles := make([]tickRole, n)
	var ended atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		engines[i] = NewEngine(nil, time.Now, DefaultQueue)
		// Periods of 1-10 ms, so deadlines interleave across the heap.
		roles[i] = tickRole{period: time.Duration(1+i%10) * time.Millisecond, ticks: 5}
		sc.Go(uint64(i), &engines[i], &roles[i], func() { ended.Add(1); wg.Done() })
	}
	if g := runtime.NumGoroutine() - before; g > 10 {
		t.Errorf("%d goroutines for %d sessions on 2 loops", g, n)
	}
	waitGroup(t, &wg, "sessions to end on their timers")
	if ended.Load() != n {
		t.Fatalf("%d ends reported, want %d", ended.Load(), n)
	}
	for i := range roles {
		if roles[i].woke != 5 || roles[i].stopped != ReasonNone {
			t.Fatalf("session %d woke %d times (want 5), stopped %v", i, roles[i].woke, roles[i].stopped)
		}
	}
}

// TestSchedulerInputs: frames, pokes and stops given from other
// goroutines reach the right session; a session that has its queue's
// worth of frames waiting drops the next one rather than make the
// sender wait.
func TestSchedulerInputs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := NewScheduler(ctx, 1)
	e := NewEngine(nil, time.Now, 4)
	r := &tickRole{period: time.Hour, ticks: 1}
	done := make(chan struct{})
	// Before the loop has it, input waits in the engine.
	for i := range 4 {
		if !e.Deliver(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: []byte{byte(i)}}) {
			t.Fatalf("frame %d refused", i)
		}
	}
	if e.Deliver(ppp.Frame{Protocol: ppp.ProtocolLCP}) {
		t.Fatal("a fifth frame queued over a bound of 4")
	}
	e.Poke()
	e.Poke() // coalesces
	sc.Go(7, &e, r, func() { close(done) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.mu.Lock()
		empty := len(e.inbox) == 0 && !e.poked
		e.mu.Unlock()
		if empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop never took the session's input")
		}
		time.Sleep(time.Millisecond)
	}
	e.Stop(StopRequest{Reason: ReasonAdmin})
	e.Stop(StopRequest{Reason: ReasonPADT}) // the first wins
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stop never reached the session")
	}
	if r.frames != 4 || r.poked != 1 || r.stopped != ReasonAdmin {
		t.Fatalf("frames %d (want 4), pokes %d (want 1), stopped %v (want admin)", r.frames, r.poked, r.stopped)
	}
	e.Finish()
	if e.Deliver(ppp.Frame{Protocol: ppp.ProtocolLCP}) {
		t.Fatal("an ended session took a frame")
	}
}

// TestSchedulerShutdown: the scheduler's context ending stops every
// session with ReasonShutdown, and one given afterwards as it starts;
// the loops then return.
func TestSchedulerShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sc := NewScheduler(ctx, 2)
	const n = 50
	roles := make([]tickRole, n+1)
	engines := make([]Engine, n+1)
	var wg sync.WaitGroup
	wg.Add(n + 1)
	for i := range n {
		engines[i] = NewEngine(nil, time.Now, DefaultQueue)
		roles[i] = tickRole{period: time.Hour, ticks: 1}
		sc.Go(uint64(i), &engines[i], &roles[i], wg.Done)
	}
	cancel()
	engines[n] = NewEngine(nil, time.Now, DefaultQueue)
	roles[n] = tickRole{period: time.Hour, ticks: 1}
	sc.Go(n, &engines[n], &roles[n], wg.Done)
	waitGroup(t, &wg, "sessions to stop")
	for i := range roles {
		if roles[i].stopped != ReasonShutdown {
			t.Fatalf("session %d stopped %v, want shutdown", i, roles[i].stopped)
		}
	}
	done := make(chan struct{})
	go func() { sc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loops did not return")
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
