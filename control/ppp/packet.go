package ppp

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Code is the Code field of an LCP-style control packet (RFC 1661 §5).
// IPCP and IPv6CP use codes 1-7 only (RFC 1332 §2, RFC 5072 §3).
type Code uint8

// Control packet codes (RFC 1661 §5.1-§5.8).
const (
	ConfigureRequest Code = 1  // RFC 1661 §5.1
	ConfigureAck     Code = 2  // RFC 1661 §5.2
	ConfigureNak     Code = 3  // RFC 1661 §5.3
	ConfigureReject  Code = 4  // RFC 1661 §5.4
	TerminateRequest Code = 5  // RFC 1661 §5.5
	TerminateAck     Code = 6  // RFC 1661 §5.5
	CodeReject       Code = 7  // RFC 1661 §5.6
	ProtocolReject   Code = 8  // RFC 1661 §5.7, LCP only
	EchoRequest      Code = 9  // RFC 1661 §5.8, LCP only
	EchoReply        Code = 10 // RFC 1661 §5.8, LCP only
	DiscardRequest   Code = 11 // RFC 1661 §5.8, LCP only
)

var codeNames = [...]string{
	ConfigureRequest: "Configure-Request",
	ConfigureAck:     "Configure-Ack",
	ConfigureNak:     "Configure-Nak",
	ConfigureReject:  "Configure-Reject",
	TerminateRequest: "Terminate-Request",
	TerminateAck:     "Terminate-Ack",
	CodeReject:       "Code-Reject",
	ProtocolReject:   "Protocol-Reject",
	EchoRequest:      "Echo-Request",
	EchoReply:        "Echo-Reply",
	DiscardRequest:   "Discard-Request",
}

// String returns the RFC 1661 name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// HeaderLen is the length of the Code, Identifier and Length fields.
const HeaderLen = 4

// Packet is an LCP, IPCP or IPv6CP control packet (RFC 1661 §5):
//
//	Code(1) Identifier(1) Length(2) Data(Length-4)
//
// Length is derived from Data on marshal.
type Packet struct {
	Code       Code
	Identifier uint8
	Data       []byte
}

// MarshalBinary encodes p; Data longer than 65531 octets cannot be expressed.
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, HeaderLen+len(p.Data)))
}

// AppendBinary appends the encoding of p to b (encoding.BinaryAppender),
// so a caller that builds a packet around its data encodes it once.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	n := HeaderLen + len(p.Data)
	if n > 0xffff {
		return nil, fmt.Errorf("ppp: packet: %d data octets exceed the Length field", len(p.Data))
	}
	b = append(b, byte(p.Code), p.Identifier)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, p.Data...), nil
}

// UnmarshalBinary decodes a packet. Octets past Length are padding and are
// ignored (RFC 1661 §5); a Length below 4 or beyond b is an error (the RFC
// says silently discard, which is the caller's decision). Data aliases b.
func (p *Packet) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("ppp: packet header: %w", io.ErrUnexpectedEOF)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < HeaderLen {
		return fmt.Errorf("ppp: packet: length %d below header length %d", n, HeaderLen)
	}
	if n > len(b) {
		return fmt.Errorf("ppp: packet: length %d exceeds %d octets: %w", n, len(b), io.ErrUnexpectedEOF)
	}
	p.Code = Code(b[0])
	p.Identifier = b[1]
	p.Data = b[HeaderLen:n]
	return nil
}
