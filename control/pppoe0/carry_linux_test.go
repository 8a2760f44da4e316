package pppoe0

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestCarryMTU: raising pppoe0's MTU for a multilink session's MRRU keeps
// every other session at pppoe0's old MTU: the routes that had the
// device's MTU get it explicitly, a session at it needs no route of its
// own, and the MP session's /32 carries its MRRU. A later configuration
// sync leaves the routes as they are.
func TestCarryMTU(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.0-10.0.0.255"); err != nil {
		t.Fatal(err)
	}
	mp, plain := addr("10.0.0.7"), addr("10.0.0.8")
	set := func(mtu int) error {
		l, err := netlink.LinkByIndex(f.index)
		if err != nil {
			return err
		}
		return netlink.LinkSetMTU(l, mtu)
	}
	f.do(func() error { return f.h.CarryMTU(1614, set) })
	f.do(func() error { return f.h.AddSession(mp, 1614) })
	f.do(func() error { return f.h.AddSession(plain, devMTU) })
	want := map[netip.Prefix]int{pfx("10.0.0.0/24"): devMTU, netip.PrefixFrom(mp, 32): 1614}
	check := func(when string) {
		t.Helper()
		got := f.kernelRoutes()
		if len(got) != len(want) {
			t.Errorf("%s: routes %v, want %v", when, got, want)
		}
		for p, m := range want {
			if got[p] != m {
				t.Errorf("%s: routes %v, want %v", when, got, want)
				break
			}
		}
	}
	check("after CarryMTU")
	f.do(func() error {
		l, err := netlink.LinkByIndex(f.index)
		if err == nil && l.Attrs().MTU != 1614 {
			t.Errorf("pppoe0 MTU %d, want 1614", l.Attrs().MTU)
		}
		return err
	})
	// Lower never: a smaller MRRU leaves the device alone.
	f.do(func() error {
		return f.h.CarryMTU(1500, func(int) error { t.Error("lowered"); return nil })
	})
	if err := f.sync(local, "10.0.0.0-10.0.0.255"); err != nil {
		t.Fatal(err)
	}
	check("after a sync")
	f.do(func() error { return f.h.RemoveSession(mp, 1614) })
	delete(want, netip.PrefixFrom(mp, 32))
	check("after the MP session")
}
