package server

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// port is one physical access interface: its socket, read by one goroutine,
// and the discovery servers of its VLAN stacks.
type port struct {
	Port
	name  string
	s     *Server
	discs map[stack]*disc // s.mu
	limit *limiter
	// later sends the PADOs pado-delay holds back, so the read loop never
	// waits for them.
	later *pppoe.Later
	once  sync.Once

	// pending are sessions admitted while handling the current frame,
	// started once the PADS is out (so the client's first LCP packet
	// does not overtake it). Only the port goroutine touches it.
	pending []*live
}

// disc is the discovery server of one interface and VLAN stack.
type disc struct {
	port  *port
	stack stack
	srv   *pppoe.Server
}

// serve reads the port's frames until its socket is closed.
func (p *port) serve() {
	buf := make([]byte, 1<<16)
	for {
		n, err := p.Conn.ReadFrame(buf)
		if err != nil {
			p.s.log.Debug("port read ends", zap.String("iface", p.name), zap.Error(err))
			return
		}
		p.handle(buf[:n], time.Now())
	}
}

func (p *port) close() {
	p.once.Do(func() {
		p.later.Close()
		p.Conn.Close()
	})
}

// handle dispatches one frame: discovery to the server of its VLAN stack,
// session frames to their session.
func (p *port) handle(frame []byte, now time.Time) {
	f, pkt, err := pppoe.ParseFrame(frame)
	if err != nil {
		return
	}
	c, err := pppoe.CircuitOf(p.Ifindex, &f)
	if err != nil {
		return
	}
	p.s.mu.RLock()
	d := p.discs[stackOf(c)]
	p.s.mu.RUnlock()
	if d == nil {
		// RFC 2516 §5: frames on a VLAN no server listens on are not ours.
		p.s.c.noServer.Add(1)
		return
	}
	switch f.EtherType {
	case ethernet.EtherTypePPPoEDiscovery:
		for _, r := range d.srv.Respond(frame, now) {
			if r.After > 0 {
				if !p.later.Send(r.Frame, r.After) {
					d.srv.DropPADO()
				}
				continue
			}
			if err := p.Conn.WriteFrame(r.Frame); err != nil {
				p.s.log.Debug("write", zap.String("iface", p.name), zap.Error(err))
			}
		}
		pending := p.pending
		p.pending = nil
		for _, l := range pending {
			p.s.start(l)
		}
	case ethernet.EtherTypePPPoESession:
		if !bytes.Equal(f.Destination, p.MAC) {
			return
		}
		l := p.s.lookup(sessionKey{c, pkt.SessionID})
		if l == nil {
			p.unknown(d, c, pkt.SessionID, now)
			return
		}
		var pf ppp.Frame
		if err := pf.UnmarshalBinary(pkt.Payload); err != nil {
			return
		}
		if !l.sess.Deliver(pf) {
			p.s.c.queueDrops.Add(1)
		}
	}
}

// unknown answers a session frame for no known session with a PADT, which
// RFC 2516 §5.5 allows at any time, so a client that missed our PADT (or
// outlived a restart) stops sending; rate-limited so a flood costs little.
func (p *port) unknown(d *disc, c pppoe.Circuit, sid uint16, now time.Time) {
	p.s.c.unknown.Add(1)
	if sid == 0 || sid == 0xffff || !p.limit.allow(now) {
		return
	}
	b := d.srv.PADT(c, sid, "session unknown")
	if b == nil {
		return
	}
	if err := p.Conn.WriteFrame(b); err == nil {
		p.s.c.unknownPADT.Add(1)
	}
}

// admission implements pppoe.Admission for one interface and VLAN stack.
type admission struct {
	s *Server
	d *disc
}

