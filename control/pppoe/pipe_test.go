package pppoe

import (
	"net"
	"os"
	"sync"
	"time"
)

// hub is an in-memory broadcast domain: a frame written on one port is
// delivered to every other port, as on a shared Ethernet segment, so
// receivers must filter by address and Host-Uniq themselves.
type hub struct {
	mu    sync.Mutex
	ports []*port
	// drop, if set, is asked about every frame before delivery; true loses it.
	drop func(b []byte) bool
	// sent records every frame written, for tests that count retransmissions.
	sent [][]byte
}

func (h *hub) port() *port {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := &port{h: h, ch: make(chan []byte, 256), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	h.ports = append(h.ports, p)
	return p
}

func (h *hub) frames() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.sent...)
}

// port is one attachment to a hub; it implements FrameConn and
// SetReadDeadline like afpacket.Conn.
type port struct {
	h        *hub
	ch       chan []byte
	wake     chan struct{}
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
}

func (p *port) WriteFrame(b []byte) error {
	b = append([]byte(nil), b...)
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.h.sent = append(p.h.sent, b)
	if p.h.drop != nil && p.h.drop(b) {
		return nil
	}
	for _, q := range p.h.ports {
		if q == p {
			continue
		}
		select {
		case q.ch <- b:
		default: // a full receive queue drops, as a socket buffer would
		}
	}
	return nil
}

func (p *port) ReadFrame(b []byte) (int, error) {
	for {
		p.mu.Lock()
		dl := p.deadline
		p.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		select {
		case f := <-p.ch:
			return copy(b, f), nil
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-p.wake:
		case <-p.closed:
			return 0, net.ErrClosed
		}
	}
}

func (p *port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *port) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}
