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
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
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
	// Verifier checks the peer's credentials (Authenticator, required).
	Verifier Verifier
	// Addresses gives the IPCP addresses once the peer is authenticated
	// (Authenticator, required).
	Addresses AddressPolicy
	// RequestDNS makes the Peer ask for DNS servers (RFC 1877 §1.1,
	// §1.3), as RouterOS use-peer-dns.
	RequestDNS bool
	// RejectMRRU rejects the peer's Multilink MRRU and Short-Sequence
	// options (RFC 1990 §5.1), as RouterOS mrru=disabled. Multilink is
	// not implemented: set it unless the owner handles multilink itself.
	RejectMRRU bool
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
}

// New validates cfg, fills in its defaults and returns a Link in the Dead
// phase.
func New(cfg Config) (*Link, error) {
	return &Link{cfg: cfg}, nil
}

// Up tells the link its PPPoE session is established (the lower layer is
// Up, RFC 1661 §3.4): LCP is opened and sends its Configure-Request.
func (l *Link) Up(now time.Time) Output { return Output{} }

// Receive handles one PPP frame from the session. f.Information may be
// reused by the caller afterwards.
func (l *Link) Receive(f ppp.Frame, now time.Time) Output { return Output{} }

// Tick runs the timers due at now: the restart timers of LCP and IPCP and
// the authentication retransmit and timeout.
func (l *Link) Tick(now time.Time) Output { return Output{} }

// Close terminates the link administratively (RFC 1661 §3.7): LCP sends
// Terminate-Request; Down follows when the peer acks or the requests run
// out. reason is carried in the Terminate-Request and the Down event.
func (l *Link) Close(reason string, now time.Time) Output { return Output{} }

// EchoRequest sends an LCP Echo-Request (RFC 1661 §5.8) as a keepalive
// probe; the answer is reported as an EchoReply event. Outside LCP Opened
// it sends nothing.
func (l *Link) EchoRequest(now time.Time) Output { return Output{} }

// Phase returns the current phase.
func (l *Link) Phase() Phase { return PhaseDead }

// Info returns what has been negotiated so far.
func (l *Link) Info() Info { return Info{} }
