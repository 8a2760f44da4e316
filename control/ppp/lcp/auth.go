package lcp

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Algorithm is the CHAP Algorithm octet of the Authentication-Protocol
// option (RFC 1994 §3, IANA "PPP Authentication Algorithms").
type Algorithm uint8

// CHAP algorithms.
const (
	AlgorithmMD5      Algorithm = 0x05 // CHAP with MD5, RFC 1994 §3
	AlgorithmMSCHAPv1 Algorithm = 0x80 // MS-CHAP, RFC 2433 §2
	AlgorithmMSCHAPv2 Algorithm = 0x81 // MS-CHAP-V2, RFC 2759 §2
)

// String returns the algorithm's usual name.
func (a Algorithm) String() string {
	switch a {
	case AlgorithmMD5:
		return "MD5"
	case AlgorithmMSCHAPv1:
		return "MS-CHAPv1"
	case AlgorithmMSCHAPv2:
		return "MS-CHAPv2"
	}
	return fmt.Sprintf("Algorithm(0x%02x)", uint8(a))
}

// AuthProtocol is the Authentication-Protocol option (RFC 1661 §6.2):
//
//	Authentication-Protocol(2) Data(rest)
//
// For CHAP the data is exactly the Algorithm octet (RFC 1994 §3); PAP
// (RFC 1334 §3.1) and EAP (RFC 3748 §7.1) carry none; any other protocol's
// data is kept in Data.
type AuthProtocol struct {
	Protocol  ppp.Protocol
	Algorithm Algorithm // CHAP only
	Data      []byte    // protocols other than PAP, CHAP and EAP
}

// Type implements Option.
func (AuthProtocol) Type() Type { return TypeAuthProtocol }

func (a AuthProtocol) data() ([]byte, error) {
	b := binary.BigEndian.AppendUint16(nil, uint16(a.Protocol))
	switch a.Protocol {
	case ppp.ProtocolCHAP:
		return append(b, byte(a.Algorithm)), nil
	case ppp.ProtocolPAP, ppp.ProtocolEAP:
		return b, nil
	}
	return append(b, a.Data...), nil
}

func parseAuthProtocol(d []byte) (Option, error) {
	if len(d) < 2 {
		return nil, lengthErr(len(d), "at least 4")
	}
	a := AuthProtocol{Protocol: ppp.Protocol(binary.BigEndian.Uint16(d))}
	rest := d[2:]
	switch a.Protocol {
	case ppp.ProtocolCHAP:
		if len(rest) != 1 {
			return nil, fmt.Errorf("CHAP: %w", lengthErr(len(d), "5"))
		}
		a.Algorithm = Algorithm(rest[0])
	case ppp.ProtocolPAP, ppp.ProtocolEAP:
		if len(rest) != 0 {
			return nil, fmt.Errorf("%v: %w", a.Protocol, lengthErr(len(d), "4"))
		}
	default:
		a.Data = rest
	}
	return a, nil
}

// QualityProtocol is the Quality-Protocol option (RFC 1661 §6.3):
//
//	Quality-Protocol(2) Data(rest)
//
// For LQR the data is a 4-octet Reporting-Period (RFC 1989 §2.5), kept in
// Data like any other protocol's.
type QualityProtocol struct {
	Protocol ppp.Protocol
	Data     []byte
}

// Type implements Option.
func (QualityProtocol) Type() Type { return TypeQualityProtocol }

func (q QualityProtocol) data() ([]byte, error) {
	if q.Protocol == ppp.ProtocolLQR && len(q.Data) != 4 {
		return nil, fmt.Errorf("LQR: %w", lengthErr(2+len(q.Data), "8"))
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(q.Protocol)), q.Data...), nil
}

func parseQualityProtocol(d []byte) (Option, error) {
	if len(d) < 2 {
		return nil, lengthErr(len(d), "at least 4")
	}
	q := QualityProtocol{Protocol: ppp.Protocol(binary.BigEndian.Uint16(d)), Data: d[2:]}
	if q.Protocol == ppp.ProtocolLQR && len(q.Data) != 4 {
		return nil, fmt.Errorf("LQR: %w", lengthErr(len(d), "8"))
	}
	return q, nil
}

// Class is an Endpoint-Discriminator class (RFC 1990 §5.1.3).
type Class uint8

// Endpoint-Discriminator classes (RFC 1990 §5.1.3).
const (
	ClassNull       Class = 0 // no address
	ClassLocal      Class = 1 // locally assigned, up to 20 octets
	ClassIPv4       Class = 2 // Internet Protocol address, 4 octets
	ClassMAC        Class = 3 // IEEE 802.1 globally assigned MAC, 6 octets
	ClassMagicBlock Class = 4 // PPP magic-number block, up to 20 octets in 4s
	ClassPSTN       Class = 5 // public switched network directory number, up to 15 octets
)

// EndpointDiscriminator is the Multilink Endpoint-Discriminator option
// (RFC 1990 §5.1.3):
//
//	Class(1) Address(rest)
type EndpointDiscriminator struct {
	Class   Class
	Address []byte
}

// Type implements Option.
func (EndpointDiscriminator) Type() Type { return TypeEndpointDiscriminator }

func (e EndpointDiscriminator) data() ([]byte, error) {
	if err := e.Class.check(len(e.Address)); err != nil {
		return nil, err
	}
	return append([]byte{byte(e.Class)}, e.Address...), nil
}

// check enforces the class's address length (RFC 1990 §5.1.3); classes
// defined later keep the option-wide maximum of 20 octets.
func (c Class) check(n int) error {
	bad := false
	switch c {
	case ClassNull:
		bad = n != 0
	case ClassIPv4:
		bad = n != 4
	case ClassMAC:
		bad = n != 6
	case ClassMagicBlock:
		bad = n > 20 || n%4 != 0
	case ClassPSTN:
		bad = n > 15
	default:
		bad = n > 20
	}
	if bad {
		return fmt.Errorf("class %d: address of %d octets: %w", c, n, ppp.ErrOptionLength)
	}
	return nil
}

func parseEndpointDiscriminator(d []byte) (Option, error) {
	if len(d) < 1 {
		return nil, fmt.Errorf("class: %w: %w", io.ErrUnexpectedEOF, ppp.ErrOptionLength)
	}
	e := EndpointDiscriminator{Class: Class(d[0]), Address: d[1:]}
	if err := e.Class.check(len(e.Address)); err != nil {
		return nil, err
	}
	return e, nil
}
