package aaa

import (
	"context"
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// Lease is the link's Verifier and AddressPolicy for its session.
var (
	_ link.Verifier      = (*Lease)(nil)
	_ link.AddressPolicy = (*Lease)(nil)
)

// Refusal messages sent to the peer in the PAP Authenticate-Nak or CHAP
// Failure (RFC 1334 §2.2.2, RFC 1994 §4.2). They do not say whether the user
// or the password was wrong.
const (
	MessageAuthFailed = "authentication failed"
	MessageOnlyOne    = "user already logged in"
)

// Verify implements link.Verifier: refused credentials are a result with OK
// false and a message for the peer, not an error; only a lease already
// released is an error. The reason of the last refusal is kept for the
// session's log line (Err).
func (le *Lease) Verify(_ context.Context, req link.AuthRequest) (link.AuthResult, error) {
	res, err := le.Authenticate(Proof{
		Method:    req.Method,
		User:      req.User,
		Password:  []byte(req.Password),
		ID:        req.Identifier,
		Challenge: req.Challenge,
		Response:  req.Response,
	})
	le.setErr(err)
	switch {
	case err == nil:
		return link.AuthResult{OK: true, AuthenticatorResponse: res.AuthenticatorResponse}, nil
	case errors.Is(err, ErrOnlyOne):
		return link.AuthResult{Message: MessageOnlyOne}, nil
	case errors.Is(err, ErrAuthFailed):
		return link.AuthResult{Message: MessageAuthFailed}, nil
	}
	return link.AuthResult{}, err
}

// Addresses implements link.AddressPolicy for the user this lease
// authenticated. The first error is kept (Err): pool exhaustion wraps
// pool.ErrNoAddrAvail.
func (le *Lease) Addresses(user string) (link.IPConfig, error) {
	if u := le.User(); u != user {
		err := fmt.Errorf("aaa: addresses for %q on a lease of %q", user, u)
		le.setErr(err)
		return link.IPConfig{}, err
	}
	a, err := le.Assign()
	le.setErr(err)
	if err != nil {
		return link.IPConfig{}, err
	}
	return a.IPConfig(), nil
}

// IPConfig is what IPCP assigns for a: the addresses and the first two
// DNS servers (RFC 1877 has room for two).
func (a Addresses) IPConfig() link.IPConfig {
	c := link.IPConfig{Local: a.Local, Remote: a.Remote}
	if len(a.DNS) > 0 {
		c.DNS1 = a.DNS[0]
	}
	if len(a.DNS) > 1 {
		c.DNS2 = a.DNS[1]
	}
	return c
}

func (le *Lease) setErr(err error) {
	le.mu.Lock()
	le.err = err
	le.mu.Unlock()
}

// Err returns the outcome of the lease's last Verify or Addresses call: nil
// after a success, else why the peer was refused or got no address. The
// session logs it as the reason it ended.
func (le *Lease) Err() error {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.err
}
