package peer

import (
	"bytes"
	"net/netip"
	"testing"
)

var (
	srcA = netip.MustParseAddr("10.0.0.2")
	dstA = netip.MustParseAddr("198.51.100.2")
)

// udpPacket is UDP from 10.0.0.2:5000 to 198.51.100.2:4000 carrying "up",
// checksums as scapy computes them (IP(id=0x1234, ttl=64)/UDP()/b"up").
var udpPacket = []byte{
	0x45, 0x00, 0x00, 0x1e, // version 4, IHL 5, TOS 0, total length 30
	0x12, 0x34, 0x00, 0x00, // identification, flags/fragment 0
	0x40, 0x11, 0x34, 0x64, // TTL 64, protocol UDP, header checksum
	10, 0, 0, 2, // source
	198, 51, 100, 2, // destination
	0x13, 0x88, 0x0f, 0xa0, // source port 5000, destination port 4000
	0x00, 0x0a, 0x33, 0x0a, // UDP length 10, checksum
	'u', 'p', // payload
}

func TestUDP(t *testing.T) {
	got := UDP(netip.AddrPortFrom(srcA, 5000), netip.AddrPortFrom(dstA, 4000), []byte("up"))
	if !bytes.Equal(got, udpPacket) {
		t.Fatalf("UDP =\n% x, want\n% x", got, udpPacket)
	}
	// A correct header sums to zero (RFC 1071).
	if c := checksum(got[:20], 0); c != 0 {
		t.Errorf("header checksum verifies to %#04x", c)
	}
}

func TestICMPEchoChecksum(t *testing.T) {
	p := ICMPEcho(srcA, dstA, 0x4242, 7, []byte("odd"))
	if c := checksum(p[20:], 0); c != 0 {
		t.Errorf("ICMP checksum verifies to %#04x", c)
	}
	if p[20] != 8 || p[9] != ProtoICMP {
		t.Errorf("packet % x", p)
	}
}

func TestParseIPv4(t *testing.T) {
	withByte := func(i int, v byte) []byte {
		b := bytes.Clone(udpPacket)
		b[i] = v
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
		want    Packet
	}{
		{name: "UDP", in: udpPacket, want: Packet{Src: srcA, Dst: dstA, Proto: ProtoUDP, TTL: 64, Payload: udpPacket[20:]}},
		{name: "trailing padding cut at total length", in: append(bytes.Clone(udpPacket), 0, 0, 0, 0),
			want: Packet{Src: srcA, Dst: dstA, Proto: ProtoUDP, TTL: 64, Payload: udpPacket[20:]}},
		{name: "empty", in: nil, wantErr: true},
		{name: "truncated header", in: udpPacket[:19], wantErr: true},
		{name: "version 6", in: withByte(0, 0x65), wantErr: true},
		{name: "IHL below 5", in: withByte(0, 0x44), wantErr: true},
		{name: "IHL past total length", in: withByte(0, 0x4f), wantErr: true},
		{name: "total length past the end", in: withByte(3, 0x1f), wantErr: true},
		{name: "total length inside the header", in: withByte(3, 0x13), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIPv4(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (got.Src != tc.want.Src || got.Dst != tc.want.Dst || got.Proto != tc.want.Proto ||
				got.TTL != tc.want.TTL || !bytes.Equal(got.Payload, tc.want.Payload)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseIPv4 checks ParseIPv4 never panics and that what it accepts
// rebuilds (UDP/ICMP payload behind a fresh header) into a packet it
// parses the same way.
func FuzzParseIPv4(f *testing.F) {
	f.Add(udpPacket)
	f.Add(ICMPEcho(srcA, dstA, 1, 2, []byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv4(b)
		if err != nil {
			return
		}
		q, err := ParseIPv4(ipv4(p.Src, p.Dst, p.Proto, p.Payload))
		if err != nil || q.Src != p.Src || q.Dst != p.Dst || q.Proto != p.Proto || !bytes.Equal(q.Payload, p.Payload) {
			t.Fatalf("round trip %+v -> %+v, %v", p, q, err)
		}
	})
}
