package ppp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrOptionLength is wrapped by the typed option parsers (lcp, ipcp, ipv6cp)
// when a known option has a length its RFC does not allow. The automaton
// treats such an option as unacceptable rather than as a malformed packet.
var ErrOptionLength = errors.New("invalid option length")

// EchoData is the Data of an Echo-Request, Echo-Reply or Discard-Request
// (RFC 1661 §5.8):
//
//	Magic-Number(4) Data(rest)
type EchoData struct {
	Magic uint32 // the sender's negotiated Magic-Number, or 0
	Data  []byte // uninterpreted; an Echo-Reply returns the request's
}

// MarshalBinary encodes e.
func (e *EchoData) MarshalBinary() ([]byte, error) {
	b := make([]byte, 4+len(e.Data))
	binary.BigEndian.PutUint32(b, e.Magic)
	copy(b[4:], e.Data)
	return b, nil
}

// UnmarshalBinary decodes e from a packet's Data; e.Data aliases b.
func (e *EchoData) UnmarshalBinary(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("ppp: echo magic-number: %w", io.ErrUnexpectedEOF)
	}
	e.Magic = binary.BigEndian.Uint32(b)
	e.Data = b[4:]
	return nil
}

// ProtocolRejectData is the Data of an LCP Protocol-Reject (RFC 1661 §5.7):
//
//	Rejected-Protocol(2) Rejected-Information(rest)
//
// The rejected protocol is always in its 2-octet form, whatever PFC says.
type ProtocolRejectData struct {
	Protocol    Protocol
	Information []byte // the rejected frame's information, truncated to the MRU
}

// MarshalBinary encodes r.
func (r *ProtocolRejectData) MarshalBinary() ([]byte, error) {
	f := Frame{Protocol: r.Protocol, Information: r.Information}
	return f.MarshalBinary()
}

// UnmarshalBinary decodes r from a packet's Data; r.Information aliases b.
func (r *ProtocolRejectData) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("ppp: protocol-reject: rejected protocol: %w", io.ErrUnexpectedEOF)
	}
	r.Protocol = Protocol(binary.BigEndian.Uint16(b))
	r.Information = b[2:]
	return nil
}

// CodeRejectData is the Data of a Code-Reject (RFC 1661 §5.6): the rejected
// packet, starting at its Code field, truncated so the reply fits the MRU.
// The rejected packet's Length may therefore exceed what is present.
type CodeRejectData struct {
	Rejected []byte
}

// MarshalBinary encodes r.
func (r *CodeRejectData) MarshalBinary() ([]byte, error) {
	return append([]byte(nil), r.Rejected...), nil
}

// UnmarshalBinary decodes r; it needs at least the rejected Code and
// Identifier to say which packet was rejected. r.Rejected aliases b.
func (r *CodeRejectData) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("ppp: code-reject: rejected packet: %w", io.ErrUnexpectedEOF)
	}
	r.Rejected = b
	return nil
}

// Code returns the Code of the rejected packet.
func (r *CodeRejectData) Code() Code { return Code(r.Rejected[0]) }

// Identifier returns the Identifier of the rejected packet.
func (r *CodeRejectData) Identifier() uint8 { return r.Rejected[1] }

// NewCodeReject builds a Code-Reject carrying rejected (a whole received
// packet) truncated so the Code-Reject itself is at most mru octets, as
// RFC 1661 §5.6 requires.
func NewCodeReject(id uint8, rejected []byte, mru int) Packet {
	return Packet{Code: CodeReject, Identifier: id, Data: truncate(rejected, mru-HeaderLen)}
}

// NewProtocolReject builds a Protocol-Reject for frame f, its information
// truncated so the Protocol-Reject is at most mru octets (RFC 1661 §5.7).
func NewProtocolReject(id uint8, f Frame, mru int) Packet {
	d := make([]byte, 2, 2+len(f.Information))
	binary.BigEndian.PutUint16(d, uint16(f.Protocol))
	d = append(d, truncate(f.Information, mru-HeaderLen-2)...)
	return Packet{Code: ProtocolReject, Identifier: id, Data: d}
}

func truncate(b []byte, n int) []byte {
	n = max(n, 0)
	if len(b) > n {
		return b[:n]
	}
	return b
}

// TerminateData is the Data of a Terminate-Request or Terminate-Ack
// (RFC 1661 §5.5): uninterpreted octets, by convention a human-readable
// reason (pppd and RouterOS send text such as "User request").
type TerminateData struct {
	Reason string
}

// MarshalBinary encodes t.
func (t *TerminateData) MarshalBinary() ([]byte, error) { return []byte(t.Reason), nil }

// UnmarshalBinary decodes t; any octets are valid.
func (t *TerminateData) UnmarshalBinary(b []byte) error {
	t.Reason = string(b)
	return nil
}
