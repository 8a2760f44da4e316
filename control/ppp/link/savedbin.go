package link

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/binrec"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

// Saved's binary form, what pppoed's state record holds (control/state,
// format 2): a start with 100,000 sessions decodes one per session, and
// JSON cost several times more. Layout, big-endian:
//
//	u8  version (savedV1; JSON, the older form, starts with '{')
//	u8  role; u16 MRU, MTU; u32 local, peer magic; u8 method
//	str user                      (uvarint length, bytes)
//	6 × addr IP: local, remote, DNS1, DNS2, NBNS1, NBNS2
//	                              (u8 length 0, 4 or 16, then the bytes)
//	8 + 8 IPv6 interface ids: local, remote
//	multilink: u16 recv MRRU, u16 send MRRU, u8 flags (1 recv short
//	  seq, 2 send short seq, 4 peer endpoint), then if 4: u8 class,
//	  str address
//	protocol LCP, then u8 count and each NCP, each as: u16 protocol,
//	  u8 last id, ours and theirs as u8 count then (u8 type, str data)
const savedV1 byte = 1

// MarshalBinary encodes s.
func (s Saved) MarshalBinary() ([]byte, error) {
	if len(s.NCPs) > math.MaxUint8 {
		return nil, fmt.Errorf("link: save: %d network protocols", len(s.NCPs))
	}
	in := s.Info
	b := make([]byte, 0, 160)
	b = append(b, savedV1, byte(in.Role))
	b = binary.BigEndian.AppendUint16(b, in.MRU)
	b = binary.BigEndian.AppendUint16(b, in.MTU)
	b = binary.BigEndian.AppendUint32(b, in.LocalMagic)
	b = binary.BigEndian.AppendUint32(b, in.PeerMagic)
	b = append(b, byte(in.Method))
	b = binrec.AppendString(b, in.User)
	for _, a := range []netip.Addr{in.IP.Local, in.IP.Remote, in.IP.DNS1, in.IP.DNS2, in.IP.NBNS1, in.IP.NBNS2} {
		b = binrec.AppendAddr(b, a)
	}
	b = append(b, in.IPv6.Local[:]...)
	b = append(b, in.IPv6.Remote[:]...)
	ml := in.Multilink
	b = binary.BigEndian.AppendUint16(b, ml.RecvMRRU)
	b = binary.BigEndian.AppendUint16(b, ml.SendMRRU)
	var flags byte
	if ml.RecvShortSeq {
		flags |= 1
	}
	if ml.SendShortSeq {
		flags |= 2
	}
	if ml.PeerEndpoint != nil {
		flags |= 4
	}
	b = append(b, flags)
	if e := ml.PeerEndpoint; e != nil {
		b = append(b, byte(e.Class))
		b = binrec.AppendString(b, string(e.Address))
	}
	var err error
	if b, err = appendProtocol(b, s.LCP); err != nil {
		return nil, err
	}
	b = append(b, byte(len(s.NCPs)))
	for _, n := range s.NCPs {
		if b, err = appendProtocol(b, n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded: short input is
// io.ErrUnexpectedEOF, anything else malformed an error.
func (s *Saved) UnmarshalBinary(b []byte) error {
	r := savedReader{binrec.Reader{B: b}}
	if v := r.U8(); r.Err == nil && v != savedV1 {
		return fmt.Errorf("link: saved link version %d, want %d", v, savedV1)
	}
	*s = Saved{}
	in := &s.Info
	in.Role = Role(r.U8())
	in.MRU, in.MTU = r.U16(), r.U16()
	in.LocalMagic, in.PeerMagic = r.U32(), r.U32()
	in.Method = auth.Method(r.U8())
	in.User = r.String()
	for _, a := range []*netip.Addr{&in.IP.Local, &in.IP.Remote, &in.IP.DNS1, &in.IP.DNS2, &in.IP.NBNS1, &in.IP.NBNS2} {
		*a = r.Addr()
	}
	copy(in.IPv6.Local[:], r.Take(8))
	copy(in.IPv6.Remote[:], r.Take(8))
	ml := &in.Multilink
	ml.RecvMRRU, ml.SendMRRU = r.U16(), r.U16()
	flags := r.U8()
	ml.RecvShortSeq, ml.SendShortSeq = flags&1 != 0, flags&2 != 0
	if flags&4 != 0 {
		ml.PeerEndpoint = &lcp.EndpointDiscriminator{Class: lcp.Class(r.U8()), Address: r.Bytes()}
	}
	s.LCP = r.protocol()
	if n := int(r.U8()); n > 0 {
		s.NCPs = make([]SavedProtocol, n)
		for i := range s.NCPs {
			s.NCPs[i] = r.protocol()
		}
	}
	if r.Err != nil {
		return fmt.Errorf("link: saved link: %w", r.Err)
	}
	if len(r.B) != 0 {
		return fmt.Errorf("link: saved link: %d bytes after its end", len(r.B))
	}
	return nil
}

func appendProtocol(b []byte, p SavedProtocol) ([]byte, error) {
	if len(p.Ours) > math.MaxUint8 || len(p.Theirs) > math.MaxUint8 {
		return nil, fmt.Errorf("link: save %v: too many options", p.Protocol)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(p.Protocol))
	b = append(b, p.LastID)
	for _, opts := range [][]ppp.Option{p.Ours, p.Theirs} {
		b = append(b, byte(len(opts)))
		for _, o := range opts {
			b = append(b, o.Type)
			b = binrec.AppendString(b, string(o.Data))
		}
	}
	return b, nil
}

// savedReader reads Saved's fields: binrec's, and SavedProtocol.
type savedReader struct{ binrec.Reader }

func (r *savedReader) protocol() SavedProtocol {
	p := SavedProtocol{Protocol: ppp.Protocol(r.U16()), LastID: r.U8()}
	for _, opts := range []*[]ppp.Option{&p.Ours, &p.Theirs} {
		n := int(r.U8())
		if n == 0 || r.Err != nil {
			continue
		}
		*opts = make([]ppp.Option, n)
		for i := range *opts {
			(*opts)[i] = ppp.Option{Type: r.U8(), Data: r.Bytes()}
		}
	}
	return p
}

// Decode decodes a state record's link: binary (MarshalBinary), or the
// JSON a pppoed of state format 1 wrote, which starts with '{'.
func (s *Saved) Decode(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("link: no saved link")
	case b[0] == '{':
		return json.Unmarshal(b, s)
	default:
		return s.UnmarshalBinary(b)
	}
}
