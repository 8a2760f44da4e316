package link

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
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

// Verifier checks a peer's credentials. Local secrets look the password up
// (see Passwords); a RADIUS verifier forwards the request. Verify is
// called synchronously inside Link.Receive with context.Background(): that
// suits a map lookup; a RADIUS verifier will need the call split into a
// request event and a later result call.
type Verifier interface {
	Verify(ctx context.Context, req AuthRequest) (AuthResult, error)
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
type AddressPolicy interface {
	Addresses(user string) (IPConfig, error)
}

// Passwords is a Verifier over local secrets: it returns the user's
// password, ok false for an unknown user.
type Passwords func(user string) (password string, ok bool)

// Verify implements Verifier for every method.
func (p Passwords) Verify(ctx context.Context, req AuthRequest) (AuthResult, error) {
	return AuthResult{}, nil
}

// AddressFunc adapts a function to AddressPolicy.
type AddressFunc func(user string) (IPConfig, error)

// Addresses implements AddressPolicy.
func (f AddressFunc) Addresses(user string) (IPConfig, error) { return f(user) }
