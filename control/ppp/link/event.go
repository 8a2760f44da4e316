package link

import (
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

// Event is something the owner of a Link acts on or logs: one of
// PhaseChanged, AuthRequested, AuthSucceeded, AuthFailed, AuthRefused, NetworkUp,
// NetworkDown, EchoReply, ProtocolRejected or Down. None carries a password.
type Event interface{ event() }

// PhaseChanged reports a move between RFC 1661 §3 phases.
type PhaseChanged struct{ From, To Phase }

// AuthSucceeded reports a successful authentication (RFC 1661 §3.5).
type AuthSucceeded struct {
	User   string
	Method auth.Method
}

// AuthRequested asks the owner of an Authenticator without a Verifier to
// check the peer's credentials and hand the verdict back with
// Link.Authenticated. Request holds the peer's proof (a PAP password
// among it): it must not be logged.
type AuthRequested struct{ Request AuthRequest }

// AuthFailed reports a failed authentication; the link then terminates
// (RFC 1661 §3.5). Reason is for logs and never holds a secret.
type AuthFailed struct {
	User   string
	Method auth.Method
	Reason string
}

// AuthRefused reports that the peer takes none of the authentication
// methods the Authenticator offers: it Nak'd the Authentication-Protocol
// option once every offered method was tried, or Rejected the option
// (RFC 1661 §6.2). The link then terminates. Suggested is the method the
// peer's last Nak named, 0 when it Rejected the option or named a method
// not implemented here.
type AuthRefused struct {
	Offered   []auth.Method
	Suggested auth.Method
}

// NetworkUp reports a network protocol Opened: IPCP (RFC 1332), the
// owner installs the data plane for Info.IP now; IPv6CP (RFC 5072),
// Info.IPv6 holds the Interface-Identifiers.
type NetworkUp struct {
	Protocol ppp.Protocol
	Info     Info
}

// NetworkDown reports a network protocol leaving Opened: for IPCP the
// owner removes the data plane. The link may stay up on the other one.
type NetworkDown struct{ Protocol ppp.Protocol }

// EchoReply reports an LCP Echo-Reply (RFC 1661 §5.8): the keepalive was
// answered.
type EchoReply struct {
	Identifier uint8
	Magic      uint32
}

// ProtocolRejected reports an LCP Protocol-Reject from the peer for one of
// our protocols (RFC 1661 §5.7).
type ProtocolRejected struct{ Protocol ppp.Protocol }

// Down reports the link dead (RFC 1661 §3.3): the owner sends PADT and
// tears the session down. It is the last event a Link emits.
type Down struct{ Reason string }

func (PhaseChanged) event()     {}
func (AuthSucceeded) event()    {}
func (AuthFailed) event()       {}
func (AuthRequested) event()    {}
func (AuthRefused) event()      {}
func (NetworkUp) event()        {}
func (NetworkDown) event()      {}
func (EchoReply) event()        {}
func (ProtocolRejected) event() {}
func (Down) event()             {}
