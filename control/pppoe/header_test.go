package pppoe

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// packetTests are well-formed packets: b parses to p and p marshals to b.
var packetTests = []struct {
	name string
	b    []byte
	p    Packet
}{
	{
		name: "PADI any service, Host-Uniq, PPP-Max-Payload",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x09,       // CODE PADI
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x12, // LENGTH 18
			0x01, 0x01, 0x00, 0x00, // Service-Name, length 0 (any service)
			0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // Host-Uniq, length 4
			0x01, 0x20, 0x00, 0x02, 0x05, 0xdc, // PPP-Max-Payload, length 2, 1500
		},
		p: Packet{Code: CodePADI, Tags: []Tag{
			ServiceName(""),
			HostUniq{0xde, 0xad, 0xbe, 0xef},
			PPPMaxPayload(1500),
		}},
	},
	{
		name: "PADO with two services and a cookie",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x07,       // CODE PADO
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x21, // LENGTH 33
			0x01, 0x02, 0x00, 0x03, 'a', 'c', '1', // AC-Name "ac1"
			0x01, 0x01, 0x00, 0x08, 'i', 'n', 't', 'e', 'r', 'n', 'e', 't', // Service-Name "internet"
			0x01, 0x01, 0x00, 0x00, // Service-Name "" (any)
			0x01, 0x04, 0x00, 0x02, 0xc0, 0x0c, // AC-Cookie, length 2
			0x01, 0x03, 0x00, 0x00, // Host-Uniq, length 0
		},
		p: Packet{Code: CodePADO, Tags: []Tag{
			ACName("ac1"),
			ServiceName("internet"),
			ServiceName(""),
			ACCookie{0xc0, 0x0c},
			HostUniq{},
		}},
	},
	{
		name: "PADR through a relay",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x19,       // CODE PADR
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x1c, // LENGTH 28
			0x01, 0x01, 0x00, 0x02, 'i', 'n', // Service-Name "in"
			0x01, 0x04, 0x00, 0x02, 0xc0, 0x0c, // AC-Cookie, length 2
			0x01, 0x10, 0x00, 0x0c, // Relay-Session-Id, length 12
			0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
		},
		p: Packet{Code: CodePADR, Tags: []Tag{
			ServiceName("in"),
			ACCookie{0xc0, 0x0c},
			RelaySessionID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c},
		}},
	},
	{
		name: "PADS session 0x1234",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x65,       // CODE PADS
			0x12, 0x34, // SESSION_ID 0x1234
			0x00, 0x06, // LENGTH 6
			0x01, 0x01, 0x00, 0x02, 'i', 'n', // Service-Name "in"
		},
		p: Packet{Code: CodePADS, SessionID: 0x1234, Tags: []Tag{ServiceName("in")}},
	},
	{
		name: "PADS refusal",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x65,       // CODE PADS
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x06, // LENGTH 6
			0x02, 0x01, 0x00, 0x02, 'n', 'o', // Service-Name-Error "no"
		},
		p: Packet{Code: CodePADS, Tags: []Tag{ServiceNameError("no")}},
	},
	{
		name: "PADT with error tags",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0xa7,       // CODE PADT
			0xbe, 0xef, // SESSION_ID 0xbeef
			0x00, 0x0b, // LENGTH 11
			0x02, 0x03, 0x00, 0x03, 'b', 'y', 'e', // Generic-Error "bye"
			0x02, 0x02, 0x00, 0x00, // AC-System-Error, empty
		},
		p: Packet{Code: CodePADT, SessionID: 0xbeef, Tags: []Tag{GenericError("bye"), ACSystemError("")}},
	},
	{
		name: "PADT without tags",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0xa7,       // CODE PADT
			0x00, 0x01, // SESSION_ID 1
			0x00, 0x00, // LENGTH 0
		},
		p: Packet{Code: CodePADT, SessionID: 1},
	},
	{
		name: "PADI with Broadband Forum vendor tag",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x09,       // CODE PADI
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x12, // LENGTH 18
			0x01, 0x01, 0x00, 0x00, // Service-Name ""
			0x01, 0x05, 0x00, 0x0a, // Vendor-Specific, length 10
			0x00, 0x00, 0x0d, 0xe9, // vendor id 3561 (Broadband Forum)
			0x01, 0x04, 'e', 't', 'h', '0', // vendor data: Agent-Circuit-Id "eth0"
		},
		p: Packet{Code: CodePADI, Tags: []Tag{
			ServiceName(""),
			VendorSpecific{VendorID: 3561, Data: []byte{0x01, 0x04, 'e', 't', 'h', '0'}},
		}},
	},
	{
		name: "unknown tags kept in order, End-Of-List last",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x09,       // CODE PADI
			0x00, 0x00, // SESSION_ID 0
			0x00, 0x13, // LENGTH 19
			0x77, 0x77, 0x00, 0x01, 0xaa, // unknown 0x7777, length 1
			0x01, 0x01, 0x00, 0x00, // Service-Name ""
			0x01, 0x11, 0x00, 0x02, 'h', 'u', // HURL (RFC 4937), kept raw
			0x00, 0x00, 0x00, 0x00, // End-Of-List
		},
		p: Packet{Code: CodePADI, Tags: []Tag{
			RawTag{T: 0x7777, Data: []byte{0xaa}},
			ServiceName(""),
			RawTag{T: 0x0111, Data: []byte{'h', 'u'}},
			EndOfList{},
		}},
	},
	{
		name: "PADM with MOTM (RFC 4937)",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0xd3,       // CODE PADM
			0x00, 0x07, // SESSION_ID 7
			0x00, 0x06, // LENGTH 6
			0x01, 0x12, 0x00, 0x02, 'h', 'i', // MOTM "hi"
		},
		p: Packet{Code: CodePADM, SessionID: 7, Tags: []Tag{RawTag{T: 0x0112, Data: []byte{'h', 'i'}}}},
	},
	{
		name: "session LCP Configure-Request",
		b: []byte{
			0x11,       // VER 1, TYPE 1
			0x00,       // CODE session
			0x12, 0x34, // SESSION_ID 0x1234
			0x00, 0x06, // LENGTH 6
			0xc0, 0x21, // PPP protocol LCP
			0x01, 0x01, 0x00, 0x04, // Configure-Request id 1, length 4
		},
		p: Packet{Code: CodeSession, SessionID: 0x1234, Payload: []byte{0xc0, 0x21, 0x01, 0x01, 0x00, 0x04}},
	},
}

