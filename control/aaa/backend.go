package aaa

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// Backend authenticates and authorizes sessions: local secrets (Local),
// RADIUS. Authenticate must not block: it calls reply exactly once, from
// any goroutine, possibly before it returns, and at the latest when ctx is
// done (with a rejecting Answer whose Err wraps ctx.Err()). The session
// loop goes on meanwhile (LCP echoes, other sessions), so a backend that
// takes seconds holds nobody up but the session asking.
type Backend interface {
	Authenticate(ctx context.Context, req Request, reply func(Answer))
}

// Request is one session's authentication: who, how, with what proof,
// and where the subscriber is.
type Request struct {
	// Handle is the session's handle (64-bit, never reused while the
	// process lives): the future Acct-Session-Id.
	Handle uint64
	// Service is the /ppp secret service asked for: ServicePPPoE.
	Service string
	// Method is the PPP authentication protocol in use.
	Method auth.Method
	// User is the PAP Peer-ID or the CHAP Response's Name.
	User string
	// Password is the PAP password (RFC 1334 §2.2.1; RADIUS
	// User-Password); empty for CHAP.
	Password []byte
	// CHAPID, Challenge and Response are the CHAP exchange (RFC 1994
	// §4.1): the Challenge's Identifier and Value we sent, and the Value
	// of the peer's Response: 16 octets for CHAP-MD5, 49 for MS-CHAPv1
	// (RFC 2433 §2.2) and MS-CHAPv2 (RFC 2759 §4), which a RADIUS
	// backend proxies as CHAP-Password/CHAP-Challenge (RFC 2865) or
	// MS-CHAP-Challenge/MS-CHAP(2)-Response (RFC 2548 §2.3).
	CHAPID    uint8
	Challenge []byte
	Response  []byte
	// Circuit is where the subscriber is.
	Circuit Circuit
}

// Circuit is the access side of a session, for NAS-Port-Id,
// Calling-Station-Id and the TR-101 attributes.
type Circuit struct {
	// MAC is the client's Ethernet address (Calling-Station-Id).
	MAC net.HardwareAddr
	// Interface is the access interface or VLAN the session runs on.
	Interface string
	// VLANs are the 802.1Q/802.1ad tags, outer first.
	VLANs []uint16
	// ServiceName is the PPPoE Service-Name (Called-Station-Id).
	ServiceName string
	// SessionID is the PPPoE session id.
	SessionID uint16
	// RelaySessionID is the PADR's Relay-Session-Id, nil when absent.
	RelaySessionID []byte
	// CircuitID and RemoteID are the TR-101 Agent-Circuit-Id and
	// Agent-Remote-Id of the PADR's vendor tag (RFC 4679 §4.1), nil when
	// absent.
	CircuitID, RemoteID []byte
}

// Answer is a Backend's verdict and, when it accepts, the session's
// attributes. Zero values mean "not given": the session's defaults apply.
type Answer struct {
	// Accept lets the session go on.
	Accept bool
	// Err says why the session was refused, for its log line (never
	// sent to the peer, never holding a password); wrapping
	// ErrAuthFailed or ErrOnlyOne ends the session auth-failed, anything
	// else (a backend down, a timeout) too.
	Err error
	// Message is the Reply-Message for the peer: the PAP
	// Authenticate-Ack/Nak or CHAP Success/Failure text.
	Message string
	// AuthenticatorResponse is, for an accepted MS-CHAPv2, the 42-octet
	// "S=<40 hex>" of MS-CHAP2-Success (RFC 2759 §5, RFC 2548 §2.3.3).
	AuthenticatorResponse []byte
	// User is the user name to account the session under; "" keeps the
	// one the peer sent.
	User string
	// Addresses gives the session's addresses as IPCP starts; nil when
	// the answer gives none (the session then has no IPv4 and ends
	// no-address). Release gives back what it held; the session calls it
	// exactly once when it ends, and the caller of an accepted Answer
	// that is not used (the session ended meanwhile) calls it at once.
	Lease Grant
	// Local and Remote are the answer's fixed addresses, Pool the pool
	// the remote address comes from when Remote is not set
	// (Framed-IP-Address, Framed-Pool): what Lease resolves, for logs and
	// accounting.
	Local, Remote netip.Addr
	Pool          string
	// IPv6 runs IPv6CP (RFC 5072) beside IPCP, and RA and DHCPv6 on the
	// session once it opens; off, IPv6CP is answered with
	// Protocol-Reject. The local backend turns it on for a secret's
	// remote-ipv6-prefix or a profile's remote-ipv6-prefix-pool or
	// dhcpv6-pd-pool.
	IPv6 bool
	// IPv6Link is the session's link /64, announced by Router
	// Advertisement for SLAAC (remote-ipv6-prefix-pool, the secret's
	// remote-ipv6-prefix, Framed-IPv6-Prefix); Lease's Release returns
	// it to its pool. Zero: RAs carry no prefix.
	IPv6Link netip.Prefix
	// IPv6Delegate hands out DHCPv6 delegated prefixes (dhcpv6-pd-pool,
	// Delegated-IPv6-Prefix-Pool); nil delegates none but
	// IPv6Delegated. The session returns what it took when the binding
	// or the session ends.
	IPv6Delegate PrefixAllocator
	// IPv6Delegated is a prefix delegated to this session alone
	// (Delegated-IPv6-Prefix), never returned to a pool.
	IPv6Delegated netip.Prefix
	// IPv6DNS are the IPv6 DNS servers for RDNSS (RFC 8106) and DHCPv6
	// option 23 (RFC 3646).
	IPv6DNS []netip.Addr
	// DHCPv6LeaseTime is the valid and preferred lifetime of what the
	// session's DHCPv6 server hands out, the profile's
	// dhcpv6-lease-time; 0 is dhcp6.DefaultLifetime.
	DHCPv6LeaseTime time.Duration
	// DNS are the DNS servers offered through IPCP (RFC 1877).
	DNS []netip.Addr
	// ChangeTCPMSS clamps the TCP MSS of the session to MTU − 40.
	ChangeTCPMSS bool
	// SessionTimeout ends the session this long after it came up, and
	// IdleTimeout after this long without traffic (RFC 2865 §5.27,
	// §5.28); 0 for none.
	SessionTimeout, IdleTimeout time.Duration
	// InterimInterval is the accounting interim period
	// (Acct-Interim-Interval, RFC 2869 §5.16); 0 for none.
	InterimInterval time.Duration
	// RateLimit is the session's rate limit (a RouterOS rate-limit
	// string, as /ppp profile, /ppp secret and Mikrotik-Rate-Limit carry
	// it, parsed by control/ratelimit); zero for none. ShapeTx shapes the
	// download instead of policing it (the profile's queue-type).
	RateLimit ratelimit.Limit
	ShapeTx   bool
	// Class is echoed in accounting (RFC 2865 §5.25), opaque.
	Class [][]byte
	// Routes are the Framed-Routes towards the subscriber (RFC 2865
	// §5.22).
	Routes []netip.Prefix
	// Profile is the local /ppp profile the answer was resolved against,
	// "" when none.
	Profile string
	// Authorized is what an outside authority (RADIUS) granted the
	// session, nil for a local one: the state record keeps it while a
	// network protocol is not open, for Resumed.Authorized.
	Authorized *Authorized
}

