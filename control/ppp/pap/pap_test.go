package pap

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
			name: "Authenticate-Request",
			in: []byte{
				0x01,       // Code: Authenticate-Request
				0x01,       // Identifier
				0x00, 0x0e, // Length: 14
				0x04, 'u', 's', 'e', 'r', // Peer-ID-Length 4, Peer-ID
				0x04, 'p', 'a', 's', 's', // Passwd-Length 4, Password
			},
			want: &Request{Identifier: 1, PeerID: "user", Password: "pass"},
		},
		{
			name: "Authenticate-Request, empty peer-id and password, Ethernet padding",
			in: []byte{
				0x01,       // Code: Authenticate-Request
				0x09,       // Identifier
				0x00, 0x06, // Length: 6
				0x00,       // Peer-ID-Length 0
				0x00,       // Passwd-Length 0
				0x00, 0x00, // padding past Length
			},
			want: &Request{Identifier: 9},
		},
		{
			name: "Authenticate-Ack with message",
			in: []byte{
				0x02,       // Code: Authenticate-Ack
				0x01,       // Identifier
				0x00, 0x07, // Length: 7
				0x02, 'O', 'K', // Msg-Length 2, Message
			},
			want: &Ack{Identifier: 1, Message: "OK"},
		},
		{
			name: "Authenticate-Ack without even a Msg-Length",
			in: []byte{
				0x02,       // Code: Authenticate-Ack
				0x03,       // Identifier
				0x00, 0x04, // Length: 4
			},
			want: &Ack{Identifier: 3},
		},
		{
			name: "Authenticate-Nak",
			in: []byte{
				0x03,       // Code: Authenticate-Nak
				0x02,       // Identifier
				0x00, 0x0b, // Length: 11
				0x06, 'd', 'e', 'n', 'i', 'e', 'd', // Msg-Length 6, Message
			},
			want: &Nak{Identifier: 2, Message: "denied"},
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
			again, err := Parse(b)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip % x: %#v, %v", b, again, err)
			}
		})
	}
}

func TestMarshalExact(t *testing.T) {
	b, err := (&Request{Identifier: 1, PeerID: "user", Password: "pass"}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x01, 0x01, 0x00, 0x0e, // Authenticate-Request, Identifier 1, Length 14
		0x04, 'u', 's', 'e', 'r', // Peer-ID
		0x04, 'p', 'a', 's', 's', // Password
	}
	if string(b) != string(want) {
		t.Fatalf("% x, want % x", b, want)
	}
	b, err = (&Ack{Identifier: 3}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// An Ack always carries its Msg-Length octet, even for no message.
	if want := []byte{0x02, 0x03, 0x00, 0x05, 0x00}; string(b) != string(want) {
		t.Fatalf("% x, want % x", b, want)
	}
}

func TestParseMalformed(t *testing.T) {
	req := []byte{
		0x01, 0x01, 0x00, 0x0e, // Authenticate-Request, Identifier, Length 14
		0x04, 'u', 's', 'e', 'r', // Peer-ID
		0x04, 'p', 'a', 's', 's', // Password
	}
	// Every truncation of the request, with Length left as it is, lies.
	for i := range len(req) {
		if p, err := Parse(req[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %#v, %v; want io.ErrUnexpectedEOF", i, p, err)
		}
	}
	// Every truncation with Length rewritten to match overruns a field.
	for i := 5; i < len(req); i++ {
		b := append([]byte(nil), req[:i]...)
		b[3] = byte(i)
		if p, err := Parse(b); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("consistent cut at %d: %#v, %v; want io.ErrUnexpectedEOF", i, p, err)
		}
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "unknown code", in: []byte{0x04, 0x01, 0x00, 0x04}},                          // Code 4
		{name: "Length 3", in: []byte{0x01, 0x01, 0x00, 0x03, 0x00}},                        // Length below header
		{name: "Length 0", in: []byte{0x02, 0x01, 0x00, 0x00}},                              // Length 0
		{name: "request without peer-id length", in: []byte{0x01, 0x01, 0x00, 0x04}},        // no Peer-ID-Length
		{name: "request without password length", in: []byte{0x01, 0x01, 0x00, 0x05, 0x00}}, // no Passwd-Length
		{name: "peer-id length lies", in: []byte{0x01, 0x01, 0x00, 0x07, 0x05, 'a', 0x00}},  // Peer-ID-Length 5, 2 octets
		{name: "password length lies", in: []byte{0x01, 0x01, 0x00, 0x07, 0x00, 0x03, 'a'}}, // Passwd-Length 3, 1 octet
		{name: "message length lies", in: []byte{0x03, 0x01, 0x00, 0x06, 0x09, 'x'}},        // Msg-Length 9, 1 octet
		{name: "empty", in: []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := Parse(tt.in); err == nil {
				t.Fatalf("parsed %#v, want an error", p)
			}
		})
	}
	var a Ack
	if err := a.UnmarshalBinary([]byte{0x03, 0x01, 0x00, 0x05, 0x00}); err == nil { // a Nak
		t.Fatal("Ack decoded a Nak")
	}
}

func TestMarshalOversize(t *testing.T) {
	long := string(make([]byte, 256))
	for _, p := range []Packet{&Request{PeerID: long}, &Request{Password: long}, &Ack{Message: long}, &Nak{Message: long}} {
		if b, err := p.MarshalBinary(); err == nil {
			t.Errorf("%T marshalled %d octets, want an error", p, len(b))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 0x00, 0x0e, 0x04, 'u', 's', 'e', 'r', 0x04, 'p', 'a', 's', 's'})
	f.Add([]byte{0x02, 0x03, 0x00, 0x04})
	f.Add([]byte{0x03, 0x02, 0x00, 0x07, 0x02, 'n', 'o'})
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
