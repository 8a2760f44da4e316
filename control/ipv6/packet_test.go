package ipv6

import (
	"errors"
	"io"
	"net/netip"
	"testing"
)

var (
	src = netip.MustParseAddr("fe80::2")
	dst = netip.MustParseAddr("ff02::1:2")
)

// TestUDP: a datagram we build parses back; a flipped bit, a zero
// checksum, a short buffer and a lying length are refused.
func TestUDP(t *testing.T) {
	b, err := MarshalUDP(src, dst, 64, UDP{SrcPort: 546, DstPort: 547, Payload: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil || p.Src != src || p.Dst != dst || p.HopLimit != 64 {
		t.Fatalf("%+v: %v", p, err)
	}
	u, err := ParseUDP(p)
	if err != nil || u.SrcPort != 546 || u.DstPort != 547 || string(u.Payload) != "hello" {
		t.Fatalf("%+v: %v", u, err)
	}
	edit := func(f func([]byte) []byte) error {
		c := append([]byte(nil), b...)
		p, err := Parse(f(c))
		if err != nil {
			return err
		}
		_, err = ParseUDP(p)
		return err
	}
	for _, tc := range []struct {
		name string
		f    func([]byte) []byte
		want error
	}{
		{"payload bit", func(c []byte) []byte { c[len(c)-1] ^= 1; return c }, ErrChecksum},
		{"zero checksum", func(c []byte) []byte { c[46], c[47] = 0, 0; return c }, ErrChecksum},
		{"short header", func(c []byte) []byte { return c[:39] }, io.ErrUnexpectedEOF},
		{"payload length past end", func(c []byte) []byte { c[5]++; return c }, io.ErrUnexpectedEOF},
		{"UDP length short", func(c []byte) []byte { c[45]--; return c }, io.ErrUnexpectedEOF},
		{"version 4", func(c []byte) []byte { c[0] = 0x45; return c }, ErrNotIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := edit(tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// PPPoE may pad a short frame: bytes past Payload Length are not ours.
	p, err = Parse(append(b, 0, 0, 0))
	if err != nil || len(p.Payload) != len(b)-HeaderLen {
		t.Fatalf("padded: %v", err)
	}
}

func TestLinkLocal(t *testing.T) {
	id := InterfaceID{0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}
	if got := LinkLocal(id); got != netip.MustParseAddr("fe80::211:22ff:fe33:4455") {
		t.Fatal(got)
	}
	a, err := WithInterfaceID(netip.MustParsePrefix("2001:db8:1:2::/64"), id)
	if err != nil || a != netip.MustParseAddr("2001:db8:1:2:211:22ff:fe33:4455") {
		t.Fatal(a, err)
	}
	if _, err := WithInterfaceID(netip.MustParsePrefix("2001:db8::/56"), id); err == nil {
		t.Fatal("a /56 took an interface identifier")
	}
}

// FuzzParse: any input parses or errors; a parsed datagram re-encodes to
// the same bytes (up to the padding Parse drops).
func FuzzParse(f *testing.F) {
	b, _ := MarshalUDP(src, dst, 64, UDP{SrcPort: 546, DstPort: 547, Payload: []byte{1, 2, 3}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(b[:len(out)]) {
			t.Fatalf("round trip:\n%x\n%x", b, out)
		}
		ParseUDP(p)
	})
}
