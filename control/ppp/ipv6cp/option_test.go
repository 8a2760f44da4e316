package ipv6cp

import (
	"errors"
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
			name: "interface identifier",
			in: []byte{
				0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, // Interface-Identifier, Length 10
			},
			want: []Option{InterfaceID{0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}},
		},
		{
			name: "zero identifier (asks for one) and compression kept raw",
			in: []byte{
				0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, // Interface-Identifier 0
				0x02, 0x04, 0x00, 0x4f, // IPv6-Compression-Protocol 0x004f (IPHC)
			},
			want: []Option{InterfaceID{}, Raw{T: TypeCompression, Data: []byte{0x00, 0x4f}}},
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
		wantLen bool
	}{
		{name: "identifier of 7", in: []byte{0x01, 0x09, 1, 2, 3, 4, 5, 6, 7}, wantLen: true},       // Length 9
		{name: "identifier of 9", in: []byte{0x01, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wantLen: true}, // Length 11
		{name: "identifier empty", in: []byte{0x01, 0x02}, wantLen: true},                           // Length 2
		{name: "zero-length option", in: []byte{0x01, 0x00}},
		{name: "overrun", in: []byte{0x01, 0x0a, 1, 2, 3}},
		{name: "lone type", in: []byte{0x01}},
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
	_, err := parseOptions([]byte{0x01, 0x09, 1, 2, 3, 4, 5, 6, 7})
	if err == nil || !strings.Contains(err.Error(), "Interface-Identifier") || !strings.Contains(err.Error(), "length 9") {
		t.Fatalf("error %q should name the option and the bad length", err)
	}
}

func TestInterfaceID(t *testing.T) {
	id := InterfaceID{0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}
	if got, want := id.LinkLocal().String(), "fe80::211:22ff:fe33:4455"; got != want {
		t.Fatalf("LinkLocal %s, want %s", got, want)
	}
	if got, want := id.String(), "211:22ff:fe33:4455"; got != want {
		t.Fatalf("String %s, want %s", got, want)
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add([]byte{0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, 0x02, 0x04, 0x00, 0x4f})
	f.Fuzz(func(t *testing.T, b []byte) { ppptest.RoundTrip(t, b, true, FromRaw, ToRaw) })
}
