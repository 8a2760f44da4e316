// Package session runs one PPPoE session of the access concentrator from its
// PADS to its end (RFC 2516 §5.4-§5.5): the PPP link (RFC 1661 LCP,
// authentication, RFC 1332 IPCP, RFC 5072 IPv6CP) under a setup deadline,
// the install into the data plane as the first of IPCP and IPv6CP opens
// (either may be the only one, and either may close while the other goes
// on: ipv4Down, ipv6Down), the keepalive, and a teardown that removes
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

	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
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

// Settings are what the sessions of one server entry share: the server
// builds one per entry (again when its configuration changes) and every
// session holds a pointer to it, so a session costs none of it. Nothing
// may change a Settings once a session holds it. Zero values take the
// defaults noted.
type Settings struct {
	// Link configures the PPP link. Role is forced to Authenticator,
	// Verifier to link.Deferred (AAA answers), Addresses to the answer's
	// Grant and MaxPayload to Config.MaxPayload.
	Link link.Config
	// AAA authenticates the peer and gives the session its attributes;
	// its answer may come seconds later, the session goes on meanwhile.
	// The session releases the answer's Grant when it ends.
	AAA aaa.Backend
	// DataPlane forwards the session's traffic once IPCP or IPv6CP is
	// opened.
	DataPlane DataPlane
	// KeepaliveTimeout is RouterOS keepalive-timeout: after this long
	// without traffic the client is probed every EchoInterval, after
	// twice this long it is declared gone. 0 disables the keepalive.
	KeepaliveTimeout time.Duration
	// EchoInterval is the probe period; 0 means DefaultEchoInterval.
	EchoInterval time.Duration
	// SetupTimeout bounds the time from Config.Opened to the first network
	// protocol (IPCP or IPv6CP) opened; a session not up by then ends with ReasonSetupTimeout. 0 means
	// DefaultSetupTimeout.
	SetupTimeout time.Duration
	// ServerDUID is the DHCPv6 server's DUID (RFC 8415 §11), one for
	// every session and kept across restarts (state.Store.ServerUUID);
	// nil: DUID-LL from the access interface's MAC.
	ServerDUID dhcpv6.DUID
	// ND holds the Router Advertisement parameters (/ipv6 nd) by
	// interface, one Table for every session of the server whatever its
	// Settings: a session reads it before each RA, so a change applies
	// from its next one. nil is RouterOS's defaults.
	ND *ra.Table
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

func (st *Settings) echoInterval() time.Duration {
	if st.EchoInterval == 0 {
		return DefaultEchoInterval
	}
	return st.EchoInterval
}

func (st *Settings) setupTimeout() time.Duration {
	if st.SetupTimeout == 0 {
		return DefaultSetupTimeout
	}
	return st.SetupTimeout
}

// Config configures one Session: its Settings, shared with the other
// sessions of its server entry, and what is its own.
type Config struct {
	*Settings
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
	// PADR is what the client's PADR asked for and the tags a relay or
	// an intermediate agent added: AAA sees them. The session lets go of
	// it once AAA has been asked; nil is a PADR without tags.
	PADR *pppoe.PADR
	// MaxPayload is the PPP-Max-Payload agreed in discovery (RFC 4638
	// §4), 0 if none (link.Config.MaxPayload).
	MaxPayload uint16
	// Send sends one PPP frame to the client inside a PPPoE session frame.
	Send func(f ppp.Frame) error
	// SendPADT sends the PADT that ends the session (RFC 2516 §5.5), msg
	// its Generic-Error.
	SendPADT func(msg string) error
	// Opened is when the PADR arrived; 0 means when New was called.
	Opened time.Time
	// Establish, if set, is asked as the first network protocol is about
	// to open for the first time, before the data-plane install: false
	// (the server reached max-sessions meanwhile) ends the session with ReasonMaxSessions
	// instead. Called from the session's goroutine.
	Establish func() bool
	// Observers are told of the session's life, after the log lines and
	// the Hooks.
	Observers []Observer
}

// Session is one PPPoE session of the access concentrator.
type Session struct {
	cfg  Config
	eng  Engine
	link *link.Link
	log  sessionLog
	now  func() time.Time

	verdict verdict
	pending pendingUpdates
	lim     limits // Session-Timeout and Idle-Timeout (limits.go)

	observers []Observer
	// entry is what the data plane holds while installed.
	entry     Entry
	interimAt time.Time // zero when no interim runs

	// Owned by the Run goroutine: AAA's answer and what came of it.
	// grant is released when the session ends; authErr and addrErr name
	// a refusal or a missing address in the session's end.
	answer    aaa.Answer
	grant     aaa.Grant
	authErr   error
	addrErr   error
	cancelAAA context.CancelFunc // while AAA's answer is awaited

	// Owned by the Run goroutine.
	started       time.Time
	setupDeadline time.Time // zero once a network protocol has opened
	nextCheck     time.Time // keepalive; zero when not running
	lastActivity  time.Time
	// lastSeen and lastUp are the data plane's last-seen and packets
	// from the client as the keepalive last read them: a change is
	// traffic.
	lastSeen       time.Duration
	lastUp         uint64
	askedAAA       bool
	peerTerminated bool
	wasUp          bool
	ipv4Up         bool // IPCP is open: the entry holds the peer's address
	adopted        bool // taken over from a previous process (Adopt)
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
	past, cur counts
	reason    Reason
	prefixes  Prefixes // the IPv6 prefixes, for IPv6()
	// v6 is the session's IPv6 while IPv6CP is open; owned by the Run
	// goroutine.
	v6 *v6
	// mpTotals count what multilink did in user space over the session's
	// life, from the first time MP came up (nil before).
	mpTotals *mpTotals

	// mp is multilink's user-space half while LCP has MP up, owned by
	// the Run goroutine; the data plane's divert reader holds it too.
	mp *MPLink
}

// New returns a session for cfg; Run starts it.
func New(cfg Config) (*Session, error) { return newSession(cfg, link.New) }

// newSession checks cfg and builds the session around the link mk makes.
func newSession(cfg Config, mk func(link.Config) (*link.Link, error)) (*Session, error) {
	switch {
	case cfg.Settings == nil:
		return nil, errors.New("session: no settings")
	case cfg.AAA == nil:
		return nil, errors.New("session: no AAA backend")
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
	now, queue := cfg.Now, cfg.Queue
	if now == nil {
		now = time.Now
	}
	if queue <= 0 {
		queue = DefaultQueue
	}
	if cfg.Opened.IsZero() {
		cfg.Opened = now()
	}
	lc := cfg.Link
	lc.Role, lc.MaxPayload = link.Authenticator, cfg.MaxPayload
	if _, ok := cfg.DataPlane.(MPPlane); !ok {
		// Nothing would reassemble or fragment: MP stays off.
		lc.Multilink = lcp.MultilinkPolicy{}
	} else if lc.Multilink.MRRU != 0 && lc.Multilink.Endpoint == nil {
		lc.Multilink.Endpoint = MACEndpoint(cfg.ACMAC)
	}
	s := &Session{cfg: cfg, now: now}
	lc.Verifier, lc.Addresses = link.Deferred, link.AddressFunc(s.addresses)
	lc.IPv6 = func() bool { return s.answer.IPv6 }
	l, err := mk(lc)
	if err != nil {
		return nil, fmt.Errorf("session %d: %w", cfg.SessionID, err)
	}
	s.link = l
	s.log = sessionLog{s}
	s.eng = NewEngine(l, now, queue)
	s.verdict.poke = s.eng.Poke
	s.observers = append([]Observer{logLines{halfOpen: cfg.HalfOpenLog}, cfg.Hooks}, cfg.Observers...)
	return s, nil
}

// ID returns the session's handle.
func (s *Session) ID() ID { return s.cfg.ID }

// SessionID returns the PPPoE session id.
func (s *Session) SessionID() uint16 { return s.cfg.SessionID }

// Circuit returns the client's circuit.
func (s *Session) Circuit() pppoe.Circuit { return s.cfg.Circuit }

// Deliver queues a PPP frame from the client; it copies f. It reports false
// when the queue is full or the session has ended; the frame is dropped.
func (s *Session) Deliver(f ppp.Frame) bool { return s.eng.Deliver(f) }

// Stop asks the session to end for r (ReasonPADT when the client sent PADT,
// ReasonAdmin, ReasonReplaced, ReasonShutdown, ReasonInterfaceGone). The
// first reason wins; Stop does not wait (see Done).
func (s *Session) Stop(r Reason) { s.eng.Stop(StopRequest{Reason: r}) }

// Done is closed when the session has ended and cleaned up.
func (s *Session) Done() <-chan struct{} { return s.eng.Done() }

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
	s.eng.Run(ctx, (*acRole)(s))
	return s.Reason()
}

// Go runs the session on sc, in a loop it shares with other sessions,
// and returns at once; ended, if not nil, is called on the loop's
// goroutine once the session has ended and cleaned up (as Run returns).
// sc's context ending ends it with ReasonShutdown.
func (s *Session) Go(sc *Scheduler, ended func()) {
	sc.Go(uint64(s.cfg.ID), &s.eng, (*acRole)(s), ended)
}

// acRole is the Session as the Engine's Role: the access concentrator's
// side of the link.
type acRole Session

func (r *acRole) Start(now time.Time)                { (*Session)(r).start(now) }
func (r *acRole) Receive(f ppp.Frame, now time.Time) { (*Session)(r).receive(f, now) }
func (r *acRole) Stop(q StopRequest, now time.Time)  { (*Session)(r).finish(q.Reason, q.Detail, now) }
func (r *acRole) Wake(now time.Time)                 { (*Session)(r).wake(now) }
func (r *acRole) Next() time.Time                    { return (*Session)(r).next() }
func (r *acRole) Ended() bool                        { return r.ended }
func (r *acRole) Act(ev link.Event, now time.Time)   { (*Session)(r).act(ev, now) }
func (r *acRole) Send(f ppp.Frame)                   { (*Session)(r).send(f) }

// Poked: AAA's answer, an Update or multilink's record (MPLink.OnRecordDue)
// is waiting.
func (r *acRole) Poked(now time.Time) {
	s := (*Session)(r)
	s.answered(now)
	s.updateNow(now)
	s.limitsNow(now)
	if s.mp != nil && s.mp.RecordNoticed() {
		s.observe(now, MPSequence{})
	}
}

// start brings the link up: the PPPoE session exists (RFC 1661 §3.4).
func (s *Session) start(now time.Time) {
	if s.adopted {
		s.resume(now)
		return
	}
	s.started = now
	s.setupDeadline = s.cfg.Opened.Add(s.cfg.setupTimeout())
	s.log.Debug("session start", zap.String("service", s.cfg.Service))
	s.observe(now, Started{})
	s.carry(s.link.Up(now), now)
}

// next is when wake must run: the link's timer, the setup deadline or the
// keepalive check.
func (s *Session) next() time.Time {
	var n time.Time
	var mpAt time.Time
	if s.mp != nil {
		mpAt = s.mp.Deadline()
	}
	for _, t := range []time.Time{s.eng.linkDeadline, s.setupDeadline, s.nextCheck, s.interimAt, s.limitsDue(), mpAt, s.ipv6Next()} {
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
	if f.Protocol == ppp.ProtocolIPv6 && s.v6 != nil {
		s.receiveIPv6(f.Information, now)
		return
	}
	if f.Protocol == ppp.ProtocolMP && s.mp != nil {
		s.multilink(s.mp.Receive(f.Information, now), now)
		return
	}
	s.carry(s.link.Receive(f, now), now)
}

// multilink acts on the packets MP reassembly completed: data from the
// client's address (IPv4) or prefixes (IPv6) goes to the kernel, counted
// as received; what is the link's (NCPs sent inside MP, RS, DHCPv6) goes
// to the control plane.
func (s *Session) multilink(frames []ppp.Frame, now time.Time) {
	m := s.mp
	for _, f := range frames {
		if s.ended || s.mp != m {
			return
		}
		if !IsData(f.Protocol) {
			s.carry(s.link.Receive(f, now), now)
			continue
		}
		s.mu.Lock()
		addr, installed := s.addr, s.installed
		s.mu.Unlock()
		var pkt []byte
		ok := false
		if f.Protocol == ppp.ProtocolIPv6 {
			pkt, ok = s.multilinkIPv6(f.Information, now)
		} else {
			pkt, ok = FromPeer(f.Protocol, f.Information, addr)
		}
		if ok && pkt == nil {
			continue // the link's, answered by the control plane
		}
		if ok && installed {
			err := s.cfg.DataPlane.(MPPlane).Inject(f.Protocol, pkt)
			ok = err == nil
			if err != nil {
				s.log.Debug("multilink inject", zap.Error(err))
			}
		}
		s.mu.Lock()
		if ok {
			s.mpTotals.stats.PacketsUp++
			s.mpTotals.stats.BytesUp += uint64(len(pkt))
		} else {
			m.Refused()
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.mpTotals.setDrops(s.mpTotals.ended.Add(m.DropsByReason()))
	s.mu.Unlock()
}

// multilinkIPv6 judges one IPv6 packet reassembled from MP fragments as
// the data plane judges a whole one: what is the link's (RS, DHCPv6) goes
// to the control plane (ok with a nil packet), what comes from the
// session's prefixes is returned for the kernel, the rest is refused.
// Without IPv6CP open the session has no prefixes: all is refused.
func (s *Session) multilinkIPv6(b []byte, now time.Time) ([]byte, bool) {
	if s.v6 == nil {
		return nil, false
	}
	pkt, v := FromPeer6(b, s.v6.prefixes)
	switch v {
	case IPv6Link:
		s.receiveIPv6(pkt, now)
		return nil, true
	case IPv6Forward:
		return pkt, true
	}
	return nil, false
}

// startMP starts or stops multilink's user-space half as LCP opens or
// leaves Opened (RFC 1990 §5.1: MP is negotiated by LCP).
func (s *Session) startMP(ev link.PhaseChanged) {
	switch {
	case ev.From == link.PhaseEstablish && (ev.To == link.PhaseAuthenticate || ev.To == link.PhaseNetwork):
		info := s.link.Info()
		if !info.Multilink.Active() {
			return
		}
		s.mp = NewMPLink(info.Multilink, info.MRU, info.MTU, s.cfg.Send)
		s.mp.OnRecordDue(s.eng.Poke)
		if s.mpTotals == nil {
			s.mu.Lock()
			s.mpTotals = &mpTotals{}
			s.mu.Unlock()
		}
		s.log.Debug("multilink up", zap.Uint16("mrru", info.Multilink.RecvMRRU), zap.Uint16("peer_mrru", info.Multilink.SendMRRU))
	case ev.To == link.PhaseEstablish || ev.To == link.PhaseTerminate || ev.To == link.PhaseDead:
		if s.mp == nil {
			return
		}
		s.mu.Lock()
		s.mpTotals.ended = s.mpTotals.ended.Add(s.mp.DropsByReason())
		s.mpTotals.setDrops(s.mpTotals.ended)
		s.mu.Unlock()
		s.mp = nil
	}
}

// wake runs whatever timer is due.
func (s *Session) wake(now time.Time) {
	if !s.setupDeadline.IsZero() && !now.Before(s.setupDeadline) {
		s.finish(ReasonSetupTimeout, fmt.Sprintf("not up %v after the PADR", s.cfg.setupTimeout()), now)
		return
	}
	s.eng.TickLink((*acRole)(s), now)
	if s.mp != nil && !s.ended {
		if t := s.mp.Deadline(); !t.IsZero() && !now.Before(t) {
			s.multilink(s.mp.Expire(now), now)
		}
	}
	if !s.ended && !s.nextCheck.IsZero() && !now.Before(s.nextCheck) {
		s.keepalive(now)
	}
	if !s.ended {
		s.checkLimits(now)
	}
	if !s.ended && !s.interimAt.IsZero() && !now.Before(s.interimAt) {
		s.interimAt = now.Add(s.answer.InterimInterval)
		s.observe(now, Interim{Stats: s.counters()})
	}
	if !s.ended {
		s.ipv6Wake(now)
	}
}

// Stats returns the session's counters over its life, Snapshot's Stats
// without the rest of a snapshot: what a metrics scrape sums over every
// session. A read of the data plane's mapped counters while installed,
// the final counts once ended. It may be called from any goroutine.
func (s *Session) Stats() Stats { return s.counters() }

// counters reads the session's counters over its life from the data plane.
func (s *Session) counters() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.installed {
		s.readStatsLocked(s.handle)
	}
	return s.statsLocked()
}

// keepalive is RouterOS's server keepalive: traffic is any frame from the
// client or a change in the data plane's last-seen; after T idle an LCP
// Echo-Request goes out every EchoInterval, after 2T idle the client is
// gone. A busy session is checked once per T and never probed.
func (s *Session) keepalive(now time.Time) {
	t := s.cfg.KeepaliveTimeout
	if h, ok := s.dataPlaneHandle(); ok {
		if st, err := s.cfg.DataPlane.Stats(h); err == nil {
			if st.LastSeen != s.lastSeen || st.PacketsUp != s.lastUp {
				s.lastActivity = now
			}
			s.lastSeen, s.lastUp = st.LastSeen, st.PacketsUp
		}
	}
	idle := now.Sub(s.lastActivity)
	switch {
	case idle >= 2*t:
		s.finish(ReasonKeepalive, "", now)
		return
	case idle >= t:
		s.carry(s.link.EchoRequest(now), now)
		s.nextCheck = now.Add(s.cfg.echoInterval())
		if gone := s.lastActivity.Add(2 * t); gone.Before(s.nextCheck) {
			s.nextCheck = gone
		}
	default:
		s.nextCheck = s.lastActivity.Add(t)
	}
}

// DataPlaneHandle is the session's data-plane handle, and whether it is
// installed.
func (s *Session) DataPlaneHandle() (Handle, bool) { return s.dataPlaneHandle() }

func (s *Session) dataPlaneHandle() (Handle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handle, s.installed
}

// carry carries out one step of the link (Engine.Carry).
func (s *Session) carry(out link.Output, now time.Time) {
	s.eng.Carry((*acRole)(s), out, now)
}

// act acts on one of the link's events.
func (s *Session) act(ev link.Event, now time.Time) {
	switch ev := ev.(type) {
	case link.PhaseChanged:
		s.log.Debug("phase", zap.Stringer("from", ev.From), zap.Stringer("to", ev.To))
		s.startMP(ev)
		switch ev.To {
		case link.PhaseEstablish:
			s.setState(StateEstablish)
		case link.PhaseAuthenticate:
			s.setState(StateAuthenticate)
		case link.PhaseNetwork:
			s.setState(StateNetwork)
		}
	case link.AuthRequested:
		s.authenticate(ev.Request, now)
	case link.AuthSucceeded:
		s.mu.Lock()
		s.user = ev.User
		s.mu.Unlock()
		s.log.Debug("authenticated", zap.String("user", ev.User), zap.Stringer("method", ev.Method))
		s.observe(now, Authenticated{User: ev.User, Method: ev.Method, Answer: s.answer})
	case link.AuthFailed:
		s.mu.Lock()
		s.user = ev.User
		s.mu.Unlock()
		s.log.Debug("authentication failed", zap.String("user", ev.User), zap.Stringer("method", ev.Method), zap.String("detail", ev.Reason))
		s.setCause(ReasonAuthFailed, ev.Reason, zap.Stringer("method", ev.Method))
		s.observe(now, AuthFailed{User: ev.User, Method: ev.Method, Detail: ev.Reason})
	case link.AuthRefused:
		fields := []zap.Field{zap.String("offered", methodList(ev.Offered))}
		if ev.Suggested != 0 {
			fields = append(fields, zap.Stringer("peer_wants", ev.Suggested))
		}
		s.log.Debug("no common authentication method", fields...)
		s.setCause(ReasonNoAuthMethod, "", fields...)
	case link.NetworkUp:
		switch ev.Protocol {
		case ppp.ProtocolIPv6CP:
			s.ipv6Up(ev.Info, now)
		case ppp.ProtocolIPCP:
			s.networkUp(ev.Info, now)
		default:
			s.log.Debug("network up", zap.Stringer("protocol", ev.Protocol))
			s.observe(now, NetworkUp{Protocol: ev.Protocol, Info: ev.Info, Setup: now.Sub(s.cfg.Opened)})
		}
	case link.NetworkDown:
		s.log.Debug("network down", zap.Stringer("protocol", ev.Protocol))
		switch ev.Protocol {
		case ppp.ProtocolIPv6CP:
			s.ipv6Down(now, true)
			if !s.ipv4Up {
				s.networkGone()
			}
		case ppp.ProtocolIPCP:
			s.ipv4Down(now)
		}
		s.observe(now, NetworkDown{Protocol: ev.Protocol})
	case link.ProtocolRejected:
		s.log.Debug("protocol rejected by peer", zap.Stringer("protocol", ev.Protocol))
	case link.Down:
		s.finish(s.downReason(), ev.Reason, now)
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
	err := s.addrErr
	if s.authErr != nil {
		err = s.authErr
	}
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

// networkUp puts the session's IPv4 address into the data plane as IPCP
// opens (the frame that opens it has not left yet): into the entry IPv6CP
// installed if it opened first, else with the entry.
func (s *Session) networkUp(info link.Info, now time.Time) {
	e := s.entryFor(info, info.IP.Remote)
	first, ok := s.installEntry(e, info, now)
	if !ok {
		return
	}
	s.ipv4Up = true
	s.observe(now, NetworkUp{Protocol: ppp.ProtocolIPCP, Entry: e, Info: info, Setup: now.Sub(s.cfg.Opened), SessionUp: first})
}

// entryFor is the session's data-plane entry for what the link
// negotiated, with IPv4 address v4 (the zero Addr for none: IPCP not
// open).
func (s *Session) entryFor(info link.Info, v4 netip.Addr) Entry {
	e := Entry{
		Circuit:   s.cfg.Circuit,
		SessionID: s.cfg.SessionID,
		ACMAC:     s.cfg.ACMAC,
		IPv4:      v4,
		MTU:       info.MTU,
	}
	if s.mp != nil {
		e.MP = MPOf(s.mp.ML)
	}
	// With MP up, packets up to the MRRU cross whole (fragmented below
	// IP), so the clamp follows it: a 1480-byte link with MRRU 1614
	// keeps Ethernet hosts' 1460.
	if clamp := s.mpML().ClampUnit(info.MTU); s.answer.ChangeTCPMSS && clamp > TCPIPHeaders {
		e.MSS = clamp - TCPIPHeaders
	}
	e.RateLimit, e.ShapeTx = s.answer.RateLimit, s.answer.ShapeTx
	if v4.IsValid() { // an IPv6-only session routes no IPv4 prefix
		for _, r := range s.answer.Routes {
			if r.Addr().Is4() {
				e.Routes = append(e.Routes, r)
			}
		}
	}
	return e
}

// installEntry makes e the session's data-plane entry as a network
// protocol opens. The first one to open installs it and brings the
// session up (first: keepalive, interim and limits start); a later one
// rewrites it in place (DataPlane.Update: same index, counters and IPv6
// prefixes), as IPCP does opening beside IPv6CP. A refusal ends the
// session (ok false).
func (s *Session) installEntry(e Entry, info link.Info, now time.Time) (first, ok bool) {
	if h, installed := s.dataPlaneHandle(); installed {
		nh, err := s.cfg.DataPlane.Update(h, e)
		if err != nil {
			s.finish(ReasonDataPlane, err.Error(), now)
			return false, false
		}
		s.mu.Lock()
		s.handle, s.entry = nh, e
		s.addr, s.mtu, s.mru = e.IPv4, info.MTU, info.MRU
		s.mu.Unlock()
		if s.v6 != nil && s.v6.installed != nil {
			s.v6.installed = nh // the prefixes stay on the rewritten entry
		}
		return false, true
	}
	if !s.wasUp && s.cfg.Establish != nil && !s.cfg.Establish() {
		s.finish(ReasonMaxSessions, "", now)
		return false, false
	}
	h, err := s.cfg.DataPlane.Install(e)
	if err != nil {
		s.finish(ReasonDataPlane, err.Error(), now)
		return false, false
	}
	s.mu.Lock()
	s.handle, s.installed, s.entry = h, true, e
	s.addr, s.mtu, s.mru = e.IPv4, info.MTU, info.MRU
	s.mu.Unlock()
	if s.mp != nil && e.MP.On {
		s.divert(h)
	}
	s.ipv6Install(h)
	s.setState(StateUp)
	s.wasUp, s.setupDeadline = true, time.Time{}
	s.lastActivity = now
	s.lastSeen, s.lastUp = 0, 0
	if st, err := s.cfg.DataPlane.Stats(h); err == nil {
		s.lastSeen, s.lastUp = st.LastSeen, st.PacketsUp
	}
	if t := s.cfg.KeepaliveTimeout; t > 0 {
		s.nextCheck = now.Add(t)
	}
	if d := s.answer.InterimInterval; d > 0 {
		s.interimAt = now.Add(d)
	}
	s.armLimits(now)
	return true, true
}

// ipv4Down takes the session's IPv4 out of the data plane as IPCP
// leaves Opened. With IPv6CP open the session goes on forwarding IPv6:
// the entry loses its address in place (its counters and prefixes stay;
// its address lease is the session's until it ends, so an IPCP that
// opens again gets it back). Without, nothing is left to forward.
func (s *Session) ipv4Down(now time.Time) {
	s.ipv4Up = false
	h, installed := s.dataPlaneHandle()
	if s.v6 == nil || !installed {
		s.networkGone()
		return
	}
	s.mu.Lock()
	e := s.entry
	s.mu.Unlock()
	e.IPv4 = netip.Addr{}
	nh, err := s.cfg.DataPlane.Update(h, e)
	if err != nil {
		// The address stays routed to the session, which holds its
		// lease: nothing leaks, and the session's IPv6 goes on.
		s.log.Warn("data plane: IPv4 left in place as IPCP closed", zap.Error(err))
		return
	}
	s.mu.Lock()
	s.handle, s.entry, s.addr = nh, e, netip.Addr{}
	s.mu.Unlock()
	if s.v6.installed != nil {
		s.v6.installed = nh
	}
}

// networkGone: no network protocol is open any more (RFC 1661 §3.6), the
// session has nothing to forward until one opens again.
func (s *Session) networkGone() {
	s.uninstall()
	s.setState(StateNetwork)
	s.nextCheck, s.interimAt = time.Time{}, time.Time{}
}

// uninstall removes the data-plane entry if there is one, reading its
// counters one last time first. Under s.mu, so that no Snapshot sees the
// counters both in cur and in past: a session's counters never go down.
func (s *Session) uninstall() {
	s.mu.Lock()
	h, ok := s.handle, s.installed
	if ok {
		s.readStatsLocked(h)
		s.past, s.cur = countsOf(s.past.stats().Add(s.cur.stats())), counts{}
	}
	mpOn := s.entry.MP.On
	s.handle, s.installed = nil, false
	s.mu.Unlock()
	if s.v6 != nil {
		s.v6.installed = nil // Remove takes the IPv6 prefixes with the entry
	}
	if !ok {
		return
	}
	if mpOn {
		s.cfg.DataPlane.(MPPlane).Divert(h, nil)
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
	s.nextCheck, s.setupDeadline, s.interimAt = time.Time{}, time.Time{}, time.Time{}
	s.eng.StopLink()
	r, detail, causeFields := s.ending(trigger, detail)
	switch trigger {
	case ReasonAdmin, ReasonReplaced, ReasonShutdown, ReasonSetupTimeout:
		s.ipv6Down(now, true) // the last RA before the Terminate-Request
		// Tell the peer's PPP why before PPPoE goes (RFC 1661 §3.7); the
		// PADT follows at once, so the Terminate-Ack is not awaited.
		if p := s.link.Phase(); p != link.PhaseDead && p != link.PhaseTerminate {
			for _, f := range s.link.Close(r.String(), now).Send {
				s.send(f)
			}
		}
	}
	s.ipv6Down(now, false) // the peer is gone or going: no RA
	s.observe(now, Stopping{Reason: r, Stats: s.counters()})
	s.uninstall()
	s.endAAA()
	if trigger != ReasonPADT && trigger != ReasonInterfaceGone {
		if err := s.cfg.SendPADT(r.String()); err != nil {
			s.log.Debug("send PADT", zap.Error(err))
		}
	}
	s.setState(StateDown)
	s.mu.Lock()
	s.reason = r
	addr, user, stats := s.addr, s.user, s.statsLocked()
	s.mu.Unlock()
	s.observe(now, Stopped{
		Reason: r, Trigger: trigger, Detail: detail, Fields: causeFields,
		User: user, Address: addr, Duration: now.Sub(s.started), Stats: stats, WasUp: s.wasUp,
	})
	s.eng.Finish()
}

func (s *Session) send(f ppp.Frame) {
	if err := s.cfg.Send(f); err != nil {
		s.log.Debug("send", zap.Stringer("protocol", f.Protocol), zap.Error(err))
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
	s.observe(s.now(), StateChanged{From: from, To: to})
}

// mpML is the session's multilink, zero when MP is off.
func (s *Session) mpML() lcp.Multilink {
	if s.mp == nil {
		return lcp.Multilink{}
	}
	return s.mp.ML
}
