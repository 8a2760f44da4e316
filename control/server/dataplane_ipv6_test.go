package server

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// The session's IPv6 prefixes reach the BPF tables through the adapter,
// survive an Update of the entry, and go with Remove.
func TestDataPlaneIPv6(t *testing.T) {
	pin := filepath.Join(maps.DefaultPinPath+"-test", fmt.Sprintf("server-ipv6-%d", os.Getpid()))
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
	prefixes, ok := any(d).(interface {
		IPv6Prefixes(maps.Key) (netip.Prefix, []netip.Prefix, error)
	})
	if !ok {
		t.Skip("maps has no IPv6 prefix API yet (the IPv6 data plane is not merged)")
	}
	dp := NewDataPlane(d)
	v6, ok := dp.(session.IPv6DataPlane)
	if !ok {
		t.Fatal("the maps adapter is no session.IPv6DataPlane")
	}
	e := session.Entry{
		Circuit:   pppoe.Circuit{Ifindex: 7, MAC: [6]byte{0x02, 0, 0, 0, 0, 9}},
		SessionID: 0x1234,
		ACMAC:     acMAC,
		IPv4:      netip.MustParseAddr("10.0.0.2"),
		MTU:       1492,
	}
	h, err := dp.Install(e)
	if err != nil {
		t.Fatal(err)
	}
	key := mapsSession(e).Key
	link, pd := netip.MustParsePrefix("2001:db8:1:2::/64"), netip.MustParsePrefix("2001:db8:100::/56")
	if err := v6.SetIPv6LinkPrefix(h, link); err != nil {
		t.Fatal(err)
	}
	if err := v6.AddIPv6Prefix(h, pd); err != nil {
		t.Fatal(err)
	}
	check := func(what string, wantLink netip.Prefix, wantPD []netip.Prefix) {
		t.Helper()
		l, del, err := prefixes.IPv6Prefixes(key)
		if err != nil || l != wantLink || !slices.Equal(del, wantPD) {
			t.Fatalf("%s: maps hold %v %v (%v), want %v %v", what, l, del, err, wantLink, wantPD)
		}
	}
	check("installed", link, []netip.Prefix{pd})
	moved := e
	moved.MTU = 1400
	if h, err = dp.Update(h, moved); err != nil {
		t.Fatal(err)
	}
	check("after Update", link, []netip.Prefix{pd})
	if err := v6.RemoveIPv6Prefix(h, pd); err != nil {
		t.Fatal(err)
	}
	if err := v6.SetIPv6LinkPrefix(h, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	check("removed", netip.Prefix{}, nil)
	if err := v6.AddIPv6Prefix("not ours", pd); err == nil {
		t.Error("a foreign handle took a prefix")
	}
	if err := dp.Remove(h); err != nil {
		t.Fatal(err)
	}
}
