package auth

import (
	"crypto/des"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/md4"
)

// MaxPasswordChars is the longest password MS-CHAP can hash: RFC 2433
// Appendix A and RFC 2759 §8.3 take a "0-to-256-unicode-char Password".
const MaxPasswordChars = 256

// Lengths of the MS-CHAP primitives (RFC 2433 Appendix A, RFC 2759 §8).
const (
	PasswordHashLen = 16 // MD4 digest
	NTResponseLen   = 24 // three DES blocks
)

// ErrPassword is wrapped by every error about a password that MS-CHAP cannot
// hash: not UTF-8, or longer than MaxPasswordChars UTF-16 code units.
var ErrPassword = errors.New("password not hashable")

// NTPasswordHash is MD4 over the password in UTF-16LE without a terminating
// zero (RFC 2433 Appendix A NtPasswordHash, RFC 2759 §8.3). password is
// UTF-8, as secrets are stored and typed; it is converted here.
func NTPasswordHash(password []byte) ([]byte, error) {
	u, err := utf16le(password)
	if err != nil {
		return nil, err
	}
	h := md4.New()
	h.Write(u)
	return h.Sum(nil), nil
}

// HashNTPasswordHash is MD4 of an NTPasswordHash (RFC 2759 §8.4).
func HashNTPasswordHash(passwordHash []byte) ([]byte, error) {
	if len(passwordHash) != PasswordHashLen {
		return nil, fmt.Errorf("auth: password hash: %d octets, want %d", len(passwordHash), PasswordHashLen)
	}
	h := md4.New()
	h.Write(passwordHash)
	return h.Sum(nil), nil
}

func utf16le(password []byte) ([]byte, error) {
	if !utf8.Valid(password) {
		return nil, fmt.Errorf("auth: %w: not UTF-8", ErrPassword)
	}
	units := utf16.Encode([]rune(string(password)))
	if len(units) > MaxPasswordChars {
		return nil, fmt.Errorf("auth: %w: %d UTF-16 units exceed %d", ErrPassword, len(units), MaxPasswordChars)
	}
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u), byte(u>>8))
	}
	return b, nil
}

// ChallengeResponse encrypts the 8-octet challenge three times with DES, keyed
// by successive 7-octet thirds of passwordHash zero-padded to 21 octets
// (RFC 2433 Appendix A ChallengeResponse, RFC 2759 §8.5).
func ChallengeResponse(challenge, passwordHash []byte) ([]byte, error) {
	if len(challenge) != 8 {
		return nil, fmt.Errorf("auth: challenge response: challenge of %d octets, want 8", len(challenge))
	}
	if len(passwordHash) != PasswordHashLen {
		return nil, fmt.Errorf("auth: challenge response: password hash of %d octets, want %d", len(passwordHash), PasswordHashLen)
	}
	var z [21]byte
	copy(z[:], passwordHash)
	resp := make([]byte, NTResponseLen)
	for i := range 3 {
		c, err := des.NewCipher(desKey(z[7*i : 7*i+7]))
		if err != nil {
			return nil, fmt.Errorf("auth: challenge response: %w", err)
		}
		c.Encrypt(resp[8*i:], challenge)
	}
	return resp, nil
}

// desKey spreads 56 key bits over 8 octets, 7 per octet, leaving the low
// (parity) bit clear: DES ignores it (RFC 2759 §8.6 DesEncrypt).
func desKey(k7 []byte) []byte {
	k := make([]byte, 8)
	k[0] = k7[0]
	for i := 1; i < 7; i++ {
		k[i] = k7[i-1]<<(8-i) | k7[i]>>i
	}
	k[7] = k7[6] << 1
	for i := range k {
		k[i] &^= 1
	}
	return k
}

// NTChallengeResponse is ChallengeResponse keyed by the NTPasswordHash of
// password (RFC 2433 Appendix A NtChallengeResponse).
func NTChallengeResponse(challenge, password []byte) ([]byte, error) {
	h, err := NTPasswordHash(password)
	if err != nil {
		return nil, err
	}
	return ChallengeResponse(challenge, h)
}

// MS-CHAPv1 Response Value (RFC 2433 §4):
//
//	LM-Response(24) NT-Response(24) Use-NT-Response flag(1)
const (
	MSCHAPv1ResponseLen = 49
	mschapv1UseNT       = 48
)

// MSCHAPv1Response builds the peer's 49-octet MS-CHAPv1 Response Value
// (RFC 2433 §4) for the authenticator's 8-octet challenge.
//
// The LAN Manager response is all zeros and the Use-NT-Response flag is 1:
// the LM hash upper-cases and truncates the password to 14 characters and
// RFC 2433 §12 calls it out as the weak half; an NT-capable authenticator
// (every one since Windows NT 3.5) uses only the NT-Response when the flag is
// set.
func MSCHAPv1Response(challenge, password []byte) ([]byte, error) {
	nt, err := NTChallengeResponse(challenge, password)
	if err != nil {
		return nil, fmt.Errorf("auth: MS-CHAPv1 response: %w", err)
	}
	b := make([]byte, MSCHAPv1ResponseLen)
	copy(b[24:], nt)
	b[mschapv1UseNT] = 1
	return b, nil
}

// ErrLMOnly is returned by VerifyMSCHAPv1Response for a response whose
// Use-NT-Response flag is 0: we do not implement the LAN Manager hash, so such
// a peer is refused rather than checked against something weaker.
var ErrLMOnly = errors.New("MS-CHAPv1 response without NT-Response")

// VerifyMSCHAPv1Response checks a peer's 49-octet MS-CHAPv1 Response Value
// (RFC 2433 §4) against password on the authenticator side. Only the
// NT-Response is checked (in constant time); the LM-Response is ignored.
// A malformed value or a flag other than 1 is an error, a wrong password
// (false, nil).
func VerifyMSCHAPv1Response(challenge, password, response []byte) (bool, error) {
	if len(response) != MSCHAPv1ResponseLen {
		return false, fmt.Errorf("auth: MS-CHAPv1 response: %d octets, want %d", len(response), MSCHAPv1ResponseLen)
	}
	if response[mschapv1UseNT] != 1 {
		return false, fmt.Errorf("auth: MS-CHAPv1 response: flag %d: %w", response[mschapv1UseNT], ErrLMOnly)
	}
	want, err := NTChallengeResponse(challenge, password)
	if err != nil {
		return false, fmt.Errorf("auth: MS-CHAPv1 verify: %w", err)
	}
	return subtle.ConstantTimeCompare(want, response[24:48]) == 1, nil
}