// PrefixAllocator hands out IPv6 prefixes of one length
// (pool.PrefixPool), the shape control/ipv6/dhcp6 delegates from.
type PrefixAllocator interface {
	Allocate(hint netip.Prefix) (netip.Prefix, error)
	Reserve(p netip.Prefix) error
	Release(p netip.Prefix) error
}

// Grant is what an accepted Answer holds for its session: addresses
// (given out lazily, as IPCP starts, so a session that never gets there
// takes nothing from a pool) and whatever else Release gives back.
type Grant interface {
	// Assign returns the session's addresses; asked again, the same.
	Assign() (Addresses, error)
	// Release gives everything back; only the first call does anything.
	Release()
}

// Authenticate implements Backend over the local secrets: the answer
// comes before it returns (a map lookup and a hash). The Grant is a
// Lease: its addresses come from the secret, the profile and the pools.
func (l *Local) Authenticate(ctx context.Context, req Request, reply func(Answer)) {
	le := l.Begin(req.Service)
	res, err := le.Authenticate(Proof{
		Method:    req.Method,
		User:      req.User,
		Password:  req.Password,
		ID:        req.CHAPID,
		Challenge: req.Challenge,
		Response:  req.Response,
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		le.Release()
		msg := MessageAuthFailed
		if errors.Is(err, ErrOnlyOne) {
			msg = MessageOnlyOne
		}
		reply(Answer{Err: err, Message: msg})
		return
	}
	le.mu.Lock()
	sec := le.secret
	v6err := le.assignIPv6()
	v6 := le.v6
	le.mu.Unlock()
	if v6err != nil {
		l.log.Warn("IPv6 off for the session", zap.String("user", res.User), zap.Error(v6err))
	}
	a := Answer{
		Accept:                true,
		AuthenticatorResponse: res.AuthenticatorResponse,
		Lease:                 le,
		Local:                 sec.LocalAddress,
		Remote:                sec.RemoteAddress,
		DNS:                   res.Profile.DNS,
		ChangeTCPMSS:          res.Profile.ChangeTCPMSS,
		RateLimit:             res.Profile.RateLimit,
		ShapeTx:               res.Profile.ShapeTx,
		Profile:               res.Profile.Name,
		IPv6:                  v6.on,
		IPv6Link:              v6.link,
		IPv6DNS:               res.Profile.IPv6DNS,
		DHCPv6LeaseTime:       res.Profile.DHCPv6LeaseTime,
	}
	if v6.pd != nil {
		a.IPv6Delegate = v6.pd
	}
	if !a.Local.IsValid() {
		a.Local, _ = netip.ParseAddr(res.Profile.LocalAddress)
	}
	if !a.Remote.IsValid() {
		if r, perr := netip.ParseAddr(res.Profile.RemoteAddress); perr == nil {
			a.Remote = r
		} else {
			a.Pool = res.Profile.RemoteAddress
		}
	}
	reply(a)
}
