package client

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by a Port's ReadFrame and WriteFrame after Close,
// or after the Mux's connection failed.
var ErrClosed = errors.New("client: port closed")

// portQueue is how many frames a Port holds for a slow reader before it
// drops; control traffic is a handful of frames per session.
const portQueue = 256

// Mux shares one interface's control-frame connection between the clients
// attached to it: every received frame is copied to every open Port, so each
// client's Discover sees the PADOs (filtered by its own Host-Uniq, RFC 2516
// Appendix A) and each session loop its own session id.
type Mux struct {
	conn Conn

	mu      sync.Mutex
	ports   map[*Port]struct{}
	err     error // set when the read loop ended
	cause   error // why Shutdown closed it
	done    chan struct{}
	dropped atomic.Uint64
}

// NewMux starts reading conn. Close the Mux to close conn.
func NewMux(conn Conn) *Mux {
	m := &Mux{conn: conn, ports: map[*Port]struct{}{}, done: make(chan struct{})}
	go m.read()
	return m
}

func (m *Mux) read() {
	defer close(m.done)
	buf := make([]byte, 65536)
	for {
		n, err := m.conn.ReadFrame(buf)
		if err != nil {
			m.mu.Lock()
			m.err = fmt.Errorf("%w: reading frames: %w", ErrClosed, err)
			if m.cause != nil {
				m.err = m.cause
			}
			for p := range m.ports {
				p.shut(m.err)
			}
			m.mu.Unlock()
			return
		}
		f := append([]byte(nil), buf[:n]...)
		m.mu.Lock()
		for p := range m.ports {
			select {
			case p.frames <- f:
			default:
				m.dropped.Add(1)
			}
		}
		m.mu.Unlock()
	}
}

// Port returns a new view of the connection that receives every frame
// read from now on.
func (m *Mux) Port() *Port {
	p := &Port{mux: m, frames: make(chan []byte, portQueue), closed: make(chan struct{}), wake: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		p.shut(m.err)
		return p
	}
	m.ports[p] = struct{}{}
	return p
}

// Ports returns how many Ports are open.
func (m *Mux) Ports() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ports)
}

// Dropped returns how many frames were dropped because a Port's queue was
// full.
func (m *Mux) Dropped() uint64 { return m.dropped.Load() }

// Close closes the connection and every Port, and waits for the read loop.
func (m *Mux) Close() error {
	err := m.conn.Close()
	<-m.done
	return err
}

// Shutdown closes the connection for good because its interface went away
// (deleted, renamed, moved to another namespace): every Port's reads and
// writes fail with ErrClosed and reason, which ends the sessions on it, and
// Done is closed so their clients attach again.
func (m *Mux) Shutdown(reason string) error {
	m.mu.Lock()
	m.cause = fmt.Errorf("%w: %s", ErrClosed, reason)
	m.mu.Unlock()
	return m.Close()
}

// Done is closed once the Mux reads no more frames (Close, Shutdown, or a
// failed read); its Ports are closed then.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Port is one client's view of a Mux. It implements Conn.
type Port struct {
	mux    *Mux
	frames chan []byte

	closeOnce sync.Once
	closed    chan struct{}
	err       error // why it closed; set before closed is

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

func (p *Port) shut(err error) {
	p.closeOnce.Do(func() {
		p.err = err
		close(p.closed)
	})
}

// ReadFrame returns the next frame, or os.ErrDeadlineExceeded once the
// read deadline passes.
func (p *Port) ReadFrame(b []byte) (int, error) {
	for {
		p.mu.Lock()
		dl, wake := p.deadline, p.wake
		p.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		n, again, err := p.wait(b, timeout, wake)
		if t != nil {
			t.Stop()
		}
		if !again {
			return n, err
		}
	}
}

func (p *Port) wait(b []byte, timeout <-chan time.Time, wake <-chan struct{}) (n int, again bool, err error) {
	select {
	case f := <-p.frames:
		return copy(b, f), false, nil
	case <-p.closed:
		return 0, false, p.err
	case <-timeout:
		return 0, false, os.ErrDeadlineExceeded
	case <-wake:
		return 0, true, nil
	}
}

// SetReadDeadline sets the deadline for ReadFrame; a zero t means none. A
// blocked ReadFrame sees the new deadline at once.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadline = t
	close(p.wake)
	p.wake = make(chan struct{})
	return nil
}

// WriteFrame sends b out of the interface.
func (p *Port) WriteFrame(b []byte) error {
	select {
	case <-p.closed:
		return p.err
	default:
	}
	return p.mux.conn.WriteFrame(b)
}

// Close detaches the Port from the Mux; the Mux's connection stays open.
func (p *Port) Close() error {
	p.mux.mu.Lock()
	delete(p.mux.ports, p)
	p.mux.mu.Unlock()
	p.shut(ErrClosed)
	return nil
}
