package host

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// TestClientSession: a client session as the data plane's entry, its VLAN
// stack outer first, and no more tags than the data plane carries.
func TestClientSession(t *testing.T) {
	ac := net.HardwareAddr{0x02, 0xac, 0, 0, 0, 1}
	us := net.HardwareAddr{0x02, 0xc1, 0, 0, 0, 1}
	base := client.Session{Ifindex: 7, ACMAC: ac, LocalMAC: us, SessionID: 0x1234,
		Local: netip.MustParseAddr("100.64.0.9"), MTU: 1492, MRU: 1492, MSS: 1452,
		MP: session.MP{On: true, ShortSeq: true, MRRU: 1614}}
	entry := maps.ClientSession{Ifindex: 7, ACMAC: ac, LocalMAC: us, SessionID: 0x1234,
		Local: netip.MustParseAddr("100.64.0.9"), MTU: 1492, MSS: 1452, MP: maps.MP{On: true, ShortSeq: true}}
	for _, c := range []struct {
		name  string
		vlans []ethernet.VLAN
		want  func(*maps.ClientSession)
		err   string
	}{
		{name: "untagged", want: func(*maps.ClientSession) {}},
		{name: "one tag", vlans: []ethernet.VLAN{{TPID: 0x8100, ID: 10}},
			want: func(e *maps.ClientSession) { e.OuterVLAN, e.OuterTPID = 10, 0x8100 }},
		{name: "QinQ", vlans: []ethernet.VLAN{{TPID: 0x88a8, ID: 100}, {TPID: 0x8100, ID: 20}},
			want: func(e *maps.ClientSession) {
				e.OuterVLAN, e.OuterTPID, e.InnerVLAN, e.InnerTPID = 100, 0x88a8, 20, 0x8100
			}},
		{name: "three tags", vlans: []ethernet.VLAN{{TPID: 0x88a8, ID: 1}, {TPID: 0x8100, ID: 2}, {TPID: 0x8100, ID: 3}},
			err: "3 VLAN tags"},
	} {
		s := base
		s.VLANs = c.vlans
		got, err := clientSession(s)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error saying %q", c.name, err, c.err)
			}
			continue
		}
		want := entry
		c.want(&want)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v\nwant %+v", c.name, got, err, want)
		}
	}
}

// TestClientStats: the data plane counts a client's frames from the AC as
// up (they arrive on the access side); the client's in is the AC's out.
func TestClientStats(t *testing.T) {
	got := clientStats(maps.Stats{PacketsUp: 1, BytesUp: 100, PacketsDown: 2, BytesDown: 200, Drops: 9, LastSeen: time.Second})
	want := client.Stats{PacketsIn: 1, BytesIn: 100, PacketsOut: 2, BytesOut: 200, LastSeen: time.Second}
	if got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}
