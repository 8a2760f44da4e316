// Package session runs one PPPoE session of the access concentrator from its
// PADS to its end (RFC 2516 §5.4-§5.5): the PPP link (RFC 1661 LCP,
// authentication, RFC 1332 IPCP) under a setup deadline, the install into
// the data plane as IPCP opens, the keepalive, and a teardown that removes
// the data-plane entry, returns the address and sends PADT, whichever way
// the session ends, with one line naming what ended it first.
//
// A Session's Run loop is the only goroutine that touches its link.Link;
// the server's demultiplexer feeds it PPP frames (Deliver) and asks it to end
// (Stop). The decisions live in small step methods (start, receive, wake,
// finish) that take the current time, so tests drive them without sleeping.
package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// DefaultEchoInterval is how often an idle session is probed with LCP
// Echo-Request once keepalive-timeout has passed without traffic (RouterOS:
// "starting to send keepalive packets every second").
const DefaultEchoInterval = time.Second

// DefaultQueue is the number of PPP frames a session buffers from the
// demultiplexer; more are dropped (the peer retransmits control packets).
const DefaultQueue = 32

// TCPIPHeaders is what the MSS clamp leaves out of the MTU: the 20-octet IPv4
// and 20-octet TCP headers without options.
const TCPIPHeaders = 40

// DefaultSetupTimeout bounds the time from the PADR to IPCP opened. A
// setup takes milliseconds against local secrets; 20 s leaves room for a
// few lost frames (each costs a 3 s restart period, RFC 1661 §4.6) and a
// slow AAA answer, and is shorter than the ~33 s LCP alone takes to give
// up on a silent client (10 Configure-Requests 3 s apart), which is how
// long each PADR of a flood used to hold a session.
const DefaultSetupTimeout = 20 * time.Second

// Hooks let the server count what sessions do. Each is optional and is called
// from the session's own goroutine.
type Hooks struct {
	// State reports a state change.
	State func(from, to State)
	// Up reports IPCP opened and the data plane installed, latency after
	// Config.Opened (the PADR).
	Up func(latency time.Duration)
	// AuthFailed reports refused credentials.
	AuthFailed func(m auth.Method)
	// Down reports the end of the session.
	Down func(r Reason)
}

// Config configures one Session.
type Config struct {
	// ID is the session's handle, which names it in logs and for
	// removal; required.
	ID ID
	// Circuit, SessionID and ACMAC identify the session (RFC 2516 §4).
	Circuit   pppoe.Circuit
	SessionID uint16
	ACMAC     net.HardwareAddr
	// Interface names the access interface (or VLAN) for logs and print.
	Interface string
	// Service is the PPPoE Service-Name the client asked for.
	Service string
	// Link configures the PPP link. Role is forced to Authenticator and
	// Verifier/Addresses to Lease.
	Link link.Config
	// Lease is the session's AAA lease; the session releases it when it
	// ends.
	Lease *aaa.Lease
	// DataPlane forwards the session's traffic once IPCP is opened.
	DataPlane DataPlane
	// Send sends one PPP frame to the client inside a PPPoE session frame.
	Send func(f ppp.Frame) error
	// SendPADT sends the PADT that ends the session (RFC 2516 §5.5), msg
	// its Generic-Error.
	SendPADT func(msg string) error
	// KeepaliveTimeout is RouterOS keepalive-timeout: after this long
	// without traffic the client is probed every EchoInterval, after
	// twice this long it is declared gone. 0 disables the keepalive.
	KeepaliveTimeout time.Duration
	// EchoInterval is the probe period; 0 means DefaultEchoInterval.
	EchoInterval time.Duration
	// Opened is when the PADR arrived; 0 means when New was called.
	Opened time.Time
	// SetupTimeout bounds the time from Opened to IPCP opened; a session
	// not up by then ends with ReasonSetupTimeout. 0 means
	// DefaultSetupTimeout.
	SetupTimeout time.Duration
	// Establish, if set, is asked as IPCP is about to open for the first
	// time, before the data-plane install: false (the server reached
	// max-sessions meanwhile) ends the session with ReasonMaxSessions
	// instead. Called from the session's goroutine.
	Establish func() bool
	// HalfOpenLog, if set, rate-limits the Info "session down" line of a
	// session that never came up; nil writes every one.
	HalfOpenLog *HalfOpenLog
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Queue is the inbound frame queue; 0 means DefaultQueue.
	Queue int
	// Hooks are called on state changes, up, auth failures and down.
	Hooks Hooks
	// Log gets "session up"/"session down" at Info and transitions at
	// Debug. nil logs nothing.
	Log *zap.Logger
}

