package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"
)

// A session record is stored in a compact binary form (format 2 of the
// file): decoding 100,000 of them at a start is a large part of
// adoption, and JSON cost about 15 µs each. The first byte is the
// record's version, recordV1; then the fields of Session in order, each
// in one of these shapes:
//
//	u8, u16, u32, u64   big-endian
//	str, bytes          uvarint length, then the bytes
//	addr                u8 length (0: none, 4, 16), then the address
//	prefix              addr, then u8 bits (absent when the addr is)
//	time                i64 Unix nanoseconds, or math.MinInt64 for the zero time
//	duration            i64 nanoseconds
//	list of x           uvarint count, then each x
//
// The last field, a client session's ClientState, is JSON in a bytes
// field (empty for a server session).
//
// A record of a later version (a field added) is refused by this code
// (the file's format then says so first: adding a field bumps
// FormatVersion, with a migration rewriting the records). Format 1
// records were JSON; the migration to format 2 re-encodes them.
const recordV1 byte = 1

// MarshalBinary encodes the record (format 2).
func (s *Session) MarshalBinary() ([]byte, error) {
	if len(s.Iface.VLANs) > math.MaxUint8 {
		return nil, fmt.Errorf("state: session %d: %d VLAN tags", s.Handle, len(s.Iface.VLANs))
	}
	b := make([]byte, 0, 256+len(s.Link)+len(s.RADIUSAttrs))
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint64(b, s.Handle)
	b = appendStr(b, string(s.Role))
	b = appendStr(b, string(s.Phase))
	b = binary.BigEndian.AppendUint16(b, s.SessionID)
	b = append(b, s.PeerMAC[:]...)
	b = append(b, s.LocalMAC[:]...)
	b = appendStr(b, s.Iface.Name)
	b = appendStr(b, s.Iface.Parent)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Iface.Ifindex))
	b = append(b, byte(len(s.Iface.VLANs)))
	for _, v := range s.Iface.VLANs {
		b = binary.BigEndian.AppendUint16(b, v.TPID)
		b = binary.BigEndian.AppendUint16(b, v.ID)
	}
	b = appendStr(b, s.Client)
	b = binary.BigEndian.AppendUint32(b, s.MagicLocal)
	b = binary.BigEndian.AppendUint32(b, s.MagicPeer)
	b = binary.BigEndian.AppendUint16(b, s.MRU)
	b = binary.BigEndian.AppendUint16(b, s.MTU)
	b = binary.BigEndian.AppendUint16(b, s.MSS)
	b = binary.BigEndian.AppendUint32(b, s.MPSeq)
	b = appendStr(b, s.User)
	b = appendStr(b, s.Profile)
	b = appendStr(b, s.Service)
	b = appendStr(b, s.Pool)
	b = appendAddr(b, s.LocalIPv4)
	b = appendAddr(b, s.PeerIPv4)
	b = binary.AppendUvarint(b, uint64(len(s.DNS)))
	for _, a := range s.DNS {
		b = appendAddr(b, a)
	}
	if v := s.IPv6; v == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendPrefix(b, v.Link)
		b = binary.AppendUvarint(b, uint64(len(v.Delegated)))
		for _, p := range v.Delegated {
			b = appendPrefix(b, p)
		}
		b = appendPrefix(b, v.Fixed)
		b = appendStr(b, v.PDPool)
		b = binary.AppendUvarint(b, uint64(len(v.DNS)))
		for _, a := range v.DNS {
			b = appendAddr(b, a)
		}
		b = binary.AppendUvarint(b, uint64(len(v.Bindings)))
		for _, d := range v.Bindings {
			b = appendStr(b, string(d.DUID))
			b = append(b, d.IAID[:]...)
			var flags byte
			if d.PD {
				flags |= 1
			}
			if d.Fixed {
				flags |= 2
			}
			b = append(b, flags)
			b = appendPrefix(b, d.Prefix)
			b = appendTime(b, d.Expires)
		}
	}
	b = appendTime(b, s.Started)
	b = appendCounters(b, &s.Counters)
	if base := s.Counters.Base; base == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendCounters(b, base)
	}
	b = appendTime(b, s.Counters.LastInterim)
	b = binary.AppendUvarint(b, uint64(len(s.RADIUSClass)))
	for _, c := range s.RADIUSClass {
		b = appendStr(b, string(c))
	}
	b = appendStr(b, string(s.RADIUSAttrs))
	b = binary.BigEndian.AppendUint64(b, uint64(s.SessionTimeout))
	b = binary.BigEndian.AppendUint64(b, uint64(s.IdleTimeout))
	b = binary.BigEndian.AppendUint64(b, uint64(s.InterimInterval))
	b = appendStr(b, s.RateLimit)
	b = binary.AppendUvarint(b, uint64(len(s.Routes)))
	for _, p := range s.Routes {
		b = appendPrefix(b, p)
	}
	if s.ChangeTCPMSS {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendStr(b, string(s.Link))
	// A client session's own state, as JSON: a host has a handful of
	// client sessions, none of them in a 100,000-session adoption.
	var cs []byte
	if s.ClientState != nil {
		var err error
		if cs, err = json.Marshal(s.ClientState); err != nil {
			return nil, fmt.Errorf("state: client state: %w", err)
		}
	}
	b = appendStr(b, string(cs))
	return b, nil
}

