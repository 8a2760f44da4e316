package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// The wire work layeh.com/radius leaves to its users: Message-Authenticator
// (RFC 3579 §3.2, RFC 5176 §3.5) is neither added nor checked by the
// library, and its Exchange accepts any answer whose Response
// Authenticator fits. Everything here works on the encoded bytes so that
// what is signed and checked is exactly what travels.

const (
	headerLen = 20
	maType    = byte(rfc2869.MessageAuthenticator_Type)
	maLen     = 2 + md5.Size
)

// Reasons a packet is dropped. They are not returned to callers of the
// client (a dropped answer is as if none came); they name the drop in
// debug logs and tests.
var (
	errShort          = errors.New("radius: packet shorter than its header or length field")
	errAttributes     = errors.New("radius: malformed attributes")
	errTwoMA          = errors.New("radius: more than one Message-Authenticator")
	errMissingMA      = errors.New("radius: no Message-Authenticator")
	errBadMA          = errors.New("radius: wrong Message-Authenticator")
	errBadAuth        = errors.New("radius: wrong Response Authenticator")
	errBadRequestAuth = errors.New("radius: wrong Request Authenticator")
	errCode           = errors.New("radius: unexpected code")
)

// frame checks the length field and returns the packet without trailing
// bytes (RFC 2865 §3: octets beyond Length are padding and ignored).
func frame(b []byte) ([]byte, error) {
	if len(b) < headerLen {
		return nil, errShort
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > len(b) || n > radius.MaxPacketLength {
		return nil, errShort
	}
	return b[:n], nil
}

// findMA returns the offset of the Message-Authenticator attribute in a
// framed packet, or -1 when there is none. Two of them, or attributes
// that do not add up to the length, are an error.
func findMA(p []byte) (int, error) {
	at := -1
	for off := headerLen; off < len(p); {
		if len(p)-off < 2 {
			return -1, errAttributes
		}
		l := int(p[off+1])
		if l < 2 || off+l > len(p) {
			return -1, errAttributes
		}
		if p[off] == maType {
			if l != maLen {
				return -1, errAttributes
			}
			if at >= 0 {
				return -1, errTwoMA
			}
			at = off
		}
		off += l
	}
	return at, nil
}

// macOver computes HMAC-MD5 over p as RFC 3579 §3.2 has it: the
// Authenticator field replaced by auth and the Message-Authenticator value
// (at ma) taken as sixteen zero octets.
func macOver(p []byte, ma int, auth []byte, secret []byte) []byte {
	m := hmac.New(md5.New, secret)
	m.Write(p[:4])
	m.Write(auth)
	m.Write(p[headerLen : ma+2])
	var zero [md5.Size]byte
	m.Write(zero[:])
	m.Write(p[ma+maLen:])
	return m.Sum(nil)
}

// hashAuth is the MD5 authenticator of RFC 2865 §3 and RFC 2866 §3: over
// code, identifier, length, auth (the request's authenticator for a
// response, zeros for an Accounting, CoA or Disconnect request), the
// attributes and the secret.
func hashAuth(p []byte, auth []byte, secret []byte) []byte {
	h := md5.New()
	h.Write(p[:4])
	h.Write(auth)
	h.Write(p[headerLen:])
	h.Write(secret)
	return h.Sum(nil)
}

var zeroAuth [16]byte

// withMA returns p's attributes with a zero Message-Authenticator first:
// first, because a signature ahead of every other attribute is what the
// BlastRADIUS advisories ask for (a forger cannot hide a prefix before it).
func withMA(attrs radius.Attributes) radius.Attributes {
	out := make(radius.Attributes, 0, len(attrs)+1)
	out = append(out, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make(radius.Attribute, md5.Size)})
	for _, a := range attrs {
		if a.Type != rfc2869.MessageAuthenticator_Type {
			out = append(out, a)
		}
	}
	return out
}