// Session is one PPPoE session of the access concentrator.
type Session struct {
	cfg  Config
	link *link.Link
	log  *zap.Logger
	now  func() time.Time

	in    chan ppp.Frame
	stopc chan Reason
	done  chan struct{}

	// Owned by the Run goroutine.
	started        time.Time
	linkDeadline   time.Time
	setupDeadline  time.Time // zero once IPCP has opened
	nextCheck      time.Time // keepalive; zero when not running
	lastActivity   time.Time
	lastStats      Stats
	peerTerminated bool
	wasUp          bool
	ended          bool
	// cause is the first thing that went wrong, with its log fields: it
	// names the session's end whatever ends it (a client hanging up with
	// PADT after a CHAP Failure hangs up because of the failure).
	cause       Reason
	causeDetail string
	causeFields []zap.Field

	mu        sync.Mutex // guards the fields below, read by Snapshot
	state     State
	user      string
	addr      netip.Addr
	mtu, mru  uint16
	handle    Handle
	installed bool
	// The data plane counts per install; a session's counters are the sum
	// over its installs (IPCP may renegotiate): past holds the earlier
	// installs' final counts, cur the newest read of the current one.
	past, cur Stats
	reason    Reason
}

// New returns a session for cfg; Run starts it.
func New(cfg Config) (*Session, error) {
	switch {
	case cfg.Lease == nil:
		return nil, errors.New("session: no AAA lease")
	case cfg.DataPlane == nil:
		return nil, errors.New("session: no data plane")
	case cfg.Send == nil || cfg.SendPADT == nil:
		return nil, errors.New("session: no send function")
	case cfg.ID == 0:
		return nil, errors.New("session: no handle")
	case cfg.SessionID == 0 || cfg.SessionID == 0xffff:
		return nil, fmt.Errorf("session: id %#04x is reserved (RFC 2516 §4)", cfg.SessionID)
	case cfg.KeepaliveTimeout < 0 || cfg.EchoInterval < 0:
		return nil, errors.New("session: negative keepalive")
	case cfg.SetupTimeout < 0:
		return nil, errors.New("session: negative setup timeout")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.EchoInterval == 0 {
		cfg.EchoInterval = DefaultEchoInterval
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Opened.IsZero() {
		cfg.Opened = cfg.Now()
	}
	if cfg.SetupTimeout == 0 {
		cfg.SetupTimeout = DefaultSetupTimeout
	}
	lc := cfg.Link
	lc.Role = link.Authenticator
	lc.Verifier, lc.Addresses = cfg.Lease, cfg.Lease
	l, err := link.New(lc)
	if err != nil {
		return nil, fmt.Errorf("session %d: %w", cfg.SessionID, err)
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Session{
		cfg:  cfg,
		link: l,
		now:  cfg.Now,
		log: log.With(
			zap.Stringer("handle", cfg.ID),
			zap.Uint16("session_id", cfg.SessionID),
			zap.Stringer("mac", cfg.Circuit.HardwareAddr()),
			zap.String("iface", cfg.Interface),
		),
		in:    make(chan ppp.Frame, cfg.Queue),
		stopc: make(chan Reason, 1),
		done:  make(chan struct{}),
	}, nil
}

// ID returns the session's handle.
func (s *Session) ID() ID { return s.cfg.ID }

// SessionID returns the PPPoE session id.
func (s *Session) SessionID() uint16 { return s.cfg.SessionID }

// Circuit returns the client's circuit.
func (s *Session) Circuit() pppoe.Circuit { return s.cfg.Circuit }

// Deliver queues a PPP frame from the client; it copies f. It reports false
// when the queue is full or the session has ended; the frame is dropped.
func (s *Session) Deliver(f ppp.Frame) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	f.Information = append([]byte(nil), f.Information...)
	select {
	case s.in <- f:
		return true
	default:
		return false
	}
}

// Stop asks the session to end for r (ReasonPADT when the client sent PADT,
// ReasonAdmin, ReasonReplaced, ReasonShutdown, ReasonInterfaceGone). The
// first reason wins; Stop does not wait (see Done).
func (s *Session) Stop(r Reason) {
	select {
	case s.stopc <- r:
	default:
	}
}

// Done is closed when the session has ended and cleaned up.
func (s *Session) Done() <-chan struct{} { return s.done }

// Reason returns why the session ended, ReasonNone while it runs.
func (s *Session) Reason() Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// State returns the session's state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Run runs the session until it ends, cleaning up before it returns: the
// data-plane entry removed, the lease released, PADT sent unless the client
// sent one. Cancelling ctx ends it with ReasonShutdown.
func (s *Session) Run(ctx context.Context) Reason {
	s.start(s.now())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !s.ended {
		if next := s.next(); next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(next.Sub(s.now()))
		}
		select {
		case <-ctx.Done():
			s.finish(ReasonShutdown, "", s.now())
		case r := <-s.stopc:
			s.finish(r, "", s.now())
		case f := <-s.in:
			s.receive(f, s.now())
		case <-timer.C:
			s.wake(s.now())
		}
	}
	return s.Reason()
}

// start brings the link up: the PPPoE session exists (RFC 1661 §3.4).
func (s *Session) start(now time.Time) {
	s.started = now
	s.setupDeadline = s.cfg.Opened.Add(s.cfg.SetupTimeout)
	s.log.Debug("session start", zap.String("service", s.cfg.Service))
	s.carry(s.link.Up(now), now)
}

// next is when wake must run: the link's timer, the setup deadline or the
// keepalive check.
func (s *Session) next() time.Time {
	var n time.Time
	for _, t := range []time.Time{s.linkDeadline, s.setupDeadline, s.nextCheck} {
		if !t.IsZero() && (n.IsZero() || t.Before(n)) {
			n = t
		}
	}
	return n
}

// receive handles a frame from the client: any frame is traffic.
func (s *Session) receive(f ppp.Frame, now time.Time) {
	if s.ended {
		return
	}
	s.lastActivity = now
	if f.Protocol == ppp.ProtocolLCP && len(f.Information) > 0 && ppp.Code(f.Information[0]) == ppp.TerminateRequest {
		s.peerTerminated = true
	}
	s.carry(s.link.Receive(f, now), now)
}

// wake runs whatever timer is due.
func (s *Session) wake(now time.Time) {
	if !s.setupDeadline.IsZero() && !now.Before(s.setupDeadline) {
		s.finish(ReasonSetupTimeout, fmt.Sprintf("not up %v after the PADR", s.cfg.SetupTimeout), now)
		return
	}
	if !s.linkDeadline.IsZero() && !now.Before(s.linkDeadline) {
		s.linkDeadline = time.Time{}
		s.carry(s.link.Tick(now), now)
	}
	if !s.ended && !s.nextCheck.IsZero() && !now.Before(s.nextCheck) {
		s.keepalive(now)
	}
}

// keepalive is RouterOS's server keepalive: traffic is any frame from the
// client or a change in the data plane's last-seen; after T idle an LCP
// Echo-Request goes out every EchoInterval, after 2T idle the client is
// gone. A busy session is checked once per T and never probed.
func (s *Session) keepalive(now time.Time) {
	t := s.cfg.KeepaliveTimeout
	if h, ok := s.dataPlaneHandle(); ok {
		if st, err := s.cfg.DataPlane.Stats(h); err == nil {
			if st.LastSeen != s.lastStats.LastSeen || st.PacketsUp != s.lastStats.PacketsUp {
				s.lastActivity = now
			}
			s.lastStats = st
		}
	}
	idle := now.Sub(s.lastActivity)
	switch {
	case idle >= 2*t:
		s.finish(ReasonKeepalive, "", now)
		return
	case idle >= t:
		s.carry(s.link.EchoRequest(now), now)
		s.nextCheck = now.Add(s.cfg.EchoInterval)
		if gone := s.lastActivity.Add(2 * t); gone.Before(s.nextCheck) {
			s.nextCheck = gone
		}
	default:
		s.nextCheck = s.lastActivity.Add(t)
	}
}

func (s *Session) dataPlaneHandle() (Handle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handle, s.installed
}

// carry carries out one step of the link: its frames sent, its deadline
// kept, its events acted on. Events up to the last data-plane one
// (NetworkUp, NetworkDown) are acted on before any frame of the step
// leaves: the step that opens IPCP sends the Configure-Ack that lets the
// client send data, and the data plane must forward before it does.
func (s *Session) carry(out link.Output, now time.Time) {
	split := 0
	for i, ev := range out.Events {
		switch ev.(type) {
		case link.NetworkUp, link.NetworkDown:
			split = i + 1
		}
	}
	s.events(out.Events[:split], now)
	if s.ended {
		// The install failed or max-sessions was reached: the frames that
		// would open IPCP are not sent.
		return
	}
	s.send(out.Send)
	if s.ended {
		return
	}
	s.linkDeadline = out.Deadline
	s.events(out.Events[split:], now)
}

// events acts on the link's events in order.
func (s *Session) events(evs []link.Event, now time.Time) {
	for _, ev := range evs {
		if s.ended {
			return
		}
		switch ev := ev.(type) {
		case link.PhaseChanged:
			s.log.Debug("phase", zap.Stringer("from", ev.From), zap.Stringer("to", ev.To))
			switch ev.To {
			case link.PhaseEstablish:
				s.setState(StateEstablish)
			case link.PhaseAuthenticate:
				s.setState(StateAuthenticate)
			case link.PhaseNetwork:
				s.setState(StateNetwork)
			}
		case link.AuthSucceeded:
			s.mu.Lock()
			s.user = ev.User
			s.mu.Unlock()
			s.log.Debug("authenticated", zap.String("user", ev.User), zap.Stringer("method", ev.Method))
		case link.AuthFailed:
			s.mu.Lock()
			s.user = ev.User
			s.mu.Unlock()
			s.log.Debug("authentication failed", zap.String("user", ev.User), zap.Stringer("method", ev.Method), zap.String("detail", ev.Reason))
			s.setCause(ReasonAuthFailed, ev.Reason, zap.Stringer("method", ev.Method))
			if s.cfg.Hooks.AuthFailed != nil {
				s.cfg.Hooks.AuthFailed(ev.Method)
			}
		case link.AuthRefused:
			fields := []zap.Field{zap.String("offered", methodList(ev.Offered))}
			if ev.Suggested != 0 {
				fields = append(fields, zap.Stringer("peer_wants", ev.Suggested))
			}
			s.log.Debug("no common authentication method", fields...)
			s.setCause(ReasonNoAuthMethod, "", fields...)
		case link.NetworkUp:
			s.networkUp(ev.Info, now)
		case link.NetworkDown:
			s.log.Debug("network down")
			s.uninstall()
			s.setState(StateNetwork)
			s.nextCheck = time.Time{}
		case link.ProtocolRejected:
			s.log.Debug("protocol rejected by peer", zap.Stringer("protocol", ev.Protocol))
		case link.Down:
			s.finish(s.downReason(), ev.Reason, now)
		}
	}
}

// setCause records the first thing that went wrong.
func (s *Session) setCause(r Reason, detail string, fields ...zap.Field) {
	if s.cause == ReasonNone {
		s.cause, s.causeDetail, s.causeFields = r, detail, fields
	}
}

func methodList(ms []auth.Method) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.String()
	}
	return strings.Join(names, ",")
}

