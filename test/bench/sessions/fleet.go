package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// fleet is the sessions bench's emulated subscribers: the same exchange
// as test/peer's Client (PADI → PADO → PADR → PADS with the AC's tags
// checked, then a link.Link in the Peer role for LCP, PAP/CHAP and IPCP,
// retransmitting on its restart timer), but every subscriber is a state
// machine run by one reader goroutine, not two goroutines, a Port queue
// and timers of its own. The generator shares the 2 CPUs with the AC, so
// what it spends per setup caps the rate the bench can show
// (test/peer's Client cost 0.5–0.7 ms of CPU per setup, more than the
// AC).
type fleet struct {
	conn     *afpacket.Conn
	method   auth.Method
	password string        // the bench's secret's; another one must fail
	limit    time.Duration // a dial not up this long has failed
	nonce    [4]byte       // the Host-Uniqs of this run: nonce + index

	mu       sync.Mutex
	subs     []*sub
	inflight []*sub // dialling now, at most conc; each knows its place
	next, to int    // the next index to dial, the end of this phase
	conc     int
	phase    chan struct{}
	failed   int
	firstErr error
	dropped  uint64 // frames for no subscriber of this run, or one gone
	scratch  []byte
	done     chan struct{}
	wg       sync.WaitGroup
}

// Subscriber states.
const (
	stPADI = iota // PADI sent, waiting for a PADO
	stPADR        // PADR sent, waiting for the PADS
	stPPP         // discovery done, the link negotiating
	stUp          // IPCP opened
	stFailed
	stGone // PADT sent, or the AC's received
)

// sub is one emulated subscriber.
type sub struct {
	i        int
	slot     int // index in fleet.inflight while dialling
	state    uint8
	mac      [6]byte
	hostUniq [8]byte

	ac       [6]byte
	padr     []byte
	timeout  time.Duration // discovery retransmission (RFC 2516 §5: doubling)
	attempts int           // PADRs sent for this offer
	deadline time.Time     // next retransmission or link timer
	giveUp   time.Time

	sid  uint16
	hdr  [20]byte // Ethernet and PPPoE session header towards the AC
	link *link.Link
	addr netip.Addr
}

// The timers, as the peer.Config of the old bench client.
const (
	discoveryTimeout    = time.Second
	discoveryMaxTimeout = 4 * time.Second
	padrAttempts        = 3
	pppRestart          = time.Second
	dialLimit           = 60 * time.Second
	// tickEvery is how often timers are checked; they are seconds long.
	tickEvery = 50 * time.Millisecond
)

func newFleet(conn *afpacket.Conn, n, conc int, m auth.Method) *fleet {
	f := &fleet{conn: conn, method: m, password: "StrongPass", limit: dialLimit, subs: make([]*sub, n), conc: conc, done: make(chan struct{})}
	rand.Read(f.nonce[:])
	f.wg.Add(2)
	go f.read()
	go f.tick()
	return f
}

// close stops the fleet's goroutines; the caller closes the socket.
func (f *fleet) close() {
	close(f.done)
	f.conn.SetReadDeadline(time.Unix(1, 0))
	f.wg.Wait()
}

// dial brings subscribers from to to up, conc at a time, and returns when
// each is up or has failed.
func (f *fleet) dial(from, to int) {
	f.mu.Lock()
	f.next, f.to = from, to
	f.phase = make(chan struct{})
	ch := f.phase
	now := time.Now()
	for len(f.inflight) < f.conc && f.next < f.to {
		f.start(now)
	}
	if from >= to {
		close(ch)
	}
	f.mu.Unlock()
	<-ch
}

// start dials the next subscriber.
func (f *fleet) start(now time.Time) {
	i := f.next
	f.next++
	s := &sub{i: i, slot: len(f.inflight), mac: benchMAC(i), timeout: discoveryTimeout, giveUp: now.Add(f.limit)}
	copy(s.hostUniq[:4], f.nonce[:])
	binary.BigEndian.PutUint32(s.hostUniq[4:], uint32(i))
	f.subs[i] = s
	f.inflight = append(f.inflight, s)
	f.padi(s, now)
}

