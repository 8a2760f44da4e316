package auth

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

func TestMethodOptionData(t *testing.T) {
	for _, tc := range []struct {
		m     Method
		name  string
		proto ppp.Protocol
		data  []byte
	}{
		{PAP, "pap", ppp.ProtocolPAP, []byte{0xc0, 0x23}},                 // PAP, no algorithm
		{CHAP, "chap", ppp.ProtocolCHAP, []byte{0xc2, 0x23, 0x05}},        // CHAP, MD5
		{MSCHAPv1, "mschap1", ppp.ProtocolCHAP, []byte{0xc2, 0x23, 0x80}}, // CHAP, MS-CHAPv1
		{MSCHAPv2, "mschap2", ppp.ProtocolCHAP, []byte{0xc2, 0x23, 0x81}}, // CHAP, MS-CHAPv2
	} {
		if s := tc.m.String(); s != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.m, s, tc.name)
		}
		if p := tc.m.Protocol(); p != tc.proto {
			t.Errorf("%s.Protocol() = %v, want %v", tc.m, p, tc.proto)
		}
		if d := tc.m.OptionData(); !bytes.Equal(d, tc.data) {
			t.Errorf("%s.OptionData() = % x, want % x", tc.m, d, tc.data)
		}
		if m, err := MethodFromOptionData(tc.data); m != tc.m || err != nil {
			t.Errorf("MethodFromOptionData(% x) = %v, %v; want %v", tc.data, m, err, tc.m)
		}
		if m, err := ParseMethod(tc.name); m != tc.m || err != nil {
			t.Errorf("ParseMethod(%q) = %v, %v", tc.name, m, err)
		}
	}
	if s := Method(0).String(); s != "Method(0)" {
		t.Errorf("Method(0).String() = %q", s)
	}
}

func TestMethodFromOptionDataMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		err  error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"one octet", []byte{0xc0}, io.ErrUnexpectedEOF},
		{"pap with trailing octet", []byte{0xc0, 0x23, 0x00}, errAny},
		{"chap without algorithm", []byte{0xc2, 0x23}, errAny},
		{"chap with two algorithm octets", []byte{0xc2, 0x23, 0x05, 0x05}, errAny},
		{"chap sha1 (algorithm 6)", []byte{0xc2, 0x23, 0x06}, ErrUnknownMethod},
		{"eap", []byte{0xc2, 0x27}, ErrUnknownMethod},
	} {
		m, err := MethodFromOptionData(tc.data)
		if err == nil || !matchErr(err, tc.err) {
			t.Errorf("%s: MethodFromOptionData(% x) = %v, %v; want %v", tc.name, tc.data, m, err, tc.err)
		}
	}
}

// TestParseMethod: each RouterOS name, in any case (the configuration
// parses the list, control/config.AuthMethods); anything else is
// ErrUnknownMethod.
func TestParseMethod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Method
	}{{"mschap2", MSCHAPv2}, {"mschap1", MSCHAPv1}, {"chap", CHAP}, {"PAP", PAP}} {
		if got, err := ParseMethod(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseMethod(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got, err := ParseMethod(tc.want.String()); err != nil || got != tc.want {
			t.Errorf("ParseMethod(%v.String()) = %v, %v", tc.want, got, err)
		}
	}
	for _, bad := range []string{"", "eap", "mschap"} {
		if _, err := ParseMethod(bad); !errors.Is(err, ErrUnknownMethod) {
			t.Errorf("ParseMethod(%q) = %v, want ErrUnknownMethod", bad, err)
		}
	}
	if _, err := ParseMethod("x"); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("ParseMethod(x) = %v, want ErrUnknownMethod", err)
	}
}

// FuzzMethodFromOptionData: parse → marshal → parse gives the same method and
// the same octets.
func FuzzMethodFromOptionData(f *testing.F) {
	for m := PAP; m <= MSCHAPv2; m++ {
		f.Add(m.OptionData())
	}
	f.Add([]byte{0xc2, 0x23, 0x06})
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := MethodFromOptionData(b)
		if err != nil {
			return
		}
		d := m.OptionData()
		if !bytes.Equal(d, b) {
			t.Fatalf("OptionData(parse(% x)) = % x", b, d)
		}
		if m2, err := MethodFromOptionData(d); err != nil || m2 != m {
			t.Fatalf("reparse % x: %v, %v", d, m2, err)
		}
	})
}