func TestPacketUnmarshal(t *testing.T) {
	for _, tt := range packetTests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.UnmarshalBinary(tt.b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(p, tt.p) {
				t.Fatalf("UnmarshalBinary =\n%#v\nwant\n%#v", p, tt.p)
			}
		})
	}
}

func TestPacketMarshal(t *testing.T) {
	for _, tt := range packetTests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(b, tt.b) {
				t.Fatalf("MarshalBinary =\n% x\nwant\n% x", b, tt.b)
			}
		})
	}
}

// TestSessionEmptyPayload round-trips a session packet with no PPP frame:
// well-formed on the wire, so it parses, but Validate rejects it.
func TestSessionEmptyPayload(t *testing.T) {
	b := []byte{
		0x11,       // VER 1, TYPE 1
		0x00,       // CODE session
		0x00, 0x02, // SESSION_ID 2
		0x00, 0x00, // LENGTH 0
	}
	want := Packet{Code: CodeSession, SessionID: 2, Payload: []byte{}}
	var p Packet
	if err := p.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("UnmarshalBinary = %#v, %v; want %#v", p, err, want)
	}
	if out, err := p.MarshalBinary(); err != nil || !bytes.Equal(out, b) {
		t.Fatalf("MarshalBinary = % x, %v; want % x", out, err, b)
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "empty PPP frame") {
		t.Fatalf("Validate = %v, want an empty PPP frame error", err)
	}
}

