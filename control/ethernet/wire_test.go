package ethernet

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// TestTshark dissects the marshalled table frames with Wireshark's Ethernet,
// 802.1Q and 802.1ad dissectors and compares the fields to the intended ones.
func TestTshark(t *testing.T) {
	var frames [][]byte
	for _, tt := range frameTests {
		f := tt.f
		// IEEE 802 local experimental EtherType: tshark shows the payload as
		// data instead of flagging the table's made-up IP or PPPoE bytes.
		f.EtherType = 0x88b5
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		// tshark would flag a runt frame; pad as the kernel does on transmit.
		for len(b) < 60 {
			b = append(b, 0)
		}
		frames = append(frames, b)
	}
	got := wire.TsharkFields(t, frames, "eth.dst", "eth.src", "eth.type",
		"vlan.id", "vlan.priority", "vlan.dei", "vlan.etype",
		"ieee8021ad.id", "ieee8021ad.priority", "ieee8021ad.dei")
	for i, tt := range frameTests {
		// Columns as tshark renders them: each VLAN field once per tag of its kind.
		var c, s [4][]string
		for j, v := range tt.f.VLANs {
			next := EtherType(0x88b5)
			if j+1 < len(tt.f.VLANs) {
				next = tt.f.VLANs[j+1].TPID
			}
			dei := "0"
			if v.DropEligible {
				dei = "1"
			}
			col := &c
			if v.TPID == EtherTypeServiceVLAN {
				col = &s
			}
			col[0] = append(col[0], fmt.Sprint(v.ID))
			col[1] = append(col[1], fmt.Sprint(v.Priority))
			col[2] = append(col[2], dei)
			col[3] = append(col[3], fmt.Sprintf("0x%04x", uint16(next)))
		}
		ethType := "0x88b5"
		if len(tt.f.VLANs) > 0 {
			ethType = fmt.Sprintf("0x%04x", uint16(tt.f.VLANs[0].TPID))
		}
		want := [][]string{{tt.f.Destination.String()}, {tt.f.Source.String()}, {ethType},
			c[0], c[1], c[2], c[3], s[0], s[1], s[2]}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("%s: tshark fields\n%q\nwant\n%q", tt.name, got[i], want)
		}
	}
	for i, msgs := range wire.TsharkExpert(t, frames) {
		if len(msgs) > 0 {
			t.Errorf("%s: tshark expert info %q", frameTests[i].name, msgs)
		}
	}
}

// TestScapy parses frames that scapy builds, tagged and untagged.
func TestScapy(t *testing.T) {
	frames := wire.Scapy(t, `
a, b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
frames = [
    Ether(dst=b, src=a, type=0x0800)/Raw(b"\x45"),
    Ether(dst=b, src=a)/Dot1Q(prio=3, id=1, vlan=42, type=0x8863)/Raw(b"\x11\x09"),
    Ether(dst=b, src=a)/Dot1AD(prio=6, vlan=300)/Dot1Q(vlan=7, type=0x8864)/Raw(b"\x11\x00"),
]
`)
	want := []Frame{
		{Destination: macB, Source: macA, EtherType: EtherTypeIPv4, Payload: []byte{0x45}},
		{Destination: macB, Source: macA, VLANs: []VLAN{{TPID: EtherTypeVLAN, Priority: 3, DropEligible: true, ID: 42}},
			EtherType: EtherTypePPPoEDiscovery, Payload: []byte{0x11, 0x09}},
		{Destination: macB, Source: macA,
			VLANs:     []VLAN{{TPID: EtherTypeServiceVLAN, Priority: 6, ID: 300}, {TPID: EtherTypeVLAN, ID: 7}},
			EtherType: EtherTypePPPoESession, Payload: []byte{0x11, 0x00}},
	}
	if len(frames) != len(want) {
		t.Fatalf("scapy returned %d frames, want %d", len(frames), len(want))
	}
	for i, b := range frames {
		var f Frame
		if err := f.UnmarshalBinary(b); err != nil {
			t.Errorf("frame %d (% x): %v", i, b, err)
			continue
		}
		if !reflect.DeepEqual(f, want[i]) {
			t.Errorf("frame %d = %+v, want %+v", i, f, want[i])
		}
	}
}
