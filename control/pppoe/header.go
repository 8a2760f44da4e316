// Package pppoe implements PPP over Ethernet (RFC 2516): the packet codec for
// both stages, every discovery tag (with RFC 4638 PPP-Max-Payload), the
// per-code rules of RFC 2516 §5, and the discovery loops of the access
// concentrator and the client.
//
// Parsing and validation are separate: UnmarshalBinary accepts anything that
// is well-formed on the wire, Validate applies the RFC's per-code rules, so a
// tolerant receiver can log and carry on where a strict one drops.
package pppoe

import (
	"fmt"
	"io"
)

// Code is the PPPoE CODE field (RFC 2516 §4).
type Code uint8

// Codes of RFC 2516 §5 and RFC 4937 §3.
const (
	// CodeSession marks a session-stage packet (RFC 2516 §6).
	CodeSession Code = 0x00
	// CodePADO is the PPPoE Active Discovery Offer (RFC 2516 §5.2).
	CodePADO Code = 0x07
	// CodePADI is the PPPoE Active Discovery Initiation (RFC 2516 §5.1).
	CodePADI Code = 0x09
	// CodePADR is the PPPoE Active Discovery Request (RFC 2516 §5.3).
	CodePADR Code = 0x19
	// CodePADS is the PPPoE Active Discovery Session-confirmation (RFC 2516 §5.4).
	CodePADS Code = 0x65
	// CodePADT is the PPPoE Active Discovery Terminate (RFC 2516 §5.5).
	CodePADT Code = 0xa7
	// CodePADM is the PPPoE Active Discovery Message (RFC 4937 §3.1); tags are kept raw.
	CodePADM Code = 0xd3
	// CodePADN is the PPPoE Active Discovery Network (RFC 4937 §3.2); tags are kept raw.
	CodePADN Code = 0xd4
)

// String returns the RFC's name for c.
func (c Code) String() string {
	switch c {
	case CodeSession:
		return "Session"
	case CodePADO:
		return "PADO"
	case CodePADI:
		return "PADI"
	case CodePADR:
		return "PADR"
	case CodePADS:
		return "PADS"
	case CodePADT:
		return "PADT"
	case CodePADM:
		return "PADM"
	case CodePADN:
		return "PADN"
	}
	return fmt.Sprintf("Code(0x%02x)", uint8(c))
}

// HeaderLen is the size of the PPPoE header (RFC 2516 §4).
const HeaderLen = 6

// verType is VER=1 in the high nibble and TYPE=1 in the low one (RFC 2516 §4).
const verType = 0x11

// SessionIDReserved is the session id RFC 2516 §4 reserves ("MUST NOT be used").
const SessionIDReserved = 0xffff

// Packet is one PPPoE packet, the Ethernet payload of EtherType 0x8863 or
// 0x8864 (RFC 2516 §4).
type Packet struct {
	// Code selects the stage and, in discovery, the message.
	Code Code
	// SessionID is zero in PADI/PADO/PADR, assigned in PADS (RFC 2516 §5).
	SessionID uint16
	// Tags are the discovery-stage tags (Code != CodeSession), in wire order.
	Tags []Tag
	// Payload is the PPP frame of a session-stage packet (Code == CodeSession),
	// starting at the PPP protocol field (RFC 2516 §6).
	Payload []byte
}

// length returns the encoded size of p:
//
//	1 VER (4 bits) | TYPE (4 bits)
//	1 CODE
//	2 SESSION_ID
//	2 LENGTH (of what follows)
//	n tags (each: TAG_TYPE 2, TAG_LENGTH 2, TAG_VALUE) or PPP payload
func (p *Packet) length() int {
	n := HeaderLen + len(p.Payload)
	for _, t := range p.Tags {
		if t != nil {
			n += tagHeaderLen + valueLen(t)
		}
	}
	return n
}

// MarshalBinary encodes p with VER=1, TYPE=1 and LENGTH computed. It refuses
// tags on a session packet, a payload on a discovery packet, tags longer than
// 65535 bytes and a total over 65535: each would encode something else than p.
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, p.length()))
}

// AppendBinary appends the encoding of p to b (encoding.BinaryAppender).
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	if p.Code == CodeSession && len(p.Tags) > 0 {
		return nil, fmt.Errorf("pppoe: session packet with %d tags (tags are for discovery)", len(p.Tags))
	}
	if p.Code != CodeSession && len(p.Payload) > 0 {
		return nil, fmt.Errorf("pppoe: %v with a %d-byte payload (discovery carries tags only)", p.Code, len(p.Payload))
	}
	start := len(b)
	b = append(b, verType, byte(p.Code), byte(p.SessionID>>8), byte(p.SessionID), 0, 0)
	b = append(b, p.Payload...)
	for i, t := range p.Tags {
		var err error
		if b, err = appendTag(b, t); err != nil {
			return nil, fmt.Errorf("pppoe: tag %d: %w", i, err)
		}
	}
	n := len(b) - start - HeaderLen
	if n > 0xffff {
		return nil, fmt.Errorf("pppoe: %v body of %d bytes exceeds the 16-bit LENGTH field", p.Code, n)
	}
	b[start+4], b[start+5] = byte(n>>8), byte(n)
	return b, nil
}

// UnmarshalBinary decodes a PPPoE packet from b, the Ethernet payload. Bytes
// after LENGTH are Ethernet padding and are ignored (RFC 2516 §4). VER and
// TYPE other than 1 are rejected; a LENGTH beyond the end of b returns an
// error wrapping io.ErrUnexpectedEOF. Any code parses: non-session codes are
// read as tags. p does not alias b. Per-code rules are left to Validate.
func (p *Packet) UnmarshalBinary(b []byte) error {
	*p = Packet{}
	if len(b) < HeaderLen {
		return fmt.Errorf("pppoe: packet of %d bytes, header needs %d: %w", len(b), HeaderLen, io.ErrUnexpectedEOF)
	}
	if b[0] != verType {
		return fmt.Errorf("pppoe: VER %d TYPE %d at offset 0, want 1 and 1", b[0]>>4, b[0]&0x0f)
	}
	p.Code = Code(b[1])
	p.SessionID = uint16(b[2])<<8 | uint16(b[3])
	n := int(b[4])<<8 | int(b[5])
	if len(b)-HeaderLen < n {
		return fmt.Errorf("pppoe: %v LENGTH %d at offset 4 exceeds the %d bytes that follow the header: %w",
			p.Code, n, len(b)-HeaderLen, io.ErrUnexpectedEOF)
	}
	body := make([]byte, n)
	copy(body, b[HeaderLen:HeaderLen+n])
	if p.Code == CodeSession {
		p.Payload = body
		return nil
	}
	tags, err := parseTags(body, HeaderLen)
	if err != nil {
		return fmt.Errorf("pppoe: %v: %w", p.Code, err)
	}
	p.Tags = tags
	return nil
}
