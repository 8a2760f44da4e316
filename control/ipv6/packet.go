// Package ipv6 holds what the IPv6 control-plane protocols on a PPP session
// share: the IPv6 header (RFC 8200 §3) and UDP (RFC 768, checksum per
// RFC 8200 §8.1) around their messages, and the link-local address a PPP
// end takes from its IPv6CP Interface-Identifier (RFC 5072 §5).
//
// A session carries these packets inside PPP protocol 0x0057 with no link
// layer addresses, so a packet here is the bare IPv6 datagram: what the
// session receives after the PPP header and what it sends after it.
package ipv6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Next-header values of the protocols the control plane answers.
const (
	ProtoUDP    = 17 // RFC 768
	ProtoICMPv6 = 58 // RFC 4443
)

// HeaderLen is the fixed IPv6 header's length.
const HeaderLen = 40

// UDPHeaderLen is the UDP header's length.
const UDPHeaderLen = 8

// Well-known link-scope multicast groups.
var (
	AllNodes                     = netip.MustParseAddr("ff02::1")   // RFC 4291 §2.7.1
	AllRouters                   = netip.MustParseAddr("ff02::2")   // RFC 4291 §2.7.1
	AllDHCPRelayAgentsAndServers = netip.MustParseAddr("ff02::1:2") // RFC 8415 §7.1
)

// ErrNotIPv6 is returned for a datagram whose version field is not 6.
var ErrNotIPv6 = errors.New("ipv6: version is not 6")

// ErrChecksum is returned when an upper-layer checksum does not verify.
var ErrChecksum = errors.New("ipv6: bad checksum")

// Packet is an IPv6 datagram without extension headers: what RS, RA and
// DHCPv6 on a PPP link are. Payload aliases the parsed buffer.
type Packet struct {
	TrafficClass uint8
	FlowLabel    uint32
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
	Payload      []byte
}

// Parse reads an IPv6 datagram. Bytes past Payload Length (PPPoE padding)
// are ignored; a datagram shorter than its Payload Length is
// io.ErrUnexpectedEOF.
func Parse(b []byte) (Packet, error) {
	if len(b) < HeaderLen {
		return Packet{}, fmt.Errorf("ipv6: header: %w", io.ErrUnexpectedEOF)
	}
	if b[0]>>4 != 6 {
		return Packet{}, ErrNotIPv6
	}
	// Layout: version(4) traffic class(8) flow label(20) | payload
	// length(16) next header(8) hop limit(8) | source(128) | destination(128).
	vtf := binary.BigEndian.Uint32(b[0:4])
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if len(b) < HeaderLen+plen {
		return Packet{}, fmt.Errorf("ipv6: payload length %d, %d bytes follow: %w", plen, len(b)-HeaderLen, io.ErrUnexpectedEOF)
	}
	return Packet{
		TrafficClass: uint8(vtf >> 20),
		FlowLabel:    vtf & 0xfffff,
		NextHeader:   b[6],
		HopLimit:     b[7],
		Src:          netip.AddrFrom16([16]byte(b[8:24])),
		Dst:          netip.AddrFrom16([16]byte(b[24:40])),
		Payload:      b[HeaderLen : HeaderLen+plen],
	}, nil
}

// Marshal encodes p. Src and Dst must be IPv6 addresses.
func (p Packet) Marshal() ([]byte, error) {
	if !p.Src.Is6() || !p.Dst.Is6() {
		return nil, fmt.Errorf("ipv6: source %v, destination %v: not IPv6 addresses", p.Src, p.Dst)
	}
	if len(p.Payload) > 0xffff {
		return nil, fmt.Errorf("ipv6: payload of %d bytes needs a jumbogram", len(p.Payload))
	}
	b := make([]byte, HeaderLen+len(p.Payload))
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(p.TrafficClass)<<20|p.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(p.Payload)))
	b[6] = p.NextHeader
	b[7] = p.HopLimit
	src, dst := p.Src.As16(), p.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	copy(b[HeaderLen:], p.Payload)
	return b, nil
}

