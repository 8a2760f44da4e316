// Package peer is a scripted PPPoE subscriber for tests and benchmarks:
// discovery through pppoe.Discover (RFC 2516 §5), the PPP link through a
// link.Link in the Peer role (RFC 1661 LCP, authentication, RFC 1332 IPCP,
// RFC 5072 IPv6CP, either of them alone), and a tiny user-space data path
// that sends IP packets inside PPPoE session frames (RFC 2516 §6) and
// decapsulates the ones that come back.
//
// Many clients share one interface through a Mux, which hands each client
// MAC the frames addressed to it, so one process can emulate thousands of
// subscribers over one veth.
package peer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// etherTypeSession is the PPPoE session stage EtherType (RFC 2516 §4).
const etherTypeSession = 0x8864

// DefaultQueue is how many frames a Port buffers; more are dropped, as a
// full NIC ring drops them (PPPoE and PPP retransmit).
const DefaultQueue = 64

// Conn is a whole-frame socket: *afpacket.Conn is one.
type Conn interface {
	ReadFrame(b []byte) (int, error)
	WriteFrame(b []byte) error
	Close() error
}

// Mux shares frame sockets among many emulated clients: every frame read
// from any of its sockets goes to the Port of its destination MAC; frames
// for no Port are dropped. Writes go out through the first socket.
type Mux struct {
	conns   []Conn
	mu      sync.RWMutex
	ports   map[[6]byte]*Port
	wg      sync.WaitGroup
	dropped atomic.Uint64
}

// NewMux starts demultiplexing conns; the Mux owns them and Close closes
// them.
func NewMux(conns ...Conn) *Mux {
	m := &Mux{conns: conns, ports: make(map[[6]byte]*Port)}
	for _, c := range conns {
		m.wg.Add(1)
		go m.read(c)
	}
	return m
}

// Listen opens a Mux on the interface ifname of the calling thread's
// network namespace: an afpacket.Conn for discovery and PPP control
// frames, and a raw socket for PPPoE session frames carrying data, which
// afpacket filters out. It needs CAP_NET_RAW.
func Listen(ifname string) (*Mux, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	ctl, err := afpacket.Listen(ifi)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	data, err := packet.Listen(ifi, packet.Raw, etherTypeSession, nil)
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("peer: data socket on %s: %w", ifname, err)
	}
	return NewMux(ctl, dataConn{data}), nil
}

// dataConn reads the PPPoE session frames that carry network-layer data
// (PPP protocol below 0x8000, RFC 1661 §2); control frames come through
// afpacket.Conn already.
type dataConn struct{ c *packet.Conn }

func (d dataConn) ReadFrame(b []byte) (int, error) {
	for {
		n, _, err := d.c.ReadFrom(b)
		if err != nil {
			return 0, err
		}
		// Ethernet (14, the kernel has removed any VLAN tag) + PPPoE (6) +
		// the PPP protocol (2).
		if n >= 22 && b[20] < 0x80 {
			return n, nil
		}
	}
}

func (d dataConn) WriteFrame(b []byte) error {
	_, err := d.c.WriteTo(b, &packet.Addr{HardwareAddr: net.HardwareAddr(b[0:6])})
	return err
}

func (d dataConn) Close() error { return d.c.Close() }

func (m *Mux) read(c Conn) {
	defer m.wg.Done()
	buf := make([]byte, 9216)
	for {
		n, err := c.ReadFrame(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if n < 14 {
			continue
		}
		var dst [6]byte
		copy(dst[:], buf[:6])
		m.mu.RLock()
		p := m.ports[dst]
		m.mu.RUnlock()
		if p == nil || !p.deliver(buf[:n]) {
			m.dropped.Add(1)
		}
	}
}

// Dropped is the number of frames read for no Port or for a full one.
func (m *Mux) Dropped() uint64 { return m.dropped.Load() }

// Port returns a new frame connection for one client MAC: it reads the
// frames addressed to mac and writes through the Mux. A second Port for
// the same MAC replaces the first.
func (m *Mux) Port(mac net.HardwareAddr) *Port {
	p := &Port{m: m, in: make(chan []byte, DefaultQueue), closed: make(chan struct{})}
	copy(p.mac[:], mac)
	m.mu.Lock()
	m.ports[p.mac] = p
	m.mu.Unlock()
	return p
}

// WriteFrame sends one frame through the Mux's first socket.
func (m *Mux) WriteFrame(b []byte) error { return m.conns[0].WriteFrame(b) }

// Close closes every socket and waits for the readers.
func (m *Mux) Close() error {
	var errs []error
	for _, c := range m.conns {
		errs = append(errs, c.Close())
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

// Port is one client's view of a Mux: pppoe.FrameConn with
// SetReadDeadline, as pppoe.Discover needs.
type Port struct {
	m        *Mux
	mac      [6]byte
	in       chan []byte
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
}

func (p *Port) deliver(b []byte) bool {
	select {
	case p.in <- append([]byte(nil), b...):
		return true
	default:
		return false
	}
}

// ReadFrame returns the next frame addressed to the Port's MAC, waiting
// until the read deadline.
func (p *Port) ReadFrame(b []byte) (int, error) {
	p.mu.Lock()
	dl := p.deadline
	p.mu.Unlock()
	select {
	case f := <-p.in:
		return copy(b, f), nil
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
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
	case f := <-p.in:
		return copy(b, f), nil
	case <-p.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

// WriteFrame sends a whole frame out of the Mux.
func (p *Port) WriteFrame(b []byte) error {
	select {
	case <-p.closed:
		return net.ErrClosed
	default:
	}
	return p.m.WriteFrame(b)
}

// SetReadDeadline sets the deadline of later ReadFrame calls.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
	return nil
}

// Close detaches the Port from the Mux; a blocked ReadFrame returns.
func (p *Port) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.m.mu.Lock()
		if p.m.ports[p.mac] == p {
			delete(p.m.ports, p.mac)
		}
		p.m.mu.Unlock()
	})
	return nil
}

// isData reports whether a PPP protocol carries network-layer data rather
// than control (RFC 1661 §2: 0x0*** to 0x3*** are network layer).
func isData(p ppp.Protocol) bool { return p < 0x4000 }
