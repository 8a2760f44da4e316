package session

import (
	"context"
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
// current time: Run calls them from one goroutine per session today, and
// a scheduler driving many sessions from a few goroutines can call the
// same steps (Deliver, Stop and Poke only queue).
type Engine struct {
	link *link.Link
	now  func() time.Time

	in    chan ppp.Frame
	stopc chan StopRequest
	poke  chan struct{}
	done  chan struct{}

	// Owned by the goroutine running the steps.
	linkDeadline time.Time
	steps        uint64 // Carry calls, to spot a step nested in another
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
	return Engine{
		link:  l,
		now:   now,
		in:    make(chan ppp.Frame, queue),
		stopc: make(chan StopRequest, 1),
		poke:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// Link returns the driven link.
func (e *Engine) Link() *link.Link { return e.link }

// Deliver queues a PPP frame from the peer; it copies f. It reports false
// when the queue is full or the session has ended; the frame is dropped
// (the peer retransmits control packets).
func (e *Engine) Deliver(f ppp.Frame) bool {
	select {
	case <-e.done:
		return false
	default:
	}
	f.Information = append([]byte(nil), f.Information...)
	select {
	case e.in <- f:
		return true
	default:
		return false
	}
}

// Stop asks the session to end; the first request wins, Stop does not
// wait (see Done).
func (e *Engine) Stop(r StopRequest) {
	select {
	case e.stopc <- r:
	default:
	}
}

// Poke wakes the session to look at what another goroutine left for it
// (Role.Poked); pokes coalesce.
func (e *Engine) Poke() {
	select {
	case e.poke <- struct{}{}:
	default:
	}
}

// Done is closed when the session has ended and cleaned up (Finish).
func (e *Engine) Done() <-chan struct{} { return e.done }

// Finish marks the session ended: Done closes, Deliver refuses. Once.
func (e *Engine) Finish() {
	select {
	case <-e.done:
	default:
		close(e.done)
	}
}

// Run drives r until it has ended. ctx being done is a stop request
// (ReasonShutdown), made once.
func (e *Engine) Run(ctx context.Context, r Role) {
	r.Start(e.now())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ctxDone := ctx.Done()
	for !r.Ended() {
		if next := earliest(r.Next(), e.linkDeadline); next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(next.Sub(e.now()))
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			r.Stop(StopRequest{Reason: ReasonShutdown}, e.now())
		case s := <-e.stopc:
			r.Stop(s, e.now())
		case f := <-e.in:
			r.Receive(f, e.now())
		case <-e.poke:
			r.Poked(e.now())
		case <-timer.C:
			r.Wake(e.now())
		}
	}
}

// Step carries out, without waiting, every input already queued (stop
// requests first, then frames and pokes) and the timers due at now, and
// reports whether the session has ended. A scheduler driving many
// sessions from a few goroutines calls it instead of Run when a session
// has input or its Next time has come.
func (e *Engine) Step(r Role, now time.Time) bool {
	for !r.Ended() {
		select {
		case s := <-e.stopc:
			r.Stop(s, now)
			continue
		default:
		}
		select {
		case f := <-e.in:
			r.Receive(f, now)
			continue
		case <-e.poke:
			r.Poked(now)
			continue
		default:
		}
		break
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
