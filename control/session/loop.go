package session

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/shrink"
)

// A loop drives many sessions' engines from one goroutine: the sessions
// with input (a frame, a stop, a poke) wait on its ready list, the ones
// with a timer in its heap by their next deadline, and a single
// time.Timer sleeps until the earliest. A session thus costs no
// goroutine, stack, channel or timer of its own: what it holds is its
// state, a heap slot and, while frames wait, their queue.
//
// Deliver, Stop and Poke (any goroutine) put the engine on the ready
// list once and wake the loop; the loop takes the list, steps each
// engine (Engine.Step) and files it again under its Next time. A session
// whose step blocks (a data-plane syscall, a store write) delays the
// others of its loop; AAA answers come asynchronously (Poke).
type loop struct {
	ctx context.Context

	mu      sync.Mutex
	pending []*Engine   // ready, in the order they became so
	count   int         // sessions added and not ended
	down    atomic.Bool // ctx is done: sessions are told to stop
	exited  bool        // the loop returned; Go runs sessions elsewhere
	wake    chan struct{}

	// Owned by the loop's goroutine.
	batch []*Engine
	// heap and all hold every session of the loop: shrink.Slice gives
	// their arrays back after a mass teardown.
	heap  []*Engine // by slot.deadline
	all   []*Engine // every session started, by slot.allAt
	timer *time.Timer
}

// slot is an engine's place in its loop, owned by the loop's goroutine.
type slot struct {
	role     Role
	ended    func() // called on the loop's goroutine once r has ended
	started  bool
	gone     bool
	shutdown bool      // told ReasonShutdown as ctx ended
	deadline time.Time // zero: not in the heap
	heapAt   int32
	allAt    int32
}

func newLoop(ctx context.Context) *loop {
	return &loop{ctx: ctx, wake: make(chan struct{}, 1)}
}

// add hands e, driven as r, to the loop; ended, if not nil, is called on
// the loop's goroutine once r has ended. False if the loop has returned.
func (l *loop) add(e *Engine, r Role, ended func()) bool {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return false
	}
	l.count++
	l.mu.Unlock()
	e.slot = slot{role: r, ended: ended, heapAt: -1, allAt: -1}
	e.mu.Lock()
	e.sched, e.queued = l, true
	e.mu.Unlock()
	l.ready(e)
	return true
}

