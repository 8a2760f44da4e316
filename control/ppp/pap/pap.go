// Package pap holds the Password Authentication Protocol packets
// (RFC 1334 §2.2), carried in PPP frames with protocol ppp.ProtocolPAP.
// Only the layouts live here; deciding who may log in is control/ppp/auth's.
package pap

import (
	"fmt"
	"io"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Code is a PAP packet code (RFC 1334 §2.2).
type Code uint8

// PAP codes.
const (
	AuthenticateRequest Code = 1 // RFC 1334 §2.2.1
	AuthenticateAck     Code = 2 // RFC 1334 §2.2.2
	AuthenticateNak     Code = 3 // RFC 1334 §2.2.2
)

// String returns the RFC 1334 name of the code.
func (c Code) String() string {
	switch c {
	case AuthenticateRequest:
		return "Authenticate-Request"
	case AuthenticateAck:
		return "Authenticate-Ack"
	case AuthenticateNak:
		return "Authenticate-Nak"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Packet is one of *Request, *Ack or *Nak.
type Packet interface {
	// Code returns the packet's code.
	Code() Code
	// MarshalBinary encodes the whole packet, header included.
	MarshalBinary() ([]byte, error)
}

// Request is an Authenticate-Request (RFC 1334 §2.2.1):
//
//	Code(1)=1 Identifier(1) Length(2) Peer-ID-Length(1) Peer-ID
//	Passwd-Length(1) Password
type Request struct {
	Identifier uint8
	PeerID     string
	Password   string
}

// Code implements Packet.
func (*Request) Code() Code { return AuthenticateRequest }

// MarshalBinary implements Packet.
func (r *Request) MarshalBinary() ([]byte, error) {
	if len(r.PeerID) > 0xff || len(r.Password) > 0xff {
		return nil, fmt.Errorf("pap: request: peer-id of %d or password of %d octets exceeds 255",
			len(r.PeerID), len(r.Password))
	}
	d := make([]byte, 0, 2+len(r.PeerID)+len(r.Password))
	d = append(d, byte(len(r.PeerID)))
	d = append(d, r.PeerID...)
	d = append(d, byte(len(r.Password)))
	d = append(d, r.Password...)
	return marshal(AuthenticateRequest, r.Identifier, d)
}

// UnmarshalBinary decodes an Authenticate-Request. Octets after the password
// but inside Length are ignored, as are octets past Length (padding).
func (r *Request) UnmarshalBinary(b []byte) error {
	id, d, err := parseHeader(b, AuthenticateRequest)
	if err != nil {
		return err
	}
	peer, d, err := lengthPrefixed(d)
	if err != nil {
		return fmt.Errorf("pap: request: peer-id: %w", err)
	}
	pass, _, err := lengthPrefixed(d)
	if err != nil {
		return fmt.Errorf("pap: request: password: %w", err)
	}
	*r = Request{Identifier: id, PeerID: string(peer), Password: string(pass)}
	return nil
}

// Ack is an Authenticate-Ack (RFC 1334 §2.2.2):
//
//	Code(1)=2 Identifier(1) Length(2) Msg-Length(1) Message
type Ack struct {
	Identifier uint8
	Message    string
}

// Code implements Packet.
func (*Ack) Code() Code { return AuthenticateAck }

// MarshalBinary implements Packet.
func (a *Ack) MarshalBinary() ([]byte, error) {
	return marshalReply(AuthenticateAck, a.Identifier, a.Message)
}

// UnmarshalBinary decodes an Authenticate-Ack; see Nak.UnmarshalBinary.
func (a *Ack) UnmarshalBinary(b []byte) error {
	id, msg, err := parseReply(b, AuthenticateAck)
	if err != nil {
		return err
	}
	*a = Ack{Identifier: id, Message: msg}
	return nil
}

// Nak is an Authenticate-Nak (RFC 1334 §2.2.2), same layout as Ack.
type Nak struct {
	Identifier uint8
	Message    string
}

// Code implements Packet.
func (*Nak) Code() Code { return AuthenticateNak }

// MarshalBinary implements Packet.
func (n *Nak) MarshalBinary() ([]byte, error) {
	return marshalReply(AuthenticateNak, n.Identifier, n.Message)
}

// UnmarshalBinary decodes an Authenticate-Nak. A packet with no Msg-Length
// octet at all (Length 4), which some servers send, is an empty message.
func (n *Nak) UnmarshalBinary(b []byte) error {
	id, msg, err := parseReply(b, AuthenticateNak)
	if err != nil {
		return err
	}
	*n = Nak{Identifier: id, Message: msg}
	return nil
}

// Parse decodes any PAP packet.
func Parse(b []byte) (Packet, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("pap: code: %w", io.ErrUnexpectedEOF)
	}
	var p interface {
		Packet
		UnmarshalBinary([]byte) error
	}
	switch Code(b[0]) {
	case AuthenticateRequest:
		p = new(Request)
	case AuthenticateAck:
		p = new(Ack)
	case AuthenticateNak:
		p = new(Nak)
	default:
		return nil, fmt.Errorf("pap: unknown code %d", b[0])
	}
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}

// marshal writes the RFC 1661 §5 header (PAP uses LCP's) in front of d.
func marshal(c Code, id uint8, d []byte) ([]byte, error) {
	p := ppp.Packet{Code: ppp.Code(c), Identifier: id, Data: d}
	return p.MarshalBinary()
}

// parseHeader checks the code and Length (the header is RFC 1661 §5's) and
// returns the identifier and the data inside Length.
func parseHeader(b []byte, want Code) (uint8, []byte, error) {
	var p ppp.Packet
	if err := p.UnmarshalBinary(b); err != nil {
		return 0, nil, fmt.Errorf("pap: %v: %w", want, err)
	}
	if Code(p.Code) != want {
		return 0, nil, fmt.Errorf("pap: code %v, want %v", Code(p.Code), want)
	}
	return p.Identifier, p.Data, nil
}

func lengthPrefixed(d []byte) (field, rest []byte, err error) {
	if len(d) < 1 {
		return nil, nil, fmt.Errorf("length octet: %w", io.ErrUnexpectedEOF)
	}
	n := int(d[0])
	if 1+n > len(d) {
		return nil, nil, fmt.Errorf("length %d overruns %d octets: %w", n, len(d)-1, io.ErrUnexpectedEOF)
	}
	return d[1 : 1+n], d[1+n:], nil
}

func marshalReply(c Code, id uint8, msg string) ([]byte, error) {
	if len(msg) > 0xff {
		return nil, fmt.Errorf("pap: %v: message of %d octets exceeds 255", c, len(msg))
	}
	return marshal(c, id, append([]byte{byte(len(msg))}, msg...))
}

func parseReply(b []byte, c Code) (uint8, string, error) {
	id, d, err := parseHeader(b, c)
	if err != nil {
		return 0, "", err
	}
	if len(d) == 0 {
		return id, "", nil
	}
	msg, _, err := lengthPrefixed(d)
	if err != nil {
		return 0, "", fmt.Errorf("pap: %v: message: %w", c, err)
	}
	return id, string(msg), nil
}
