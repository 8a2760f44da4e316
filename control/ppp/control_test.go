package ppp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestEchoData(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    EchoData
		wantErr bool
	}{
		{name: "magic only", in: []byte{0x12, 0x34, 0x56, 0x78}, want: EchoData{Magic: 0x12345678, Data: []byte{}}}, // Magic-Number
		{
			name: "magic and data",
			in: []byte{
				0x00, 0x00, 0x00, 0x00, // Magic-Number: 0 (not negotiated)
				'h', 'i', // data
			},
			want: EchoData{Data: []byte("hi")},
		},
		{name: "cut at 0", in: []byte{}, wantErr: true},
		{name: "cut at 1", in: []byte{0x12}, wantErr: true},
		{name: "cut at 2", in: []byte{0x12, 0x34}, wantErr: true},
		{name: "cut at 3", in: []byte{0x12, 0x34, 0x56}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e EchoData
			err := e.UnmarshalBinary(tt.in)
			if tt.wantErr {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Magic != tt.want.Magic || !bytes.Equal(e.Data, tt.want.Data) {
				t.Fatalf("got %+v, want %+v", e, tt.want)
			}
			if b, _ := e.MarshalBinary(); !bytes.Equal(b, tt.in) {
				t.Fatalf("marshal % x, want % x", b, tt.in)
			}
		})
	}
}

func TestProtocolRejectData(t *testing.T) {
	in := []byte{
		0x80, 0x57, // Rejected-Protocol: IPv6CP
		0x01, 0x01, 0x00, 0x04, // the rejected Configure-Request
	}
	var r ProtocolRejectData
	if err := r.UnmarshalBinary(in); err != nil {
		t.Fatal(err)
	}
	if r.Protocol != ProtocolIPv6CP || !bytes.Equal(r.Information, in[2:]) {
		t.Fatalf("got %+v", r)
	}
	if b, _ := r.MarshalBinary(); !bytes.Equal(b, in) {
		t.Fatalf("marshal % x, want % x", b, in)
	}
	for i := range 2 {
		if err := r.UnmarshalBinary(in[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: err = %v", i, err)
		}
	}
}

func TestNewProtocolRejectTruncatesToMRU(t *testing.T) {
	info := bytes.Repeat([]byte{0xaa}, 100)
	tests := []struct {
		mru, wantInfo int
	}{
		{mru: 1500, wantInfo: 100}, // fits
		{mru: 106, wantInfo: 100},  // exactly: 4 header + 2 protocol + 100
		{mru: 50, wantInfo: 44},    // 50 - 4 - 2
		{mru: 3, wantInfo: 0},      // nonsense MRU: protocol only, never negative
	}
	for _, tt := range tests {
		p := NewProtocolReject(9, Frame{Protocol: 0x8281, Information: info}, tt.mru)
		if p.Code != ProtocolReject || p.Identifier != 9 {
			t.Fatalf("mru %d: header %v %d", tt.mru, p.Code, p.Identifier)
		}
		var r ProtocolRejectData
		if err := r.UnmarshalBinary(p.Data); err != nil {
			t.Fatal(err)
		}
		if r.Protocol != 0x8281 || len(r.Information) != tt.wantInfo {
			t.Fatalf("mru %d: protocol %v, %d octets of information, want %d", tt.mru, r.Protocol, len(r.Information), tt.wantInfo)
		}
	}
}

func TestCodeReject(t *testing.T) {
	rejected := []byte{
		0x0c,       // Code 12, unknown to LCP
		0x05,       // Identifier
		0x00, 0x40, // Length: 64, more than will be carried
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, // data
	}
	p := NewCodeReject(1, rejected, 10)
	// The Rejected-Packet is the packet from its Code on, cut to MRU 10
	// less the Code-Reject's own header: code 12, id 5 still tell which.
	if p.Code != CodeReject || p.Identifier != 1 || !bytes.Equal(p.Data, rejected[:6]) {
		t.Fatalf("got %v id %d data % x, want Code-Reject id 1 carrying % x", p.Code, p.Identifier, p.Data, rejected[:6])
	}
	if p := NewCodeReject(2, rejected, 2); len(p.Data) != 0 {
		t.Errorf("MRU below the header: %d octets carried, want none", len(p.Data))
	}
}

func TestTerminateData(t *testing.T) {
	var d TerminateData
	if err := d.UnmarshalBinary([]byte("User request")); err != nil || d.Reason != "User request" {
		t.Fatalf("%+v %v", d, err)
	}
	if b, _ := d.MarshalBinary(); string(b) != "User request" {
		t.Fatalf("%q", b)
	}
}

func FuzzEchoData(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e1 EchoData
		if err := e1.UnmarshalBinary(b); err != nil {
			return
		}
		out, _ := e1.MarshalBinary()
		var e2 EchoData
		if err := e2.UnmarshalBinary(out); err != nil || e1.Magic != e2.Magic || !bytes.Equal(e1.Data, e2.Data) {
			t.Fatalf("round trip: %+v -> %+v, %v", e1, e2, err)
		}
	})
}

func FuzzProtocolRejectData(f *testing.F) {
	f.Add([]byte{0x80, 0x57, 1, 1, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r1 ProtocolRejectData
		if err := r1.UnmarshalBinary(b); err != nil {
			return
		}
		out, _ := r1.MarshalBinary()
		var r2 ProtocolRejectData
		if err := r2.UnmarshalBinary(out); err != nil || r1.Protocol != r2.Protocol || !bytes.Equal(r1.Information, r2.Information) {
			t.Fatalf("round trip: %+v -> %+v, %v", r1, r2, err)
		}
	})
}

// BenchmarkParseOptions splits an LCP Configure-Request as a client sends
// it: MRU, Authentication-Protocol PAP, Magic-Number.
func BenchmarkParseOptions(b *testing.B) {
	data := []byte{
		0x01, 0x04, 0x05, 0xd4, // MRU 1492
		0x03, 0x04, 0xc0, 0x23, // Authentication-Protocol PAP
		0x05, 0x06, 0x12, 0x34, 0x56, 0x78, // Magic-Number
	}
	b.ReportAllocs()
	for b.Loop() {
		if opts, err := ParseOptions(data); err != nil || len(opts) != 3 {
			b.Fatal(opts, err)
		}
	}
}

// BenchmarkPacketAppendBinary encodes a Configure-Ack into a buffer the
// caller reuses.
func BenchmarkPacketAppendBinary(b *testing.B) {
	p := Packet{Code: ConfigureAck, Identifier: 1, Data: []byte{0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPacketMarshalBinary is the same into a new slice each time.
func BenchmarkPacketMarshalBinary(b *testing.B) {
	p := Packet{Code: ConfigureAck, Identifier: 1, Data: []byte{0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPacketAppendBinary checks that AppendBinary leaves what b held and
// appends what MarshalBinary returns, and refuses Data the Length field
// cannot count.
func TestPacketAppendBinary(t *testing.T) {
	p := Packet{Code: ConfigureAck, Identifier: 7, Data: []byte{0x01, 0x04, 0x05, 0xd4}}
	want, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte{0xc0, 0x21} // a PPP protocol field in front
	got, err := p.AppendBinary(bytes.Clone(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
		t.Fatalf("AppendBinary = % x, want % x then % x", got, prefix, want)
	}
	big := Packet{Code: ConfigureRequest, Data: make([]byte, 0xffff-HeaderLen+1)}
	if _, err := big.AppendBinary(nil); err == nil {
		t.Fatal("AppendBinary of 65532 data octets: no error")
	}
}