// Open admits a session (RFC 2516 §5.3-§5.4): the server entry for the
// service; a PADR repeating one whose attempt is still negotiating (same
// client, same Host-Uniq, however late) gets that attempt's id back;
// one-session-per-host (the host's old sessions on that server end first);
// max-sessions established sessions; the bounds on half-open sessions; a
// session id unique for the client MAC. The PPP link may negotiate an MRU
// up to maxPayload (RFC 4638 §4) when it is set.
func (a *admission) Open(c pppoe.Circuit, r pppoe.PADR) (uint16, error) {
	service, hostUniq, maxPayload := r.Service, r.HostUniq, r.MaxPayload
	s, p := a.s, a.d.port
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("server: shutting down")
	}
	b, ok := s.bindingFor(p.name, a.d.stack, service)
	if !ok {
		s.mu.Unlock()
		return 0, fmt.Errorf("server: service %q: %w", service, pppoe.ErrUnknownService)
	}
	ak := attemptKey{c: c, hostUniq: string(hostUniq)}
	if l := s.attempts[ak]; l != nil && l.server == b.key {
		s.mu.Unlock()
		s.c.lateDuplicates.Add(1)
		s.log.Debug("padr joins its attempt", zap.Stringer("handle", l.sess.ID()), zap.Uint16("session_id", l.key.sid))
		return l.key.sid, nil
	}
	var replaced []*live
	if b.cfg.OneSessionPerHost {
		for l := s.byMAC.Get(c.MAC); l != nil; l = l.sameMAC {
			if l.server == b.key {
				replaced = append(replaced, l)
			}
		}
		for _, l := range replaced {
			s.removeSession(l)
			s.release(l)
		}
	}
	refuse := func(lim limit, err error) (uint16, error) {
		s.mu.Unlock()
		s.c.refused.Add(1)
		s.c.refusedBy[lim].Add(1)
		a.stopAll(replaced)
		return 0, err
	}
	o := &s.opts
	switch {
	case b.cfg.MaxSessions > 0 && s.established[b.key] >= b.cfg.MaxSessions:
		return refuse(limitMaxSessions, fmt.Errorf("%w (%d)", ErrMaxSessions, b.cfg.MaxSessions))
	case o.MaxStarting > 0 && s.halfOpen >= o.MaxStarting:
		return refuse(limitMaxStarting, fmt.Errorf("%w (%d)", ErrMaxStarting, o.MaxStarting))
	case o.MaxStartingPerHost > 0 && s.hostHalfOpen[c] >= o.MaxStartingPerHost:
		return refuse(limitMaxStartingPerHost, fmt.Errorf("%w (%d)", ErrMaxStartingPerHost, o.MaxStartingPerHost))
	}
	sid, err := s.ids.Allocate(c.MAC)
	if err != nil {
		return refuse(limitOther, fmt.Errorf("server: %w", err))
	}
	l := &live{key: sessionKey{c, sid}, server: b.key, attempt: ak, acMAC: p.MAC}
	srv := a.d.srv
	sess, err := session.New(session.Config{
		Settings:   b.sessions,
		ID:         s.opts.IDs.Next(),
		Circuit:    c,
		SessionID:  sid,
		ACMAC:      p.MAC,
		Interface:  b.key.iface,
		Service:    service,
		PADR:       &r,
		MaxPayload: maxPayload,
		Send:       sendFunc(p, c, sid),
		SendPADT:   func(msg string) error { return writePADT(p, srv, c, sid, msg) },
		Opened:     time.Now(),
		Establish:  func() bool { return s.establish(l) },
		Observers:  s.observers(l),
	})
	if err != nil {
		s.ids.Release(c.MAC, sid)
		return refuse(limitOther, err)
	}
	l.sess = sess
	l.slot = slotHalfOpen
	s.addSession(l)
	s.traffic.add(l)
	s.byID.Set(sess.ID(), l)
	s.attempts[ak] = l
	s.halfOpen++
	s.hostHalfOpen[c]++
	s.c.states[session.StateEstablish].Add(1)
	s.wg.Add(1)
	p.pending = append(p.pending, l)
	s.mu.Unlock()
	a.stopAll(replaced)
	return sid, nil
}

// stopAll ends replaced sessions and waits for their PADT and cleanup, so
// the host's old session is gone before the new one's PADS.
func (a *admission) stopAll(ls []*live) {
	for _, l := range ls {
		l.sess.Stop(session.ReasonReplaced)
	}
	for _, l := range ls {
		select {
		case <-l.sess.Done():
		case <-time.After(5 * time.Second):
			a.s.log.Warn("replaced session did not end", zap.Stringer("handle", l.sess.ID()), zap.Uint16("session_id", l.key.sid))
		}
	}
}

// Close ends a session after the client's PADT (RFC 2516 §5.5).
func (a *admission) Close(c pppoe.Circuit, sid uint16) {
	if l := a.s.lookup(sessionKey{c, sid}); l != nil {
		l.sess.Stop(session.ReasonPADT)
	}
}

func writePADT(p *port, srv *pppoe.Server, c pppoe.Circuit, sid uint16, msg string) error {
	b := srv.PADT(c, sid, msg)
	if b == nil {
		return fmt.Errorf("server: no PADT for session %d", sid)
	}
	return p.Conn.WriteFrame(b)
}

// bindingFor finds the enabled server entry of an interface and VLAN stack
// for a service: the one named so, else one with an empty service-name,
// which serves any. s.mu held.
func (s *Server) bindingFor(portName string, st stack, service string) (binding, bool) {
	var anyB binding
	found := false
	for _, b := range s.bindings {
		if b.cfg.Disabled || b.port != portName || b.stack != st {
			continue
		}
		if b.cfg.ServiceName == service {
			return b, true
		}
		if b.cfg.ServiceName == "" {
			anyB, found = b, true
		}
	}
	return anyB, found
}

// start runs an admitted session on the server's scheduler: a few loops
// drive every session, none has a goroutine of its own.
func (s *Server) start(l *live) {
	l.sess.Go(s.sched, func() {
		s.ended(l)
		s.unrecord(l)
		s.wg.Done()
	})
}

func (s *Server) hooks() session.Hooks {
	return session.Hooks{
		State: func(from, to session.State) {
			s.c.states[from].Add(-1)
			if to != session.StateDown {
				s.c.states[to].Add(1)
			}
		},
		Up: func(d time.Duration) {
			s.c.setups.Add(1)
			s.c.setupTime.Add(int64(d))
			if s.opts.SetupLatency != nil {
				s.opts.SetupLatency(d)
			}
		},
		AuthFailed: func(m auth.Method) {
			if int(m) < len(s.c.authFailures) {
				s.c.authFailures[m].Add(1)
			}
		},
		Down: func(r session.Reason) {
			if int(r) < len(s.c.ended) {
				s.c.ended[r].Add(1)
			}
		},
	}
}

// limiter is a token bucket: rate tokens a second, a burst of rate.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newLimiter(rate int) *limiter { return &limiter{rate: float64(rate), tokens: float64(rate)} }

func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
