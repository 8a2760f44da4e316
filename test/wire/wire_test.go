package wire

import (
	"bytes"
	"testing"
)

// TestRoundTrip checks the helpers against each other: a PADI that scapy
// builds is dissected by tshark with the intended fields, and a truncated
// copy of it is reported malformed, so the helpers can tell good from bad.
func TestRoundTrip(t *testing.T) {
	frames := Scapy(t, `
padi = Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/PPPoED(code=0x09)/PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0101, tag_value=b"svc")])
frames = [padi]
`)
	if len(frames) != 1 {
		t.Fatalf("scapy returned %d frames, want 1", len(frames))
	}
	want := []byte{0x88, 0x63, 0x11, 0x09, 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x03, 's', 'v', 'c'}
	if !bytes.Equal(frames[0][12:], want) {
		t.Fatalf("scapy PADI = % x, want % x", frames[0][12:], want)
	}
	// The same frame, with the PPPoE length claiming more than is there.
	bad := append([]byte(nil), frames[0]...)
	bad[12+6+1] = 0x20

	fields := TsharkFields(t, [][]byte{frames[0], bad}, "pppoe.code", "pppoed.tags.service_name")
	if got := fields[0][0]; len(got) != 1 || got[0] != "0x09" {
		t.Errorf("pppoe.code = %q, want [0x09]", got)
	}
	if got := fields[0][1]; len(got) != 1 || got[0] != "svc" {
		t.Errorf("service name = %q, want [svc]", got)
	}
	expert := TsharkExpert(t, [][]byte{frames[0], bad})
	if len(expert[0]) != 0 {
		t.Errorf("good frame: expert %q, want none", expert[0])
	}
	if len(expert[1]) == 0 {
		t.Errorf("frame with lying length: no expert info, want malformed")
	}
}
