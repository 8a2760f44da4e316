package ipcp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
)

// parseOptions and marshalOptions are a Configure-* packet's Data as the
// link reads and writes it: raw options, each through FromRaw or ToRaw.
func parseOptions(b []byte) ([]Option, error) { return ppptest.Options(b, FromRaw) }

func marshalOptions(opts []Option) ([]byte, error) { return ppptest.Data(opts, ToRaw) }

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Option
	}{
		{
			name: "client asks for address and DNS (RFC 1877)",
			in: []byte{
				0x03, 0x06, 0, 0, 0, 0, // IP-Address 0.0.0.0
				0x81, 0x06, 0, 0, 0, 0, // Primary-DNS 0.0.0.0
				0x83, 0x06, 0, 0, 0, 0, // Secondary-DNS 0.0.0.0
			},
			want: []Option{
				IPAddress{netip.IPv4Unspecified()},
				PrimaryDNS{netip.IPv4Unspecified()},
				SecondaryDNS{netip.IPv4Unspecified()},
			},
		},
		{
			name: "server's Nak with everything",
			in: []byte{
				0x03, 0x06, 10, 0, 0, 7, // IP-Address 10.0.0.7
				0x81, 0x06, 192, 0, 2, 53, // Primary-DNS 192.0.2.53
				0x82, 0x06, 192, 0, 2, 137, // Primary-NBNS 192.0.2.137
				0x83, 0x06, 192, 0, 2, 54, // Secondary-DNS 192.0.2.54
				0x84, 0x06, 192, 0, 2, 138, // Secondary-NBNS 192.0.2.138
			},
			want: []Option{
				IPAddress{netip.MustParseAddr("10.0.0.7")},
				PrimaryDNS{netip.MustParseAddr("192.0.2.53")},
				PrimaryNBNS{netip.MustParseAddr("192.0.2.137")},
				SecondaryDNS{netip.MustParseAddr("192.0.2.54")},
				SecondaryNBNS{netip.MustParseAddr("192.0.2.138")},
			},
		},
		{
			name: "Van Jacobson compression and deprecated IP-Addresses kept",
			in: []byte{
				0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, // IP-Compression VJ, Max-Slot-Id 15, Comp-Slot-Id 1
				0x01, 0x0a, 10, 0, 0, 1, 10, 0, 0, 2, // IP-Addresses (RFC 1172), two addresses
			},
			want: []Option{
				Compression{Protocol: 0x002d, Data: []byte{0x0f, 0x01}},
				Raw{T: TypeIPAddresses, Data: []byte{10, 0, 0, 1, 10, 0, 0, 2}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ppptest.RoundTrip(t, tt.in, true, FromRaw, ToRaw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseOptionsMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantLen bool // wraps ppp.ErrOptionLength
	}{
		{name: "IP-Address of 3", in: []byte{0x03, 0x05, 10, 0, 0}, wantLen: true},                      // IP-Address, Length 5
		{name: "IP-Address of 5", in: []byte{0x03, 0x07, 10, 0, 0, 0, 1}, wantLen: true},                // IP-Address, Length 7
		{name: "IP-Address empty", in: []byte{0x03, 0x02}, wantLen: true},                               // IP-Address, Length 2
		{name: "Primary-DNS of 16", in: append([]byte{0x81, 0x12}, make([]byte, 16)...), wantLen: true}, // an IPv6 address
		{name: "Primary-NBNS of 2", in: []byte{0x82, 0x04, 0, 0}, wantLen: true},
		{name: "Secondary-DNS of 3", in: []byte{0x83, 0x05, 0, 0, 0}, wantLen: true},
		{name: "Secondary-NBNS of 1", in: []byte{0x84, 0x03, 0}, wantLen: true},
		{name: "Compression of 1", in: []byte{0x02, 0x03, 0x00}, wantLen: true}, // IP-Compression, Length 3
		{name: "zero-length option", in: []byte{0x03, 0x00}},
		{name: "overrun", in: []byte{0x03, 0x06, 10, 0, 0}},
		{name: "lone type", in: []byte{0x03}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.in)
			if err == nil {
				t.Fatalf("parsed %#v, want an error", got)
			}
			if errors.Is(err, ppp.ErrOptionLength) != tt.wantLen {
				t.Fatalf("err = %v, want ErrOptionLength %v", err, tt.wantLen)
			}
		})
	}
	_, err := parseOptions([]byte{0x81, 0x05, 1, 2, 3})
	if err == nil || !strings.Contains(err.Error(), "Primary-DNS") || !strings.Contains(err.Error(), "length 5") {
		t.Fatalf("error %q should name the option and the bad length", err)
	}
}

func TestMarshalInvalid(t *testing.T) {
	for _, o := range []Option{
		IPAddress{netip.MustParseAddr("2001:db8::1")},
		PrimaryDNS{}, // the zero netip.Addr is no address at all
		Raw{T: 9, Data: make([]byte, 254)},
	} {
		if b, err := marshalOptions([]Option{o}); err == nil {
			t.Errorf("%#v marshalled to % x, want an error", o, b)
		}
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add([]byte{0x03, 0x06, 10, 0, 0, 7, 0x81, 0x06, 1, 1, 1, 1, 0x84, 0x06, 2, 2, 2, 2})
	f.Add([]byte{0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, 0x01, 0x0a, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) { ppptest.RoundTrip(t, b, true, FromRaw, ToRaw) })
}
