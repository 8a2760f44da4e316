package link

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
)

// AuthRequest is the credential a peer presented, for a Verifier.
type AuthRequest struct {
	Method auth.Method
	User   string
	// Password is the PAP password (RFC 1334 §2.2.1); empty for CHAP.
	Password string
	// Identifier, Challenge and Response are the CHAP exchange (RFC 1994
	// §4.1): the Challenge's Identifier and Value we sent and the Value of
	// the peer's Response (16 octets MD5, 49 MS-CHAP, RFC 2433 §2.2,
	// RFC 2759 §4).
	Identifier uint8
	Challenge  []byte
	Response   []byte
}

// String formats r without the password.
func (r AuthRequest) String() string {
	return fmt.Sprintf("%v user=%q", r.Method, r.User)
}

// AuthResult is a Verifier's verdict.
type AuthResult struct {
	OK bool
	// Message goes into the PAP Authenticate-Ack/Nak or the CHAP
	// Success/Failure (for MS-CHAP after the fields the link adds).
	Message string
	// AuthenticatorResponse is, for a successful MS-CHAPv2, the 42-octet
	// "S=<40 hex>" proving the verifier knew the password (RFC 2759 §5).
	AuthenticatorResponse []byte
}

// Verifier checks a peer's credentials synchronously, inside Link.Receive
// with context.Background(): it suits a map lookup (Passwords). A backend
// that waits on the network leaves Config.Verifier nil and answers the
// AuthRequested event with Link.Authenticated instead.
type Verifier interface {
	Verify(ctx context.Context, req AuthRequest) (AuthResult, error)
}

// Deferred is the Verifier of an owner that asks its backend itself: the
// link emits AuthRequested with the peer's proof and waits, its
// authentication deadline running, for Link.Authenticated.
var Deferred Verifier = deferred{}

type deferred struct{}

func (deferred) Verify(context.Context, AuthRequest) (AuthResult, error) {
	return AuthResult{}, fmt.Errorf("link: deferred verifier called: %w", ErrConfig)
}

// IPConfig is what IPCP assigns (RFC 1332 §3.3, RFC 1877 §1). Unset
// (invalid) DNS and NBNS addresses are not offered: the peer's request for
// them is Configure-Rejected.
type IPConfig struct {
	Local, Remote netip.Addr
	DNS1, DNS2    netip.Addr
	NBNS1, NBNS2  netip.Addr
}

// AddressPolicy gives the addresses of an authenticated user's session.
// An error wrapping ErrNoIPv4 says the user's service has no IPv4 at all:
// with IPv6 on, the link then runs IPv6CP alone.
type AddressPolicy interface {
	Addresses(user string) (IPConfig, error)
}

// ErrNoIPv4 is an AddressPolicy's answer for a user whose service
// configures no IPv4 address (no pool, no fixed address): not a failure
// when the user has IPv6. The access concentrator then offers IPv6 alone,
// answering IPCP with a Protocol-Reject (RFC 1661 §5.7) as pppd's noip
// does, and the session goes on over IPv6CP (RFC 5072).
var ErrNoIPv4 = errors.New("no IPv4 address configured")

// Passwords is a Verifier over local secrets: it returns the user's
// password, ok false for an unknown user.
type Passwords func(user string) (password string, ok bool)

// Verify implements Verifier for every method: PAP compares the password,
// CHAP-MD5 (RFC 1994 §4.1), MS-CHAPv1 (RFC 2433 §4) and MS-CHAPv2 (RFC
// 2759 §5) recompute the response; MS-CHAPv2 also returns the
// authenticator response (RFC 2759 §8.7). An unknown user or a malformed
// response is a plain failure, not an error.
func (p Passwords) Verify(ctx context.Context, req AuthRequest) (AuthResult, error) {
	pw, ok := p(req.User)
	if !ok {
		return AuthResult{}, nil
	}
	secret := []byte(pw)
	switch req.Method {
	case auth.PAP:
		ok = subtle.ConstantTimeCompare([]byte(req.Password), secret) == 1
	case auth.CHAP:
		ok = auth.VerifyMD5Response(req.Identifier, secret, req.Challenge, req.Response)
	case auth.MSCHAPv1:
		ok, _ = auth.VerifyMSCHAPv1Response(req.Challenge, secret, req.Response)
	case auth.MSCHAPv2:
		var r chap.MSCHAPv2Response
		if r.UnmarshalBinary(req.Response) != nil {
			return AuthResult{}, nil
		}
		user := auth.StripDomain([]byte(req.User))
		ok, _ = auth.VerifyNTResponse(req.Challenge, r.PeerChallenge[:], user, secret, r.NTResponse[:])
		if !ok {
			return AuthResult{}, nil
		}
		s, err := auth.GenerateAuthenticatorResponse(secret, r.NTResponse[:], r.PeerChallenge[:], req.Challenge, user)
		if err != nil {
			return AuthResult{}, fmt.Errorf("link: ms-chapv2 user %q: %w", req.User, err)
		}
		return AuthResult{OK: true, AuthenticatorResponse: s}, nil
	default:
		return AuthResult{}, fmt.Errorf("link: method %v: %w", req.Method, auth.ErrUnknownMethod)
	}
	return AuthResult{OK: ok}, nil
}

// AddressFunc adapts a function to AddressPolicy.
type AddressFunc func(user string) (IPConfig, error)

// Addresses implements AddressPolicy.
func (f AddressFunc) Addresses(user string) (IPConfig, error) { return f(user) }
