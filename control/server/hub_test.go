package server

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// hub is an in-memory Ethernet segment: a frame written on one endpoint
// reaches every other endpoint; receivers filter by address.
type hub struct {
	mu  sync.Mutex
	eps []*endpoint
}

func (h *hub) endpoint() *endpoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := &endpoint{h: h, in: make(chan []byte, 1024), closed: make(chan struct{})}
	h.eps = append(h.eps, e)
	return e
}

// endpoint implements Conn and SetReadDeadline, as afpacket.Conn does.
type endpoint struct {
	h        *hub
	in       chan []byte
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
}

func (e *endpoint) WriteFrame(b []byte) error {
	select {
	case <-e.closed:
		return net.ErrClosed
	default:
	}
	b = append([]byte(nil), b...)
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	for _, o := range e.h.eps {
		if o == e {
			continue
		}
		select {
		case o.in <- b:
		default: // a full queue loses the frame, as a NIC ring would
		}
	}
	return nil
}

func (e *endpoint) ReadFrame(b []byte) (int, error) {
	e.mu.Lock()
	dl := e.deadline
	e.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case f := <-e.in:
		return copy(b, f), nil
	case <-e.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

func (e *endpoint) SetReadDeadline(t time.Time) error {
	e.mu.Lock()
	e.deadline = t
	e.mu.Unlock()
	return nil
}

func (e *endpoint) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}

// fakeDP records the data plane's entries.
type fakeDP struct {
	mu      sync.Mutex
	next    int
	entries map[int]session.Entry
	stats   map[int]session.Stats // by handle, as the data plane counts per install
	// statsHook, if set, is called with the handle before each Stats
	// read, outside mu (a test holds a reader there).
	statsHook func(h int)
}

func newFakeDP() *fakeDP {
	return &fakeDP{entries: map[int]session.Entry{}, stats: map[int]session.Stats{}}
}

func (d *fakeDP) Install(e session.Entry) (session.Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next++
	d.entries[d.next] = e
	return d.next, nil
}

func (d *fakeDP) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.entries[h.(int)]; !ok {
		return nil, errors.New("no such entry")
	}
	d.entries[h.(int)] = e
	return h, nil
}

func (d *fakeDP) Remove(h session.Handle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.entries[h.(int)]; !ok {
		return errors.New("no such entry")
	}
	delete(d.entries, h.(int))
	return nil
}

func (d *fakeDP) Stats(h session.Handle) (session.Stats, error) {
	d.mu.Lock()
	hook := d.statsHook
	d.mu.Unlock()
	if hook != nil {
		hook(h.(int))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.entries[h.(int)]; !ok {
		return session.Stats{}, errors.New("no such entry")
	}
	return d.stats[h.(int)], nil
}

// handleOf returns the handle of the installed entry of session id sid.
func (d *fakeDP) handleOf(t testing.TB, sid uint16) int {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for h, e := range d.entries {
		if e.SessionID == sid {
			return h
		}
	}
	t.Fatalf("no entry for session %d", sid)
	return 0
}

// setStats sets the counters of the installed entry of session id sid.
func (d *fakeDP) setStats(t testing.TB, sid uint16, st session.Stats) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for h, e := range d.entries {
		if e.SessionID == sid {
			d.stats[h] = st
			return
		}
	}
	t.Fatalf("no entry for session %d", sid)
}

func (d *fakeDP) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

func (d *fakeDP) all() []session.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	var es []session.Entry
	for _, e := range d.entries {
		es = append(es, e)
	}
	return es
}