// UnmarshalBinary decodes a record MarshalBinary encoded. Short input is
// io.ErrUnexpectedEOF; a version it does not know, trailing bytes or a
// malformed field an error; s is then unspecified.
func (s *Session) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != recordV1 {
		return fmt.Errorf("state: record version %d, want %d", v, recordV1)
	}
	*s = Session{}
	s.Handle = r.u64()
	s.Role = Role(r.str())
	s.Phase = Phase(r.str())
	s.SessionID = r.u16()
	copy(s.PeerMAC[:], r.take(6))
	copy(s.LocalMAC[:], r.take(6))
	s.Iface.Name = r.str()
	s.Iface.Parent = r.str()
	s.Iface.Ifindex = int(int32(r.u32()))
	if n := int(r.u8()); n > 0 {
		s.Iface.VLANs = make([]VLAN, n)
		for i := range s.Iface.VLANs {
			s.Iface.VLANs[i] = VLAN{TPID: r.u16(), ID: r.u16()}
		}
	}
	s.Client = r.str()
	s.MagicLocal, s.MagicPeer = r.u32(), r.u32()
	s.MRU, s.MTU, s.MSS = r.u16(), r.u16(), r.u16()
	s.MPSeq = r.u32()
	s.User, s.Profile, s.Service, s.Pool = r.str(), r.str(), r.str(), r.str()
	s.LocalIPv4, s.PeerIPv4 = r.addr(), r.addr()
	if n := r.count(); n > 0 {
		s.DNS = make([]netip.Addr, n)
		for i := range s.DNS {
			s.DNS[i] = r.addr()
		}
	}
	if r.u8() == 1 {
		v := &IPv6{Link: r.prefix()}
		if n := r.count(); n > 0 {
			v.Delegated = make([]netip.Prefix, n)
			for i := range v.Delegated {
				v.Delegated[i] = r.prefix()
			}
		}
		v.Fixed = r.prefix()
		v.PDPool = r.str()
		if n := r.count(); n > 0 {
			v.DNS = make([]netip.Addr, n)
			for i := range v.DNS {
				v.DNS[i] = r.addr()
			}
		}
		if n := r.count(); n > 0 {
			v.Bindings = make([]DHCPv6Binding, n)
			for i := range v.Bindings {
				d := &v.Bindings[i]
				d.DUID = r.bytes()
				copy(d.IAID[:], r.take(4))
				flags := r.u8()
				d.PD, d.Fixed = flags&1 != 0, flags&2 != 0
				d.Prefix = r.prefix()
				d.Expires = r.time()
			}
		}
		s.IPv6 = v
	}
	s.Started = r.time()
	r.counters(&s.Counters)
	if r.u8() == 1 {
		s.Counters.Base = &Counters{}
		r.counters(s.Counters.Base)
	}
	s.Counters.LastInterim = r.time()
	if n := r.count(); n > 0 {
		s.RADIUSClass = make([][]byte, n)
		for i := range s.RADIUSClass {
			s.RADIUSClass[i] = r.bytes()
		}
	}
	s.RADIUSAttrs = r.bytes()
	s.SessionTimeout = time.Duration(r.u64())
	s.IdleTimeout = time.Duration(r.u64())
	s.InterimInterval = time.Duration(r.u64())
	s.RateLimit = r.str()
	if n := r.count(); n > 0 {
		s.Routes = make([]netip.Prefix, n)
		for i := range s.Routes {
			s.Routes[i] = r.prefix()
		}
	}
	s.ChangeTCPMSS = r.u8() == 1
	s.Link = r.bytes()
	cs := r.bytes()
	if r.err != nil {
		return fmt.Errorf("state: record: %w", r.err)
	}
	if len(cs) > 0 {
		s.ClientState = new(ClientState)
		if err := json.Unmarshal(cs, s.ClientState); err != nil {
			return fmt.Errorf("state: record: client state: %w", err)
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("state: record: %d bytes after its end", len(r.b))
	}
	return nil
}

