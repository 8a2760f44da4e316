// Package link runs the PPP link of one PPPoE session through the phases of
// RFC 1661 §3: Dead → Establish (LCP) → Authenticate (PAP, CHAP, MS-CHAP)
// → Network (IPCP) → Terminate, for either end: the access concentrator,
// which authenticates and assigns addresses, or the client.
//
// A Link is pure: no goroutines, no timers, no clock. The owner (the session
// loop) calls Up, Receive, Tick, Close and EchoRequest with the current time
// and carries out the Output: send the frames in order, act on the events,
// and call Tick again at Output.Deadline. Given the same Config (Magic and
// Rand included) and the same inputs it produces the same frames.
//
// The option-negotiation automaton is control/ppp/fsm, shared by LCP and
// IPCP; this package plugs in their Negotiators and sequences the phases.
package link

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

// Role is which end of the link this is.
type Role uint8

// Roles.
const (
	// Authenticator is the access concentrator (the server): it asks for
	// authentication (RFC 1661 §6.2) and gives the peer its addresses.
	Authenticator Role = iota + 1
	// Peer is the client: it authenticates itself and takes the addresses
	// it is given.
	Peer
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case Authenticator:
		return "authenticator"
	case Peer:
		return "peer"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Phase is a link phase (RFC 1661 §3.2).
type Phase uint8

// Phases (RFC 1661 §3.2-§3.7).
const (
	PhaseDead         Phase = iota // §3.3 Link Dead: before Up and after Down
	PhaseEstablish                 // §3.4 Link Establishment: LCP negotiating
	PhaseAuthenticate              // §3.5 Authentication
	PhaseNetwork                   // §3.6 Network-Layer Protocol: IPCP
	PhaseTerminate                 // §3.7 Link Termination: Terminate-Request sent or received
)

// String returns the phase's RFC 1661 name.
func (p Phase) String() string {
	switch p {
	case PhaseDead:
		return "dead"
	case PhaseEstablish:
		return "establish"
	case PhaseAuthenticate:
		return "authenticate"
	case PhaseNetwork:
		return "network"
	case PhaseTerminate:
		return "terminate"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Defaults for Config fields left zero.
const (
	// DefaultMaxMRUAuthenticator and DefaultMaxMRUPeer are RouterOS's
	// max-mru/max-mtu defaults for the server and the client.
	DefaultMaxMRUAuthenticator = 1480
	DefaultMaxMRUPeer          = 1460
	// PPPoEMaxMRU is the largest MRU over PPPoE without RFC 4638: 1500
	// minus the 6-octet PPPoE header and the 2-octet Protocol field
	// (RFC 2516 §7).
	PPPoEMaxMRU = 1492
	// MinMRU is the smallest peer MRU accepted; a smaller one is Nak'd up
	// to it. RFC 1661 §6.1 sets no floor, but IPv4 needs 68 and a link
	// that small is useless; pppd refuses below 128 as well.
	MinMRU = 128
	// DefaultAuthTimeout bounds the Authenticate phase.
	DefaultAuthTimeout = 30 * time.Second
	// DefaultName is the Name an authenticator puts in its CHAP
	// Challenges (RFC 1994 §4.1) when Config.Name is empty.
	DefaultName = "pppoe-xdp"
)

// Config configures one Link. Zero values take the defaults noted.
type Config struct {
	Role Role
	// MaxMRU is the largest MRU we ask for, MaxMTU the largest peer MRU
	// we accept (RouterOS max-mru, max-mtu). Defaults: 1480 for the
	// Authenticator, 1460 for the Peer. Both are further capped at 1492
	// or MaxPayload.
	MaxMRU, MaxMTU uint16
	// MaxPayload is the PPP-Max-Payload agreed in discovery (RFC 4638 §4),
	// 0 if none: then the MRU is at most 1492 (RFC 2516 §7).
	MaxPayload uint16
	// Methods are, for the Authenticator, the methods offered in order of
	// preference (RouterOS authentication); for the Peer, the methods
	// accepted (RouterOS allow), the first being the one suggested in a
	// Configure-Nak. The Authenticator needs at least one; the Peer
	// defaults to all four.
	Methods []auth.Method
	// User and Password are the Peer's credentials. Password never
	// appears in errors, events or String output.
	User, Password string
	// Name is the Authenticator's CHAP Name (RFC 1994 §4.1); default
	// DefaultName.
	Name string
	// Verifier checks the peer's credentials (Authenticator, required)
	// inside Receive. Deferred: the link emits AuthRequested and waits for
	// the owner's Authenticated, so a slow backend never blocks the
	// caller.
	Verifier Verifier
	// Addresses gives the IPCP addresses once the peer is authenticated
	// (Authenticator, required).
	Addresses AddressPolicy
	// IPv6, when set and true as the Network phase starts, runs IPv6CP
	// (RFC 5072) beside IPCP, each with its own automaton: either may
	// close without ending the link while the other is open or opening.
	// nil or false: IPv6CP frames get a Protocol-Reject.
	IPv6 func() bool
	// InterfaceID returns an IPv6CP Interface-Identifier candidate (RFC
	// 5072 §4.1); zero results are drawn again. Default: crypto/rand.
	InterfaceID func() ipv6cp.InterfaceID
	// RequestDNS makes the Peer ask for DNS servers (RFC 1877 §1.1,
	// §1.3), as RouterOS use-peer-dns.
	RequestDNS bool
	// Multilink is RouterOS mrru (RFC 1990 §5.1): the MRRU we ask for
	// and how we answer the peer's multilink options. The zero value is
	// mrru=disabled: we ask for nothing and reject the peer's MRRU and
	// Short-Sequence, so a peer asking for MP connects without it. When
	// LCP opens, Info.Multilink says whether MP is up; the owner then
	// runs the MP half (control/ppp/mp) itself.
	Multilink lcp.MultilinkPolicy
	// Restart, MaxConfigure, MaxFailure and MaxTerminate are RFC 1661
	// §4.6's Restart timer and counters; defaults 3s, 10, 5, 2.
	Restart                                time.Duration
	MaxConfigure, MaxFailure, MaxTerminate int
	// AuthTimeout bounds the Authenticate phase; CHAP Challenges (and PAP
	// Authenticate-Requests) are retransmitted every Restart until then.
	// Default 30s.
	AuthTimeout time.Duration
	// Magic returns a Magic-Number candidate (RFC 1661 §6.4); zero
	// results are drawn again. Default: crypto/rand.
	Magic func() uint32
	// Rand is the source of CHAP challenges and MS-CHAPv2 peer
	// challenges. Default: crypto/rand.Reader.
	Rand io.Reader
}

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("invalid link config")

// Info is what the link negotiated.
type Info struct {
	Role Role
	// MRU is what we receive: our MRU as the peer acked it. MTU is what
	// we send: the peer's MRU, capped at MaxMTU.
	MRU, MTU uint16
	// LocalMagic and PeerMagic are the negotiated Magic-Numbers, 0 when
	// not negotiated (RFC 1661 §6.4).
	LocalMagic, PeerMagic uint32
	// Method is the authentication method used, 0 if none.
	Method auth.Method
	// User is the authenticated (Authenticator) or presented (Peer) name.
	User string
	// IP holds the IPCP result: Local is this end's address, Remote the
	// other end's; DNS/NBNS those assigned (Authenticator: given,
	// Peer: received).
	IP IPConfig
	// IPv6 holds the IPv6CP result, zero unless IPv6CP opened.
	IPv6 IPv6Config
	// Multilink is what LCP settled of RFC 1990 multilink; zero (not
	// Active) when MP is off.
	Multilink lcp.Multilink
}

// Output is what one call did and what the owner must carry out.
type Output struct {
	// Send holds the frames to send, in order.
	Send []ppp.Frame
	// Deadline is when Tick must next be called; zero when no timer runs.
	Deadline time.Time
	// Events holds what happened, in order.
	Events []Event
}

// Link is the PPP link of one PPPoE session. It is not safe for concurrent
// use: the session loop owns it.
type Link struct {
	cfg Config

	phase Phase
	up    bool // Up was called
	dead  bool // Down was reported: nothing more happens
	// reason is why the link is terminating, for Terminate-Request and
	// Down; the first one set wins.
	reason string
	info   Info

	lcpNeg   *lcpNegotiator
	lcp      *fsm.Automaton
	lcpTimer time.Time

	// ncps are the network protocols of the Network phase (RFC 1661
	// §3.6), IPCP first; nil outside it.
	ncps []*ncp
	// noIPv4: the AC offers no IPv4 (ErrNoIPv4), IPCP is rejected.
	noIPv4 bool
	// restored: Restore made the link, with only the NCPs that were
	// open then; the peer opening another later starts it (lateNCP).
	restored bool

	au     handshake
	authID uint8

	// The output of the call in progress.
	now time.Time
	out Output
}

// New validates cfg, fills in its defaults and returns a Link in the Dead
// phase.
func New(cfg Config) (*Link, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	l := &Link{cfg: cfg}
	limit := uint16(PPPoEMaxMRU)
	if cfg.MaxPayload != 0 {
		limit = cfg.MaxPayload
	}
	l.lcpNeg = &lcpNegotiator{
		role:     cfg.Role,
		mru:      min(cfg.MaxMRU, limit),
		maxMTU:   min(cfg.MaxMTU, limit),
		limit:    limit,
		newMagic: l.newMagic,
		methods:  cfg.Methods,
		ml:       cfg.Multilink,
	}
	l.lcpNeg.magic = l.newMagic()
	if cfg.Role == Authenticator {
		l.lcpNeg.method = cfg.Methods[0]
	}
	fc := l.fsmConfig()
	fc.Extension = lcpExtension{magic: func() uint32 { return l.lcpNeg.magic }}
	l.lcp = fsm.New(l.lcpNeg, fc)
	l.info.Role = cfg.Role
	if cfg.Role == Peer {
		l.info.User = cfg.User
	}
	return l, nil
}

func (c *Config) setDefaults() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("link: %s: %w", fmt.Sprintf(format, a...), ErrConfig)
	}
	switch c.Role {
	case Authenticator:
		if len(c.Methods) == 0 {
			return bad("authenticator without authentication methods")
		}
		if c.Verifier == nil || c.Addresses == nil {
			return bad("authenticator needs a Verifier and an AddressPolicy")
		}
		if c.MaxMRU == 0 {
			c.MaxMRU = DefaultMaxMRUAuthenticator
		}
		if c.MaxMTU == 0 {
			c.MaxMTU = DefaultMaxMRUAuthenticator
		}
	case Peer:
		if len(c.Methods) == 0 {
			c.Methods = []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.CHAP, auth.PAP}
		}
		if c.MaxMRU == 0 {
			c.MaxMRU = DefaultMaxMRUPeer
		}
		if c.MaxMTU == 0 {
			c.MaxMTU = DefaultMaxMRUPeer
		}
	default:
		return bad("role %d", c.Role)
	}
	for i, m := range c.Methods {
		if m < auth.PAP || m > auth.MSCHAPv2 {
			return bad("method %d", m)
		}
		if slices.Contains(c.Methods[:i], m) {
			return bad("method %v listed twice", m)
		}
	}
	if c.MaxMRU < MinMRU || c.MaxMTU < MinMRU {
		return bad("max-mru %d / max-mtu %d below %d", c.MaxMRU, c.MaxMTU, MinMRU)
	}
	if c.MaxPayload != 0 && c.MaxPayload < PPPoEMaxMRU {
		// RFC 4638 §4: PPP-Max-Payload is only ever larger than 1492.
		return bad("max-payload %d below %d", c.MaxPayload, PPPoEMaxMRU)
	}
	if c.Restart <= 0 {
		c.Restart = fsm.DefaultRestartTimer
	}
	if c.MaxConfigure <= 0 {
		c.MaxConfigure = fsm.DefaultMaxConfigure
	}
	if c.MaxFailure <= 0 {
		c.MaxFailure = fsm.DefaultMaxFailure
	}
	if c.MaxTerminate <= 0 {
		c.MaxTerminate = fsm.DefaultMaxTerminate
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.InterfaceID == nil {
		c.InterfaceID = func() (id ipv6cp.InterfaceID) {
			_, _ = io.ReadFull(rand.Reader, id[:]) // never fails (Go 1.24+)
			return id
		}
	}
	if c.Magic == nil {
		c.Magic = func() uint32 {
			var b [4]byte
			_, _ = io.ReadFull(rand.Reader, b[:]) // never fails (Go 1.24+)
			return binary.BigEndian.Uint32(b[:])
		}
	}
	return nil
}

func (l *Link) fsmConfig() fsm.Config {
	return fsm.Config{
		MaxTerminate: l.cfg.MaxTerminate,
		MaxConfigure: l.cfg.MaxConfigure,
		MaxFailure:   l.cfg.MaxFailure,
		RestartTimer: l.cfg.Restart,
		PeerMRU:      int(l.lcpNeg.maxMTU),
	}
}

// newMagic draws a non-zero Magic-Number (RFC 1661 §6.4).
func (l *Link) newMagic() uint32 {
	for {
		if m := l.cfg.Magic(); m != 0 {
			return m
		}
	}
}

// Up tells the link its PPPoE session is established (the lower layer is
// Up, RFC 1661 §3.4): LCP is opened and sends its Configure-Request.
func (l *Link) Up(now time.Time) Output {
	if l.up || l.dead {
		return Output{}
	}
	l.begin(now)
	l.up = true
	l.setPhase(PhaseEstablish)
	l.lcpDo(l.lcp.Up())
	l.lcpDo(l.lcp.Open())
	return l.end()
}

// Receive handles one PPP frame from the session. f.Information may be
// reused by the caller afterwards.
//
// RFC 1661 §3: only LCP is looked at until LCP is Opened, then only LCP and
// the negotiated authentication protocol until authentication succeeds;
// IPCP in the Network phase. A protocol not served (anything but LCP, PAP,
// CHAP, IPCP and IPv4) is answered with a Protocol-Reject in the Network
// phase (RFC 1661 §5.7), IPv6CP included; other frames are dropped.
func (l *Link) Receive(f ppp.Frame, now time.Time) Output {
	if !l.up || l.dead {
		return Output{}
	}
	l.begin(now)
	switch f.Protocol {
	case ppp.ProtocolLCP:
		l.receiveLCP(f.Information)
	case ppp.ProtocolPAP, ppp.ProtocolCHAP:
		if l.lcp.State() == fsm.Opened && l.au.method != 0 && l.au.method.Protocol() == f.Protocol &&
			(l.phase == PhaseAuthenticate || l.phase == PhaseNetwork) {
			l.receiveAuth(f)
		}
	case ppp.ProtocolIPCP:
		n := l.ncp(f.Protocol)
		if n == nil && l.restored && !l.noIPv4 && l.phase == PhaseNetwork {
			n = l.lateNCP(f.Protocol)
		}
		if l.phase == PhaseNetwork && n != nil {
			l.receiveNCP(n, f.Information)
		} else if l.noIPv4 {
			l.protocolReject(f)
		}
	case ppp.ProtocolIPv4:
		// Data is the data plane's; whatever reaches us is dropped.
	case ppp.ProtocolIPv6, ppp.ProtocolIPv6CP:
		n := l.ncp(ppp.ProtocolIPv6CP)
		if n == nil && l.restored && f.Protocol == ppp.ProtocolIPv6CP && l.phase == PhaseNetwork {
			n = l.lateNCP(f.Protocol)
		}
		if l.phase == PhaseNetwork && n != nil {
			if f.Protocol == ppp.ProtocolIPv6CP {
				l.receiveNCP(n, f.Information)
			}
			break // IPv6 data, like IPv4, is the data plane's
		}
		l.protocolReject(f)
	default:
		l.protocolReject(f)
	}
	return l.end()
}

// protocolReject answers a protocol not served (RFC 1661 §5.7), in the
// Network phase only.
func (l *Link) protocolReject(f ppp.Frame) {
	if l.lcp.State() == fsm.Opened && l.phase == PhaseNetwork {
		p := ppp.NewProtocolReject(l.lcp.NewID(), f, int(l.info.MTU))
		l.sendPacket(ppp.ProtocolLCP, &p)
	}
}

func (l *Link) receiveLCP(b []byte) {
	var p ppp.Packet
	if p.UnmarshalBinary(b) != nil {
		return // RFC 1661 §5: silently discarded
	}
	opened := l.lcp.State() == fsm.Opened
	switch p.Code {
	case ppp.TerminateRequest:
		var t ppp.TerminateData
		_ = t.UnmarshalBinary(p.Data)
		l.setReason("peer terminated: " + printable(t.Reason))
	case ppp.EchoReply:
		var e ppp.EchoData
		if opened && e.UnmarshalBinary(p.Data) == nil {
			l.emit(EchoReply{Identifier: p.Identifier, Magic: e.Magic})
		}
	case ppp.ProtocolReject:
		var r ppp.ProtocolRejectData
		if opened && r.UnmarshalBinary(p.Data) == nil && r.Protocol != ppp.ProtocolLCP {
			l.emit(ProtocolRejected{Protocol: r.Protocol})
			if n := l.ncp(r.Protocol); n != nil {
				l.dropNCP(n)
				if len(l.ncps) == 0 {
					// Without a network protocol the link carries
					// nothing.
					l.setReason("peer rejected " + ncpName(r.Protocol))
					l.lcpDo(l.lcp.Close())
					return
				}
			}
		}
	}
	l.lcpDo(l.lcp.Receive(&p))
}

// Tick runs the timers due at now: the restart timers of LCP and IPCP and
// the authentication retransmit and timeout.
func (l *Link) Tick(now time.Time) Output {
	if !l.up || l.dead {
		return Output{}
	}
	l.begin(now)
	if due(l.lcpTimer, now) {
		l.lcpTimer = time.Time{}
		if l.lcp.State() == fsm.ReqSent || l.lcp.State() == fsm.AckSent {
			l.setReason(fmt.Sprintf("lcp: no answer to %d Configure-Requests", l.cfg.MaxConfigure))
		}
		l.lcpDo(l.lcp.Timeout())
	}
	for _, n := range l.ncps {
		if !l.dead && l.ncp(n.proto) == n && due(n.timer, now) {
			n.timer = time.Time{}
			l.ncpDo(n, n.a.Timeout())
		}
	}
	if !l.dead {
		l.tickAuth(now)
	}
	return l.end()
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// Close terminates the link administratively (RFC 1661 §3.7): LCP sends
// Terminate-Request carrying reason; Down follows when the peer acks or the
// requests run out (Max-Terminate restart periods).
func (l *Link) Close(reason string, now time.Time) Output {
	if l.dead {
		return Output{}
	}
	l.begin(now)
	l.setReason(reason)
	if !l.up {
		l.finish()
		return l.end()
	}
	l.lcpDo(l.lcp.Close())
	switch l.lcp.State() {
	case fsm.Initial, fsm.Starting, fsm.Closed, fsm.Stopped:
		l.finish()
	}
	return l.end()
}

// EchoRequest sends an LCP Echo-Request (RFC 1661 §5.8) as a keepalive
// probe; the answer is reported as an EchoReply event. Outside LCP Opened
// it sends nothing.
func (l *Link) EchoRequest(now time.Time) Output {
	if l.dead || l.lcp.State() != fsm.Opened {
		return Output{}
	}
	l.begin(now)
	e := ppp.EchoData{Magic: l.lcpNeg.magic}
	b, _ := e.MarshalBinary()
	l.sendPacket(ppp.ProtocolLCP, &ppp.Packet{Code: ppp.EchoRequest, Identifier: l.lcp.NewID(), Data: b})
	return l.end()
}

// Phase returns the current phase.
func (l *Link) Phase() Phase { return l.phase }

// Info returns what has been negotiated so far.
func (l *Link) Info() Info { return l.info }

func (l *Link) begin(now time.Time) {
	l.now = now
	l.out = Output{}
}

func (l *Link) end() Output {
	o := l.out
	l.out = Output{}
	if !l.dead {
		for _, t := range []time.Time{l.lcpTimer, l.au.deadline, l.au.retry} {
			o.Deadline = earlier(o.Deadline, t)
		}
		for _, n := range l.ncps {
			o.Deadline = earlier(o.Deadline, n.timer)
		}
	}
	return o
}

// earlier returns the earlier of two deadlines, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (l *Link) emit(e Event) { l.out.Events = append(l.out.Events, e) }

func (l *Link) send(f ppp.Frame) { l.out.Send = append(l.out.Send, f) }

func (l *Link) sendPacket(proto ppp.Protocol, p *ppp.Packet) {
	b, err := p.MarshalBinary()
	if err != nil {
		return // only for Data past 65531 octets, which we never build
	}
	l.send(ppp.Frame{Protocol: proto, Information: b})
}

func (l *Link) setPhase(p Phase) {
	if l.phase != p {
		l.emit(PhaseChanged{From: l.phase, To: p})
		l.phase = p
	}
}

func (l *Link) setReason(r string) {
	if l.reason == "" {
		l.reason = r
	}
}

// timer applies an automaton's TimerOp to the owner's deadline t.
func (l *Link) timer(t *time.Time, op fsm.TimerOp) {
	switch op {
	case fsm.TimerStart:
		*t = l.now.Add(l.cfg.Restart)
	case fsm.TimerStop:
		*t = time.Time{}
	}
}

// lcpDo carries out LCP's output.
func (l *Link) lcpDo(o fsm.Output) {
	if o.Err != nil {
		l.setReason("lcp: " + o.Err.Error())
		if n := l.lcpNeg; n.refused {
			// Said now, not with Down: the owner names the session's
			// end after what happened first, and the peer may hang up
			// before the Terminate exchange is over.
			n.refused = false
			l.emit(AuthRefused{Offered: slices.Clone(l.cfg.Methods), Suggested: n.suggested})
		}
	}
	// The timer first: an upper layer reacting to tlu or tlf below may
	// run LCP again, and that later operation's timer must win.
	l.timer(&l.lcpTimer, o.Timer)
	for _, e := range o.Effects {
		if p := e.Packet; p != nil {
			if p.Code == ppp.TerminateRequest && len(p.Data) == 0 && l.reason != "" {
				d, _ := (&ppp.TerminateData{Reason: l.reason}).MarshalBinary()
				p.Data = d
			}
			l.sendPacket(ppp.ProtocolLCP, p)
		}
		switch e.Action {
		case fsm.TLU:
			l.lcpUp()
		case fsm.TLD:
			l.lcpDown()
		case fsm.TLF:
			l.finish()
		}
		if l.dead {
			return
		}
	}
	switch l.lcp.State() {
	case fsm.Closing, fsm.Stopping:
		l.setPhase(PhaseTerminate)
	case fsm.ReqSent, fsm.AckRcvd, fsm.AckSent:
		l.setPhase(PhaseEstablish)
	}
}

// lcpUp is LCP's This-Layer-Up: read what was negotiated and go on to the
// Authenticate phase, or straight to Network when the Authenticator asked
// for no authentication (RFC 1661 §3.5).
func (l *Link) lcpUp() {
	mru, mtu, lm, pm, ours, theirs := lcpResult(l.lcp.Ours(), l.lcp.Theirs(), l.lcpNeg.maxMTU)
	l.info.MRU, l.info.MTU, l.info.LocalMagic, l.info.PeerMagic = mru, mtu, lm, pm
	l.info.Multilink = multilinkResult(l.lcp.Ours(), l.lcp.Theirs())
	l.lcp.SetPeerMRU(int(mtu))
	m := theirs
	if l.cfg.Role == Authenticator {
		m = ours
	}
	l.info.Method = m
	if m == 0 {
		l.startNetwork()
		return
	}
	l.startAuth(m)
}

// lcpDown is LCP's This-Layer-Down: everything above LCP starts over.
func (l *Link) lcpDown() {
	l.stopNetwork()
	l.au = handshake{}
}

// finish is LCP's This-Layer-Finished: the link is dead.
func (l *Link) finish() {
	if l.dead {
		return
	}
	l.stopNetwork()
	l.au = handshake{}
	l.lcpTimer = time.Time{}
	l.setPhase(PhaseDead)
	l.setReason("lcp finished")
	l.emit(Down{Reason: l.reason})
	l.dead = true
}

// startNetwork enters the Network phase (RFC 1661 §3.6) and opens its
// network protocols: IPCP, and IPv6CP when Config.IPv6 says so.
func (l *Link) startNetwork() {
	var neg fsm.Negotiator
	if l.cfg.Role == Authenticator {
		ip, err := l.cfg.Addresses.Addresses(l.info.User)
		if err == nil && (!ip.Local.Is4() || !ip.Remote.Is4()) {
			err = fmt.Errorf("local %v remote %v: not IPv4", ip.Local, ip.Remote)
		}
		if errors.Is(err, ErrNoIPv4) && l.cfg.IPv6 != nil && l.cfg.IPv6() {
			l.startIPv6Only()
			return
		}
		if err != nil {
			l.setReason(fmt.Sprintf("addresses for %q: %v", l.info.User, err))
			l.lcpDo(l.lcp.Close())
			return
		}
		neg = &ipcpServer{ip: ip}
	} else {
		neg = newIPCPClient(l.cfg.RequestDNS)
	}
	l.setPhase(PhaseNetwork)
	l.ncps = append(l.ncps[:0], &ncp{proto: ppp.ProtocolIPCP, a: fsm.New(neg, l.fsmConfig())})
	if l.cfg.IPv6 != nil && l.cfg.IPv6() {
		v6 := newIPv6CP(l.newInterfaceID)
		l.ncps = append(l.ncps, &ncp{proto: ppp.ProtocolIPv6CP, a: fsm.New(v6, l.fsmConfig()), v6: v6})
	}
	for _, n := range slices.Clone(l.ncps) {
		if l.ncp(n.proto) != n {
			return // the link went down opening an earlier one
		}
		n.a.SetPeerMRU(int(l.info.MTU))
		l.ncpDo(n, n.a.Up())
		if l.ncp(n.proto) == n {
			l.ncpDo(n, n.a.Open())
		}
	}
}

// startIPv6Only enters the Network phase of a user without IPv4
// (ErrNoIPv4): IPv6CP alone, IPCP rejected.
func (l *Link) startIPv6Only() {
	l.setPhase(PhaseNetwork)
	l.noIPv4 = true
	v6 := newIPv6CP(l.newInterfaceID)
	n := &ncp{proto: ppp.ProtocolIPv6CP, a: fsm.New(v6, l.fsmConfig()), v6: v6}
	l.ncps = append(l.ncps[:0], n)
	n.a.SetPeerMRU(int(l.info.MTU))
	l.ncpDo(n, n.a.Up())
	if l.ncp(n.proto) == n {
		l.ncpDo(n, n.a.Open())
	}
}

// lateNCP starts network protocol p on a restored link whose peer opens
// it now: the protocol was not open when the link was saved (the peer
// had not opened it yet, or the record was written before it did), so
// Restore left it out. It starts as startNetwork would have started it
// (our Configure-Request goes out, the peer's is answered next), if the
// link offers it: IPCP when Addresses gives IPv4 addresses, IPv6CP when
// Config.IPv6 says so. Otherwise nil, and the caller Protocol-Rejects
// it (IPCP from then on, noIPv4).
func (l *Link) lateNCP(p ppp.Protocol) *ncp {
	var neg fsm.Negotiator
	var v6 *ipv6cpNegotiator
	switch {
	case p == ppp.ProtocolIPCP && l.cfg.Role == Authenticator:
		ip, err := l.cfg.Addresses.Addresses(l.info.User)
		if err == nil && (!ip.Local.Is4() || !ip.Remote.Is4()) {
			err = fmt.Errorf("local %v remote %v: not IPv4", ip.Local, ip.Remote)
		}
		if err != nil {
			// The session is up on IPv6: IPv4 it cannot have is
			// refused, not a reason to end it.
			l.noIPv4 = true
			return nil
		}
		neg = &ipcpServer{ip: ip}
	case p == ppp.ProtocolIPCP:
		neg = newIPCPClient(l.cfg.RequestDNS)
	case p == ppp.ProtocolIPv6CP && l.cfg.IPv6 != nil && l.cfg.IPv6():
		v6 = newIPv6CP(l.newInterfaceID)
		neg = v6
	default:
		return nil
	}
	n := &ncp{proto: p, a: fsm.New(neg, l.fsmConfig()), v6: v6}
	n.a.SetPeerMRU(int(l.info.MTU))
	if p == ppp.ProtocolIPCP {
		l.ncps = append([]*ncp{n}, l.ncps...) // IPCP first, as startNetwork orders them
	} else {
		l.ncps = append(l.ncps, n)
	}
	l.ncpDo(n, n.a.Up())
	if l.ncp(p) == n {
		l.ncpDo(n, n.a.Open())
	}
	return l.ncp(p)
}

// newInterfaceID draws a non-zero Interface-Identifier (RFC 5072 §4.1).
func (l *Link) newInterfaceID() ipv6cp.InterfaceID {
	for {
		if id := l.cfg.InterfaceID(); id != (ipv6cp.InterfaceID{}) {
			return id
		}
	}
}

// stopNetwork ends the Network phase: every open protocol goes down.
func (l *Link) stopNetwork() {
	for _, n := range l.ncps {
		if n.up {
			l.emit(NetworkDown{Protocol: n.proto})
		}
	}
	l.ncps, l.noIPv4, l.restored = nil, false, false
	l.info.IP, l.info.IPv6 = IPConfig{}, IPv6Config{}
}

// ncp is one network control protocol of the link, with its own RFC
// 1661 automaton: NCPs open and close independently (RFC 1661 §3.6).
type ncp struct {
	proto ppp.Protocol
	a     *fsm.Automaton
	timer time.Time
	up    bool
	v6    *ipv6cpNegotiator // IPv6CP's negotiator, for its result
}

// ncp returns the running network protocol proto, nil if none.
func (l *Link) ncp(proto ppp.Protocol) *ncp {
	for _, n := range l.ncps {
		if n.proto == proto {
			return n
		}
	}
	return nil
}

func ncpName(p ppp.Protocol) string {
	if p == ppp.ProtocolIPv6CP {
		return "IPv6CP"
	}
	return "IPCP"
}

func (l *Link) receiveNCP(n *ncp, b []byte) {
	var p ppp.Packet
	if p.UnmarshalBinary(b) == nil {
		l.ncpDo(n, n.a.Receive(&p))
	}
}

// dropNCP takes n out of the link (the peer rejected its protocol).
func (l *Link) dropNCP(n *ncp) {
	if n.up {
		l.emit(NetworkDown{Protocol: n.proto})
	}
	l.ncps = slices.DeleteFunc(l.ncps, func(m *ncp) bool { return m == n })
}

// opening reports whether an NCP other than n is open or on its way.
func (l *Link) opening(n *ncp) bool {
	for _, m := range l.ncps {
		if m == n {
			continue
		}
		switch m.a.State() {
		case fsm.Initial, fsm.Starting, fsm.Closed, fsm.Stopped:
		default:
			return true
		}
	}
	return false
}

// ncpDo carries out an NCP's output.
func (l *Link) ncpDo(n *ncp, o fsm.Output) {
	name := strings.ToLower(ncpName(n.proto))
	if o.Err != nil {
		l.setReason(name + ": " + o.Err.Error())
	}
	l.timer(&n.timer, o.Timer)
	for _, e := range o.Effects {
		if e.Packet != nil {
			l.sendPacket(n.proto, e.Packet)
		}
		switch e.Action {
		case fsm.TLU:
			l.ncpOpened(n)
		case fsm.TLD:
			if n.up {
				n.up = false
				l.emit(NetworkDown{Protocol: n.proto})
			}
		case fsm.TLF:
			if l.opening(n) {
				// The other protocol carries the link on (RFC 1661
				// §3.6); this one may be opened again by the peer.
				continue
			}
			// The last network protocol is gone: so is the link
			// (RFC 1661 §3.6 leaves this to the implementation;
			// pppd does the same).
			l.setReason(name + " finished")
			l.lcpDo(l.lcp.Close())
			return
		}
		if l.ncp(n.proto) != n {
			return
		}
	}
}

func (l *Link) ncpOpened(n *ncp) {
	if n.proto == ppp.ProtocolIPv6CP {
		l.info.IPv6 = n.v6.result(n.a.Ours(), n.a.Theirs())
		n.up = true
		l.emit(NetworkUp{Protocol: n.proto, Info: l.info})
		return
	}
	if l.cfg.Role == Authenticator {
		ip := ipcpResult(n.a.Theirs(), n.a.Ours())
		ip.Local, ip.Remote = ip.Remote, ip.Local
		l.info.IP = ip
	} else {
		l.info.IP = ipcpResult(n.a.Ours(), n.a.Theirs())
		if !l.info.IP.Local.IsValid() || l.info.IP.Local.IsUnspecified() {
			l.setReason("ipcp: no address assigned")
			l.lcpDo(l.lcp.Close())
			return
		}
	}
	n.up = true
	l.emit(NetworkUp{Protocol: n.proto, Info: l.info})
}

// printable keeps a peer-supplied text safe for logs.
func printable(s string) string {
	const max = 64
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
