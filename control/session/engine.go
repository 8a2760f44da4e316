package session

import (
	"context"
	"sync"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// Engine drives one PPP link (control/ppp/link) for either role: the
// access concentrator's Session and the client's session are Roles of
// it. It owns the inputs (the peer's frames, stop requests, pokes from
// other goroutines), the link's timer, and the order in which one link
// step is carried out; the Role decides what events mean (install into
// the data plane, set up a netdev, ask AAA) and what ending does.
//
// Everything a Role does happens in its step methods, which take the
// current time, called by a loop (loop.go): Run makes one for a single
// session on the calling goroutine, a Scheduler drives many sessions from
// a few. Deliver, Stop and Poke only queue, from any goroutine.
type Engine struct {
	link  *link.Link
	now   func() time.Time
	queue int

	// The inputs, left by any goroutine for the one running the steps.
	mu       sync.Mutex
	inbox    []ppp.Frame
	stop     StopRequest
	stopping bool // stop holds a request not yet carried out
	poked    bool
	finished bool
	done     chan struct{} // made on the first Done
	sched    *loop         // where the session runs; nil before and after
	queued   bool          // on sched's ready list

	// Owned by the goroutine running the steps.
	linkDeadline time.Time
	steps        uint64 // Carry calls, to spot a step nested in another
	slot         slot   // the session's place in its loop
}

// StopRequest asks a session to end: Reason and, for the client's log
// and monitor, Detail.
type StopRequest struct {
	Reason Reason
	Detail string
}

// Role is one side of the link as the Engine drives it. Its methods run
// on the goroutine running the steps.
type Role interface {
	// Start: the PPPoE session exists; bring the link up.
	Start(now time.Time)
	// Receive handles a PPP frame from the peer.
	Receive(f ppp.Frame, now time.Time)
	// Stop ends the session for r (or starts ending it).
	Stop(r StopRequest, now time.Time)
	// Poked: another goroutine left something for the session (an AAA
	// answer, an update).
	Poked(now time.Time)
	// Wake runs the Role's timers due at now, the link's included
	// (Engine.TickLink).
	Wake(now time.Time)
	// Next is when Wake must run next besides the link's timer; zero
	// for none.
	Next() time.Time
	// Ended reports the session over: Run returns.
	Ended() bool
	// Act acts on one link event.
	Act(ev link.Event, now time.Time)
	// Send sends one PPP frame to the peer.
	Send(f ppp.Frame)
}

// NewEngine returns an engine for l, queueing up to queue frames.
func NewEngine(l *link.Link, now func() time.Time, queue int) Engine {
	return Engine{link: l, now: now, queue: queue}
}

// Link returns the driven link.
func (e *Engine) Link() *link.Link { return e.link }

// Deliver queues a PPP frame from the peer; it copies f and never waits.
// It reports false when the session already has its queue's worth of
// frames waiting or has ended; the frame is dropped (the peer retransmits
// control packets).
func (e *Engine) Deliver(f ppp.Frame) bool {
	e.mu.Lock()
	if e.finished || len(e.inbox) >= e.queue {
		e.mu.Unlock()
		return false
	}
	f.Information = append([]byte(nil), f.Information...)
	e.inbox = append(e.inbox, f)
	e.readyLocked()
	e.mu.Unlock()
	return true
}

// Stop asks the session to end; the first request wins, Stop does not
// wait (see Done).
func (e *Engine) Stop(r StopRequest) {
	e.mu.Lock()
	if !e.stopping && !e.finished {
		e.stop, e.stopping = r, true
		e.readyLocked()
	}
	e.mu.Unlock()
}

// Poke wakes the session to look at what another goroutine left for it
// (Role.Poked); pokes coalesce.
func (e *Engine) Poke() {
	e.mu.Lock()
	if !e.poked && !e.finished {
		e.poked = true
		e.readyLocked()
	}
	e.mu.Unlock()
}

// readyLocked puts the session on its loop's ready list, once. e.mu held
// (the lock order is the engine's, then its loop's).
func (e *Engine) readyLocked() {
	if e.sched != nil && !e.queued {
		e.queued = true
		e.sched.ready(e)
	}
}

// closed is the Done of a session that ended before anyone asked.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed when the session has ended and cleaned up (Finish).
func (e *Engine) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done == nil {
		if e.finished {
			return closed
		}
		e.done = make(chan struct{})
	}
	return e.done
}