// downReason names why the link went down on its own, when nothing went
// wrong before (see ending).
func (s *Session) downReason() Reason {
	if s.peerTerminated {
		return ReasonPeerTerminate
	}
	return ReasonNegotiation
}

// ending names the end of a session that trigger ends: the first thing that
// went wrong if anything did (a refusal the link reported, or AAA's answer:
// refused credentials, only-one, no address), else trigger itself.
func (s *Session) ending(trigger Reason, detail string) (Reason, string, []zap.Field) {
	err := s.cfg.Lease.Err()
	switch {
	case s.cause == ReasonAuthFailed && err != nil:
		return s.cause, err.Error(), s.causeFields
	case s.cause != ReasonNone:
		if s.causeDetail != "" {
			detail = s.causeDetail
		}
		return s.cause, detail, s.causeFields
	case errors.Is(err, aaa.ErrAuthFailed) || errors.Is(err, aaa.ErrOnlyOne):
		return ReasonAuthFailed, err.Error(), nil
	case err != nil:
		return ReasonNoAddress, err.Error(), nil
	}
	return trigger, detail, nil
}

// networkUp installs the session into the data plane (IPCP opening: the
// frame that opens it has not left yet).
func (s *Session) networkUp(info link.Info, now time.Time) {
	if !s.wasUp && s.cfg.Establish != nil && !s.cfg.Establish() {
		s.finish(ReasonMaxSessions, "", now)
		return
	}
	e := Entry{
		Circuit:   s.cfg.Circuit,
		SessionID: s.cfg.SessionID,
		ACMAC:     s.cfg.ACMAC,
		IPv4:      info.IP.Remote,
		MTU:       info.MTU,
	}
	if s.cfg.Lease.Profile().ChangeTCPMSS && info.MTU > TCPIPHeaders {
		e.MSS = info.MTU - TCPIPHeaders
	}
	e.RateLimit, e.ShapeTx = s.cfg.Lease.Profile().RateLimit, s.cfg.Lease.Profile().ShapeTx
	s.uninstall() // IPCP renegotiated: the entry may have changed
	h, err := s.cfg.DataPlane.Install(e)
	if err != nil {
		s.finish(ReasonDataPlane, err.Error(), now)
		return
	}
	s.mu.Lock()
	s.handle, s.installed = h, true
	s.addr, s.mtu, s.mru = info.IP.Remote, info.MTU, info.MRU
	s.mu.Unlock()
	s.setState(StateUp)
	s.wasUp, s.setupDeadline = true, time.Time{}
	s.lastActivity = now
	s.lastStats = Stats{}
	if st, err := s.cfg.DataPlane.Stats(h); err == nil {
		s.lastStats = st
	}
	if t := s.cfg.KeepaliveTimeout; t > 0 {
		s.nextCheck = now.Add(t)
	}
	latency := now.Sub(s.cfg.Opened)
	s.log.Info("session up",
		zap.String("user", info.User),
		zap.Stringer("address", info.IP.Remote),
		zap.Uint16("mtu", info.MTU),
		zap.Uint16("mss", e.MSS),
		zap.Stringer("method", info.Method),
		zap.Duration("setup", latency),
	)
	if s.cfg.Hooks.Up != nil {
		s.cfg.Hooks.Up(latency)
	}
}

