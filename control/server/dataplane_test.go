package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
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

// TestDataPlaneUpdate: a live session's Update through the
// session.DataPlane reaches the BPF tables: the entry found by its key
// has the new address, MTU and MSS, under the same index (so the same
// counters), and the old address no longer finds it.
func TestDataPlaneUpdate(t *testing.T) {
	pin := filepath.Join(maps.DefaultPinPath+"-test", fmt.Sprintf("server-update-%d", os.Getpid()))
	d, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unpin(); err != nil {
			t.Error(err)
		}
		d.Close()
	})
	dp := NewDataPlane(d)
	e := session.Entry{
		Circuit:   pppoe.Circuit{Ifindex: 7, MAC: [6]byte{0x02, 0, 0, 0, 0, 9}},
		SessionID: 0x1234,
		ACMAC:     acMAC,
		IPv4:      netip.MustParseAddr("10.0.0.2"),
		MTU:       1492,
		MSS:       1452,
	}
	h, err := dp.Install(e)
	if err != nil {
		t.Fatal(err)
	}
	key := mapsSession(e).Key
	_, idx, err := d.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	moved := e
	moved.IPv4, moved.MTU, moved.MSS = netip.MustParseAddr("10.0.0.77"), 1400, 1360
	h2, err := dp.Update(h, moved)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, idx2, err := d.Lookup(key)
	if err != nil || got.IPv4 != moved.IPv4 || got.MTU != 1400 || got.MSS != 1360 || idx2 != idx {
		t.Fatalf("after Update the maps hold %+v at %d (%v), want %v/1400/1360 at %d", got, idx2, err, moved.IPv4, idx)
	}
	if _, err := dp.Stats(h2); err != nil {
		t.Errorf("stats through the new handle: %v", err)
	}
	other := moved
	other.SessionID = 0x99
	if _, err := dp.Update(h2, other); err == nil {
		t.Error("Update moved a session to another key")
	}
	if err := dp.Remove(h2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Lookup(key); err == nil {
		t.Error("entry still there after Remove")
	}
}
