package server

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

func TestMapsSession(t *testing.T) {
	client := [6]byte{0x02, 0, 0, 0, 0, 9}
	circuit := func(vlans ...ethernet.VLAN) pppoe.Circuit {
		c := pppoe.Circuit{Ifindex: 7, MAC: client, NumVLANs: uint8(len(vlans))}
		copy(c.VLANs[:], vlans)
		return c
	}
	entry := func(c pppoe.Circuit) session.Entry {
		return session.Entry{
			Circuit:   c,
			SessionID: 0x1234,
			ACMAC:     acMAC,
			IPv4:      netip.MustParseAddr("10.0.0.2"),
			MTU:       1492,
			MSS:       1452,
		}
	}
	want := func(outer, otpid, inner, itpid uint16) maps.Session {
		return maps.Session{
			Key: maps.Key{
				Ifindex:   7,
				OuterVLAN: outer,
				InnerVLAN: inner,
				SessionID: 0x1234,
				ClientMAC: net.HardwareAddr(client[:]),
			},
			OuterTPID: otpid,
			InnerTPID: itpid,
			ACMAC:     acMAC,
			IPv4:      netip.MustParseAddr("10.0.0.2"),
			MTU:       1492,
			MSS:       1452,
		}
	}
	for _, tc := range []struct {
		name string
		in   session.Entry
		want maps.Session
	}{
		{"untagged", entry(circuit()), want(0, 0, 0, 0)},
		{"802.1Q", entry(circuit(ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: 100})), want(100, 0x8100, 0, 0)},
		{"QinQ", entry(circuit(
			ethernet.VLAN{TPID: ethernet.EtherTypeServiceVLAN, ID: 200},
			ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: 7},
		)), want(200, 0x88a8, 7, 0x8100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mapsSession(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mapsSession =\n%+v, want\n%+v", got, tc.want)
			}
		})
	}
}

func TestDataPlaneForeignHandle(t *testing.T) {
	dp := NewDataPlane(nil)
	if err := dp.Remove(3); err == nil {
		t.Error("Remove of a foreign handle succeeded")
	}
	if _, err := dp.Stats(3); err == nil {
		t.Error("Stats of a foreign handle succeeded")
	}
}
