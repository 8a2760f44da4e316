package server

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
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
		{"rate limit, shaped download", limited(entry(circuit())), limitedWant(want(0, 0, 0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mapsSession(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mapsSession =\n%+v, want\n%+v", got, tc.want)
			}
		})
	}
}

// limited gives an entry the rate-limit "10M/50M 20M/100M 8M/40M 16" with a
// shaped download; limitedWant is what the maps must get for it.
func limited(e session.Entry) session.Entry {
	l, err := ratelimit.Parse("10M/50M 20M/100M 8M/40M 16")
	if err != nil {
		panic(err)
	}
	e.RateLimit, e.ShapeTx = l, true
	return e
}

func limitedWant(s maps.Session) maps.Session {
	s.Limit = maps.RateLimit{
		Rx: maps.Rate{Rate: 10e6, BurstRate: 20e6, BurstThreshold: 8e6, BurstTime: 16 * time.Second},
		Tx: maps.Rate{Rate: 50e6, BurstRate: 100e6, BurstThreshold: 40e6, BurstTime: 16 * time.Second, Shape: true},
	}
	return s
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