// uninstall removes the data-plane entry if there is one, reading its
// counters one last time first. Under s.mu, so that no Snapshot sees the
// counters both in cur and in past: a session's counters never go down.
func (s *Session) uninstall() {
	s.mu.Lock()
	h, ok := s.handle, s.installed
	if ok {
		s.readStatsLocked(h)
		s.past, s.cur = s.past.Add(s.cur), Stats{}
	}
	s.handle, s.installed = nil, false
	s.mu.Unlock()
	if !ok {
		return
	}
	if err := s.cfg.DataPlane.Remove(h); err != nil {
		s.log.Warn("data plane remove", zap.Error(err))
	}
}

// finish ends the session exactly once: LCP Terminate-Request when we end a
// link that is still up, data plane removed, lease released, PADT unless the
// client sent one, and one "session down" line. trigger is what ends it now;
// the line and the PADT name what went wrong first, if anything did.
func (s *Session) finish(trigger Reason, detail string, now time.Time) {
	if s.ended {
		return
	}
	s.ended = true
	s.nextCheck, s.linkDeadline, s.setupDeadline = time.Time{}, time.Time{}, time.Time{}
	r, detail, causeFields := s.ending(trigger, detail)
	switch trigger {
	case ReasonAdmin, ReasonReplaced, ReasonShutdown, ReasonSetupTimeout:
		// Tell the peer's PPP why before PPPoE goes (RFC 1661 §3.7); the
		// PADT follows at once, so the Terminate-Ack is not awaited.
		if p := s.link.Phase(); p != link.PhaseDead && p != link.PhaseTerminate {
			s.send(s.link.Close(r.String(), now).Send)
		}
	}
	s.uninstall()
	s.cfg.Lease.Release()
	if trigger != ReasonPADT && trigger != ReasonInterfaceGone {
		if err := s.cfg.SendPADT(r.String()); err != nil {
			s.log.Debug("send PADT", zap.Error(err))
		}
	}
	s.setState(StateDown)
	s.mu.Lock()
	s.reason = r
	addr, user := s.addr, s.user
	s.mu.Unlock()
	fields := []zap.Field{
		zap.String("user", user),
		zap.Stringer("reason", r),
	}
	if trigger != r {
		fields = append(fields, zap.Stringer("ended_by", trigger))
	}
	fields = append(fields, causeFields...)
	fields = append(fields, zap.Duration("duration", now.Sub(s.started)))
	if addr.IsValid() {
		fields = append(fields, zap.Stringer("address", addr))
	}
	if detail != "" {
		fields = append(fields, zap.String("detail", detail))
	}
	if !s.wasUp && s.cfg.HalfOpenLog != nil && !s.cfg.HalfOpenLog.allow(r, now) {
		s.log.Debug("session down", fields...)
	} else {
		s.log.Info("session down", fields...)
	}
	if s.cfg.Hooks.Down != nil {
		s.cfg.Hooks.Down(r)
	}
	close(s.done)
}

func (s *Session) send(frames []ppp.Frame) {
	for _, f := range frames {
		if err := s.cfg.Send(f); err != nil {
			s.log.Debug("send", zap.Stringer("protocol", f.Protocol), zap.Error(err))
		}
	}
}

func (s *Session) setState(to State) {
	s.mu.Lock()
	from := s.state
	s.state = to
	s.mu.Unlock()
	if from == to {
		return
	}
	if s.cfg.Hooks.State != nil {
		s.cfg.Hooks.State(from, to)
	}
}
