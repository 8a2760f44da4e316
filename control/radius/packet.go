package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"

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

// keys holds the HMAC-MD5 and MD5 states of one secret for reuse.
// hmac.New hashes the key into fresh inner and outer states every time
// (six allocations and two MD5 compressions per Message-Authenticator);
// a state put back after use is reset to the keyed one for the next
// packet, so a packet costs only its own hashing. Every request signs and
// every answer verifies, twice per session set up (Access-Request,
// Accounting-Request Start).
type keys struct {
	pool sync.Pool
}

// keyState is one keyed HMAC and one MD5 with the buffer their sums go
// to, so that handing it to the hash.Hash interface allocates nothing.
type keyState struct {
	mac, md hash.Hash
	sum     [md5.Size]byte
}

// keysBySecret finds a secret's keys by the secret itself, which travels
// with every packet (radius.Packet.Secret, the pending request): a process
// has a handful (one per /radius entry and per dynamic-authorization
// client). A secret changed away from stays until maxKeys are cached, then
// the cache starts over.
var keysBySecret struct {
	mu sync.Mutex
	m  map[string]*keys
}

const maxKeys = 64

func keysFor(secret []byte) *keys {
	keysBySecret.mu.Lock()
	defer keysBySecret.mu.Unlock()
	if k := keysBySecret.m[string(secret)]; k != nil {
		return k
	}
	if len(keysBySecret.m) >= maxKeys || keysBySecret.m == nil {
		keysBySecret.m = make(map[string]*keys)
	}
	key := string(secret) // a copy: the caller's bytes may change
	k := &keys{}
	k.pool.New = func() any { return &keyState{mac: hmac.New(md5.New, []byte(key)), md: md5.New()} }
	keysBySecret.m[key] = k
	return k
}

// macOver computes HMAC-MD5 over p as RFC 3579 §3.2 has it: the
// Authenticator field replaced by auth and the Message-Authenticator value
// (at ma) taken as sixteen zero octets.
func macOver(p []byte, ma int, auth []byte, secret []byte) (sum [md5.Size]byte) {
	k := keysFor(secret)
	st := k.pool.Get().(*keyState)
	m := st.mac
	m.Reset()
	m.Write(p[:4])
	m.Write(auth)
	m.Write(p[headerLen : ma+2])
	m.Write(zeroAuth[:])
	m.Write(p[ma+maLen:])
	copy(sum[:], m.Sum(st.sum[:0]))
	k.pool.Put(st)
	return sum
}

// hashAuth is the MD5 authenticator of RFC 2865 §3 and RFC 2866 §3: over
// code, identifier, length, auth (the request's authenticator for a
// response, zeros for an Accounting, CoA or Disconnect request), the
// attributes and the secret.
func hashAuth(p []byte, auth []byte, secret []byte) (sum [md5.Size]byte) {
	k := keysFor(secret)
	st := k.pool.Get().(*keyState)
	h := st.md
	h.Reset()
	h.Write(p[:4])
	h.Write(auth)
	h.Write(p[headerLen:])
	h.Write(secret)
	copy(sum[:], h.Sum(st.sum[:0]))
	k.pool.Put(st)
	return sum
}

var zeroAuth [md5.Size]byte

// marshal encodes p with a zero Message-Authenticator as its first
// attribute, any other Message-Authenticator in p left out: first, because
// a signature ahead of every other attribute is what the BlastRADIUS
// advisories ask for (a forger cannot hide a prefix before it). It is
// layeh.com/radius's MarshalBinary with the attribute put in place as the
// packet is written, rather than a copy of the attribute list made to hold
// it: attributes of a type beyond 255 are skipped and a value over 253
// octets or a packet over 4096 is an error, as there.
func marshal(p *radius.Packet) ([]byte, error) {
	size := headerLen + maLen
	for _, a := range p.Attributes {
		if a.Type < 0 || a.Type > 255 || a.Type == rfc2869.MessageAuthenticator_Type {
			continue
		}
		if len(a.Attribute) > 253 {
			return nil, errors.New("radius: attribute too large")
		}
		size += 2 + len(a.Attribute)
	}
	if size > radius.MaxPacketLength {
		return nil, errors.New("radius: packet is too large")
	}
	b := make([]byte, headerLen, size)
	b[0] = byte(p.Code)
	b[1] = p.Identifier
	binary.BigEndian.PutUint16(b[2:4], uint16(size))
	copy(b[4:20], p.Authenticator[:])
	b = append(b, maType, maLen)
	b = append(b, zeroAuth[:]...)
	for _, a := range p.Attributes {
		if a.Type < 0 || a.Type > 255 || a.Type == rfc2869.MessageAuthenticator_Type {
			continue
		}
		b = append(b, byte(a.Type), byte(2+len(a.Attribute)))
		b = append(b, a.Attribute...)
	}
	return b, nil
}

// encodeRequest encodes a request with a Message-Authenticator. An
// Access-Request keeps its random Request Authenticator (RFC 2865 §3); an
// Accounting-Request, CoA-Request or Disconnect-Request is signed over a
// zero authenticator which is then replaced by the MD5 Request
// Authenticator (RFC 2866 §3, RFC 5176 §3.5).
func encodeRequest(p *radius.Packet) ([]byte, error) {
	q := *p
	hashed := q.Code != radius.CodeAccessRequest && q.Code != radius.CodeStatusServer
	if hashed {
		q.Authenticator = zeroAuth
	}
	b, err := marshal(&q)
	if err != nil {
		return nil, fmt.Errorf("radius: encode %v: %w", q.Code, err)
	}
	ma := headerLen
	mac := macOver(b, ma, b[4:20], q.Secret)
	copy(b[ma+2:ma+maLen], mac[:])
	if hashed {
		h := hashAuth(b, zeroAuth[:], q.Secret)
		copy(b[4:20], h[:])
	}
	return b, nil
}

// encodeResponse encodes an answer to the request whose Authenticator is
// reqAuth: Message-Authenticator over the request's authenticator, then
// the Response Authenticator (RFC 2865 §3, RFC 3579 §3.2, RFC 5176 §3.5).
func encodeResponse(p *radius.Packet, reqAuth [16]byte) ([]byte, error) {
	q := *p
	q.Authenticator = reqAuth
	b, err := marshal(&q)
	if err != nil {
		return nil, fmt.Errorf("radius: encode %v: %w", q.Code, err)
	}
	mac := macOver(b, headerLen, reqAuth[:], q.Secret)
	copy(b[headerLen+2:headerLen+maLen], mac[:])
	h := hashAuth(b, reqAuth[:], q.Secret)
	copy(b[4:20], h[:])
	return b, nil
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
	if h := hashAuth(resp, req[4:20], secret); subtle.ConstantTimeCompare(h[:], resp[4:20]) != 1 {
		return errBadAuth
	}
	if ma < 0 {
		if requireMA {
			return errMissingMA
		}
		return nil
	}
	if mac := macOver(resp, ma, req[4:20], secret); !hmac.Equal(mac[:], resp[ma+2:ma+maLen]) {
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
	if h := hashAuth(req, zeroAuth[:], secret); subtle.ConstantTimeCompare(h[:], req[4:20]) != 1 {
		return errBadRequestAuth
	}
	if ma < 0 {
		if requireMA {
			return errMissingMA
		}
		return nil
	}
	if mac := macOver(req, ma, zeroAuth[:], secret); !hmac.Equal(mac[:], req[ma+2:ma+maLen]) {
		return errBadMA
	}
	return nil
}
