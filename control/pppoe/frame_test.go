package pppoe

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

var (
	hostMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	acMAC   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

func TestParseFrame(t *testing.T) {
	b := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination: AC
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source: host
		0x88, 0xa8, 0x00, 0x64, // 802.1ad VID 100
		0x81, 0x00, 0x00, 0x0a, // 802.1Q VID 10
		0x88, 0x63, // EtherType PPPoE discovery
		0x11,       // VER 1, TYPE 1
		0x19,       // CODE PADR
		0x00, 0x00, // SESSION_ID 0
		0x00, 0x0a, // LENGTH 10
		0x01, 0x01, 0x00, 0x00, // Service-Name ""
		0x01, 0x04, 0x00, 0x02, 0xc0, 0x0c, // AC-Cookie
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Ethernet padding
	}
	f, p, err := ParseFrame(b)
	if err != nil {
		t.Fatalf("ParseFrame: %v", err)
	}
	wantVLANs := []ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 100}, {TPID: ethernet.EtherTypeVLAN, ID: 10}}
	if !bytes.Equal(f.Destination, acMAC) || !bytes.Equal(f.Source, hostMAC) || !reflect.DeepEqual(f.VLANs, wantVLANs) ||
		f.EtherType != ethernet.EtherTypePPPoEDiscovery {
		t.Errorf("frame = %+v", f)
	}
	want := Packet{Code: CodePADR, Tags: []Tag{ServiceName(""), ACCookie{0xc0, 0x0c}}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("packet = %#v, want %#v", p, want)
	}
	if err := ValidateFrame(&f, &p); err != nil {
		t.Errorf("ValidateFrame: %v", err)
	}
	out, err := MarshalFrame(f.Destination, f.Source, f.VLANs, &p)
	if err != nil {
		t.Fatalf("MarshalFrame: %v", err)
	}
	if n := len(b) - 8; !bytes.Equal(out, b[:n]) {
		t.Errorf("MarshalFrame =\n% x\nwant\n% x", out, b[:n])
	}
}

func TestParseFrameErrors(t *testing.T) {
	eth := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
	}
	frame := func(rest ...byte) []byte { return append(bytes.Clone(eth), rest...) }
	tests := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"short Ethernet header", eth[:10], io.ErrUnexpectedEOF, "ethernet"},
		{"IPv4", frame(0x08, 0x00, 0x45, 0x00), nil, "EtherType IPv4 is not PPPoE"},
		{"session code on discovery EtherType", frame(
			0x88, 0x63, // PPPoE discovery
			0x11, 0x00, 0x00, 0x01, 0x00, 0x00, // VER/TYPE, CODE session, SESSION_ID 1, LENGTH 0
		), nil, "Session in a PPPoE-Discovery frame"},
		{"PADT on session EtherType", frame(
			0x88, 0x64, // PPPoE session
			0x11, 0xa7, 0x00, 0x01, 0x00, 0x00, // VER/TYPE, CODE PADT, SESSION_ID 1, LENGTH 0
		), nil, "PADT in a PPPoE-Session frame"},
		{"truncated PPPoE header", frame(0x88, 0x64, 0x11, 0x00, 0x00), io.ErrUnexpectedEOF, "header needs 6"},
		{"bad version", frame(0x88, 0x63, 0x22, 0x09, 0, 0, 0, 0), nil, "VER 2 TYPE 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseFrame(tt.b)
			if err == nil {
				t.Fatal("ParseFrame = nil error")
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

func TestValidateFrame(t *testing.T) {
	padi := &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}}
	pado := &Packet{Code: CodePADO, Tags: []Tag{ACName("ac"), ServiceName("")}}
	sess := &Packet{Code: CodeSession, SessionID: 1, Payload: []byte{0xc0, 0x21, 0x09, 0x01, 0x00, 0x04}}
	multicast := net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	disc, ses := ethernet.EtherTypePPPoEDiscovery, ethernet.EtherTypePPPoESession
	tests := []struct {
		name     string
		dst, src net.HardwareAddr
		et       ethernet.EtherType
		p        *Packet
		msg      string
	}{
		{"PADI broadcast", ethernet.Broadcast, hostMAC, disc, padi, ""},
		{"PADI unicast", acMAC, hostMAC, disc, padi, "PADI to 02:00:00:00:00:02, must be broadcast"},
		{"PADO unicast", hostMAC, acMAC, disc, pado, ""},
		{"PADO broadcast", ethernet.Broadcast, acMAC, disc, pado, "PADO destination ff:ff:ff:ff:ff:ff"},
		{"PADO from multicast", hostMAC, multicast, disc, pado, "PADO source 01:00:5e:00:00:01"},
		{"session", acMAC, hostMAC, ses, sess, ""},
		{"session on discovery EtherType", acMAC, hostMAC, disc, sess, "Session in a PPPoE-Discovery frame"},
		{"invalid packet", ethernet.Broadcast, hostMAC, disc, &Packet{Code: CodePADI}, "0 Service-Name tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &ethernet.Frame{Destination: tt.dst, Source: tt.src, EtherType: tt.et}
			err := ValidateFrame(f, tt.p)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("ValidateFrame: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateFrame = nil, want %q", tt.msg)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q: want ErrInvalid saying %q", err, tt.msg)
			}
		})
	}
}

// FuzzParseFrame checks that frame parsing never panics and that a parsed
// frame re-encodes to a frame that parses to the same values.
func FuzzParseFrame(f *testing.F) {
	for _, tt := range packetTests {
		b, err := MarshalFrame(acMAC, hostMAC, []ethernet.VLAN{{ID: 5}}, &tt.p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		f1, p1, err := ParseFrame(b)
		if err != nil {
			return
		}
		_ = ValidateFrame(&f1, &p1)
		out, err := MarshalFrame(f1.Destination, f1.Source, f1.VLANs, &p1)
		if err != nil {
			t.Fatalf("parsed frame does not marshal: %v", err)
		}
		f2, p2, err := ParseFrame(out)
		if err != nil {
			t.Fatalf("reparse of % x: %v", out, err)
		}
		if !reflect.DeepEqual(p1, p2) || !bytes.Equal(f1.Destination, f2.Destination) ||
			!bytes.Equal(f1.Source, f2.Source) || !reflect.DeepEqual(f1.VLANs, f2.VLANs) || f1.EtherType != f2.EtherType {
			t.Fatalf("reparse = %+v %#v, want %+v %#v", f2, p2, f1, p1)
		}
	})
}
