package peer

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IPv4 protocol numbers used by the data-path helpers.
const (
	ProtoICMP = 1
	ProtoUDP  = 17
)

// ErrNotIPv4 is returned by ParseIPv4 for anything but a whole, option-less
// or optioned IPv4 packet with a sane header.
var ErrNotIPv4 = errors.New("peer: not an IPv4 packet")

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte, sum uint32) uint16 {
	for ; len(b) > 1; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// ipv4 builds an IPv4 header (RFC 791 §3.1, no options, DF clear, TTL 64)
// in front of payload.
func ipv4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, 20+len(payload))
	b[0] = 0x45                                       // version 4, IHL 5
	binary.BigEndian.PutUint16(b[2:], uint16(len(b))) // total length
	binary.BigEndian.PutUint16(b[4:], 0x1234)         // identification
	b[8] = 64                                         // TTL
	b[9] = proto                                      // protocol
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20], 0))
	copy(b[20:], payload)
	return b
}

// UDP returns an IPv4 packet carrying one UDP datagram (RFC 768) with its
// checksum.
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	// Pseudo-header: addresses, protocol, UDP length.
	s, d := src.Addr().As4(), dst.Addr().As4()
	var sum uint32
	for i := 0; i < 4; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	sum += ProtoUDP + uint32(len(u))
	c := checksum(u, sum)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return ipv4(src.Addr(), dst.Addr(), ProtoUDP, u)
}

// ICMPEcho returns an IPv4 packet carrying an ICMP Echo Request (RFC 792).
func ICMPEcho(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	m := make([]byte, 8+len(data))
	m[0] = 8 // type: echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], checksum(m, 0))
	return ipv4(src, dst, ProtoICMP, m)
}

// Packet is a parsed IPv4 packet.
type Packet struct {
	Src, Dst netip.Addr
	Proto    uint8
	TTL      uint8
	// Payload is what follows the header, cut at the total length.
	Payload []byte
}

// ParseIPv4 parses an IPv4 packet (RFC 791 §3.1).
func ParseIPv4(b []byte) (Packet, error) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Packet{}, ErrNotIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return Packet{}, ErrNotIPv4
	}
	return Packet{
		Src:     netip.AddrFrom4([4]byte(b[12:16])),
		Dst:     netip.AddrFrom4([4]byte(b[16:20])),
		Proto:   b[9],
		TTL:     b[8],
		Payload: b[ihl:total],
	}, nil
}