// ready queues e for a step; e.mu held or e not yet shared.
func (l *loop) ready(e *Engine) {
	l.mu.Lock()
	l.pending = append(l.pending, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run steps the loop's sessions until they have ended and, unless one is
// true (Engine.Run's loop of one session), ctx is done too.
func (l *loop) run(one bool) {
	ctxDone := l.ctx.Done()
	for {
		l.mu.Lock()
		l.batch, l.pending = l.pending, l.batch[:0]
		if len(l.batch) == 0 && l.count == 0 && (one || l.down.Load()) {
			l.exited = true
			l.mu.Unlock()
			if l.timer != nil {
				l.timer.Stop()
			}
			return
		}
		l.mu.Unlock()
		for i, e := range l.batch {
			e.mu.Lock()
			e.queued = false
			e.mu.Unlock()
			l.step(e, e.now())
			l.batch[i] = nil
		}
		// Each due session once a round: one whose timer stays due
		// (a Role that does not move its Next) must not starve the
		// others' input.
		for n := len(l.heap); n > 0 && len(l.heap) > 0; n-- {
			e := l.heap[0]
			now := e.now()
			if now.Before(e.slot.deadline) {
				break
			}
			l.step(e, now)
		}
		l.mu.Lock()
		idle := len(l.pending) == 0 && !(l.count == 0 && (one || l.down.Load()))
		l.mu.Unlock()
		if !idle {
			continue
		}
		var timerC <-chan time.Time
		if len(l.heap) > 0 {
			e := l.heap[0]
			d := e.slot.deadline.Sub(e.now())
			if l.timer == nil {
				l.timer = time.NewTimer(d)
			} else {
				l.timer.Reset(d)
			}
			timerC = l.timer.C
		}
		select {
		case <-l.wake:
		case <-timerC:
		case <-ctxDone:
			ctxDone = nil
			l.shutdown()
		}
	}
}

// shutdown stops every session with ReasonShutdown, and those started
// later as they start.
func (l *loop) shutdown() {
	l.down.Store(true)
	for _, e := range append([]*Engine(nil), l.all...) {
		if !e.slot.gone {
			l.step(e, e.now())
		}
	}
}

// step carries out what e has waiting (Engine.Step) and files it again
// by its Next time, or lets it go once it has ended.
func (l *loop) step(e *Engine, now time.Time) {
	s := &e.slot
	if s.gone {
		return // input that came as it ended
	}
	r := s.role
	if !s.started {
		s.started = true
		s.allAt = int32(len(l.all))
		l.all = append(l.all, e)
		r.Start(now)
	}
	if !s.shutdown && !r.Ended() {
		if l.down.Load() {
			s.shutdown = true
			r.Stop(StopRequest{Reason: ReasonShutdown}, now)
		}
	}
	if !e.Step(r, now) {
		l.file(e, e.Next(r))
		return
	}
	l.file(e, time.Time{})
	s.gone = true
	last := l.all[len(l.all)-1]
	l.all[s.allAt] = last
	last.slot.allAt = s.allAt
	l.all[len(l.all)-1] = nil
	l.all = shrink.Slice(l.all[:len(l.all)-1])
	e.mu.Lock()
	e.sched = nil
	e.mu.Unlock()
	ended := s.ended
	s.role, s.ended = nil, nil
	if ended != nil {
		ended()
	}
	l.mu.Lock()
	l.count--
	l.mu.Unlock()
}

// file puts e in the heap under deadline, or takes it out for zero.
func (l *loop) file(e *Engine, deadline time.Time) {
	s := &e.slot
	switch {
	case deadline.IsZero() && s.heapAt < 0:
	case deadline.IsZero():
		i := int(s.heapAt)
		last := len(l.heap) - 1
		l.swap(i, last)
		l.heap[last] = nil
		l.heap = shrink.Slice(l.heap[:last])
		s.heapAt, s.deadline = -1, time.Time{}
		if i < last {
			l.siftDown(i)
			l.siftUp(i)
		}
	case s.heapAt < 0:
		s.deadline = deadline
		s.heapAt = int32(len(l.heap))
		l.heap = append(l.heap, e)
		l.siftUp(len(l.heap) - 1)
	default:
		s.deadline = deadline
		l.siftDown(int(s.heapAt))
		l.siftUp(int(s.heapAt))
	}
}

func (l *loop) less(i, j int) bool {
	return l.heap[i].slot.deadline.Before(l.heap[j].slot.deadline)
}

func (l *loop) swap(i, j int) {
	l.heap[i], l.heap[j] = l.heap[j], l.heap[i]
	l.heap[i].slot.heapAt = int32(i)
	l.heap[j].slot.heapAt = int32(j)
}

func (l *loop) siftUp(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !l.less(i, p) {
			return
		}
		l.swap(i, p)
		i = p
	}
}

func (l *loop) siftDown(i int) {
	n := len(l.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			return
		}
		l.swap(i, c)
		i = c
	}
}

// Scheduler drives sessions from a few goroutines, one loop per CPU, a
// session on the loop its key picks. Cancelling its context stops every
// session with ReasonShutdown; the loops return once they have none.
type Scheduler struct {
	ctx   context.Context
	loops []*loop
	wg    sync.WaitGroup
}

// NewScheduler starts n loops; n <= 0 means one per CPU (GOMAXPROCS).
func NewScheduler(ctx context.Context, n int) *Scheduler {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s := &Scheduler{ctx: ctx}
	for range n {
		l := newLoop(ctx)
		s.loops = append(s.loops, l)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run(false)
		}()
	}
	return s
}

// Go starts the session e drives as r on the loop key picks; ended, if
// not nil, is called once r has ended, on the loop's goroutine (it must
// not wait for another session). Sessions given after the scheduler's
// context ended start and stop at once (ReasonShutdown).
func (s *Scheduler) Go(key uint64, e *Engine, r Role, ended func()) {
	if s.loops[key%uint64(len(s.loops))].add(e, r, ended) {
		return
	}
	// The loops have returned (the context ended and they had nothing
	// left): a loop of its own, which stops it at once.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		e.Run(s.ctx, r)
		if ended != nil {
			ended()
		}
	}()
}

// Wait waits for the loops to return: the context has ended and every
// session with it.
func (s *Scheduler) Wait() { s.wg.Wait() }
