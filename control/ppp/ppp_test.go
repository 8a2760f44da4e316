package ppp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Frame
		wantErr error // nil: success; errAny: any error
	}{
		{
			name: "LCP, full protocol field",
			in: []byte{
				0xc0, 0x21, // Protocol: LCP
				0x09, 0x01, 0x00, 0x08, // Echo-Request header
				0x01, 0x02, 0x03, 0x04, // Magic-Number
			},
			want: Frame{Protocol: ProtocolLCP, Information: []byte{0x09, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04}},
		},
		{
			name: "IPv4, protocol compressed to one octet (PFC)",
			in: []byte{
				0x21,       // Protocol: IPv4, compressed
				0x45, 0x00, // start of an IPv4 header
			},
			want: Frame{Protocol: ProtocolIPv4, Information: []byte{0x45, 0x00}},
		},
		{
			name: "IPv6, compressed, empty information",
			in:   []byte{0x57}, // Protocol: IPv6, compressed
			want: Frame{Protocol: ProtocolIPv6, Information: []byte{}},
		},
		{
			name: "IPv4, full form 0x0021",
			in:   []byte{0x00, 0x21, 0xaa}, // Protocol, 1 octet of information
			want: Frame{Protocol: ProtocolIPv4, Information: []byte{0xaa}},
		},
		{name: "empty", in: []byte{}, wantErr: io.ErrUnexpectedEOF},
		{name: "even first octet, second missing", in: []byte{0xc0}, wantErr: io.ErrUnexpectedEOF},
		{name: "even low octet", in: []byte{0x00, 0x20}, wantErr: ErrInvalidProtocol},
		{
			// 0x0121 breaks the high-octet rule, but an odd first octet is
			// always the compressed form, so it reads as protocol 0x01.
			name: "odd first octet is always the compressed form",
			in:   []byte{0x01, 0x21}, // Protocol 0x01 compressed, 1 octet of information
			want: Frame{Protocol: 0x0001, Information: []byte{0x21}},
		},
		{
			name: "IPCP, information of one octet",
			in:   []byte{0x80, 0x21, 0x01}, // Protocol: IPCP; information
			want: Frame{Protocol: ProtocolIPCP, Information: []byte{0x01}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			err := f.UnmarshalBinary(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Protocol != tt.want.Protocol || !bytes.Equal(f.Information, tt.want.Information) {
				t.Fatalf("got %v % x, want %v % x", f.Protocol, f.Information, tt.want.Protocol, tt.want.Information)
			}
		})
	}
}

func TestFrameMarshalAlwaysFull(t *testing.T) {
	for _, p := range []Protocol{ProtocolIPv4, ProtocolIPv6, ProtocolLCP, ProtocolCHAP} {
		f := Frame{Protocol: p, Information: []byte{0xde, 0xad}}
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{byte(p >> 8), byte(p), 0xde, 0xad}
		if !bytes.Equal(b, want) {
			t.Fatalf("%v: % x, want % x", p, b, want)
		}
	}
}

func TestProtocolString(t *testing.T) {
	for p, want := range map[Protocol]string{ProtocolLCP: "LCP", ProtocolIPv6CP: "IPv6CP", 0x1234: "Protocol(0x1234)"} {
		if got := p.String(); got != want {
			t.Errorf("%#04x: %q, want %q", uint16(p), got, want)
		}
	}
}

func TestPacketUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Packet
		wantErr bool
	}{
		{
			name: "Configure-Request with one option",
			in: []byte{
				0x01,       // Code: Configure-Request
				0x07,       // Identifier
				0x00, 0x08, // Length: 8
				0x01, 0x04, 0x05, 0xd4, // MRU 1492
			},
			want: Packet{Code: ConfigureRequest, Identifier: 7, Data: []byte{0x01, 0x04, 0x05, 0xd4}},
		},
		{
			name: "Terminate-Ack, no data, Ethernet padding after Length",
			in: []byte{
				0x06,       // Code: Terminate-Ack
				0x02,       // Identifier
				0x00, 0x04, // Length: 4
				0x00, 0x00, 0x00, // padding, ignored
			},
			want: Packet{Code: TerminateAck, Identifier: 2, Data: []byte{}},
		},
		{
			name:    "Length below header (3)",
			in:      []byte{0x01, 0x01, 0x00, 0x03, 0x00}, // Code, Identifier, Length 3, one octet
			wantErr: true,
		},
		{
			name:    "Length zero",
			in:      []byte{0x01, 0x01, 0x00, 0x00}, // Code, Identifier, Length 0
			wantErr: true,
		},
		{
			name:    "Length lies: 9 with 8 octets",
			in:      []byte{0x01, 0x01, 0x00, 0x09, 0x01, 0x04, 0x05, 0xd4}, // Code, Identifier, Length 9, MRU option
			wantErr: true,
		},
		{
			name:    "Length 0xffff with 4 octets",
			in:      []byte{0x09, 0x01, 0xff, 0xff}, // Echo-Request, Identifier, Length 65535
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := p.UnmarshalBinary(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Code != tt.want.Code || p.Identifier != tt.want.Identifier || !bytes.Equal(p.Data, tt.want.Data) {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

// TestPacketTruncated cuts a valid packet at every point short of its Length.
func TestPacketTruncated(t *testing.T) {
	full := []byte{
		0x09,       // Code: Echo-Request
		0x2a,       // Identifier
		0x00, 0x0a, // Length: 10
		0x11, 0x22, 0x33, 0x44, // Magic-Number
		0xab, 0xcd, // data
	}
	for i := range len(full) {
		var p Packet
		if err := p.UnmarshalBinary(full[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: err = %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
}

func TestPacketMarshal(t *testing.T) {
	p := Packet{Code: EchoReply, Identifier: 0x2a, Data: []byte{0x11, 0x22, 0x33, 0x44}}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x0a,       // Code: Echo-Reply
		0x2a,       // Identifier
		0x00, 0x08, // Length: 8
		0x11, 0x22, 0x33, 0x44, // Magic-Number
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("% x, want % x", b, want)
	}
	big := Packet{Code: DiscardRequest, Data: make([]byte, 0xffff-HeaderLen+1)}
	if _, err := big.MarshalBinary(); err == nil {
		t.Fatal("oversize packet marshalled")
	}
}

func TestCodeString(t *testing.T) {
	for c, want := range map[Code]string{ConfigureRequest: "Configure-Request", DiscardRequest: "Discard-Request", 0: "Code(0)", 12: "Code(12)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", c, got, want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    []Option
		wantErr bool
	}{
		{name: "none", in: []byte{}, want: nil},
		{
			name: "MRU, Magic-Number, PFC",
			in: []byte{
				0x01, 0x04, 0x05, 0xd4, // MRU, Length 4, 1492
				0x05, 0x06, 0xde, 0xad, 0xbe, 0xef, // Magic-Number, Length 6
				0x07, 0x02, // PFC, Length 2
			},
			want: []Option{
				{Type: 1, Data: []byte{0x05, 0xd4}},
				{Type: 5, Data: []byte{0xde, 0xad, 0xbe, 0xef}},
				{Type: 7, Data: []byte{}},
			},
		},
		{name: "zero-length option", in: []byte{0x01, 0x00, 0x05, 0xd4}, wantErr: true},                    // Type, Length 0
		{name: "length-one option", in: []byte{0x07, 0x01}, wantErr: true},                                 // Type, Length 1
		{name: "lone type octet", in: []byte{0x07, 0x02, 0x05}, wantErr: true},                             // PFC, then a Type without Length
		{name: "length overruns", in: []byte{0x05, 0x06, 0xde, 0xad, 0xbe}, wantErr: true},                 // Magic-Number, Length 6, 3 octets
		{name: "oversize length 255", in: append([]byte{0x99, 0xff}, make([]byte, 252)...), wantErr: true}, // Length 255, 252 octets of data
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d options, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Type != tt.want[i].Type || !bytes.Equal(got[i].Data, tt.want[i].Data) {
					t.Fatalf("option %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if b := MarshalOptions(got); !bytes.Equal(b, tt.in) {
				t.Fatalf("marshal: % x, want % x", b, tt.in)
			}
		})
	}
}

func TestMarshalOptionsMaxData(t *testing.T) {
	ok := []Option{{Type: 0x99, Data: make([]byte, MaxOptionData)}}
	b := MarshalOptions(ok)
	if len(b) != 0xff || b[1] != 0xff || OptionsLen(ok) != 0xff {
		t.Fatalf("len %d, length octet %d, OptionsLen %d; want 255", len(b), b[1], OptionsLen(ok))
	}
	back, err := ParseOptions(b)
	if err != nil || len(back) != 1 || len(back[0].Data) != MaxOptionData {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func FuzzFrame(f *testing.F) {
	f.Add([]byte{0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0})
	f.Add([]byte{0x21, 0x45})
	f.Add([]byte{0x00, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		var f1 Frame
		if err := f1.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := f1.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var f2 Frame
		if err := f2.UnmarshalBinary(out); err != nil {
			t.Fatalf("reparse % x: %v", out, err)
		}
		if f1.Protocol != f2.Protocol || !bytes.Equal(f1.Information, f2.Information) {
			t.Fatalf("round trip: %+v != %+v", f1, f2)
		}
	})
}

func FuzzPacket(f *testing.F) {
	f.Add([]byte{0x01, 0x07, 0x00, 0x08, 0x01, 0x04, 0x05, 0xd4})
	f.Add([]byte{0x06, 0x02, 0x00, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p1 Packet
		if err := p1.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := p1.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var p2 Packet
		if err := p2.UnmarshalBinary(out); err != nil {
			t.Fatalf("reparse % x: %v", out, err)
		}
		if p1.Code != p2.Code || p1.Identifier != p2.Identifier || !bytes.Equal(p1.Data, p2.Data) {
			t.Fatalf("round trip: %+v != %+v", p1, p2)
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	f.Add([]byte{0x01, 0x04, 0x05, 0xd4, 0x07, 0x02})
	f.Add([]byte{0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		o1, err := ParseOptions(b)
		if err != nil {
			return
		}
		out := MarshalOptions(o1)
		if !bytes.Equal(out, b) {
			t.Fatalf("marshal % x, want the input % x", out, b)
		}
		o2, err := ParseOptions(out)
		if err != nil || len(o1) != len(o2) {
			t.Fatalf("reparse: %v, %d vs %d options", err, len(o1), len(o2))
		}
	})
}
