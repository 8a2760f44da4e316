// Package chap holds the Challenge-Handshake Authentication Protocol packets
// (RFC 1994 §4), carried in PPP frames with protocol ppp.ProtocolCHAP, and the
// layouts MS-CHAP puts inside them (RFC 2433, RFC 2759). Only layouts live
// here; the hashes are control/ppp/auth's.
package chap

import (
	"fmt"
	"io"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Code is a CHAP packet code (RFC 1994 §4).
type Code uint8

// CHAP codes. MS-CHAPv2 adds Change-Password (7) in RFC 2759 §7, which is
// not supported and parses as an unknown code.
const (
	CodeChallenge Code = 1 // RFC 1994 §4.1
	CodeResponse  Code = 2 // RFC 1994 §4.1
	CodeSuccess   Code = 3 // RFC 1994 §4.2
	CodeFailure   Code = 4 // RFC 1994 §4.2
)

// String returns the RFC 1994 name of the code.
func (c Code) String() string {
	switch c {
	case CodeChallenge:
		return "Challenge"
	case CodeResponse:
		return "Response"
	case CodeSuccess:
		return "Success"
	case CodeFailure:
		return "Failure"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Packet is one of *Challenge, *Response, *Success or *Failure.
type Packet interface {
	// Code returns the packet's code.
	Code() Code
	// MarshalBinary encodes the whole packet, header included.
	MarshalBinary() ([]byte, error)
}

// Challenge is a CHAP Challenge (RFC 1994 §4.1):
//
//	Code(1)=1 Identifier(1) Length(2) Value-Size(1) Value Name(rest)
//
// MD5 challenges are of any size; MS-CHAPv1 sends 8 octets, MS-CHAPv2 16.
type Challenge struct {
	Identifier uint8
	Value      []byte
	Name       string // the authenticator's system name
}

// Code implements Packet.
func (*Challenge) Code() Code { return CodeChallenge }

// MarshalBinary implements Packet.
func (c *Challenge) MarshalBinary() ([]byte, error) {
	return marshalValue(CodeChallenge, c.Identifier, c.Value, c.Name)
}

// UnmarshalBinary decodes a Challenge; Value aliases b.
func (c *Challenge) UnmarshalBinary(b []byte) error {
	id, v, name, err := parseValue(b, CodeChallenge)
	if err != nil {
		return err
	}
	*c = Challenge{Identifier: id, Value: v, Name: name}
	return nil
}

// Response is a CHAP Response (RFC 1994 §4.1), same layout as Challenge.
// For MD5 the Value is 16 octets; for MS-CHAP it is 49, see
// auth.MSCHAPv1Response and MSCHAPv2Response.
type Response struct {
	Identifier uint8
	Value      []byte
	Name       string // the peer's user name
}

// Code implements Packet.
func (*Response) Code() Code { return CodeResponse }

// MarshalBinary implements Packet.
func (r *Response) MarshalBinary() ([]byte, error) {
	return marshalValue(CodeResponse, r.Identifier, r.Value, r.Name)
}

// UnmarshalBinary decodes a Response; Value aliases b.
func (r *Response) UnmarshalBinary(b []byte) error {
	id, v, name, err := parseValue(b, CodeResponse)
	if err != nil {
		return err
	}
	*r = Response{Identifier: id, Value: v, Name: name}
	return nil
}

// Success is a CHAP Success (RFC 1994 §4.2):
//
//	Code(1)=3 Identifier(1) Length(2) Message(rest)
//
// MS-CHAPv2 puts its authenticator response here, see MSCHAPv2Success.
type Success struct {
	Identifier uint8
	Message    string
}

// Code implements Packet.
func (*Success) Code() Code { return CodeSuccess }

// MarshalBinary implements Packet.
func (s *Success) MarshalBinary() ([]byte, error) {
	return marshalMessage(CodeSuccess, s.Identifier, s.Message)
}

// UnmarshalBinary decodes a Success.
func (s *Success) UnmarshalBinary(b []byte) error {
	id, msg, err := parseMessage(b, CodeSuccess)
	if err != nil {
		return err
	}
	*s = Success{Identifier: id, Message: msg}
	return nil
}

// Failure is a CHAP Failure (RFC 1994 §4.2), same layout as Success.
// MS-CHAP puts its error code and retry data here, see MSCHAPFailure.
type Failure struct {
	Identifier uint8
	Message    string
}

// Code implements Packet.
func (*Failure) Code() Code { return CodeFailure }

// MarshalBinary implements Packet.
func (f *Failure) MarshalBinary() ([]byte, error) {
	return marshalMessage(CodeFailure, f.Identifier, f.Message)
}

// UnmarshalBinary decodes a Failure.
func (f *Failure) UnmarshalBinary(b []byte) error {
	id, msg, err := parseMessage(b, CodeFailure)
	if err != nil {
		return err
	}
	*f = Failure{Identifier: id, Message: msg}
	return nil
}

// Parse decodes any CHAP packet.
func Parse(b []byte) (Packet, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("chap: code: %w", io.ErrUnexpectedEOF)
	}
	var p interface {
		Packet
		UnmarshalBinary([]byte) error
	}
	switch Code(b[0]) {
	case CodeChallenge:
		p = new(Challenge)
	case CodeResponse:
		p = new(Response)
	case CodeSuccess:
		p = new(Success)
	case CodeFailure:
		p = new(Failure)
	default:
		return nil, fmt.Errorf("chap: unknown code %d", b[0])
	}
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}

// marshal writes the RFC 1661 §5 header (CHAP uses LCP's) in front of d.
func marshal(c Code, id uint8, d []byte) ([]byte, error) {
	p := ppp.Packet{Code: ppp.Code(c), Identifier: id, Data: d}
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("chap: %v: %w", c, err)
	}
	return b, nil
}

// parseHeader checks the code and Length (the header is RFC 1661 §5's) and
// returns the identifier and the data inside Length; octets past Length are
// padding.
func parseHeader(b []byte, want Code) (uint8, []byte, error) {
	var p ppp.Packet
	if err := p.UnmarshalBinary(b); err != nil {
		return 0, nil, fmt.Errorf("chap: %v: %w", want, err)
	}
	if Code(p.Code) != want {
		return 0, nil, fmt.Errorf("chap: code %v, want %v", Code(p.Code), want)
	}
	return p.Identifier, p.Data, nil
}

func marshalValue(c Code, id uint8, v []byte, name string) ([]byte, error) {
	if len(v) > 0xff {
		return nil, fmt.Errorf("chap: %v: value of %d octets exceeds 255", c, len(v))
	}
	d := make([]byte, 0, 1+len(v)+len(name))
	d = append(d, byte(len(v)))
	d = append(d, v...)
	return marshal(c, id, append(d, name...))
}

func parseValue(b []byte, c Code) (uint8, []byte, string, error) {
	id, d, err := parseHeader(b, c)
	if err != nil {
		return 0, nil, "", err
	}
	if len(d) < 1 {
		return 0, nil, "", fmt.Errorf("chap: %v: value-size: %w", c, io.ErrUnexpectedEOF)
	}
	n := int(d[0])
	if 1+n > len(d) {
		return 0, nil, "", fmt.Errorf("chap: %v: value-size %d overruns %d octets: %w", c, n, len(d)-1, io.ErrUnexpectedEOF)
	}
	return id, d[1 : 1+n], string(d[1+n:]), nil
}

func marshalMessage(c Code, id uint8, msg string) ([]byte, error) {
	return marshal(c, id, []byte(msg))
}

func parseMessage(b []byte, c Code) (uint8, string, error) {
	id, d, err := parseHeader(b, c)
	if err != nil {
		return 0, "", err
	}
	return id, string(d), nil
}