// Checksum is the Internet checksum of an upper-layer payload with the
// IPv6 pseudo-header (RFC 8200 §8.1) for src, dst and next header nh. On a
// payload whose checksum field is filled in, it is 0 when the checksum
// verifies.
func Checksum(src, dst netip.Addr, nh uint8, payload []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	sum += uint32(len(payload)>>16) + uint32(len(payload)&0xffff)
	sum += uint32(nh)
	add(payload)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// VerifyChecksum reports ErrChecksum when p's upper-layer checksum (ICMPv6
// or UDP) does not verify; a UDP checksum of zero is invalid over IPv6
// (RFC 8200 §8.1).
func (p Packet) VerifyChecksum() error {
	if p.NextHeader == ProtoUDP && len(p.Payload) >= UDPHeaderLen && p.Payload[6] == 0 && p.Payload[7] == 0 {
		return fmt.Errorf("ipv6: UDP checksum zero: %w", ErrChecksum)
	}
	if Checksum(p.Src, p.Dst, p.NextHeader, p.Payload) != 0 {
		return ErrChecksum
	}
	return nil
}

// UDP is a UDP datagram over IPv6; Payload aliases the parsed buffer.
type UDP struct {
	SrcPort, DstPort uint16
	Payload          []byte
}

// ParseUDP reads the UDP datagram that p carries and verifies its checksum.
func ParseUDP(p Packet) (UDP, error) {
	if p.NextHeader != ProtoUDP {
		return UDP{}, fmt.Errorf("ipv6: next header %d, want UDP", p.NextHeader)
	}
	b := p.Payload
	if len(b) < UDPHeaderLen {
		return UDP{}, fmt.Errorf("ipv6: UDP header: %w", io.ErrUnexpectedEOF)
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < UDPHeaderLen || n != len(b) {
		return UDP{}, fmt.Errorf("ipv6: UDP length %d in a payload of %d bytes: %w", n, len(b), io.ErrUnexpectedEOF)
	}
	if err := p.VerifyChecksum(); err != nil {
		return UDP{}, fmt.Errorf("ipv6: UDP: %w", err)
	}
	return UDP{
		SrcPort: binary.BigEndian.Uint16(b[0:2]),
		DstPort: binary.BigEndian.Uint16(b[2:4]),
		Payload: b[UDPHeaderLen:],
	}, nil
}

// MarshalUDP builds the IPv6 datagram carrying u from src to dst with hop
// limit hops, UDP checksum filled in.
func MarshalUDP(src, dst netip.Addr, hops uint8, u UDP) ([]byte, error) {
	n := UDPHeaderLen + len(u.Payload)
	if n > 0xffff {
		return nil, fmt.Errorf("ipv6: UDP payload of %d bytes too long", len(u.Payload))
	}
	seg := make([]byte, n)
	binary.BigEndian.PutUint16(seg[0:2], u.SrcPort)
	binary.BigEndian.PutUint16(seg[2:4], u.DstPort)
	binary.BigEndian.PutUint16(seg[4:6], uint16(n))
	copy(seg[UDPHeaderLen:], u.Payload)
	c := Checksum(src, dst, ProtoUDP, seg)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(seg[6:8], c)
	return Packet{NextHeader: ProtoUDP, HopLimit: hops, Src: src, Dst: dst, Payload: seg}.Marshal()
}

// InterfaceID is a 64-bit IPv6 interface identifier, as IPv6CP negotiates
// it (RFC 5072 §4.1).
type InterfaceID [8]byte

// LinkLocal is fe80::/64 with id appended (RFC 5072 §5), the address a PPP
// end sends RS, RA and DHCPv6 from.
func LinkLocal(id InterfaceID) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], id[:])
	return netip.AddrFrom16(a)
}

// WithInterfaceID is the address of prefix p's first 64 bits followed by
// id (RFC 4862 §5.5.3: a /64 prefix and a 64-bit identifier).
func WithInterfaceID(p netip.Prefix, id InterfaceID) (netip.Addr, error) {
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() != 64 {
		return netip.Addr{}, fmt.Errorf("ipv6: prefix %v: want an IPv6 /64", p)
	}
	a := p.Masked().Addr().As16()
	copy(a[8:], id[:])
	return netip.AddrFrom16(a), nil
}
