package maps

// Test-only frame builders. Ethernet, PPPoE and PPP come from the project's
// codecs; the project has no IPv4/TCP codec, so minimal builders live here.

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

type ipv4 struct {
	src, dst netip.Addr
	ttl      uint8
	proto    uint8
	options  []byte // multiple of 4
	payload  []byte
}

// marshal returns the IPv4 packet with its header checksum computed from
// scratch (so a wrong incremental update in BPF shows as a byte diff).
func (p ipv4) marshal() []byte {
	hl := 20 + len(p.options)
	b := make([]byte, hl+len(p.payload))
	b[0] = 0x40 | byte(hl/4)                          // version 4, IHL
	binary.BigEndian.PutUint16(b[2:], uint16(len(b))) // total length
	binary.BigEndian.PutUint16(b[4:], 0x1234)         // identification
	b[6] = 0x40                                       // DF
	b[8] = p.ttl
	b[9] = p.proto
	s, d := p.src.As4(), p.dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], p.options)
	binary.BigEndian.PutUint16(b[10:], csum(b[:hl], 0))
	copy(b[hl:], p.payload)
	return b
}

// tcp builds a TCP segment with the given flags and options (padded to a
// multiple of 4 by the caller) and a checksum over the RFC 9293 §3.1
// pseudo-header.
func tcp(src, dst netip.Addr, flags uint8, opts []byte) []byte {
	b := make([]byte, 20+len(opts))
	binary.BigEndian.PutUint16(b[0:], 40000)  // source port
	binary.BigEndian.PutUint16(b[2:], 443)    // destination port
	binary.BigEndian.PutUint32(b[4:], 1)      // sequence
	b[12] = byte(len(b)/4) << 4               // data offset
	b[13] = flags                             // SYN = 0x02, ACK = 0x10
	binary.BigEndian.PutUint16(b[14:], 65535) // window
	copy(b[20:], opts)
	s, d := src.As4(), dst.As4()
	var sum uint32
	sum += uint32(binary.BigEndian.Uint16(s[:])) + uint32(binary.BigEndian.Uint16(s[2:]))
	sum += uint32(binary.BigEndian.Uint16(d[:])) + uint32(binary.BigEndian.Uint16(d[2:]))
	sum += 6 + uint32(len(b))
	binary.BigEndian.PutUint16(b[16:], csum(b, sum))
	return b
}

// pppoeFrame wraps a PPP payload of the given protocol in a PPPoE session
// frame from client to AC.
func pppoeFrame(t testing.TB, dst, src net.HardwareAddr, vlans []ethernet.VLAN, sid uint16, proto ppp.Protocol, info []byte) []byte {
	t.Helper()
	pf, err := (&ppp.Frame{Protocol: proto, Information: info}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pppoe.MarshalFrame(dst, src, vlans, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: sid, Payload: pf})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ethFrame(t testing.TB, dst, src net.HardwareAddr, et ethernet.EtherType, payload []byte) []byte {
	t.Helper()
	b, err := (&ethernet.Frame{Destination: dst, Source: src, EtherType: et, Payload: payload}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
