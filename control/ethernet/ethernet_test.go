package ethernet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
)

var (
	macA = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
)

// frameTests are well-formed frames: b parses to f and f marshals to b.
var frameTests = []struct {
	name string
	b    []byte
	f    Frame
}{
	{
		name: "untagged IPv4",
		b: []byte{
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
			0x08, 0x00, // EtherType IPv4
			0xde, 0xad, // payload
		},
		f: Frame{Destination: macB, Source: macA, EtherType: EtherTypeIPv4, Payload: []byte{0xde, 0xad}},
	},
	{
		name: "empty payload",
		b: []byte{
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination broadcast
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
			0x88, 0x63, // EtherType PPPoE discovery
		},
		f: Frame{Destination: Broadcast, Source: macA, EtherType: EtherTypePPPoEDiscovery, Payload: []byte{}},
	},
	{
		name: "802.1Q priority 5 DEI VLAN 100",
		b: []byte{
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
			0x81, 0x00, // TPID 802.1Q
			0xb0, 0x64, // PCP 5 (101), DEI 1, VID 100 (0x064)
			0x88, 0x64, // EtherType PPPoE session
			0x11, // payload
		},
		f: Frame{Destination: macB, Source: macA,
			VLANs:     []VLAN{{TPID: EtherTypeVLAN, Priority: 5, DropEligible: true, ID: 100}},
			EtherType: EtherTypePPPoESession, Payload: []byte{0x11}},
	},
	{
		name: "QinQ S-TAG 4094 C-TAG 1",
		b: []byte{
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
			0x88, 0xa8, // TPID 802.1ad
			0xef, 0xfe, // PCP 7, DEI 0, VID 4094
			0x81, 0x00, // TPID 802.1Q
			0x00, 0x01, // PCP 0, DEI 0, VID 1
			0x86, 0xdd, // EtherType IPv6
			0x60, 0x00, // payload
		},
		f: Frame{Destination: macB, Source: macA,
			VLANs:     []VLAN{{TPID: EtherTypeServiceVLAN, Priority: 7, ID: 4094}, {TPID: EtherTypeVLAN, ID: 1}},
			EtherType: EtherTypeIPv6, Payload: []byte{0x60, 0x00}},
	},
	{
		name: "two 802.1Q tags",
		b: []byte{
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
			0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
			0x81, 0x00, 0x00, 0x0a, // 802.1Q VID 10
			0x81, 0x00, 0x00, 0x14, // 802.1Q VID 20
			0x08, 0x06, // EtherType ARP
		},
		f: Frame{Destination: macB, Source: macA,
			VLANs:     []VLAN{{TPID: EtherTypeVLAN, ID: 10}, {TPID: EtherTypeVLAN, ID: 20}},
			EtherType: EtherTypeARP, Payload: []byte{}},
	},
}

func TestFrameUnmarshal(t *testing.T) {
	for _, tt := range frameTests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			if err := f.UnmarshalBinary(tt.b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(f, tt.f) {
				t.Fatalf("UnmarshalBinary =\n%+v\nwant\n%+v", f, tt.f)
			}
		})
	}
}

func TestFrameMarshal(t *testing.T) {
	for _, tt := range frameTests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.f.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(b, tt.b) {
				t.Fatalf("MarshalBinary =\n% x\nwant\n% x", b, tt.b)
			}
		})
	}
}

// TestFrameUnmarshalNoAlias checks that a parsed frame survives reuse of the
// receive buffer, as AF_PACKET readers reuse theirs.
func TestFrameUnmarshalNoAlias(t *testing.T) {
	b := bytes.Clone(frameTests[0].b)
	var f Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0x55
	}
	if !reflect.DeepEqual(f, frameTests[0].f) {
		t.Fatalf("frame changed with its input buffer: %+v", f)
	}
}

func TestMarshalZeroTPID(t *testing.T) {
	f := Frame{Destination: macB, Source: macA, VLANs: []VLAN{{ID: 7}}, EtherType: EtherTypeIPv4}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
		0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
		0x81, 0x00, // TPID defaulted to 802.1Q
		0x00, 0x07, // VID 7
		0x08, 0x00, // EtherType IPv4
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary = % x, want % x", b, want)
	}
}

