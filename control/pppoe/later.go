package pppoe

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLaterMax bounds the frames a Later holds: at the default global
// PADI limit (2,000 a second) and the longest pado-delay (10 s) the
// offers in flight could reach 20,000; an AC delaying that much is
// overloaded, and dropping the excess offers leaves those clients to the
// other ACs, which is what the delay asks for.
const DefaultLaterMax = 8192

// Later sends frames after a delay, from a goroutine of its own, so that a
// PADO held back by pado-delay never holds up the receive loop: the loop
// hands the frame over and goes on with the next PADI or PADR. The frames
// wait in a heap by due time; one timer covers the earliest.
type Later struct {
	write func([]byte) error
	max   int

	mu      sync.Mutex
	queue   laterQueue
	seq     uint64
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
	errs    atomic.Uint64
}

// NewLater starts a Later that sends with write and holds at most max
// frames (0 means DefaultLaterMax). Close stops it.
func NewLater(write func([]byte) error, max int) *Later {
	if max <= 0 {
		max = DefaultLaterMax
	}
	l := &Later{write: write, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Send queues frame to go out after d. It returns false, and the frame is
// dropped, when max frames are waiting or the Later is closed.
func (l *Later) Send(frame []byte, d time.Duration) bool {
	l.mu.Lock()
	if l.closed || len(l.queue) >= l.max {
		l.mu.Unlock()
		l.dropped.Add(1)
		return false
	}
	l.seq++
	heap.Push(&l.queue, laterItem{due: time.Now().Add(d), seq: l.seq, frame: frame})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// Dropped counts frames Send refused; WriteErrors those write failed.
func (l *Later) Dropped() uint64     { return l.dropped.Load() }
func (l *Later) WriteErrors() uint64 { return l.errs.Load() }

// Close stops the Later; frames still waiting are dropped (their clients
// retransmit, and a closed port could not send them anyway).
func (l *Later) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.wake)
	<-l.done
}

func (l *Later) run() {
	defer close(l.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		now := time.Now()
		var due [][]byte
		for len(l.queue) > 0 && !l.queue[0].due.After(now) {
			due = append(due, heap.Pop(&l.queue).(laterItem).frame)
		}
		wait := time.Hour
		if len(l.queue) > 0 {
			wait = l.queue[0].due.Sub(now)
		}
		l.mu.Unlock()
		for _, f := range due {
			if err := l.write(f); err != nil {
				l.errs.Add(1)
			}
		}
		if len(due) > 0 {
			continue // time passed while writing: look again
		}
		t.Reset(wait)
		select {
		case _, ok := <-l.wake:
			if !ok {
				return
			}
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

type laterItem struct {
	due   time.Time
	seq   uint64 // equal due times go out in the order they came
	frame []byte
}

type laterQueue []laterItem

func (q laterQueue) Len() int { return len(q) }
func (q laterQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].seq < q[j].seq
	}
	return q[i].due.Before(q[j].due)
}
func (q laterQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *laterQueue) Push(x any)   { *q = append(*q, x.(laterItem)) }
func (q *laterQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