// TestPacketUnmarshalLenient holds inputs that parse but do not marshal back
// to the same bytes, because RFC 2516 says to ignore part of them.
func TestPacketUnmarshalLenient(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		p    Packet
	}{
		{
			name: "Ethernet padding after LENGTH",
			b: []byte{
				0x11,       // VER 1, TYPE 1
				0x65,       // CODE PADS
				0x00, 0x09, // SESSION_ID 9
				0x00, 0x04, // LENGTH 4
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // padding to the 60-byte minimum
				0x01, 0x02, 0x00, 0x01, // garbage in the padding that looks like a tag
			},
			p: Packet{Code: CodePADS, SessionID: 9, Tags: []Tag{ServiceName("")}},
		},
		{
			name: "session padding after LENGTH",
			b: []byte{
				0x11,       // VER 1, TYPE 1
				0x00,       // CODE session
				0x00, 0x09, // SESSION_ID 9
				0x00, 0x02, // LENGTH 2
				0xc0, 0x21, // PPP protocol LCP
				0x00, 0x00, // padding
			},
			p: Packet{Code: CodeSession, SessionID: 9, Payload: []byte{0xc0, 0x21}},
		},
		{
			name: "tags after End-Of-List ignored",
			b: []byte{
				0x11,       // VER 1, TYPE 1
				0x09,       // CODE PADI
				0x00, 0x00, // SESSION_ID 0
				0x00, 0x0c, // LENGTH 12
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
				0x00, 0x00, 0x00, 0x00, // End-Of-List
				0x01, 0x20, 0x00, 0x09, // PPP-Max-Payload with a lying length, never read
			},
			p: Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), EndOfList{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.UnmarshalBinary(tt.b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(p, tt.p) {
				t.Fatalf("UnmarshalBinary =\n%#v\nwant\n%#v", p, tt.p)
			}
		})
	}
}

// malformedRow is an input UnmarshalBinary must reject.
type malformedRow struct {
	name string
	b    []byte
	want error  // errors.Is target, or nil
	msg  string // substring of the error: what and where
}

