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

// NewCodeReject builds a Code-Reject whose Data, the Rejected-Packet, is
// rejected (a whole received packet) truncated so the Code-Reject itself
// is at most mru octets, as RFC 1661 §5.6 requires. The Rejected-Packet's
// own Length may therefore exceed what is carried.
func NewCodeReject(id uint8, rejected []byte, mru int) Packet {
	return Packet{Code: CodeReject, Identifier: id, Data: truncate(rejected, mru-HeaderLen)}
}

// NewProtocolReject builds a Protocol-Reject for frame f, its information
// truncated so the Protocol-Reject is at most mru octets (RFC 1661 §5.7).
func NewProtocolReject(id uint8, f Frame, mru int) Packet {
	r := ProtocolRejectData{Protocol: f.Protocol, Information: truncate(f.Information, mru-HeaderLen-2)}
	d, _ := r.MarshalBinary() // any protocol and information encode
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
