package auth

import (
	"crypto/md5"
	"crypto/subtle"
	"fmt"
	"io"
)

// Challenge lengths this side sends. MS-CHAPv1 and MS-CHAPv2 fix theirs
// (RFC 2433 §3, RFC 2759 §3); RFC 1994 §2.3 leaves CHAP-MD5's open and 16
// octets matches the MD5 block of unpredictability it buys.
const (
	ChallengeLenMD5      = 16
	ChallengeLenMSCHAPv1 = 8
	ChallengeLenMSCHAPv2 = 16
)

// ChallengeLen returns the Challenge length an authenticator sends for m, or
// 0 for PAP, which has no challenge.
func (m Method) ChallengeLen() int {
	switch m {
	case CHAP:
		return ChallengeLenMD5
	case MSCHAPv1:
		return ChallengeLenMSCHAPv1
	case MSCHAPv2:
		return ChallengeLenMSCHAPv2
	}
	return 0
}

// NewChallenge reads a fresh Challenge for m from rand (crypto/rand.Reader in
// production). RFC 1994 §2.3: each value should be unique and unpredictable.
func NewChallenge(rand io.Reader, m Method) ([]byte, error) {
	n := m.ChallengeLen()
	if n == 0 {
		return nil, fmt.Errorf("auth: %s has no challenge", m)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("auth: %s challenge: %w", m, err)
	}
	return b, nil
}

// MD5ResponseLen is the length of a CHAP-MD5 Response Value (RFC 1994 §4.1).
const MD5ResponseLen = md5.Size

// MD5Response computes the CHAP-MD5 Response Value (RFC 1994 §4.1):
//
//	MD5(Identifier || secret || Challenge)
//
// id is the Identifier of the Challenge packet being answered.
func MD5Response(id uint8, secret, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write(secret)
	h.Write(challenge)
	return h.Sum(nil)
}

// VerifyMD5Response reports whether response is the CHAP-MD5 answer to
// challenge under secret (RFC 1994 §4.1), comparing in constant time. A
// response of the wrong length is simply wrong.
func VerifyMD5Response(id uint8, secret, challenge, response []byte) bool {
	return subtle.ConstantTimeCompare(MD5Response(id, secret, challenge), response) == 1
}
