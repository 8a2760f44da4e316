package pppoe

import (
	"net"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

func TestCircuitOf(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0xaa}
	tests := []struct {
		name    string
		f       ethernet.Frame
		want    Circuit
		vlans   []ethernet.VLAN
		str     string
		wantErr bool
	}{
		{
			name:  "untagged",
			f:     ethernet.Frame{Source: mac},
			want:  Circuit{Ifindex: 7, MAC: [6]byte(mac)},
			str:   "7/02:00:00:00:00:aa",
			vlans: nil,
		},
		{
			name: "one tag, priority and DEI dropped, TPID 0 means 802.1Q",
			f:    ethernet.Frame{Source: mac, VLANs: []ethernet.VLAN{{Priority: 5, DropEligible: true, ID: 100}}},
			want: Circuit{Ifindex: 7, MAC: [6]byte(mac), NumVLANs: 1,
				VLANs: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}}},
			str:   "7/100/02:00:00:00:00:aa",
			vlans: []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}},
		},
		{
			name: "QinQ",
			f: ethernet.Frame{Source: mac, VLANs: []ethernet.VLAN{
				{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}}},
			want: Circuit{Ifindex: 7, MAC: [6]byte(mac), NumVLANs: 2, VLANs: [2]ethernet.VLAN{
				{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}}},
			str: "7/10.20/02:00:00:00:00:aa",
			vlans: []ethernet.VLAN{
				{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}},
		},
		{
			name:  "priority tag only: untagged (IEEE 802.1Q §9.6)",
			f:     ethernet.Frame{Source: mac, VLANs: []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, Priority: 5}}},
			want:  Circuit{Ifindex: 7, MAC: [6]byte(mac)},
			str:   "7/02:00:00:00:00:aa",
			vlans: nil,
		},
		{
			name: "priority tag inside VLAN 100: VLAN 100",
			f: ethernet.Frame{Source: mac, VLANs: []ethernet.VLAN{
				{TPID: ethernet.EtherTypeVLAN, ID: 100}, {TPID: ethernet.EtherTypeVLAN, Priority: 3}}},
			want: Circuit{Ifindex: 7, MAC: [6]byte(mac), NumVLANs: 1,
				VLANs: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}}},
			str:   "7/100/02:00:00:00:00:aa",
			vlans: []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}},
		},
		{name: "short source", f: ethernet.Frame{Source: mac[:5]}, wantErr: true},
		{name: "three tags", f: ethernet.Frame{Source: mac, VLANs: make([]ethernet.VLAN, 3)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CircuitOf(7, &tt.f)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("CircuitOf = %v, want an error", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Fatalf("CircuitOf = %+v, want %+v", c, tt.want)
			}
			if got := c.VLANList(); !reflect.DeepEqual(got, tt.vlans) {
				t.Fatalf("VLANList = %+v, want %+v", got, tt.vlans)
			}
			if got := c.String(); got != tt.str {
				t.Fatalf("String = %q, want %q", got, tt.str)
			}
			if got := c.HardwareAddr(); got.String() != mac.String() {
				t.Fatalf("HardwareAddr = %v", got)
			}
		})
	}
}

// TestCircuitKeys checks that one MAC behind two VLANs is two circuits and
// that the priority bits do not split one circuit in two.
func TestCircuitKeys(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0xaa}
	m := map[Circuit]int{}
	for _, v := range []ethernet.VLAN{{ID: 100, Priority: 0}, {ID: 100, Priority: 7}, {ID: 200}} {
		c, err := CircuitOf(1, &ethernet.Frame{Source: mac, VLANs: []ethernet.VLAN{v}})
		if err != nil {
			t.Fatal(err)
		}
		m[c]++
	}
	if len(m) != 2 {
		t.Fatalf("%d circuits, want 2 (VLAN 100 twice, VLAN 200)", len(m))
	}
}
