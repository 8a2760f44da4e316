package pppoe

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// tsharkTagFields maps each tag type to the tshark field holding its value.
var tsharkTagFields = map[TagType]string{
	TagServiceName:      "pppoed.tags.service_name",
	TagACName:           "pppoed.tags.ac_name",
	TagHostUniq:         "pppoed.tags.host_uniq",
	TagACCookie:         "pppoed.tags.ac_cookie",
	TagRelaySessionID:   "pppoed.tags.relay_session_id",
	TagPPPMaxPayload:    "pppoed.tags.max_payload",
	TagServiceNameError: "pppoed.tags.service_name_error",
	TagACSystemError:    "pppoed.tags.ac_system_error",
	TagGenericError:     "pppoed.tags.generic_error",
	0x0111:              "pppoed.tags.hurl",
	0x0112:              "pppoed.tags.motm",
}

// tsharkRender renders a tag value as tshark -T fields prints it.
func tsharkRender(t Tag) string {
	switch t.(type) {
	case ServiceName, ACName, ServiceNameError, ACSystemError, GenericError:
		return string(t.Value())
	}
	return hex.EncodeToString(t.Value())
}

// TestTshark marshals every table packet into a frame, has Wireshark's
// PPPoE dissector read it, and compares what it reports to the intent.
func TestTshark(t *testing.T) {
	fields := []string{"pppoe.version", "pppoe.type", "pppoe.code", "pppoe.session_id", "pppoe.payload_length",
		"pppoed.tag", "pppoed.tag_length", "pppoed.tags.vendor_id", "ppp.protocol"}
	valueCol := map[string]int{}
	for _, f := range tsharkTagFields {
		valueCol[f] = len(fields)
		fields = append(fields, f)
	}
	var frames [][]byte
	for _, tt := range packetTests {
		dst := acMAC
		if tt.p.Code == CodePADI {
			dst = ethernet.Broadcast
		}
		b, err := MarshalFrame(dst, hostMAC, nil, &tt.p)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for len(b) < 60 {
			b = append(b, 0) // as the kernel pads on transmit; LENGTH excludes it
		}
		frames = append(frames, b)
	}
	got := wire.TsharkFields(t, frames, fields...)
	for i, tt := range packetTests {
		want := make([][]string, len(fields))
		want[0], want[1] = []string{"1"}, []string{"1"}
		want[2] = []string{fmt.Sprintf("0x%02x", uint8(tt.p.Code))}
		want[3] = []string{fmt.Sprintf("0x%04x", tt.p.SessionID)}
		want[4] = []string{fmt.Sprint(len(tt.b) - HeaderLen)}
		for _, tag := range tt.p.Tags {
			if v, ok := tag.(VendorSpecific); ok {
				want[7] = append(want[7], fmt.Sprint(v.VendorID))
				continue
			}
			if tag.Type() == TagEndOfList {
				continue // tshark stops there without an item
			}
			f, ok := tsharkTagFields[tag.Type()]
			if !ok {
				// tshark shows TAG_TYPE and TAG_LENGTH for tags it does not know only.
				want[5] = append(want[5], fmt.Sprintf("0x%04x", uint16(tag.Type())))
				want[6] = append(want[6], fmt.Sprint(len(tag.Value())))
				continue
			}
			if len(tag.Value()) > 0 {
				want[valueCol[f]] = append(want[valueCol[f]], tsharkRender(tag))
			}
		}
		if tt.p.Code == CodeSession && len(tt.p.Payload) >= 2 {
			want[8] = []string{fmt.Sprintf("0x%02x%02x", tt.p.Payload[0], tt.p.Payload[1])}
		}
		// tshark prints an empty value as nothing or as <MISSING>; drop those.
		row := make([][]string, len(fields))
		for j, col := range got[i] {
			for _, v := range col {
				if v != "" && v != "<MISSING>" {
					row[j] = append(row[j], v)
				}
			}
		}
		for j := range fields {
			if !reflect.DeepEqual(row[j], want[j]) {
				t.Errorf("%s: %s = %q, want %q", tt.name, fields[j], row[j], want[j])
			}
		}
	}
	for i, msgs := range wire.TsharkExpert(t, frames) {
		if len(msgs) > 0 {
			t.Errorf("%s: tshark expert info %q", packetTests[i].name, msgs)
		}
	}
}