func TestFrameUnmarshalMalformed(t *testing.T) {
	// QinQ header without payload: 22 bytes. Every shorter prefix is truncated
	// somewhere: in an address, a TPID, a TCI or the EtherType.
	qinq := frameTests[3].b[:22]
	type row struct {
		name string
		b    []byte
		want error  // errors.Is target, or nil
		msg  string // substring of the error
	}
	var rows []row
	for n := range len(qinq) {
		rows = append(rows, row{name: "QinQ truncated", b: qinq[:n], want: io.ErrUnexpectedEOF})
	}
	rows = append(rows,
		row{
			name: "three VLAN tags",
			b: []byte{
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
				0x88, 0xa8, 0x00, 0x01, // 802.1ad VID 1
				0x81, 0x00, 0x00, 0x02, // 802.1Q VID 2
				0x81, 0x00, 0x00, 0x03, // 802.1Q VID 3: one too many
				0x08, 0x00, // EtherType IPv4
			},
			want: ErrTooManyVLANs,
			msg:  "offset 20",
		},
		row{
			name: "third tag truncated is still too many",
			b: []byte{
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
				0x81, 0x00, 0x00, 0x01, // 802.1Q VID 1
				0x81, 0x00, 0x00, 0x02, // 802.1Q VID 2
				0x81, 0x00, // third TPID, nothing after
			},
			want: ErrTooManyVLANs,
		},
		row{
			name: "802.3 length instead of EtherType",
			b: []byte{
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
				0x00, 0x2e, // length 46
				0xaa, 0xaa, 0x03, // LLC
			},
			msg: "802.3 length",
		},
		row{
			name: "802.3 length after a VLAN tag",
			b: []byte{
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, // destination
				0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // source
				0x81, 0x00, 0x00, 0x05, // 802.1Q VID 5
				0x05, 0xff, // 1535: just under 0x0600
			},
			msg: "offset 16",
		},
	)
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			err := f.UnmarshalBinary(tt.b)
			if err == nil {
				t.Fatalf("UnmarshalBinary(% x) = nil error, frame %+v", tt.b, f)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestFrameMarshalErrors(t *testing.T) {
	ok := Frame{Destination: macB, Source: macA, EtherType: EtherTypeIPv4}
	with := func(mod func(*Frame)) Frame {
		f := ok
		mod(&f)
		return f
	}
	tests := []struct {
		name string
		f    Frame
		want error
		msg  string
	}{
		{"short destination", with(func(f *Frame) { f.Destination = macB[:5] }), nil, "destination"},
		{"nil source", with(func(f *Frame) { f.Source = nil }), nil, "source"},
		{"three VLANs", with(func(f *Frame) { f.VLANs = make([]VLAN, 3) }), ErrTooManyVLANs, "3 VLAN"},
		{"priority 8", with(func(f *Frame) { f.VLANs = []VLAN{{Priority: 8}} }), nil, "priority 8"},
		{"VLAN ID 4096", with(func(f *Frame) { f.VLANs = []VLAN{{ID: 4096}} }), nil, "ID 4096"},
		{"bad TPID", with(func(f *Frame) { f.VLANs = []VLAN{{}, {TPID: 0x9100}} }), nil, "tag 1"},
		{"EtherType is a TPID", with(func(f *Frame) { f.EtherType = EtherTypeServiceVLAN }), nil, "802.1ad"},
		{"EtherType is a length", with(func(f *Frame) { f.EtherType = 0x05dc }), nil, "0x05dc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.f.MarshalBinary()
			if err == nil {
				t.Fatalf("MarshalBinary = % x, want error", b)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
	if _, err := ok.MarshalBinary(); err != nil {
		t.Fatalf("the unmodified frame must marshal: %v", err)
	}
}

func TestEtherTypeString(t *testing.T) {
	for e, want := range map[EtherType]string{
		EtherTypePPPoEDiscovery: "PPPoE-Discovery",
		EtherTypeServiceVLAN:    "802.1ad",
		0x1234:                  "EtherType(0x1234)",
	} {
		if got := e.String(); got != want {
			t.Errorf("EtherType(%#04x).String() = %q, want %q", uint16(e), got, want)
		}
	}
}

// FuzzFrame checks that parsing never panics and that whatever parses
// marshals back to the same bytes and parses to the same frame.
func FuzzFrame(f *testing.F) {
	for _, tt := range frameTests {
		f.Add(tt.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var f1 Frame
		if err := f1.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := f1.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed frame %+v does not marshal: %v", f1, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("marshal(parse(b)) = % x, want % x", out, b)
		}
		var f2 Frame
		if err := f2.UnmarshalBinary(out); err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !reflect.DeepEqual(f1, f2) {
			t.Fatalf("reparse = %+v, want %+v", f2, f1)
		}
	})
}
