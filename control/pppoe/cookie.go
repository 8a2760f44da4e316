package pppoe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"time"
)

// CookieLen is the length of the AC-Cookie this package issues: an
// HMAC-SHA256 truncated to 128 bits, enough that guessing one costs more
// than the PADR flood it would let through.
const CookieLen = 16

// DefaultCookiePeriod is the length of one cookie time bucket. A cookie is
// accepted in the bucket it was issued in and the next one, so it lives
// between one and two periods: long enough for a client's PADR
// retransmissions, short enough that a captured cookie soon goes stale.
const DefaultCookiePeriod = 60 * time.Second

// cookieKey is the AC-Cookie's HMAC key with keyed HMAC states to reuse.
// hmac.New hashes the key into fresh inner and outer SHA-256 states each
// time (three allocations and two compressions); a state put back after
// use is reset to the keyed one for the next cookie, so a PADI or PADR
// costs only the message's hashing. The pool makes it safe for the
// servers' goroutines at once.
type cookieKey struct {
	pool sync.Pool
}

// cookieState is one keyed HMAC with the buffers a cookie needs, so that
// handing them to the hash.Hash interface allocates nothing.
type cookieState struct {
	mac hash.Hash
	msg [6 + 6 + 4 + 1 + ethernetVLANBytes*2 + 8]byte
	sum [sha256.Size]byte
}

func newCookieKey(key []byte) *cookieKey {
	key = slices.Clone(key)
	k := &cookieKey{}
	k.pool.New = func() any { return &cookieState{mac: hmac.New(sha256.New, key)} }
	return k
}

// cookie computes the AC-Cookie (RFC 2516 Appendix A) the AC with Ethernet
// address ac issues to circuit c in time bucket bucket: HMAC-SHA256(key,
// AC MAC | client MAC | ifindex | VLANs | bucket) truncated to CookieLen.
// Binding the circuit means a cookie sniffed on one port or VLAN is
// useless on another; binding the bucket means it expires; binding the
// AC's address means that of several ACs on one broadcast domain none
// takes a PADR carrying another's cookie, even if they were given one key
// (a client completes with the AC whose PADO it took). The AC keeps no
// state before PADR: it recomputes the cookie to check it.
func cookie(k *cookieKey, ac [6]byte, c Circuit, bucket int64) [CookieLen]byte {
	st := k.pool.Get().(*cookieState)
	b := append(st.msg[:0], ac[:]...)
	b = append(b, c.MAC[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Ifindex))
	b = append(b, c.NumVLANs)
	for _, v := range c.VLANs[:c.NumVLANs] {
		b = binary.BigEndian.AppendUint16(b, uint16(v.TPID))
		b = binary.BigEndian.AppendUint16(b, v.ID)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(bucket))
	st.mac.Reset()
	st.mac.Write(b)
	var out [CookieLen]byte
	copy(out[:], st.mac.Sum(st.sum[:0]))
	k.pool.Put(st)
	return out
}

// ethernetVLANBytes is what one VLAN contributes to the cookie input.
const ethernetVLANBytes = 4

// cookieBucket returns the time bucket now falls in.
func cookieBucket(now time.Time, period time.Duration) int64 {
	return now.UnixNano() / int64(period)
}

// issueCookie returns the cookie AC ac issues to c at now.
func issueCookie(k *cookieKey, ac [6]byte, c Circuit, now time.Time, period time.Duration) [CookieLen]byte {
	return cookie(k, ac, c, cookieBucket(now, period))
}

// checkCookie reports whether got is the cookie AC ac issues to c in the
// current or the previous bucket, in constant time.
func checkCookie(k *cookieKey, ac [6]byte, c Circuit, got []byte, now time.Time, period time.Duration) bool {
	if len(got) != CookieLen {
		return false
	}
	b := cookieBucket(now, period)
	cur, prev := cookie(k, ac, c, b), cookie(k, ac, c, b-1)
	return hmac.Equal(got, cur[:]) || hmac.Equal(got, prev[:])
}