// TestScapy parses frames built by scapy's PPPoE layers, tagged and
// untagged, padded and not, and compares them to the packets they encode.
func TestScapy(t *testing.T) {
	frames := wire.Scapy(t, `
host, ac, bc = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
def T(t, v): return PPPoETag(tag_type=t, tag_value=v)
frames = [
    Ether(dst=bc, src=host)/PPPoED(code=0x09)/PPPoED_Tags(tag_list=[
        T(0x0101, b""), T(0x0103, b"\xde\xad"), T(0x0120, b"\x05\xdc")]),
    Ether(dst=host, src=ac)/Dot1Q(vlan=10)/PPPoED(code=0x07)/PPPoED_Tags(tag_list=[
        T(0x0102, b"ac"), T(0x0101, b"internet"), T(0x0104, b"\xc0\x0c"),
        T(0x0105, b"\x00\x00\x0d\xe9\x01\x02ab")]),
    Ether(dst=ac, src=host)/Dot1AD(vlan=100)/Dot1Q(vlan=10)/PPPoED(code=0x19)/PPPoED_Tags(tag_list=[
        T(0x0101, b"internet"), T(0x0110, bytes(range(1, 13))), T(0x7777, b"?")]),
    Ether(dst=host, src=ac)/PPPoED(code=0x65, sessionid=0x1234)/PPPoED_Tags(tag_list=[T(0x0101, b"internet")]),
    Ether(dst=host, src=ac)/PPPoED(code=0x65)/PPPoED_Tags(tag_list=[T(0x0201, b"unknown service")]),
    Ether(dst=ac, src=host)/PPPoED(code=0xa7, sessionid=0x1234)/PPPoED_Tags(tag_list=[T(0x0203, b"bye")])/Padding(load=b"\x00"*30),
    Ether(dst=ac, src=host)/PPPoE(sessionid=0x1234)/PPP(proto=0xc021)/Raw(b"\x09\x01\x00\x08\x01\x02\x03\x04"),
]
`)
	want := []struct {
		vlans []ethernet.VLAN
		p     Packet
	}{
		{nil, Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), HostUniq{0xde, 0xad}, PPPMaxPayload(1500)}}},
		{[]ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 10}}, Packet{Code: CodePADO, Tags: []Tag{
			ACName("ac"), ServiceName("internet"), ACCookie{0xc0, 0x0c},
			VendorSpecific{VendorID: 3561, Data: []byte{0x01, 0x02, 'a', 'b'}}}}},
		{[]ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 100}, {TPID: ethernet.EtherTypeVLAN, ID: 10}},
			Packet{Code: CodePADR, Tags: []Tag{ServiceName("internet"),
				RelaySessionID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, RawTag{T: 0x7777, Data: []byte{'?'}}}}},
		{nil, Packet{Code: CodePADS, SessionID: 0x1234, Tags: []Tag{ServiceName("internet")}}},
		{nil, Packet{Code: CodePADS, Tags: []Tag{ServiceNameError("unknown service")}}},
		{nil, Packet{Code: CodePADT, SessionID: 0x1234, Tags: []Tag{GenericError("bye")}}},
		{nil, Packet{Code: CodeSession, SessionID: 0x1234,
			Payload: []byte{0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04}}},
	}
	if len(frames) != len(want) {
		t.Fatalf("scapy returned %d frames, want %d", len(frames), len(want))
	}
	for i, b := range frames {
		f, p, err := ParseFrame(b)
		if err != nil {
			t.Errorf("frame %d (% x): %v", i, b, err)
			continue
		}
		if !reflect.DeepEqual(f.VLANs, want[i].vlans) {
			t.Errorf("frame %d: VLANs %+v, want %+v", i, f.VLANs, want[i].vlans)
		}
		if !reflect.DeepEqual(p, want[i].p) {
			t.Errorf("frame %d: packet\n%#v\nwant\n%#v", i, p, want[i].p)
		}
		if err := ValidateFrame(&f, &p); err != nil {
			t.Errorf("frame %d: %v", i, err)
		}
	}
}
