package pppoe0

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
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
		if err := f.h.AddIPv6Prefix(p); err != nil {
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
	if err := f.h.AddIPv6Prefix(pfx("10.0.0.0/24")); err == nil {
		t.Fatal("IPv4 prefix taken as IPv6")
	}
}