func TestPacketUnmarshalMalformed(t *testing.T) {
	rows := []malformedRow{
		{
			name: "VER 2",
			b:    []byte{0x21, 0x09, 0x00, 0x00, 0x00, 0x00}, // VER 2 TYPE 1, PADI, SESSION_ID 0, LENGTH 0
			msg:  "VER 2 TYPE 1",
		},
		{
			name: "TYPE 0",
			b:    []byte{0x10, 0x09, 0x00, 0x00, 0x00, 0x00}, // VER 1 TYPE 0, PADI, SESSION_ID 0, LENGTH 0
			msg:  "VER 1 TYPE 0",
		},
		{
			name: "LENGTH beyond the frame",
			b: []byte{
				0x11, 0x00, 0x00, 0x01, // VER/TYPE, session, SESSION_ID 1
				0x00, 0x05, // LENGTH 5
				0xc0, 0x21, 0x09, 0x00, // only 4 bytes
			},
			want: io.ErrUnexpectedEOF,
			msg:  "LENGTH 5 at offset 4 exceeds the 4 bytes",
		},
		{
			name: "LENGTH 0xffff",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0xff, 0xff, // LENGTH 65535
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
			},
			want: io.ErrUnexpectedEOF,
			msg:  "LENGTH 65535",
		},
		{
			name: "TAG_LENGTH beyond LENGTH",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0x00, 0x08, // LENGTH 8
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
				0x01, 0x03, 0x00, 0x05, // Host-Uniq, length 5: nothing follows
				0xaa, 0xbb, 0xcc, 0xdd, 0xee, // inside the frame but outside LENGTH (padding)
			},
			want: io.ErrUnexpectedEOF,
			msg:  "tag 1 (Host-Uniq) at offset 10: TAG_LENGTH 5 exceeds the 0 bytes left",
		},
		{
			name: "oversize TAG_LENGTH 0xffff",
			b: []byte{
				0x11, 0x07, 0x00, 0x00, // VER/TYPE, PADO, SESSION_ID 0
				0x00, 0x06, // LENGTH 6
				0x01, 0x02, 0xff, 0xff, 'a', 'c', // AC-Name claiming 65535 bytes
			},
			want: io.ErrUnexpectedEOF,
			msg:  "tag 0 (AC-Name) at offset 6: TAG_LENGTH 65535",
		},
		{
			name: "half a tag header",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0x00, 0x06, // LENGTH 6
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
				0x01, 0x03, // TAG_TYPE Host-Uniq, no TAG_LENGTH
			},
			want: io.ErrUnexpectedEOF,
			msg:  "tag 1 at offset 10: 2 bytes left",
		},
		{
			name: "End-Of-List with a length",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0x00, 0x05, // LENGTH 5
				0x00, 0x00, 0x00, 0x01, 0x00, // End-Of-List, length 1
			},
			msg: "tag 0 (End-Of-List) at offset 6: TAG_LENGTH 1, must be 0",
		},
		{
			name: "PPP-Max-Payload zero length",
			b: []byte{
				0x11, 0x19, 0x00, 0x00, // VER/TYPE, PADR, SESSION_ID 0
				0x00, 0x04, // LENGTH 4
				0x01, 0x20, 0x00, 0x00, // PPP-Max-Payload, length 0
			},
			msg: "tag 0 (PPP-Max-Payload) at offset 6: TAG_LENGTH 0, must be 2",
		},
		{
			name: "PPP-Max-Payload length 4",
			b: []byte{
				0x11, 0x19, 0x00, 0x00, // VER/TYPE, PADR, SESSION_ID 0
				0x00, 0x0c, // LENGTH 12
				0x01, 0x01, 0x00, 0x00, // Service-Name ""
				0x01, 0x20, 0x00, 0x04, 0x00, 0x00, 0x05, 0xdc, // PPP-Max-Payload, length 4
			},
			msg: "tag 1 (PPP-Max-Payload) at offset 10: TAG_LENGTH 4, must be 2",
		},
		{
			name: "Vendor-Specific shorter than a vendor id",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0x00, 0x07, // LENGTH 7
				0x01, 0x05, 0x00, 0x03, 0x00, 0x0d, 0xe9, // Vendor-Specific, length 3
			},
			msg: "tag 0 (Vendor-Specific) at offset 6: TAG_LENGTH 3, vendor id needs 4",
		},
		{
			name: "Vendor-Specific zero length",
			b: []byte{
				0x11, 0x09, 0x00, 0x00, // VER/TYPE, PADI, SESSION_ID 0
				0x00, 0x04, // LENGTH 4
				0x01, 0x05, 0x00, 0x00, // Vendor-Specific, length 0
			},
			msg: "TAG_LENGTH 0, vendor id needs 4",
		},
	}
	// Every cut of every table packet with its LENGTH left as it was: the
	// LENGTH then lies about the frame.
	for _, tt := range packetTests {
		for n := range len(tt.b) {
			rows = append(rows, malformedRow{name: tt.name + " truncated", b: tt.b[:n], want: io.ErrUnexpectedEOF})
		}
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := p.UnmarshalBinary(tt.b)
			if err == nil {
				t.Fatalf("UnmarshalBinary(% x) = nil error, packet %#v", tt.b, p)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestPacketUnmarshalShortLength cuts every discovery table packet inside
// its tag list and fixes LENGTH to match, so the tag list itself is what is
// truncated: a cut on a tag boundary is a shorter valid list, any other cut
// is a tag whose header or value runs past LENGTH.
func TestPacketUnmarshalShortLength(t *testing.T) {
	for _, tt := range packetTests {
		if tt.p.Code == CodeSession {
			continue
		}
		boundaries := map[int]int{HeaderLen: 0} // offset -> number of whole tags before it
		off := HeaderLen
		for i, tag := range tt.p.Tags {
			off += tagHeaderLen + len(tag.Value())
			boundaries[off] = i + 1
		}
		for n := HeaderLen; n < len(tt.b); n++ {
			b := bytes.Clone(tt.b[:n])
			b[4], b[5] = byte((n-HeaderLen)>>8), byte(n-HeaderLen)
			var p Packet
			err := p.UnmarshalBinary(b)
			if k, ok := boundaries[n]; ok {
				want := Packet{Code: tt.p.Code, SessionID: tt.p.SessionID, Tags: tt.p.Tags[:k:k]}
				if k == 0 {
					want.Tags = nil
				}
				if err != nil || !reflect.DeepEqual(p, want) {
					t.Errorf("%s cut at %d (tag boundary): got %#v, %v; want %#v", tt.name, n, p, err, want)
				}
				continue
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d: error %v, want io.ErrUnexpectedEOF", tt.name, n, err)
			}
		}
	}
}

func TestPacketMarshalErrors(t *testing.T) {
	big := make([]byte, 0x10000)
	tests := []struct {
		name string
		p    Packet
		msg  string
	}{
		{"session with tags", Packet{Code: CodeSession, SessionID: 1, Tags: []Tag{ServiceName("")}}, "session packet with 1 tags"},
		{"discovery with payload", Packet{Code: CodePADT, SessionID: 1, Payload: []byte{1}}, "PADT with a 1-byte payload"},
		{"oversize tag", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), HostUniq(big)}}, "tag 1: Host-Uniq value of 65536 bytes"},
		{"body over 65535", Packet{Code: CodePADI, Tags: []Tag{HostUniq(big[:0xffff])}}, "body of 65539 bytes"},
		{"session payload over 65535", Packet{Code: CodeSession, SessionID: 1, Payload: big}, "body of 65536 bytes"},
		{"nil tag", Packet{Code: CodePADI, Tags: []Tag{nil}}, "tag 0: nil tag"},
		{"raw End-Of-List with data", Packet{Code: CodePADI, Tags: []Tag{RawTag{T: TagEndOfList, Data: []byte{1}}}}, "End-Of-List with a 1-byte value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.MarshalBinary()
			if err == nil {
				t.Fatalf("MarshalBinary = % x, want error", b[:min(len(b), 16)])
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestCodeString(t *testing.T) {
	for c, want := range map[Code]string{CodeSession: "Session", CodePADI: "PADI", CodePADO: "PADO", CodePADR: "PADR",
		CodePADS: "PADS", CodePADT: "PADT", CodePADM: "PADM", CodePADN: "PADN", 0x42: "Code(0x42)"} {
		if got := c.String(); got != want {
			t.Errorf("Code(%#02x).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

// FuzzPacket checks that parsing never panics and that parse → marshal →
// parse is stable. Bytes need not round trip exactly: padding and tags after
// End-Of-List are dropped on purpose.
func FuzzPacket(f *testing.F) {
	for _, tt := range packetTests {
		f.Add(tt.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p1 Packet
		if err := p1.UnmarshalBinary(b); err != nil {
			return
		}
		_ = p1.Validate() // must not panic on anything that parses
		out, err := p1.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed packet %#v does not marshal: %v", p1, err)
		}
		if !bytes.HasPrefix(b, out[:HeaderLen-2]) {
			t.Fatalf("header changed: % x from % x", out[:HeaderLen], b[:HeaderLen])
		}
		var p2 Packet
		if err := p2.UnmarshalBinary(out); err != nil {
			t.Fatalf("reparse of % x: %v", out, err)
		}
		if !reflect.DeepEqual(p1, p2) {
			t.Fatalf("reparse =\n%#v\nwant\n%#v", p2, p1)
		}
		again, err := p2.MarshalBinary()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second marshal = % x, %v; want % x", again, err, out)
		}
	})
}

// BenchmarkUnmarshalPADR decodes a PADR as a client sends it: Service-Name,
// Host-Uniq, AC-Cookie and PPP-Max-Payload.
func BenchmarkUnmarshalPADR(b *testing.B) {
	in := Packet{Code: CodePADR, Tags: []Tag{
		ServiceName("internet"),
		HostUniq{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1},
		ACCookie(make([]byte, CookieLen)),
		PPPMaxPayload(1500),
	}}
	wire, err := in.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var p Packet
		if err := p.UnmarshalBinary(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalPADS encodes a PADS as the AC sends it: Service-Name,
// AC-Name, Host-Uniq, PPP-Max-Payload.
func BenchmarkMarshalPADS(b *testing.B) {
	p := Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{
		ServiceName("internet"),
		ACName("bng-1"),
		HostUniq{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1},
		PPPMaxPayload(1500),
	}}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
		if _, err := p.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
