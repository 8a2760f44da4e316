package chap

import (
	"bytes"
	"reflect"
	"testing"
)

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func TestMSCHAPv2Response(t *testing.T) {
	in := bytes.Join([][]byte{
		seq(0x21, 16),   // Peer-Challenge
		make([]byte, 8), // Reserved
		{0x82, 0x30, 0x9e, 0xcd, 0x8d, 0x70, 0x8b, 0x5e, 0xa0, 0x8f, 0xaa, 0x39, // NT-Response
			0x81, 0xcd, 0x83, 0x54, 0x42, 0x33, 0x11, 0x4a, 0x3d, 0x85, 0xd6, 0xdf},
		{0x00}, // Flags
	}, nil)
	var r MSCHAPv2Response
	if err := r.UnmarshalBinary(in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.PeerChallenge[:], seq(0x21, 16)) || !bytes.Equal(r.NTResponse[:], in[24:48]) || r.Flags != 0 {
		t.Fatalf("got %+v", r)
	}
	if b, _ := r.MarshalBinary(); !bytes.Equal(b, in) {
		t.Fatalf("marshal % x, want % x", b, in)
	}
	// Non-zero Reserved from a sloppy peer is tolerated and not echoed.
	dirty := append([]byte(nil), in...)
	dirty[16] = 0xff
	var d MSCHAPv2Response
	if err := d.UnmarshalBinary(dirty); err != nil || d != r {
		t.Fatalf("dirty reserved: %+v %v", d, err)
	}
	for _, n := range []int{0, 16, 24, 48, 50} {
		if err := r.UnmarshalBinary(make([]byte, n)); err == nil {
			t.Errorf("%d octets accepted", n)
		}
	}
}

