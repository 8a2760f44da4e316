// Package auth holds the cryptography of PPP authentication for both the
// authenticator and the peer: CHAP with MD5 (RFC 1994), MS-CHAPv1 (RFC 2433)
// and MS-CHAPv2 (RFC 2759), plus the Method enum that names them the way
// RouterOS does and maps them to the LCP Authentication-Protocol option
// (RFC 1661 §6.2).
//
// There is no packet framing here (the pap and chap codecs own the layouts)
// and no logging at all: secrets pass through these functions and must never
// reach a log line.
package auth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Method is an authentication method as listed by the RouterOS PPPoE server's
// `authentication` and the client's `allow` properties.
type Method uint8

// Authentication methods.
const (
	PAP      Method = iota + 1 // RFC 1334 §2, LCP option data c0 23
	CHAP                       // RFC 1994 §2, LCP option data c2 23 05 (MD5)
	MSCHAPv1                   // RFC 2433 §2, LCP option data c2 23 80
	MSCHAPv2                   // RFC 2759 §2, LCP option data c2 23 81
)

// CHAP Algorithm values carried after the protocol number in the LCP
// Authentication-Protocol option (RFC 1994 §3, RFC 2433 §2, RFC 2759 §2).
const (
	AlgorithmMD5      uint8 = 5
	AlgorithmMSCHAPv1 uint8 = 0x80
	AlgorithmMSCHAPv2 uint8 = 0x81
)

var methodNames = [...]string{
	PAP:      "pap",
	CHAP:     "chap",
	MSCHAPv1: "mschap1",
	MSCHAPv2: "mschap2",
}

// String returns the RouterOS name of m: pap, chap, mschap1 or mschap2.
func (m Method) String() string {
	if m >= PAP && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// ErrUnknownMethod is returned for a method name or an LCP
// Authentication-Protocol value this package does not implement; the LCP
// layer answers the latter with a Configure-Nak naming one it does.
var ErrUnknownMethod = errors.New("unknown authentication method")

// ParseMethod parses one RouterOS method name (ASCII case-insensitive).
func ParseMethod(s string) (Method, error) {
	for m := PAP; m <= MSCHAPv2; m++ {
		if strings.ToLower(s) == methodNames[m] {
			return m, nil
		}
	}
	return 0, fmt.Errorf("auth: method %q: %w", s, ErrUnknownMethod)
}

// Protocol returns the PPP protocol that carries m: PAP (0xc023) or CHAP
// (0xc223) for every CHAP flavour (RFC 1661 §6.2).
func (m Method) Protocol() ppp.Protocol {
	if m == PAP {
		return ppp.ProtocolPAP
	}
	return ppp.ProtocolCHAP
}

// Algorithm returns the CHAP Algorithm octet of m; ok is false for PAP, which
// has none (RFC 1994 §3).
func (m Method) Algorithm() (alg uint8, ok bool) {
	switch m {
	case CHAP:
		return AlgorithmMD5, true
	case MSCHAPv1:
		return AlgorithmMSCHAPv1, true
	case MSCHAPv2:
		return AlgorithmMSCHAPv2, true
	}
	return 0, false
}

// OptionData returns the Data of the LCP Authentication-Protocol option
// (type 3) that asks for m (RFC 1661 §6.2, RFC 1994 §3):
//
//	Authentication-Protocol(2) [Algorithm(1), CHAP only]
func (m Method) OptionData() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(m.Protocol()))
	if alg, ok := m.Algorithm(); ok {
		b = append(b, alg)
	}
	return b
}

// MethodFromOptionData parses the Data of an LCP Authentication-Protocol
// option. PAP carries no data after the protocol (RFC 1334 §2 says none is
// defined; trailing octets are an error), CHAP exactly one Algorithm octet.
// A well-formed value naming a protocol or algorithm not implemented here
// wraps ErrUnknownMethod.
func MethodFromOptionData(b []byte) (Method, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("auth: authentication-protocol: %w", io.ErrUnexpectedEOF)
	}
	switch p := ppp.Protocol(binary.BigEndian.Uint16(b)); p {
	case ppp.ProtocolPAP:
		if len(b) != 2 {
			return 0, fmt.Errorf("auth: authentication-protocol PAP: %d trailing octets", len(b)-2)
		}
		return PAP, nil
	case ppp.ProtocolCHAP:
		if len(b) != 3 {
			return 0, fmt.Errorf("auth: authentication-protocol CHAP: %d octets after protocol, want 1", len(b)-2)
		}
		switch b[2] {
		case AlgorithmMD5:
			return CHAP, nil
		case AlgorithmMSCHAPv1:
			return MSCHAPv1, nil
		case AlgorithmMSCHAPv2:
			return MSCHAPv2, nil
		}
		return 0, fmt.Errorf("auth: CHAP algorithm 0x%02x: %w", b[2], ErrUnknownMethod)
	default:
		return 0, fmt.Errorf("auth: authentication-protocol %s: %w", p, ErrUnknownMethod)
	}
}
