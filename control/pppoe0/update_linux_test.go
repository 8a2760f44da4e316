package pppoe0

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
)

// addresses returns pppoe0's IPv4 addresses as the kernel has them.
func (f *fixture) addresses() []netip.Addr {
	f.t.Helper()
	var out []netip.Addr
	f.do(func() error {
		as, err := netlink.AddrList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: f.index}}, netlink.FAMILY_V4)
		for _, a := range as {
			p, _ := netip.AddrFromSlice(a.IP.To4())
			out = append(out, p)
		}
		return err
	})
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// TestUpdateIsSync: a configuration changed step by step through Update
// (only what each step adds and removes) leaves pppoe0 as SyncPPPoE0 of
// the whole configuration would: after each Update, a SyncPPPoE0 changes
// nothing. The steps move pool prefixes and static addresses under live
// sessions, so that sessions lose and regain the pool that covers them.
func TestUpdateIsSync(t *testing.T) {
	f := newFixture(t)
	f.do(func() error {
		for _, s := range []struct {
			a   string
			mtu int
		}{{"10.0.0.3", 1400}, {"10.0.0.5", devMTU}, {"198.51.100.7", devMTU}} {
			if err := f.h.AddSession(addr(s.a), s.mtu); err != nil {
				return err
			}
		}
		return nil
	})
	type state struct {
		addrs  []string
		routes []string
	}
	steps := []state{
		{[]string{"10.0.0.1"}, []string{"10.0.0.0/29", "198.51.100.7/32"}},
		{[]string{"10.0.0.1"}, []string{"198.51.100.7/32"}},                // 10.0.0.3 and .5 uncovered
		{[]string{"10.0.0.1"}, []string{"10.0.0.0/24", "198.51.100.7/32"}}, // covered again
		{[]string{"10.0.0.1", "10.0.0.254"}, []string{"10.0.0.0/24"}},      // static address gone
		{[]string{"10.0.0.254"}, []string{"10.0.0.0/24", "10.0.0.5/32"}},
		{nil, nil},
	}
	var prevA []netip.Addr
	var prevR []netip.Prefix
	for i, st := range steps {
		var wantA []netip.Addr
		for _, a := range st.addrs {
			wantA = append(wantA, addr(a))
		}
		var wantR []netip.Prefix
		for _, r := range st.routes {
			wantR = append(wantR, pfx(r))
		}
		var addA, delA []netip.Addr
		for _, a := range wantA {
			if !slices.Contains(prevA, a) {
				addA = append(addA, a)
			}
		}
		for _, a := range prevA {
			if !slices.Contains(wantA, a) {
				delA = append(delA, a)
			}
		}
		var addR, delR []netip.Prefix
		for _, r := range wantR {
			if !slices.Contains(prevR, r) {
				addR = append(addR, r)
			}
		}
		for _, r := range prevR {
			if !slices.Contains(wantR, r) {
				delR = append(delR, r)
			}
		}
		f.do(func() error { return f.h.Update(addA, delA, addR, delR) })
		routes, addrs := f.kernelRoutes(), f.addresses()
		f.do(func() error { return f.h.SyncPPPoE0(wantA, wantR) })
		if got := f.kernelRoutes(); !reflect.DeepEqual(routes, got) {
			t.Fatalf("step %d: Update left routes %v, SyncPPPoE0 makes them %v", i, routes, got)
		}
		if got := f.addresses(); !reflect.DeepEqual(addrs, got) {
			t.Fatalf("step %d: Update left addresses %v, SyncPPPoE0 makes them %v", i, addrs, got)
		}
		prevA, prevR = wantA, wantR
	}
}