// decodeV1 reads a format 1 record (JSON), for the migration to format
// 2. Its link was JSON inside the JSON: it is kept as that JSON, which
// the link's decoder tells from its binary form by the first byte.
func decodeV1(b []byte) (Session, error) {
	var v struct {
		Session
		Link json.RawMessage `json:"link,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Session{}, err
	}
	rec := v.Session
	rec.Link = []byte(v.Link)
	if len(rec.Link) == 0 {
		rec.Link = nil
	}
	return rec, nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, 0)
	}
	s := a.AsSlice()
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func appendPrefix(b []byte, p netip.Prefix) []byte {
	b = appendAddr(b, p.Addr())
	if p.IsValid() {
		b = append(b, byte(p.Bits()))
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	n := int64(math.MinInt64)
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendCounters(b []byte, c *Counters) []byte {
	b = binary.BigEndian.AppendUint64(b, c.PacketsUp)
	b = binary.BigEndian.AppendUint64(b, c.BytesUp)
	b = binary.BigEndian.AppendUint64(b, c.PacketsDown)
	return binary.BigEndian.AppendUint64(b, c.BytesDown)
}

// reader reads a record's fields with a sticky error: one check at the
// end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = io.ErrUnexpectedEOF
		r.b = nil
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// count is a list's length, checked against what is left (every item
// takes a byte at least), so a damaged count cannot make a huge slice.
func (r *reader) count() int {
	if r.err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.b)
	if k == 0 { // the input ends inside the length
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	if k < 0 {
		r.err = errors.New("bad length")
		return 0
	}
	if n > uint64(len(r.b)-k) {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	r.b = r.b[k:]
	return int(n)
}

func (r *reader) str() string {
	return string(r.take(r.count()))
}

// bytes is a length-prefixed byte string copied out of the input (which
// is bbolt's memory, valid only in its transaction); nil when empty.
func (r *reader) bytes() []byte {
	b := r.take(r.count())
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *reader) addr() netip.Addr {
	switch n := r.u8(); n {
	case 0:
		return netip.Addr{}
	case 4, 16:
		a, _ := netip.AddrFromSlice(r.take(int(n)))
		return a
	default:
		if r.err == nil {
			r.err = fmt.Errorf("address of %d bytes", n)
		}
		return netip.Addr{}
	}
}

func (r *reader) prefix() netip.Prefix {
	a := r.addr()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := int(r.u8())
	if bits > a.BitLen() {
		if r.err == nil {
			r.err = fmt.Errorf("prefix %v/%d", a, bits)
		}
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, bits)
}

func (r *reader) time() time.Time {
	n := int64(r.u64())
	if n == math.MinInt64 || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (r *reader) counters(c *Counters) {
	c.PacketsUp, c.BytesUp, c.PacketsDown, c.BytesDown = r.u64(), r.u64(), r.u64(), r.u64()
}