func TestMSCHAPv2Success(t *testing.T) {
	auth := [20]byte{0x40, 0x7a, 0x55, 0x89, 0x11, 0x5f, 0xd0, 0xd6, 0x20, 0x9f,
		0x51, 0x0f, 0xe9, 0xc0, 0x45, 0x66, 0x93, 0x2c, 0xda, 0x56}
	tests := []struct {
		name    string
		in      string
		want    MSCHAPv2Success
		out     string // canonical re-encoding; "" = same as in
		wantErr bool
	}{
		{name: "with message", in: "S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted",
			want: MSCHAPv2Success{AuthenticatorResponse: auth, Message: "Access granted"}},
		{name: "empty message", in: "S=407A5589115FD0D6209F510FE9C04566932CDA56 M=",
			want: MSCHAPv2Success{AuthenticatorResponse: auth}},
		{name: "no M part, lower-case hex", in: "S=407a5589115fd0d6209f510fe9c04566932cda56",
			want: MSCHAPv2Success{AuthenticatorResponse: auth}, out: "S=407A5589115FD0D6209F510FE9C04566932CDA56 M="},
		{name: "missing S=", in: "407A5589115FD0D6209F510FE9C04566932CDA56", wantErr: true},
		{name: "39 hex digits", in: "S=407A5589115FD0D6209F510FE9C04566932CDA5", wantErr: true},
		{name: "not hex", in: "S=407A5589115FD0D6209F510FE9C04566932CDAZZ M=x", wantErr: true},
		{name: "junk after", in: "S=407A5589115FD0D6209F510FE9C04566932CDA56X", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s MSCHAPv2Success
			err := s.UnmarshalText([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.want {
				t.Fatalf("got %+v, want %+v", s, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.in
			}
			if b, _ := s.MarshalText(); string(b) != out {
				t.Fatalf("marshal %q, want %q", b, out)
			}
		})
	}
}

func TestMSCHAPFailure(t *testing.T) {
	chal16 := seq(0x01, 16)
	tests := []struct {
		name    string
		in      string
		want    MSCHAPFailure
		out     string // canonical re-encoding; "" = same as in
		wantErr bool
	}{
		{
			name: "pppd's v2 failure",
			in:   "E=691 R=1 C=0102030405060708090A0B0C0D0E0F10 V=0 M=Access denied",
			want: MSCHAPFailure{Error: ErrorAuthenticationFailure, Retry: true, Challenge: chal16, Message: "Access denied"},
		},
		{
			name: "v1 failure, 8-octet challenge, no message",
			in:   "E=691 R=0 C=0102030405060708 V=0",
			want: MSCHAPFailure{Error: 691, Challenge: seq(0x01, 8)},
		},
		{
			name: "RFC 2759 style, version 3, no challenge",
			in:   "E=648 R=0 V=3 M=password expired",
			want: MSCHAPFailure{Error: ErrorPasswordExpired, Version: 3, Message: "password expired"},
		},
		{
			name:    "fields out of order, lower-case hex, double space, no V",
			in:      "R=1  E=646 c=x",
			wantErr: true, // lower-case key is not a field
		},
		{
			name: "out of order, double space, lower-case hex, no V",
			in:   "R=1  E=646 C=0102030405060708090a0b0c0d0e0f10",
			want: MSCHAPFailure{Error: ErrorRestrictedLogonHours, Retry: true, Challenge: chal16},
			out:  "E=646 R=1 C=0102030405060708090A0B0C0D0E0F10 V=0",
		},
		{name: "message keeps its spaces and '='", in: "E=691 R=0 V=0 M=a = b  c",
			want: MSCHAPFailure{Error: 691, Message: "a = b  c"}},
		{name: "missing E", in: "R=1 C=0102030405060708 V=0", wantErr: true},
		{name: "missing R", in: "E=691 V=0", wantErr: true},
		{name: "E not decimal", in: "E=6x1 R=1", wantErr: true},
		{name: "E overflows 32 bits", in: "E=99999999999 R=1", wantErr: true},
		{name: "R=2", in: "E=691 R=2", wantErr: true},
		{name: "C odd hex", in: "E=691 R=1 C=010", wantErr: true},
		{name: "C of 4 octets", in: "E=691 R=1 C=01020304", wantErr: true},
		{name: "E repeated", in: "E=691 E=646 R=1", wantErr: true},
		{name: "token without =", in: "E=691 R=1 junk", wantErr: true},
		{name: "unknown field", in: "E=691 R=1 X=1", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f MSCHAPFailure
			err := f.UnmarshalText([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, tt.want) {
				t.Fatalf("got %+v, want %+v", f, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.in
			}
			if b, err := f.MarshalText(); string(b) != out || err != nil {
				t.Fatalf("marshal %q, %v; want %q", b, err, out)
			}
		})
	}
	if b, err := (&MSCHAPFailure{Error: 691, Challenge: []byte{1, 2, 3}}).MarshalText(); err == nil {
		t.Fatalf("3-octet challenge marshalled to %q", b)
	}
}

func FuzzMSCHAPv2Response(f *testing.F) {
	f.Add(make([]byte, 49))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r1, r2 MSCHAPv2Response
		if r1.UnmarshalBinary(b) != nil {
			return
		}
		out, _ := r1.MarshalBinary()
		if err := r2.UnmarshalBinary(out); err != nil || r1 != r2 {
			t.Fatalf("round trip: %+v -> %+v, %v", r1, r2, err)
		}
	})
}

func FuzzMSCHAPv2Success(f *testing.F) {
	f.Add("S=407A5589115FD0D6209F510FE9C04566932CDA56 M=ok")
	f.Add("S=407a5589115fd0d6209f510fe9c04566932cda56")
	f.Fuzz(func(t *testing.T, in string) {
		var s1, s2 MSCHAPv2Success
		if s1.UnmarshalText([]byte(in)) != nil {
			return
		}
		out, _ := s1.MarshalText()
		if err := s2.UnmarshalText(out); err != nil || s1 != s2 {
			t.Fatalf("round trip %q: %+v -> %+v, %v", out, s1, s2, err)
		}
	})
}

func FuzzMSCHAPFailure(f *testing.F) {
	f.Add("E=691 R=1 C=0102030405060708090A0B0C0D0E0F10 V=0 M=Access denied")
	f.Add("R=0 E=648 V=3")
	f.Fuzz(func(t *testing.T, in string) {
		var f1, f2 MSCHAPFailure
		if f1.UnmarshalText([]byte(in)) != nil {
			return
		}
		out, err := f1.MarshalText()
		if err != nil {
			t.Fatalf("marshal %+v: %v", f1, err)
		}
		if err := f2.UnmarshalText(out); err != nil || !reflect.DeepEqual(f1, f2) {
			t.Fatalf("round trip %q: %+v -> %+v, %v", out, f1, f2, err)
		}
	})
}
