// Package ppp holds the wire codecs of the Point-to-Point Protocol (RFC 1661)
// as it is carried inside PPPoE sessions (RFC 2516 §7): the frame (protocol
// field + information), the control packet shared by LCP, IPCP and IPv6CP
// (RFC 1661 §5) and raw configuration options (RFC 1661 §6).
//
// Typed options live in the lcp, ipcp and ipv6cp subpackages; authentication
// packets in pap and chap.
package ppp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Protocol is the PPP Protocol field (RFC 1661 §2, assigned numbers in RFC 1700
// and the IANA "PPP DLL Protocol Numbers" registry).
type Protocol uint16

// PPP protocol numbers used by this project.
const (
	ProtocolIPv4   Protocol = 0x0021 // Internet Protocol version 4 (RFC 1332)
	ProtocolMP     Protocol = 0x003d // PPP Multilink (RFC 1990)
	ProtocolIPv6   Protocol = 0x0057 // Internet Protocol version 6 (RFC 5072)
	ProtocolIPCP   Protocol = 0x8021 // IP Control Protocol (RFC 1332)
	ProtocolIPv6CP Protocol = 0x8057 // IPv6 Control Protocol (RFC 5072)
	ProtocolCCP    Protocol = 0x80fd // Compression Control Protocol (RFC 1962)
	ProtocolLCP    Protocol = 0xc021 // Link Control Protocol (RFC 1661 §5)
	ProtocolPAP    Protocol = 0xc023 // Password Authentication Protocol (RFC 1334 §2)
	ProtocolLQR    Protocol = 0xc025 // Link Quality Report (RFC 1989)
	ProtocolCHAP   Protocol = 0xc223 // Challenge Handshake Authentication Protocol (RFC 1994)
	ProtocolEAP    Protocol = 0xc227 // Extensible Authentication Protocol (RFC 3748)
)

// String returns the protocol's usual abbreviation, or its number in hex.
func (p Protocol) String() string {
	switch p {
	case ProtocolIPv4:
		return "IPv4"
	case ProtocolMP:
		return "MP"
	case ProtocolIPv6:
		return "IPv6"
	case ProtocolIPCP:
		return "IPCP"
	case ProtocolIPv6CP:
		return "IPv6CP"
	case ProtocolCCP:
		return "CCP"
	case ProtocolLCP:
		return "LCP"
	case ProtocolPAP:
		return "PAP"
	case ProtocolLQR:
		return "LQR"
	case ProtocolCHAP:
		return "CHAP"
	case ProtocolEAP:
		return "EAP"
	}
	return fmt.Sprintf("Protocol(0x%04x)", uint16(p))
}

// Valid reports whether p is a well-formed protocol number: RFC 1661 §2
// requires the least significant bit of the least significant octet to be 1
// and the least significant bit of the most significant octet to be 0.
func (p Protocol) Valid() bool {
	return p&0x0001 == 1 && p&0x0100 == 0
}

// ErrInvalidProtocol is returned for a Protocol field that breaks the
// RFC 1661 §2 odd/even rule (callers answer it with a Protocol-Reject or drop).
var ErrInvalidProtocol = errors.New("invalid protocol number")

// Frame is a PPP frame as carried in a PPPoE session payload: no HDLC
// address/control field and no FCS (RFC 2516 §7).
type Frame struct {
	Protocol    Protocol
	Information []byte // includes any padding; PPPoE has none of its own
}

// MarshalBinary encodes f with the full 2-octet Protocol field; this side never
// compresses it (PFC is only ever accepted, RFC 1661 §6.5).
func (f *Frame) MarshalBinary() ([]byte, error) {
	b := make([]byte, 2+len(f.Information))
	binary.BigEndian.PutUint16(b, uint16(f.Protocol))
	copy(b[2:], f.Information)
	return b, nil
}

// UnmarshalBinary decodes a frame. An odd first octet is a Protocol field
// compressed to one octet (RFC 1661 §6.5); the receiver must accept it
// whatever was negotiated. Information aliases b.
func (f *Frame) UnmarshalBinary(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("ppp: frame: %w", io.ErrUnexpectedEOF)
	}
	var n int
	if b[0]&1 == 1 {
		f.Protocol, n = Protocol(b[0]), 1
	} else {
		if len(b) < 2 {
			return fmt.Errorf("ppp: frame: protocol field: %w", io.ErrUnexpectedEOF)
		}
		f.Protocol, n = Protocol(binary.BigEndian.Uint16(b)), 2
		if !f.Protocol.Valid() {
			return fmt.Errorf("ppp: frame: protocol 0x%04x: %w", uint16(f.Protocol), ErrInvalidProtocol)
		}
	}
	f.Information = b[n:]
	return nil
}