// benchMAC is subscriber i's MAC (dialWithin's, so the two benches agree).
func benchMAC(i int) [6]byte {
	return [6]byte{0x02, 0xbe, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

// settle takes s out of the dialling set and dials the next one.
func (f *fleet) settle(s *sub, now time.Time, err error) {
	if err != nil {
		s.state = stFailed
		s.link = nil
		f.failed++
		if f.firstErr == nil {
			f.firstErr = fmt.Errorf("subscriber %d (%s): %w", s.i, net.HardwareAddr(s.mac[:]), err)
		}
	}
	last := f.inflight[len(f.inflight)-1]
	f.inflight[s.slot], last.slot = last, s.slot
	f.inflight = f.inflight[:len(f.inflight)-1]
	if f.next < f.to {
		f.start(now)
	}
	if len(f.inflight) == 0 && f.next == f.to {
		close(f.phase)
	}
}

func (f *fleet) write(b []byte) {
	// A lost frame is retransmitted like one the wire lost.
	f.conn.WriteFrame(b)
}

func (f *fleet) padi(s *sub, now time.Time) {
	s.state, s.attempts = stPADI, 0
	b, err := pppoe.MarshalFrame(ethernet.Broadcast, s.mac[:], nil, &pppoe.Packet{Code: pppoe.CodePADI,
		Tags: []pppoe.Tag{pppoe.ServiceName(""), pppoe.HostUniq(s.hostUniq[:])}})
	if err != nil {
		f.settle(s, now, err)
		return
	}
	f.write(b)
	s.deadline = now.Add(s.timeout)
}

// offered answers a PADO (RFC 2516 §5.3): a PADR naming the first
// service offered, echoing the AC-Cookie and any Relay-Session-Id.
func (f *fleet) offered(s *sub, fr *ethernet.Frame, p *pppoe.Packet, now time.Time) {
	services := pppoe.FindTags[pppoe.ServiceName](p.Tags)
	if len(services) == 0 {
		return
	}
	tags := []pppoe.Tag{services[0], pppoe.HostUniq(s.hostUniq[:])}
	if c, ok := pppoe.FindTag[pppoe.ACCookie](p.Tags); ok {
		tags = append(tags, c)
	}
	if r, ok := pppoe.FindTag[pppoe.RelaySessionID](p.Tags); ok {
		tags = append(tags, r)
	}
	copy(s.ac[:], fr.Source)
	b, err := pppoe.MarshalFrame(fr.Source, s.mac[:], nil, &pppoe.Packet{Code: pppoe.CodePADR, Tags: tags})
	if err != nil {
		f.settle(s, now, err)
		return
	}
	s.padr, s.state, s.attempts, s.timeout = b, stPADR, 1, discoveryTimeout
	f.write(b)
	s.deadline = now.Add(s.timeout)
}

// confirmed takes a PADS (RFC 2516 §5.4) and starts the link.
func (f *fleet) confirmed(s *sub, p *pppoe.Packet, now time.Time) {
	for _, t := range p.Tags {
		switch t.(type) {
		case pppoe.ServiceNameError, pppoe.ACSystemError, pppoe.GenericError:
			// The AC refused (admission, say): discovery starts over,
			// as a CPE's does.
			s.timeout = discoveryTimeout
			f.padi(s, now)
			return
		}
	}
	if p.SessionID == 0 {
		return
	}
	var mp uint16
	if v, ok := pppoe.FindTag[pppoe.PPPMaxPayload](p.Tags); ok {
		mp = uint16(v)
	}
	l, err := link.New(link.Config{
		Role:       link.Peer,
		User:       "MT-User",
		Password:   f.password,
		Methods:    []auth.Method{f.method},
		MaxPayload: mp,
		Restart:    pppRestart,
	})
	if err != nil {
		f.settle(s, now, err)
		return
	}
	s.sid, s.link, s.state, s.padr = p.SessionID, l, stPPP, nil
	copy(s.hdr[0:6], s.ac[:])
	copy(s.hdr[6:12], s.mac[:])
	binary.BigEndian.PutUint16(s.hdr[12:14], uint16(ethernet.EtherTypePPPoESession))
	s.hdr[14], s.hdr[15] = 0x11, byte(pppoe.CodeSession) // VER 1, TYPE 1 (RFC 2516 §4)
	binary.BigEndian.PutUint16(s.hdr[16:18], s.sid)
	f.act(s, l.Up(now), now)
}

// act carries out a link Output: frames out, the outcome noted.
func (f *fleet) act(s *sub, out link.Output, now time.Time) {
	for _, fr := range out.Send {
		b := append(f.scratch[:0], s.hdr[:]...)
		binary.BigEndian.PutUint16(b[18:20], uint16(2+len(fr.Information)))
		b = binary.BigEndian.AppendUint16(b, uint16(fr.Protocol))
		b = append(b, fr.Information...)
		f.scratch = b
		f.write(b)
	}
	s.deadline = out.Deadline
	for _, ev := range out.Events {
		switch ev := ev.(type) {
		case link.NetworkUp:
			if s.state != stPPP {
				continue // renegotiated while up (RFC 1661 §4.3)
			}
			// Up means what the bench counts: authenticated with the
			// method asked and an address from IPCP.
			if ev.Protocol != ppp.ProtocolIPCP || !ev.Info.IP.Local.Is4() || ev.Info.IP.Local.IsUnspecified() || ev.Info.Method != f.method {
				f.settle(s, now, fmt.Errorf("network up without what was asked: %v, address %v, %v", ev.Protocol, ev.Info.IP.Local, ev.Info.Method))
				return
			}
			s.state, s.addr = stUp, ev.Info.IP.Local
			f.settle(s, now, nil)
		case link.AuthFailed:
			if s.state == stPPP {
				f.settle(s, now, fmt.Errorf("authentication failed: %s", ev.Reason))
				return
			}
		case link.Down:
			if s.state == stPPP {
				f.settle(s, now, fmt.Errorf("link down: %s", ev.Reason))
				return
			}
		}
	}
}

// read takes every frame for the fleet's MACs off the socket and runs it
// through its subscriber.
func (f *fleet) read() {
	defer f.wg.Done()
	buf := make([]byte, 9216)
	for {
		n, err := f.conn.ReadFrame(buf)
		if err != nil {
			select {
			case <-f.done:
				return
			default:
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		f.mu.Lock()
		if !f.frame(buf[:n], time.Now()) {
			f.dropped++
		}
		f.mu.Unlock()
	}
}

// frame handles one frame; false if it was for no dialling or live
// subscriber of this run.
func (f *fleet) frame(b []byte, now time.Time) bool {
	if len(b) < 22 || b[0] != 0x02 || b[1] != 0xbe || b[2] != 0 {
		return false
	}
	i := int(b[3])<<16 | int(b[4])<<8 | int(b[5])
	if i >= len(f.subs) || f.subs[i] == nil {
		return false
	}
	s := f.subs[i]
	switch s.state {
	case stFailed, stGone:
		return false
	case stPADI, stPADR:
		f.discovery(s, b, now)
		return true
	}
	et := ethernet.EtherType(binary.BigEndian.Uint16(b[12:14]))
	if et == ethernet.EtherTypePPPoEDiscovery {
		// Only a PADT of this session from its AC matters now.
		fr, p, err := pppoe.ParseFrame(b)
		if err == nil && p.Code == pppoe.CodePADT && p.SessionID == s.sid && [6]byte(fr.Source) == s.ac {
			if s.state == stPPP {
				f.settle(s, now, errors.New("PADT from the AC"))
			}
			s.state, s.link = stGone, nil
		}
		return true
	}
	// A session frame (RFC 2516 §6), read in place: VER/TYPE, CODE 0,
	// this session from this AC, LENGTH within the frame.
	if et != ethernet.EtherTypePPPoESession || b[14] != 0x11 || b[15] != 0 ||
		binary.BigEndian.Uint16(b[16:18]) != s.sid || [6]byte(b[6:12]) != s.ac {
		return true
	}
	l := int(binary.BigEndian.Uint16(b[18:20]))
	if 20+l > len(b) {
		return true
	}
	var pf ppp.Frame
	if pf.UnmarshalBinary(b[20:20+l]) != nil || pf.Protocol < 0x4000 {
		return true // malformed, or data (RFC 1661 §2): not the bench's
	}
	f.act(s, s.link.Receive(pf, now), now)
	return true
}

// discovery handles a discovery frame while s dials (RFC 2516 §5): the
// AC's answers are checked as pppoe.Discover checks them.
func (f *fleet) discovery(s *sub, b []byte, now time.Time) {
	fr, p, err := pppoe.ParseFrame(b)
	if err != nil || p.Code == pppoe.CodeSession || pppoe.ValidateFrame(&fr, &p) != nil {
		return
	}
	if hu, _ := pppoe.FindTag[pppoe.HostUniq](p.Tags); string(hu) != string(s.hostUniq[:]) {
		return
	}
	switch {
	case s.state == stPADI && p.Code == pppoe.CodePADO:
		f.offered(s, &fr, &p, now)
	case s.state == stPADR && p.Code == pppoe.CodePADS && [6]byte(fr.Source) == s.ac:
		f.confirmed(s, &p, now)
	}
}

// tick runs the dialling subscribers' timers.
func (f *fleet) tick() {
	defer f.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case now := <-t.C:
			f.mu.Lock()
			// settle reorders inflight: walk a copy.
			for _, s := range append([]*sub(nil), f.inflight...) {
				f.expire(s, now)
			}
			f.mu.Unlock()
		}
	}
}

func (f *fleet) expire(s *sub, now time.Time) {
	if s.state > stPPP {
		return
	}
	if now.After(s.giveUp) {
		f.settle(s, now, fmt.Errorf("not up after %v (state %d)", f.limit, s.state))
		return
	}
	if s.deadline.IsZero() || now.Before(s.deadline) {
		return
	}
	switch s.state {
	case stPADI:
		s.timeout = min(2*s.timeout, discoveryMaxTimeout)
		f.padi(s, now)
	case stPADR:
		if s.attempts >= padrAttempts {
			s.timeout = discoveryTimeout
			f.padi(s, now)
			return
		}
		s.attempts++
		s.timeout = min(2*s.timeout, discoveryMaxTimeout)
		f.write(s.padr)
		s.deadline = now.Add(s.timeout)
	case stPPP:
		f.act(s, s.link.Tick(now), now)
	}
}

// live returns the subscribers that are up.
func (f *fleet) live() []*sub {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l []*sub
	for _, s := range f.subs {
		if s != nil && s.state == stUp {
			l = append(l, s)
		}
	}
	return l
}

// hangUp ends s's session with a PADT (RFC 2516 §5.5).
func (f *fleet) hangUp(s *sub) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.state != stUp {
		return nil
	}
	sess := pppoe.Session{ACMAC: s.ac[:], LocalMAC: s.mac[:], SessionID: s.sid, HostUniq: s.hostUniq[:]}
	b, err := sess.PADT("bye")
	if err != nil {
		return err
	}
	s.state, s.link = stGone, nil
	return f.conn.WriteFrame(b)
}

// outcome is the number failed so far, the first failure and the frames
// dropped.
func (f *fleet) outcome() (int, error, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed, f.firstErr, f.dropped
}
