package radius

import (
	"fmt"
	"net/netip"
	"time"
)

// Secret is a RADIUS shared secret (RFC 2865 §3). It never prints: every
// fmt verb, JSON and text encoding show "<hidden>", so a Server logged or
// dumped by mistake does not leak it. Use []byte(s) where the protocol
// needs the bytes.
type Secret string

const hidden = "<hidden>"

// String implements fmt.Stringer without the secret.
func (Secret) String() string { return hidden }

// GoString implements fmt.GoStringer without the secret.
func (Secret) GoString() string { return hidden }

// Format implements fmt.Formatter so that %x, %q and friends hide it too.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(hidden)) }

// MarshalText implements encoding.TextMarshaler without the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte(hidden), nil }

// Server is one RADIUS server as /radius describes it. Servers are tried in
// the order given.
type Server struct {
	Address netip.Addr
	Secret  Secret
	// AuthPort and AcctPort default to 1812 and 1813 (RFC 2865 §3,
	// RFC 2866 §3).
	AuthPort, AcctPort uint16
	// Timeout is how long one transmission waits for the answer before it
	// is sent again (RouterOS timeout, default 300ms).
	Timeout time.Duration
	// SrcAddress, when valid, is the local address requests leave from.
	SrcAddress netip.Addr
	// AcceptUnsigned is require-message-authenticator=no: an Access-Accept
	// or Access-Reject without Message-Authenticator is taken. The default
	// (false) drops it, which is what protects against BlastRADIUS
	// (CVE-2024-3596). A Message-Authenticator that is present is checked
	// whatever this says.
	AcceptUnsigned bool
}

// Defaults of a Server's zero fields.
const (
	DefaultAuthPort = 1812
	DefaultAcctPort = 1813
	DefaultTimeout  = 300 * time.Millisecond
)

func (s Server) authPort() uint16 { return orDefault(s.AuthPort, DefaultAuthPort) }
func (s Server) acctPort() uint16 { return orDefault(s.AcctPort, DefaultAcctPort) }

func (s Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func orDefault(p, d uint16) uint16 {
	if p == 0 {
		return d
	}
	return p
}

// String names the server by address and ports, never the secret.
func (s Server) String() string {
	return fmt.Sprintf("%s auth %d acct %d", s.Address, s.authPort(), s.acctPort())
}
