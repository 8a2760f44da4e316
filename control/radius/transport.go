package radius

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"layeh.com/radius"
)

// One server port (auth or acct of one /radius entry) is an endpoint: a
// small pool of connected UDP sockets, each with its own 256 identifiers.
// RADIUS tells requests apart by source address, source port and
// Identifier (RFC 2865 §3), so a second socket is a second identifier
// space. The pool grows when every identifier of every socket is taken and
// never beyond maxSockets; beyond that a request waits for an identifier
// (or its context). At 2,000 requests/s and a 300 ms timeout, about 600
// requests are outstanding at worst per try: three sockets. Identifiers
// are handed out round-robin per socket, so the one just freed is the
// last to be reused; a late answer to a released identifier fails the
// Response Authenticator check of its new owner and is dropped.

const idsPerSocket = 256

// errTimeout is a request no answer came for within its tries.
var errTimeout = errors.New("radius: no answer")

type endpoint struct {
	remote netip.AddrPort
	src    netip.Addr
	max    int
	slots  chan struct{} // one token per identifier that may be in use
	stats  *Stats
	counts endpointCounts
	log    *zap.Logger

	mu        sync.Mutex
	socks     []*socket
	closed    bool
	downUntil time.Time
}

type socket struct {
	conn    *net.UDPConn
	next    int
	pending [idsPerSocket]*pending
}

// pending is one request waiting for its answer.
type pending struct {
	req       []byte // encoded; nil until sent
	secret    []byte
	requireMA bool
	done      chan []byte
}

func newEndpoint(remote netip.AddrPort, src netip.Addr, maxSockets int, stats *Stats, log *zap.Logger) *endpoint {
	return &endpoint{
		remote: remote, src: src, max: maxSockets,
		slots: make(chan struct{}, maxSockets*idsPerSocket),
		stats: stats, log: log,
	}
}

// acquire reserves an identifier, opening a socket if every open one is
// full.
func (e *endpoint) acquire(ctx context.Context, p *pending) (*socket, uint8, error) {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		<-e.slots
		return nil, 0, net.ErrClosed
	}
	for _, s := range e.socks {
		for k := range idsPerSocket {
			id := (s.next + k) % idsPerSocket
			if s.pending[id] == nil {
				s.pending[id] = p
				s.next = id + 1
				return s, uint8(id), nil
			}
		}
	}
	s, err := e.open()
	if err != nil {
		<-e.slots
		return nil, 0, err
	}
	s.pending[0] = p
	s.next = 1
	return s, 0, nil
}

// open adds a socket; e.mu is held.
func (e *endpoint) open() (*socket, error) {
	var laddr *net.UDPAddr
	if e.src.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.src, 0))
	}
	c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(e.remote))
	if err != nil {
		return nil, fmt.Errorf("radius: socket to %s: %w", e.remote, err)
	}
	// Up to 256 answers can arrive in a burst; the default buffer holds
	// about as many small datagrams, so give it room (capped by the
	// kernel's rmem_max).
	_ = c.SetReadBuffer(1 << 20)
	s := &socket{conn: c}
	e.socks = append(e.socks, s)
	go e.read(s)
	return s, nil
}

func (e *endpoint) release(s *socket, id uint8) {
	e.mu.Lock()
	s.pending[id] = nil
	e.mu.Unlock()
	<-e.slots
}

// read takes the answers of one socket until it is closed. An answer is
// delivered only to the request that holds its identifier and only when
// it verifies against that request; anything else is counted and dropped.
func (e *endpoint) read(s *socket) {
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable and the like: the timeout handles it
		}
		b, err := frame(buf[:n])
		if err != nil {
			e.drop(err)
			continue
		}
		e.mu.Lock()
		p := s.pending[b[1]]
		var req, secret []byte
		var requireMA bool
		if p != nil && p.req != nil {
			req, secret, requireMA = p.req, p.secret, p.requireMA
		}
		e.mu.Unlock()
		if req == nil {
			e.stats.Unmatched.Add(1)
			e.log.Debug("radius answer for no outstanding request dropped", zap.Stringer("server", e.remote), zap.Uint8("id", b[1]))
			continue
		}
		if err := verifyResponse(b, req, secret, requireMA); err != nil {
			e.drop(err)
			continue
		}
		select {
		case p.done <- append([]byte(nil), b...):
		default: // a retransmission was answered twice: the first answer stands
		}
	}
}

func (e *endpoint) drop(err error) {
	e.stats.Invalid.Add(1)
	e.log.Debug("radius answer dropped", zap.Stringer("server", e.remote), zap.Error(err))
}

// roundTrip sends the request encode builds for an identifier (and the
// socket's local address, which the kernel chose), again
// every timeout, tries times in all, and returns the first answer that
// verifies. A retransmission is the same bytes: same identifier, same
// authenticator (RFC 5080 §2.2.1).
func (e *endpoint) roundTrip(ctx context.Context, encode func(id uint8, local netip.Addr) ([]byte, error), secret []byte, requireMA bool, tries int, timeout time.Duration) ([]byte, error) {
	p := &pending{secret: secret, requireMA: requireMA, done: make(chan []byte, 1)}
	s, id, err := e.acquire(ctx, p)
	if err != nil {
		return nil, err
	}
	defer e.release(s, id)
	var local netip.Addr
	if ua, ok := s.conn.LocalAddr().(*net.UDPAddr); ok {
		local = ua.AddrPort().Addr().Unmap()
	}
	wire, err := encode(id, local)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	p.req = wire
	e.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	e.counts.requests.Add(1)
	start := time.Now()
	for try := 0; try < tries; try++ {
		if try > 0 {
			e.stats.Retransmits.Add(1)
			e.counts.retransmits.Add(1)
		}
		if _, err := s.conn.Write(wire); err != nil && !errors.Is(err, net.ErrClosed) {
			// An ICMP error from the previous try surfaces here; the
			// timeout decides, as for a lost packet.
			e.log.Debug("radius send", zap.Stringer("server", e.remote), zap.Error(err))
		}
		t.Reset(timeout)
		select {
		case b := <-p.done:
			e.counts.observe(b[0], time.Since(start))
			return b, nil
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.counts.timeouts.Add(1)
	return nil, errTimeout
}

func (e *endpoint) isDown(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.downUntil)
}

// markDown holds the endpoint down until then and reports whether it was
// down already.
func (e *endpoint) markDown(until time.Time) (was bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	was = time.Now().Before(e.downUntil)
	e.downUntil = until
	return was
}

// markUp ends a hold-down and reports whether there was one.
func (e *endpoint) markUp() (was bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	was = time.Now().Before(e.downUntil)
	e.downUntil = time.Time{}
	return was
}

func (e *endpoint) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, s := range e.socks {
		s.conn.Close()
	}
}

// Stats counts what the client dropped and resent, for metrics and tests.
type Stats struct {
	// Unmatched answers carried an identifier no request was waiting on.
	Unmatched atomic.Uint64
	// Invalid answers matched a request but failed a check: code, length,
	// Response Authenticator or Message-Authenticator (a forgery, or a
	// server with another secret).
	Invalid atomic.Uint64
	// Retransmits are transmissions after the first, to any server.
	Retransmits atomic.Uint64
	// Failovers are requests a server did not answer that went on to the
	// next one.
	Failovers atomic.Uint64
}
