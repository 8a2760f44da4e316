package link

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

// savedFull is a Saved with every field set: a dual-stack link with
// multilink (short sequence numbers one way, the peer's endpoint).
func savedFull() Saved {
	return Saved{
		Info: Info{Role: Authenticator, MRU: 1492, MTU: 1480, LocalMagic: 0x11111111, PeerMagic: 0x22222222,
			Method: auth.CHAP, User: "alice",
			IP: IPConfig{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.64.0.9"),
				DNS1: netip.MustParseAddr("192.0.2.53"), NBNS2: netip.MustParseAddr("192.0.2.137")},
			IPv6: IPv6Config{Local: ipv6cp.InterfaceID{2, 0, 0, 0xff, 0xfe, 0, 0, 1}, Remote: ipv6cp.InterfaceID{2, 0, 0, 0xff, 0xfe, 0, 0, 2}},
			Multilink: lcp.Multilink{RecvMRRU: 1614, RecvShortSeq: true, SendMRRU: 1600,
				PeerEndpoint: &lcp.EndpointDiscriminator{Class: lcp.ClassMAC, Address: []byte{2, 0, 0, 0, 0, 9}}}},
		LCP: SavedProtocol{Protocol: ppp.ProtocolLCP, LastID: 3,
			Ours:   []ppp.Option{{Type: 5, Data: []byte{0x11, 0x11, 0x11, 0x11}}, {Type: 17, Data: []byte{0x06, 0x4e}}},
			Theirs: []ppp.Option{{Type: 1, Data: []byte{0x05, 0xc8}}, {Type: 18}}},
		NCPs: []SavedProtocol{
			{Protocol: ppp.ProtocolIPCP, LastID: 1, Ours: []ppp.Option{{Type: 3, Data: []byte{10, 0, 0, 1}}}},
			{Protocol: ppp.ProtocolIPv6CP, LastID: 9, Theirs: []ppp.Option{{Type: 1, Data: []byte{2, 0, 0, 0xff, 0xfe, 0, 0, 2}}}},
		},
	}
}

func TestSavedBinaryRoundTrip(t *testing.T) {
	for _, s := range []Saved{savedFull(), {LCP: SavedProtocol{Protocol: ppp.ProtocolLCP}}} {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != savedV1 || b[0] == '{' {
			t.Fatalf("starts with %#x", b[0])
		}
		var got Saved
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestSavedBinaryDamaged(t *testing.T) {
	good, err := savedFull().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		eof  bool
	}{
		{"empty", nil, true},
		{"truncated", good[:len(good)-1], true},
		{"half", good[:len(good)/2], true},
		{"trailing", append(append([]byte(nil), good...), 0), false},
		{"version 2", append([]byte{savedV1 + 1}, good[1:]...), false},
		{"JSON", []byte(`{"Info":{}}`), false},
	} {
		var s Saved
		err := s.UnmarshalBinary(c.b)
		if err == nil {
			t.Errorf("%s: decoded", c.name)
			continue
		}
		if c.eof != errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func FuzzSavedBinary(f *testing.F) {
	b, _ := savedFull().MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Saved
		if s.UnmarshalBinary(b) != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 Saved
		if err := s2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("re-decoded %+v, %v; want %+v", s2, err, s)
		}
	})
}

// BenchmarkSavedDecode: a dual-stack link with multilink decoded from
// its binary form, and from JSON (a format 1 state record's) for
// comparison.
func BenchmarkSavedDecode(b *testing.B) {
	bin, _ := savedFull().MarshalBinary()
	js, _ := json.Marshal(savedFull())
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Saved
			if err := s.UnmarshalBinary(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Saved
			if err := json.Unmarshal(js, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
