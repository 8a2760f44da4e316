package chap

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MSCHAPResponseLen is the Value-Size of both MS-CHAP Response layouts
// (RFC 2433 §2.2, RFC 2759 §4). MS-CHAPv1's, whose only field that counts
// is the NT-Response, is built and checked in control/ppp/auth
// (MSCHAPv1Response, VerifyMSCHAPv1Response).
const MSCHAPResponseLen = 49

// MSCHAPv2Response is the Value of an MS-CHAPv2 Response (RFC 2759 §4):
//
//	Peer-Challenge(16) Reserved(8)=0 NT-Response(24) Flags(1)=0
type MSCHAPv2Response struct {
	PeerChallenge [16]byte
	NTResponse    [24]byte
	Flags         uint8 // reserved, zero (RFC 2759 §4)
}

// MarshalBinary encodes r as a 49-octet Response Value with zero Reserved.
func (r *MSCHAPv2Response) MarshalBinary() ([]byte, error) {
	b := make([]byte, MSCHAPResponseLen)
	copy(b[0:16], r.PeerChallenge[:])
	copy(b[24:48], r.NTResponse[:])
	b[48] = r.Flags
	return b, nil
}

// UnmarshalBinary decodes a Response Value, which must be 49 octets. The
// Reserved octets are ignored, as RFC 2759 §4 asks of receivers in spirit
// (they "MUST be zero" on send only).
func (r *MSCHAPv2Response) UnmarshalBinary(b []byte) error {
	if len(b) != MSCHAPResponseLen {
		return fmt.Errorf("chap: ms-chapv2 response: %d octets, want %d", len(b), MSCHAPResponseLen)
	}
	copy(r.PeerChallenge[:], b[0:16])
	copy(r.NTResponse[:], b[24:48])
	r.Flags = b[48]
	return nil
}

// MSCHAPv2Success is the Message of an MS-CHAPv2 Success (RFC 2759 §5):
//
//	S=<40 hex digits> M=<message>
//
// The 20-octet authenticator response proves the server knew the password.
type MSCHAPv2Success struct {
	AuthenticatorResponse [20]byte
	Message               string
}

// MarshalText encodes s with upper-case hex, as RFC 2759 §5 shows. The
// " M=" part is always present; Windows peers expect it.
func (s *MSCHAPv2Success) MarshalText() ([]byte, error) {
	return []byte("S=" + strings.ToUpper(hex.EncodeToString(s.AuthenticatorResponse[:])) + " M=" + s.Message), nil
}

// UnmarshalText decodes a Success message. Hex of either case is
// accepted; the " M=" part may be missing (some servers omit it).
func (s *MSCHAPv2Success) UnmarshalText(b []byte) error {
	const hexLen = 2 * 20
	t := string(b)
	if !strings.HasPrefix(t, "S=") {
		return fmt.Errorf("chap: ms-chapv2 success %q: missing S=", t)
	}
	t = t[2:]
	if len(t) < hexLen {
		return fmt.Errorf("chap: ms-chapv2 success: S= has %d of %d hex digits: %w", len(t), hexLen, io.ErrUnexpectedEOF)
	}
	var auth [20]byte
	if _, err := hex.Decode(auth[:], []byte(t[:hexLen])); err != nil {
		return fmt.Errorf("chap: ms-chapv2 success: S=: %w", err)
	}
	t = t[hexLen:]
	var msg string
	switch {
	case t == "":
	case strings.HasPrefix(t, " M="):
		msg = t[3:]
	default:
		return fmt.Errorf("chap: ms-chapv2 success: %q after S=, want \" M=\"", t)
	}
	*s = MSCHAPv2Success{AuthenticatorResponse: auth, Message: msg}
	return nil
}

// MS-CHAP failure error codes (RFC 2433 §2.2 "Failure Packet", RFC 2759 §6).
const (
	ErrorRestrictedLogonHours  = 646
	ErrorAccountDisabled       = 647
	ErrorPasswordExpired       = 648
	ErrorNoDialinPermission    = 649
	ErrorAuthenticationFailure = 691
	ErrorChangingPassword      = 709
)

// MSCHAPFailure is the Message of an MS-CHAP Failure (RFC 2433 §2.2,
// RFC 2759 §6):
//
//	E=<error> R=<0|1> C=<challenge hex> V=<version> M=<message>
//
// E and R are required; C carries the next challenge (8 octets for v1, 16
// for v2); M, last, runs to the end and may contain spaces.
type MSCHAPFailure struct {
	Error     uint32 // E=, decimal, e.g. ErrorAuthenticationFailure
	Retry     bool   // R=1: the peer may retry with the same identifier + 1
	Challenge []byte // C=, nil when absent
	Version   uint32 // V=, the password-change protocol version (3 for v2)
	Message   string // M=
}

// MarshalText encodes f as pppd does: "E=.. R=.. C=.. V=.. M=..", C
// omitted when empty, M omitted when empty.
func (f *MSCHAPFailure) MarshalText() ([]byte, error) {
	if n := len(f.Challenge); n != 0 && n != 8 && n != 16 {
		return nil, fmt.Errorf("chap: ms-chap failure: challenge of %d octets, want 8 or 16", n)
	}
	r := 0
	if f.Retry {
		r = 1
	}
	t := fmt.Sprintf("E=%d R=%d", f.Error, r)
	if len(f.Challenge) != 0 {
		t += " C=" + strings.ToUpper(hex.EncodeToString(f.Challenge))
	}
	t += fmt.Sprintf(" V=%d", f.Version)
	if f.Message != "" {
		t += " M=" + f.Message
	}
	return []byte(t), nil
}

// UnmarshalText decodes a Failure message. Fields may come in any order
// before M=; each at most once; E and R are required.
func (f *MSCHAPFailure) UnmarshalText(b []byte) error {
	var (
		out  MSCHAPFailure
		seen = map[string]bool{}
		t    = string(b)
	)
	for t != "" {
		if strings.HasPrefix(t, "M=") {
			out.Message = t[2:]
			seen["M"] = true
			break
		}
		tok, rest, _ := strings.Cut(t, " ")
		t = rest
		if tok == "" {
			continue
		}
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return fmt.Errorf("chap: ms-chap failure: field %q without '='", tok)
		}
		if seen[k] {
			return fmt.Errorf("chap: ms-chap failure: %s= repeated", k)
		}
		seen[k] = true
		switch k {
		case "E", "V":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return fmt.Errorf("chap: ms-chap failure: %s=%q: %w", k, v, err)
			}
			if k == "E" {
				out.Error = uint32(n)
			} else {
				out.Version = uint32(n)
			}
		case "R":
			if v != "0" && v != "1" {
				return fmt.Errorf("chap: ms-chap failure: R=%q, want 0 or 1", v)
			}
			out.Retry = v == "1"
		case "C":
			c, err := hex.DecodeString(v)
			if err != nil {
				return fmt.Errorf("chap: ms-chap failure: C=: %w", err)
			}
			if len(c) != 8 && len(c) != 16 {
				return fmt.Errorf("chap: ms-chap failure: C= of %d octets, want 8 or 16", len(c))
			}
			out.Challenge = c
		default:
			return fmt.Errorf("chap: ms-chap failure: unknown field %q", k)
		}
	}
	if !seen["E"] || !seen["R"] {
		return fmt.Errorf("chap: ms-chap failure %q: E= and R= are required", b)
	}
	*f = out
	return nil
}
