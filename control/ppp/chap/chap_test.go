package chap

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Packet
	}{
		{
			name: "MD5 Challenge",
			in: []byte{
				0x01,       // Code: Challenge
				0x11,       // Identifier
				0x00, 0x0d, // Length: 13
				0x04,                   // Value-Size 4
				0xde, 0xad, 0xbe, 0xef, // Value
				'b', 'n', 'g', 'A', // Name
			},
			want: &Challenge{Identifier: 0x11, Value: []byte{0xde, 0xad, 0xbe, 0xef}, Name: "bngA"},
		},
		{
			name: "Response, no name, padding",
			in: []byte{
				0x02,       // Code: Response
				0x11,       // Identifier
				0x00, 0x07, // Length: 7
				0x02,       // Value-Size 2
				0x01, 0x02, // Value
				0x00, 0x00, // padding past Length
			},
			want: &Response{Identifier: 0x11, Value: []byte{0x01, 0x02}, Name: ""},
		},
		{
			name: "Success with message",
			in: []byte{
				0x03,       // Code: Success
				0x11,       // Identifier
				0x00, 0x08, // Length: 8
				'W', 'e', 'l', 'c', // Message
			},
			want: &Success{Identifier: 0x11, Message: "Welc"},
		},
		{
			name: "Failure, empty message",
			in: []byte{
				0x04,       // Code: Failure
				0x12,       // Identifier
				0x00, 0x04, // Length: 4
			},
			want: &Failure{Identifier: 0x12},
		},
		{
			name: "Challenge with empty value",
			in: []byte{
				0x01, 0x01, 0x00, 0x06, // Challenge, Identifier 1, Length 6
				0x00, // Value-Size 0
				'n',  // Name
			},
			want: &Challenge{Identifier: 1, Value: []byte{}, Name: "n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			b, err := got.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			n := int(tt.in[2])<<8 | int(tt.in[3])
			if string(b) != string(tt.in[:n]) {
				t.Fatalf("marshal % x, want % x", b, tt.in[:n])
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	ch := []byte{
		0x01, 0x11, 0x00, 0x0a, // Challenge, Identifier, Length 10
		0x04, 0xde, 0xad, 0xbe, 0xef, // Value-Size 4, Value
		'x', // Name
	}
	for i := range len(ch) {
		if p, err := Parse(ch[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %#v, %v; want io.ErrUnexpectedEOF", i, p, err)
		}
	}
	// With Length rewritten to match the cut, the Value-Size lies until the
	// value is whole (the name may be empty).
	for i := 4; i < 9; i++ {
		b := append([]byte(nil), ch[:i]...)
		b[3] = byte(i)
		if p, err := Parse(b); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("consistent cut at %d: %#v, %v; want io.ErrUnexpectedEOF", i, p, err)
		}
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "unknown code 7 (change password)", in: []byte{0x07, 0x01, 0x00, 0x04}}, // Code 7
		{name: "code 0", in: []byte{0x00, 0x01, 0x00, 0x04}},
		{name: "Length 3", in: []byte{0x03, 0x01, 0x00, 0x03}},                                    // Success, Length 3
		{name: "Length beyond input", in: []byte{0x04, 0x01, 0x00, 0x10, 'E', '='}},               // Failure, Length 16, 2 octets
		{name: "Value-Size 255 with 3 octets", in: []byte{0x02, 0x01, 0x00, 0x08, 0xff, 1, 2, 3}}, // Response
		{name: "empty", in: []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := Parse(tt.in); err == nil {
				t.Fatalf("parsed %#v, want an error", p)
			}
		})
	}
	var s Success
	if err := s.UnmarshalBinary([]byte{0x04, 0x01, 0x00, 0x04}); err == nil { // a Failure
		t.Fatal("Success decoded a Failure")
	}
}

func TestMarshalOversize(t *testing.T) {
	for _, p := range []Packet{
		&Challenge{Value: make([]byte, 256)},
		&Response{Value: make([]byte, 256)},
		&Success{Message: string(make([]byte, 0x10000))},
		&Response{Value: make([]byte, 16), Name: string(make([]byte, 0xffff))},
	} {
		if b, err := p.MarshalBinary(); err == nil {
			t.Errorf("%T marshalled %d octets, want an error", p, len(b))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x01, 0x11, 0x00, 0x0d, 0x04, 0xde, 0xad, 0xbe, 0xef, 'b', 'n', 'g', 'A'})
	f.Add([]byte{0x03, 0x11, 0x00, 0x08, 'W', 'e', 'l', 'c'})
	f.Add([]byte{0x04, 0x12, 0x00, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		p1, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p1.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %#v: %v", p1, err)
		}
		p2, err := Parse(out)
		if err != nil || !reflect.DeepEqual(p1, p2) {
			t.Fatalf("round trip: %v\n%#v\n%#v", err, p1, p2)
		}
	})
}
