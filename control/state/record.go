package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/binrec"
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
	b = binrec.AppendString(b, string(s.Role))
	b = binrec.AppendString(b, string(s.Phase))
	b = binary.BigEndian.AppendUint16(b, s.SessionID)
	b = append(b, s.PeerMAC[:]...)
	b = append(b, s.LocalMAC[:]...)
	b = binrec.AppendString(b, s.Iface.Name)
	b = binrec.AppendString(b, s.Iface.Parent)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Iface.Ifindex))
	b = append(b, byte(len(s.Iface.VLANs)))
	for _, v := range s.Iface.VLANs {
		b = binary.BigEndian.AppendUint16(b, v.TPID)
		b = binary.BigEndian.AppendUint16(b, v.ID)
	}
	b = binrec.AppendString(b, s.Client)
	b = binary.BigEndian.AppendUint32(b, s.MagicLocal)
	b = binary.BigEndian.AppendUint32(b, s.MagicPeer)
	b = binary.BigEndian.AppendUint16(b, s.MRU)
	b = binary.BigEndian.AppendUint16(b, s.MTU)
	b = binary.BigEndian.AppendUint16(b, s.MSS)
	b = binary.BigEndian.AppendUint32(b, s.MPSeq)
	b = binrec.AppendString(b, s.User)
	b = binrec.AppendString(b, s.Profile)
	b = binrec.AppendString(b, s.Service)
	b = binrec.AppendString(b, s.Pool)
	b = binrec.AppendAddr(b, s.LocalIPv4)
	b = binrec.AppendAddr(b, s.PeerIPv4)
	b = binary.AppendUvarint(b, uint64(len(s.DNS)))
	for _, a := range s.DNS {
		b = binrec.AppendAddr(b, a)
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
		b = binrec.AppendString(b, v.PDPool)
		b = binary.AppendUvarint(b, uint64(len(v.DNS)))
		for _, a := range v.DNS {
			b = binrec.AppendAddr(b, a)
		}
		b = binary.AppendUvarint(b, uint64(len(v.Bindings)))
		for _, d := range v.Bindings {
			b = binrec.AppendString(b, string(d.DUID))
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
		b = binrec.AppendString(b, string(c))
	}
	b = binrec.AppendString(b, string(s.RADIUSAttrs))
	b = binary.BigEndian.AppendUint64(b, uint64(s.SessionTimeout))
	b = binary.BigEndian.AppendUint64(b, uint64(s.IdleTimeout))
	b = binary.BigEndian.AppendUint64(b, uint64(s.InterimInterval))
	b = binrec.AppendString(b, s.RateLimit)
	b = binary.AppendUvarint(b, uint64(len(s.Routes)))
	for _, p := range s.Routes {
		b = appendPrefix(b, p)
	}
	if s.ChangeTCPMSS {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binrec.AppendString(b, string(s.Link))
	// A client session's own state, as JSON: a host has a handful of
	// client sessions, none of them in a 100,000-session adoption.
	var cs []byte
	if s.ClientState != nil {
		var err error
		if cs, err = json.Marshal(s.ClientState); err != nil {
			return nil, fmt.Errorf("state: client state: %w", err)
		}
	}
	b = binrec.AppendString(b, string(cs))
	return b, nil
}

// UnmarshalBinary decodes a record MarshalBinary encoded. Short input is
// io.ErrUnexpectedEOF; a version it does not know, trailing bytes or a
// malformed field an error; s is then unspecified.
func (s *Session) UnmarshalBinary(b []byte) error {
	r := reader{binrec.Reader{B: b}}
	if v := r.U8(); r.Err == nil && v != recordV1 {
		return fmt.Errorf("state: record version %d, want %d", v, recordV1)
	}
	*s = Session{}
	s.Handle = r.U64()
	s.Role = Role(r.String())
	s.Phase = Phase(r.String())
	s.SessionID = r.U16()
	copy(s.PeerMAC[:], r.Take(6))
	copy(s.LocalMAC[:], r.Take(6))
	s.Iface.Name = r.String()
	s.Iface.Parent = r.String()
	s.Iface.Ifindex = int(int32(r.U32()))
	if n := int(r.U8()); n > 0 {
		s.Iface.VLANs = make([]VLAN, n)
		for i := range s.Iface.VLANs {
			s.Iface.VLANs[i] = VLAN{TPID: r.U16(), ID: r.U16()}
		}
	}
	s.Client = r.String()
	s.MagicLocal, s.MagicPeer = r.U32(), r.U32()
	s.MRU, s.MTU, s.MSS = r.U16(), r.U16(), r.U16()
	s.MPSeq = r.U32()
	s.User, s.Profile, s.Service, s.Pool = r.String(), r.String(), r.String(), r.String()
	s.LocalIPv4, s.PeerIPv4 = r.Addr(), r.Addr()
	if n := r.Count(); n > 0 {
		s.DNS = make([]netip.Addr, n)
		for i := range s.DNS {
			s.DNS[i] = r.Addr()
		}
	}
	if r.U8() == 1 {
		v := &IPv6{Link: r.prefix()}
		if n := r.Count(); n > 0 {
			v.Delegated = make([]netip.Prefix, n)
			for i := range v.Delegated {
				v.Delegated[i] = r.prefix()
			}
		}
		v.Fixed = r.prefix()
		v.PDPool = r.String()
		if n := r.Count(); n > 0 {
			v.DNS = make([]netip.Addr, n)
			for i := range v.DNS {
				v.DNS[i] = r.Addr()
			}
		}
		if n := r.Count(); n > 0 {
			v.Bindings = make([]DHCPv6Binding, n)
			for i := range v.Bindings {
				d := &v.Bindings[i]
				d.DUID = r.Bytes()
				copy(d.IAID[:], r.Take(4))
				flags := r.U8()
				d.PD, d.Fixed = flags&1 != 0, flags&2 != 0
				d.Prefix = r.prefix()
				d.Expires = r.time()
			}
		}
		s.IPv6 = v
	}
	s.Started = r.time()
	r.counters(&s.Counters)
	if r.U8() == 1 {
		s.Counters.Base = &Counters{}
		r.counters(s.Counters.Base)
	}
	s.Counters.LastInterim = r.time()
	if n := r.Count(); n > 0 {
		s.RADIUSClass = make([][]byte, n)
		for i := range s.RADIUSClass {
			s.RADIUSClass[i] = r.Bytes()
		}
	}
	s.RADIUSAttrs = r.Bytes()
	s.SessionTimeout = time.Duration(r.U64())
	s.IdleTimeout = time.Duration(r.U64())
	s.InterimInterval = time.Duration(r.U64())
	s.RateLimit = r.String()
	if n := r.Count(); n > 0 {
		s.Routes = make([]netip.Prefix, n)
		for i := range s.Routes {
			s.Routes[i] = r.prefix()
		}
	}
	s.ChangeTCPMSS = r.U8() == 1
	s.Link = r.Bytes()
	cs := r.Bytes()
	if r.Err != nil {
		return fmt.Errorf("state: record: %w", r.Err)
	}
	if len(cs) > 0 {
		s.ClientState = new(ClientState)
		if err := json.Unmarshal(cs, s.ClientState); err != nil {
			return fmt.Errorf("state: record: client state: %w", err)
		}
	}
	if len(r.B) != 0 {
		return fmt.Errorf("state: record: %d bytes after its end", len(r.B))
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

func appendPrefix(b []byte, p netip.Prefix) []byte {
	b = binrec.AppendAddr(b, p.Addr())
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

// reader reads a record's fields: binrec's, and the record's own
// shapes.
type reader struct{ binrec.Reader }

func (r *reader) prefix() netip.Prefix {
	a := r.Addr()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := int(r.U8())
	if bits > a.BitLen() {
		r.Fail(fmt.Errorf("prefix %v/%d", a, bits))
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, bits)
}

func (r *reader) time() time.Time {
	n := int64(r.U64())
	if n == math.MinInt64 || r.Err != nil {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (r *reader) counters(c *Counters) {
	c.PacketsUp, c.BytesUp, c.PacketsDown, c.BytesDown = r.U64(), r.U64(), r.U64(), r.U64()
}