// encodeRequest encodes a request with a Message-Authenticator. An
// Access-Request keeps its random Request Authenticator (RFC 2865 §3); an
// Accounting-Request, CoA-Request or Disconnect-Request is signed over a
// zero authenticator which is then replaced by the MD5 Request
// Authenticator (RFC 2866 §3, RFC 5176 §3.5).
func encodeRequest(p *radius.Packet) ([]byte, error) {
	q := *p
	q.Attributes = withMA(p.Attributes)
	hashed := q.Code != radius.CodeAccessRequest && q.Code != radius.CodeStatusServer
	if hashed {
		q.Authenticator = zeroAuth
	}
	b, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("radius: encode %v: %w", q.Code, err)
	}
	ma := headerLen
	copy(b[ma+2:ma+maLen], macOver(b, ma, b[4:20], q.Secret))
	if hashed {
		copy(b[4:20], hashAuth(b, zeroAuth[:], q.Secret))
	}
	return b, nil
}

// encodeResponse encodes an answer to the request whose Authenticator is
// reqAuth: Message-Authenticator over the request's authenticator, then
// the Response Authenticator (RFC 2865 §3, RFC 3579 §3.2, RFC 5176 §3.5).
func encodeResponse(p *radius.Packet, reqAuth [16]byte) ([]byte, error) {
	q := *p
	q.Attributes = withMA(p.Attributes)
	q.Authenticator = reqAuth
	b, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("radius: encode %v: %w", q.Code, err)
	}
	copy(b[headerLen+2:headerLen+maLen], macOver(b, headerLen, reqAuth[:], q.Secret))
	copy(b[4:20], hashAuth(b, reqAuth[:], q.Secret))
	return b, nil
}

// newAuthenticator returns a random Request Authenticator (RFC 2865 §3:
// unpredictable and unique over the secret's lifetime).
func newAuthenticator() [16]byte {
	var a [16]byte
	if _, err := rand.Read(a[:]); err != nil {
		panic("radius: no randomness: " + err.Error())
	}
	return a
}

// answers lists the codes that may answer each request code.
var answers = map[radius.Code][]radius.Code{
	radius.CodeAccessRequest:     {radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge},
	radius.CodeAccountingRequest: {radius.CodeAccountingResponse},
	radius.CodeDisconnectRequest: {radius.CodeDisconnectACK, radius.CodeDisconnectNAK},
	radius.CodeCoARequest:        {radius.CodeCoAACK, radius.CodeCoANAK},
}

// verifyResponse checks that resp (framed) answers req: same identifier, a
// code that answers req's, the Response Authenticator, and the
// Message-Authenticator when present. requireMA makes its absence an error
// (BlastRADIUS: an Access-Accept or Access-Reject must be signed).
func verifyResponse(resp, req, secret []byte, requireMA bool) error {
	if resp[1] != req[1] {
		return errCode
	}
	ok := false
	for _, c := range answers[radius.Code(req[0])] {
		ok = ok || radius.Code(resp[0]) == c
	}
	if !ok {
		return fmt.Errorf("%w %d for %d", errCode, resp[0], req[0])
	}
	ma, err := findMA(resp)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(hashAuth(resp, req[4:20], secret), resp[4:20]) != 1 {
		return errBadAuth
	}
	if ma < 0 {
		if requireMA {
			return errMissingMA
		}
		return nil
	}
	if !hmac.Equal(macOver(resp, ma, req[4:20], secret), resp[ma+2:ma+maLen]) {
		return errBadMA
	}
	return nil
}

// verifyRequest checks a hashed request (Accounting, CoA, Disconnect): its
// Request Authenticator (RFC 2866 §3, RFC 5176 §3.5) and its
// Message-Authenticator when present, or required.
func verifyRequest(req, secret []byte, requireMA bool) error {
	ma, err := findMA(req)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(hashAuth(req, zeroAuth[:], secret), req[4:20]) != 1 {
		return errBadRequestAuth
	}
	if ma < 0 {
		if requireMA {
			return errMissingMA
		}
		return nil
	}
	if !hmac.Equal(macOver(req, ma, zeroAuth[:], secret), req[ma+2:ma+maLen]) {
		return errBadMA
	}
	return nil
}
