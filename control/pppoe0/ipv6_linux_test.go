package pppoe0

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// kernelRoutes6 returns our IPv6 routes on pppoe0 as the kernel has them.
func (f *fixture) kernelRoutes6() []netip.Prefix {
	f.t.Helper()
	var out []netip.Prefix
	f.do(func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V6,
			&netlink.Route{LinkIndex: f.index, Protocol: Protocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range rs {
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			n, _ := r.Dst.Mask.Size()
			out = append(out, netip.PrefixFrom(a, n))
		}
		return nil
	})
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

func TestIPv6PrefixRoutes(t *testing.T) {
	f := newFixture(t)
	link, pd := pfx("2001:db8:1:2::/64"), pfx("2001:db8:100::/56")
	for _, p := range []netip.Prefix{link, pd} {
		if err := f.h.AddIPv6Prefix(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.kernelRoutes6(); !slices.Equal(got, []netip.Prefix{link, pd}) {
		t.Fatalf("routes %v, want %v and %v", got, link, pd)
	}
	if err := f.h.RemoveIPv6Prefix(pd); err != nil {
		t.Fatal(err)
	}
	if err := f.h.RemoveIPv6Prefix(pd); err != nil {
		t.Fatalf("removing a route already gone: %v", err)
	}
	if got := f.kernelRoutes6(); !slices.Equal(got, []netip.Prefix{link}) {
		t.Fatalf("routes %v, want %v", got, link)
	}
	if err := f.h.AddIPv6Prefix(pfx("10.0.0.0/24"), 0); err == nil {
		t.Fatal("IPv4 prefix taken as IPv6")
	}
}

// recorder6 is recorder with IPv6 prefixes (accepted, not kept).
type recorder6 struct{ *recorder }

func (recorder6) SetIPv6LinkPrefix(session.Handle, netip.Prefix) error { return nil }
func (recorder6) AddIPv6Prefix(session.Handle, netip.Prefix) error     { return nil }
func (recorder6) RemoveIPv6Prefix(session.Handle, netip.Prefix) error  { return nil }

// kernelRouteMTUs6 returns our IPv6 routes on pppoe0 with their MTU.
func (f *fixture) kernelRouteMTUs6() map[netip.Prefix]int {
	f.t.Helper()
	out := map[netip.Prefix]int{}
	f.do(func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V6,
			&netlink.Route{LinkIndex: f.index, Protocol: Protocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		for _, r := range rs {
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			n, _ := r.Dst.Mask.Size()
			out[netip.PrefixFrom(a, n)] = r.MTU
		}
		return err
	})
	return out
}

// TestIPv6PrefixRouteMTU: a session's IPv6 prefixes are routed with its
// route MTU, as its /32 is: the link MTU without multilink (the kernel
// answers Packet Too Big from it, however far CarryMTU raised pppoe0),
// the peer's MRRU with it (the data plane gets packets up to the MRRU to
// fragment); an Update that changes it moves the prefixes' routes too.
func TestIPv6PrefixRouteMTU(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(local, "10.0.0.2-10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	dp := f.h.DataPlane(recorder6{&recorder{installed: map[uint16]session.Entry{}}})
	v6 := dp.(session.IPv6DataPlane)
	link, pd := pfx("2001:db8:1:2::/64"), pfx("2001:db8:100::/56")
	e := session.Entry{SessionID: 7, IPv4: addr("10.0.0.3"), MTU: 1400}
	var h session.Handle
	f.do(func() (err error) {
		if h, err = dp.Install(e); err != nil {
			return err
		}
		if err = v6.SetIPv6LinkPrefix(h, link); err != nil {
			return err
		}
		return v6.AddIPv6Prefix(h, pd)
	})
	if got, want := f.kernelRouteMTUs6(), map[netip.Prefix]int{link: 1400, pd: 1400}; !reflect.DeepEqual(got, want) {
		t.Errorf("without MP: IPv6 routes %v, want %v", got, want)
	}
	e.MP = session.MP{On: true, MRRU: 1614}
	f.do(func() (err error) {
		h, err = dp.Update(h, e)
		return err
	})
	if got, want := f.kernelRouteMTUs6(), map[netip.Prefix]int{link: 1614, pd: 1614}; !reflect.DeepEqual(got, want) {
		t.Errorf("with MP: IPv6 routes %v, want %v", got, want)
	}
	f.do(func() error { return dp.Remove(h) })
	if got := f.kernelRouteMTUs6(); len(got) != 0 {
		t.Errorf("IPv6 routes %v left after Remove", got)
	}
}
