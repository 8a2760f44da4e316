package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// MS-CHAPv2 lengths (RFC 2759 §4, §5).
const (
	PeerChallengeLen          = 16
	AuthenticatorChallengeLen = 16
	// AuthenticatorResponseLen is "S=" and 40 hexadecimal digits.
	AuthenticatorResponseLen = 42
)

// StripDomain returns userName without any "DOMAIN\" prefix: RFC 2759 §4
// hashes only the user name, excluding a prepended domain name.
func StripDomain(userName []byte) []byte {
	if i := bytes.LastIndexByte(userName, '\\'); i >= 0 {
		return userName[i+1:]
	}
	return userName
}

// ChallengeHash is the first 8 octets of SHA-1(PeerChallenge ||
// AuthenticatorChallenge || UserName) (RFC 2759 §8.2). userName is used as
// given: strip a domain with StripDomain first where RFC 2759 §4 asks.
func ChallengeHash(peerChallenge, authChallenge, userName []byte) ([]byte, error) {
	if len(peerChallenge) != PeerChallengeLen {
		return nil, fmt.Errorf("auth: challenge hash: peer challenge of %d octets, want %d", len(peerChallenge), PeerChallengeLen)
	}
	if len(authChallenge) != AuthenticatorChallengeLen {
		return nil, fmt.Errorf("auth: challenge hash: authenticator challenge of %d octets, want %d", len(authChallenge), AuthenticatorChallengeLen)
	}
	h := sha1.New()
	h.Write(peerChallenge)
	h.Write(authChallenge)
	h.Write(userName)
	return h.Sum(nil)[:8], nil
}

// GenerateNTResponse computes the peer's 24-octet MS-CHAPv2 NT-Response
// (RFC 2759 §8.1).
func GenerateNTResponse(authChallenge, peerChallenge, userName, password []byte) ([]byte, error) {
	c, err := ChallengeHash(peerChallenge, authChallenge, userName)
	if err != nil {
		return nil, err
	}
	h, err := NTPasswordHash(password)
	if err != nil {
		return nil, fmt.Errorf("auth: NT-Response: %w", err)
	}
	return ChallengeResponse(c, h)
}

// VerifyNTResponse is the authenticator's check of a peer's MS-CHAPv2
// NT-Response (RFC 2759 §5), in constant time. Malformed inputs are errors,
// a wrong password (false, nil).
func VerifyNTResponse(authChallenge, peerChallenge, userName, password, ntResponse []byte) (bool, error) {
	if len(ntResponse) != NTResponseLen {
		return false, fmt.Errorf("auth: NT-Response: %d octets, want %d", len(ntResponse), NTResponseLen)
	}
	want, err := GenerateNTResponse(authChallenge, peerChallenge, userName, password)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, ntResponse) == 1, nil
}

// RFC 2759 §8.7 Magic1 and Magic2, given there as octets; they spell these.
var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
)

// GenerateAuthenticatorResponse computes the 42-octet "S=" followed by 40
// upper-case hexadecimal digits that the authenticator sends in its Success
// packet, proving it too knows the password (RFC 2759 §8.7).
func GenerateAuthenticatorResponse(password, ntResponse, peerChallenge, authChallenge, userName []byte) ([]byte, error) {
	d, err := authenticatorDigest(password, ntResponse, peerChallenge, authChallenge, userName)
	if err != nil {
		return nil, err
	}
	return FormatAuthenticatorResponse(d)
}

func authenticatorDigest(password, ntResponse, peerChallenge, authChallenge, userName []byte) ([]byte, error) {
	if len(ntResponse) != NTResponseLen {
		return nil, fmt.Errorf("auth: authenticator response: NT-Response of %d octets, want %d", len(ntResponse), NTResponseLen)
	}
	ph, err := NTPasswordHash(password)
	if err != nil {
		return nil, fmt.Errorf("auth: authenticator response: %w", err)
	}
	phh, err := HashNTPasswordHash(ph)
	if err != nil {
		return nil, err
	}
	c, err := ChallengeHash(peerChallenge, authChallenge, userName)
	if err != nil {
		return nil, fmt.Errorf("auth: authenticator response: %w", err)
	}
	h := sha1.New()
	h.Write(phh)
	h.Write(ntResponse)
	h.Write(magic1)
	d := h.Sum(nil)
	h.Reset()
	h.Write(d)
	h.Write(c)
	h.Write(magic2)
	return h.Sum(nil), nil
}

// ParseAuthenticatorResponse decodes the 42-octet "S=<40 hex digits>" of an
// MS-CHAPv2 Success message (RFC 2759 §5) into its 20-octet digest. RFC 2759
// says upper-case; lower-case digits are accepted too. Any " M=<message>"
// that follows in the packet is the caller's to split off.
func ParseAuthenticatorResponse(b []byte) ([]byte, error) {
	if len(b) < AuthenticatorResponseLen {
		return nil, fmt.Errorf("auth: authenticator response: %d octets: %w", len(b), io.ErrUnexpectedEOF)
	}
	if len(b) > AuthenticatorResponseLen {
		return nil, fmt.Errorf("auth: authenticator response: %d octets, want %d", len(b), AuthenticatorResponseLen)
	}
	if b[0] != 'S' || b[1] != '=' {
		return nil, fmt.Errorf("auth: authenticator response: missing \"S=\"")
	}
	d := make([]byte, sha1.Size)
	if _, err := hex.Decode(d, b[2:]); err != nil {
		return nil, fmt.Errorf("auth: authenticator response: %w", err)
	}
	return d, nil
}

// FormatAuthenticatorResponse is the inverse of ParseAuthenticatorResponse.
func FormatAuthenticatorResponse(digest []byte) ([]byte, error) {
	if len(digest) != sha1.Size {
		return nil, fmt.Errorf("auth: authenticator response: digest of %d octets, want %d", len(digest), sha1.Size)
	}
	return append([]byte("S="), bytes.ToUpper([]byte(hex.EncodeToString(digest)))...), nil
}

// CheckAuthenticatorResponse is the peer's check of the authenticator's
// "S=" string (RFC 2759 §8.8), so a peer never talks to a server that does
// not know its password. The digest is compared in constant time. A received
// value that is not "S=" and 40 hex digits is an error.
func CheckAuthenticatorResponse(password, ntResponse, peerChallenge, authChallenge, userName, received []byte) (bool, error) {
	got, err := ParseAuthenticatorResponse(received)
	if err != nil {
		return false, err
	}
	want, err := authenticatorDigest(password, ntResponse, peerChallenge, authChallenge, userName)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, got) == 1, nil
}
