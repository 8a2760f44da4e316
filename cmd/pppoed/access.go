package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/pppoe-xdp/pppoe-xdp/control/daemon"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// accessSystem is daemon.AccessSystem over maps and netlink.
type accessSystem struct {
	dp     *maps.Datapath
	pppoe0 *maps.Device

	mu     sync.Mutex
	addrs  map[netip.Addr]bool
	routes map[netip.Prefix]bool
}

func newAccessSystem(dp *maps.Datapath, pppoe0 *maps.Device) *accessSystem {
	return &accessSystem{dp: dp, pppoe0: pppoe0, addrs: map[netip.Addr]bool{}, routes: map[netip.Prefix]bool{}}
}

// AttachAccess implements daemon.AccessSystem.
func (s *accessSystem) AttachAccess(ifindex int) error { return s.dp.AttachAccess(ifindex) }

// SyncPPPoE0 implements daemon.AccessSystem. Replace, not add: a pppoe0
// left by an earlier run may hold them already.
func (s *accessSystem) SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := netlink.LinkByIndex(s.pppoe0.Index)
	if err != nil {
		return fmt.Errorf("%s: %w", s.pppoe0.Name, err)
	}
	var errs []error
	wantA := map[netip.Addr]bool{}
	for _, a := range addrs {
		wantA[a] = true
		if !s.addrs[a] {
			if err := netlink.AddrReplace(l, hostAddr(a)); err != nil {
				errs = append(errs, fmt.Errorf("address %v: %w", a, err))
				continue
			}
			s.addrs[a] = true
		}
	}
	wantR := map[netip.Prefix]bool{}
	for _, p := range routes {
		wantR[p] = true
		if !s.routes[p] {
			if err := maps.AddRoute(s.pppoe0.Index, p); err != nil {
				errs = append(errs, err)
				continue
			}
			s.routes[p] = true
		}
	}
	for p := range s.routes {
		if !wantR[p] {
			r := &netlink.Route{LinkIndex: s.pppoe0.Index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
			if err := netlink.RouteDel(r); err != nil {
				errs = append(errs, fmt.Errorf("delete route %v: %w", p, err))
			}
			delete(s.routes, p)
		}
	}
	for a := range s.addrs {
		if !wantA[a] {
			if err := netlink.AddrDel(l, hostAddr(a)); err != nil {
				errs = append(errs, fmt.Errorf("delete address %v: %w", a, err))
			}
			delete(s.addrs, a)
		}
	}
	return errors.Join(errs...)
}

// UpdatePPPoE0 implements daemon.AccessSystem.
func (s *accessSystem) UpdatePPPoE0(add, del daemon.PPPoE0Set) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := netlink.LinkByIndex(s.pppoe0.Index)
	if err != nil {
		return fmt.Errorf("%s: %w", s.pppoe0.Name, err)
	}
	var errs []error
	for _, p := range del.Routes {
		if !s.routes[p] {
			continue
		}
		r := &netlink.Route{LinkIndex: s.pppoe0.Index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteDel(r); err != nil {
			errs = append(errs, fmt.Errorf("delete route %v: %w", p, err))
		}
		delete(s.routes, p)
	}
	for _, a := range del.Addrs {
		if !s.addrs[a] {
			continue
		}
		if err := netlink.AddrDel(l, hostAddr(a)); err != nil {
			errs = append(errs, fmt.Errorf("delete address %v: %w", a, err))
		}
		delete(s.addrs, a)
	}
	for _, a := range add.Addrs {
		if err := netlink.AddrReplace(l, hostAddr(a)); err != nil {
			errs = append(errs, fmt.Errorf("address %v: %w", a, err))
			continue
		}
		s.addrs[a] = true
	}
	for _, p := range add.Routes {
		if err := maps.AddRoute(s.pppoe0.Index, p); err != nil {
			errs = append(errs, err)
			continue
		}
		s.routes[p] = true
	}
	return errors.Join(errs...)
}

func hostAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, a.BitLen()))}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// mtuRoutes wraps the server's data plane so that a session whose MTU is
// below pppoe0's gets a host route with its MTU: the kernel then fragments,
// or answers DF packets with ICMP Fragmentation Needed (RFC 1191), instead
// of tc_pppoe0_out dropping them as mtu_exceeded.
type mtuRoutes struct {
	session.DataPlane
	pppoe0 int
	mtu    int
}

type mtuHandle struct {
	inner session.Handle
	addr  netip.Addr // host route added, or invalid
}

func (m mtuRoutes) Install(e session.Entry) (session.Handle, error) {
	h, err := m.DataPlane.Install(e)
	if err != nil {
		return nil, err
	}
	mh := mtuHandle{inner: h}
	if e.IPv4.IsValid() && e.MTU > 0 && int(e.MTU) < m.mtu {
		if err := maps.AddHostRoute(m.pppoe0, e.IPv4, int(e.MTU)); err != nil {
			m.DataPlane.Remove(h)
			return nil, err
		}
		mh.addr = e.IPv4
	}
	return mh, nil
}

func (m mtuRoutes) Remove(h session.Handle) error {
	mh := h.(mtuHandle)
	var errs []error
	if mh.addr.IsValid() {
		errs = append(errs, maps.DelHostRoute(m.pppoe0, mh.addr))
	}
	errs = append(errs, m.DataPlane.Remove(mh.inner))
	return errors.Join(errs...)
}

func (m mtuRoutes) Stats(h session.Handle) (session.Stats, error) {
	return m.DataPlane.Stats(h.(mtuHandle).inner)
}
