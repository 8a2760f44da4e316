package session

import "github.com/pppoe-xdp/pppoe-xdp/control/radius"

// Reason is why a session ended; it is logged with "session down" and
// counted.
type Reason uint8

// Reasons a session ends.
const (
	// ReasonNone: the session has not ended.
	ReasonNone Reason = iota
	// ReasonPADT: the client sent PADT (RFC 2516 §5.5); no PADT is sent back.
	ReasonPADT
	// ReasonPeerTerminate: the client's LCP Terminate-Request (RFC 1661 §5.5).
	ReasonPeerTerminate
	// ReasonKeepalive: no traffic and no Echo-Reply for 2×keepalive-timeout.
	ReasonKeepalive
	// ReasonAdmin: removed by the operator (/ppp active remove).
	ReasonAdmin
	// ReasonReplaced: a new session of the same host replaced this one
	// (one-session-per-host).
	ReasonReplaced
	// ReasonAuthFailed: the peer's credentials were refused (RFC 1661 §3.5),
	// or AAA refused the user (only-one).
	ReasonAuthFailed
	// ReasonNoAddress: no address could be given (pool exhausted, address
	// in use, none configured).
	ReasonNoAddress
	// ReasonNegotiation: LCP, authentication or IPCP gave up (RFC 1661 §4.6
	// counters, authentication timeout, nothing agreeable).
	ReasonNegotiation
	// ReasonDataPlane: the data plane refused the session.
	ReasonDataPlane
	// ReasonShutdown: the daemon stopped or the server was removed.
	ReasonShutdown
	// ReasonNoAuthMethod: the peer takes none of the authentication
	// methods the server offers (RFC 1661 §6.2).
	ReasonNoAuthMethod
	// ReasonSetupTimeout: IPCP was not opened within the setup deadline
	// after the PADR.
	ReasonSetupTimeout
	// ReasonMaxSessions: the server reached max-sessions while this
	// session negotiated; it ends instead of opening IPCP.
	ReasonMaxSessions
	// ReasonInterfaceGone: the access interface was deleted (or renamed,
	// or moved to another namespace): the client cannot be reached, so
	// neither LCP Terminate nor PADT is sent.
	ReasonInterfaceGone
	// ReasonSessionTimeout: the session's Session-Timeout (RFC 2865
	// §5.27, from AAA or a CoA) passed.
	ReasonSessionTimeout
	// ReasonIdleTimeout: no traffic from the client in the data plane for
	// the session's Idle-Timeout (RFC 2865 §5.28).
	ReasonIdleTimeout
)

// NumReasons is the number of Reasons, for per-reason counters.
const NumReasons = int(ReasonIdleTimeout) + 1

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonPADT:           "padt",
	ReasonPeerTerminate:  "peer-terminate",
	ReasonKeepalive:      "keepalive-timeout",
	ReasonAdmin:          "admin-remove",
	ReasonReplaced:       "replaced",
	ReasonAuthFailed:     "auth-failed",
	ReasonNoAddress:      "no-address",
	ReasonNegotiation:    "negotiation-failed",
	ReasonDataPlane:      "dataplane-error",
	ReasonShutdown:       "shutdown",
	ReasonNoAuthMethod:   "no-auth-method",
	ReasonSetupTimeout:   "setup-timeout",
	ReasonMaxSessions:    "max-sessions",
	ReasonInterfaceGone:  "interface-gone",
	ReasonSessionTimeout: "session-timeout",
	ReasonIdleTimeout:    "idle-timeout",
}

// String returns the reason's log name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// State is where a session is in its life, for metrics and print.
type State uint8

// States of a session, after discovery has given it an id.
const (
	// StateEstablish: LCP is negotiating (RFC 1661 §3.4).
	StateEstablish State = iota
	// StateAuthenticate: the peer is authenticating (RFC 1661 §3.5).
	StateAuthenticate
	// StateNetwork: IPCP is negotiating (RFC 1661 §3.6).
	StateNetwork
	// StateUp: IPCP is opened and the data plane forwards.
	StateUp
	// StateDown: the session has ended.
	StateDown
)

// NumStates is the number of States, for per-state counters.
const NumStates = int(StateDown) + 1

var stateNames = [...]string{"establish", "authenticate", "network", "up", "down"}

// String returns the state's name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// TerminateCause maps why a session ended to the Acct-Terminate-Cause its
// Accounting-Stop carries (RFC 2866 §5.10), as accel-ppp's TERM_* do:
// the subscriber hanging up is User-Request, a subscriber gone silent
// Lost-Carrier, the operator Admin-Reset, the daemon stopping
// Admin-Reboot, the subscriber's own errors (credentials, negotiation)
// User-Error, what the NAS could not provide Service-Unavailable or
// NAS-Error.
func (r Reason) TerminateCause() radius.TerminateCause {
	switch r {
	case ReasonPADT, ReasonPeerTerminate:
		return radius.CauseUserRequest
	case ReasonKeepalive:
		return radius.CauseLostCarrier
	case ReasonAdmin:
		return radius.CauseAdminReset
	case ReasonReplaced:
		// one-session-per-host: the host's new session took the port.
		return radius.CausePortPreempted
	case ReasonAuthFailed, ReasonNoAuthMethod, ReasonNegotiation:
		return radius.CauseUserError
	case ReasonNoAddress, ReasonMaxSessions:
		return radius.CauseServiceUnavailable
	case ReasonDataPlane:
		return radius.CauseNASError
	case ReasonShutdown:
		return radius.CauseAdminReboot
	case ReasonSetupTimeout:
		// The client (or AAA) did not finish in time: the service was
		// never delivered.
		return radius.CauseLostService
	case ReasonInterfaceGone:
		return radius.CausePortError
	case ReasonSessionTimeout:
		return radius.CauseSessionTimeout
	case ReasonIdleTimeout:
		return radius.CauseIdleTimeout
	}
	return radius.CauseNASError
}