// Finish marks the session ended: Done closes, Deliver refuses. Once.
func (e *Engine) Finish() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	e.finished = true
	e.inbox = nil
	if e.done != nil {
		close(e.done)
	}
}

// Run drives r until it has ended, on the calling goroutine: a loop
// (loop.go) of its own, with this one session. ctx being done is a stop
// request (ReasonShutdown), made once.
func (e *Engine) Run(ctx context.Context, r Role) {
	l := newLoop(ctx)
	l.add(e, r, nil)
	l.run(true)
}

// Step carries out, without waiting, every input already queued (stop
// requests first, then frames and pokes) and the timers due at now, and
// reports whether the session has ended. A loop calls it when a session
// has input or its Next time has come.
func (e *Engine) Step(r Role, now time.Time) bool {
	var frames [8]ppp.Frame
	for !r.Ended() {
		e.mu.Lock()
		stop, stopping, poked := e.stop, e.stopping, e.poked
		in := frames[:0]
		n := min(len(e.inbox), len(frames))
		in = append(in, e.inbox[:n]...)
		rest := copy(e.inbox, e.inbox[n:])
		clear(e.inbox[rest:])
		e.inbox = e.inbox[:rest]
		if rest == 0 && cap(e.inbox) > len(frames) {
			e.inbox = nil // a burst's backlog is not kept for the session's life
		}
		e.stopping, e.poked = false, false
		e.mu.Unlock()
		if !stopping && !poked && len(in) == 0 {
			break
		}
		if stopping {
			r.Stop(stop, now)
		}
		for _, f := range in {
			if r.Ended() {
				break
			}
			r.Receive(f, now)
		}
		clear(in)
		if poked && !r.Ended() {
			r.Poked(now)
		}
	}
	if next := e.Next(r); !r.Ended() && !next.IsZero() && !now.Before(next) {
		r.Wake(now)
	}
	return r.Ended()
}

// Next returns the earliest of r's timers and the link's.
func (e *Engine) Next(r Role) time.Time { return earliest(r.Next(), e.linkDeadline) }

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// TickLink runs the link's timer if it is due.
func (e *Engine) TickLink(r Role, now time.Time) {
	if !e.linkDeadline.IsZero() && !now.Before(e.linkDeadline) {
		e.linkDeadline = time.Time{}
		e.Carry(r, e.link.Tick(now), now)
	}
}

// StopLink forgets the link's timer: the session is ending.
func (e *Engine) StopLink() { e.linkDeadline = time.Time{} }

// Carry carries out one step of the link: its events acted on, its
// frames sent, its deadline kept. Events up to the last network one
// (NetworkUp, NetworkDown) are acted on before any frame of the step
// leaves: the step that opens IPCP sends the Configure-Ack that lets the
// peer send data, and the data plane must forward before it does. If
// acting on them ended the session or took another link step (a failed
// install closing the link), the step's frames are stale and not sent.
func (e *Engine) Carry(r Role, out link.Output, now time.Time) {
	e.steps++
	mine := e.steps
	split := 0
	for i, ev := range out.Events {
		switch ev.(type) {
		case link.NetworkUp, link.NetworkDown:
			split = i + 1
		}
	}
	for _, ev := range out.Events[:split] {
		if r.Ended() {
			return
		}
		r.Act(ev, now)
	}
	if r.Ended() || e.steps != mine {
		return
	}
	for _, f := range out.Send {
		r.Send(f)
	}
	if r.Ended() {
		return
	}
	e.linkDeadline = out.Deadline
	for _, ev := range out.Events[split:] {
		if r.Ended() {
			return
		}
		r.Act(ev, now)
	}
}
