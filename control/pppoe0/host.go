// Package pppoe0 keeps the kernel's side of pppoe0, the one device the
// kernel routes subscriber traffic into: the AC's local addresses on it
// and the routes to the pools and to sessions whose MTU is below its own.
package pppoe0

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// Host is pppoe0's addresses and routes.
type Host struct {
	index int
	mtu   int
	log   *zap.Logger

	mu     sync.Mutex
	addrs  map[netip.Addr]bool
	routes map[netip.Prefix]bool
}

// New takes over pppoe0 (by ifindex) in the calling thread's namespace.
func New(ifindex int, log *zap.Logger) (*Host, error) {
	if log == nil {
		log = zap.NewNop()
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("pppoe0: %w", err)
	}
	return &Host{index: ifindex, mtu: l.Attrs().MTU, log: log, addrs: map[netip.Addr]bool{}, routes: map[netip.Prefix]bool{}}, nil
}

// Close releases the host's resources.
func (h *Host) Close() error { return nil }

// SyncPPPoE0 implements daemon.AccessSystem. Replace, not add: a pppoe0
// left by an earlier run may hold them already.
func (s *Host) SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := netlink.LinkByIndex(s.index)
	if err != nil {
		return fmt.Errorf("%d: %w", s.index, err)
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
			if err := maps.AddRoute(s.index, p); err != nil {
				errs = append(errs, err)
				continue
			}
			s.routes[p] = true
		}
	}
	for p := range s.routes {
		if !wantR[p] {
			r := &netlink.Route{LinkIndex: s.index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
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

func hostAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, a.BitLen()))}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddSession gives a session's address a host route with its MTU when
// that is below pppoe0's.
func (h *Host) AddSession(a netip.Addr, mtu int) error {
	if a.IsValid() && mtu > 0 && mtu < h.mtu {
		return maps.AddHostRoute(h.index, a, mtu)
	}
	return nil
}

// RemoveSession undoes AddSession.
func (h *Host) RemoveSession(a netip.Addr, mtu int) error {
	if a.IsValid() && mtu > 0 && mtu < h.mtu {
		return maps.DelHostRoute(h.index, a)
	}
	return nil
}

// DataPlane wraps the server's data plane so that sessions' routes follow
// their entries.
func (h *Host) DataPlane(dp session.DataPlane) session.DataPlane {
	return dataPlane{DataPlane: dp, h: h}
}

type dataPlane struct {
	session.DataPlane
	h *Host
}

type handle struct {
	inner session.Handle
	addr  netip.Addr
	mtu   int
}

func (d dataPlane) Install(e session.Entry) (session.Handle, error) {
	in, err := d.DataPlane.Install(e)
	if err != nil {
		return nil, err
	}
	if err := d.h.AddSession(e.IPv4, int(e.MTU)); err != nil {
		d.DataPlane.Remove(in)
		return nil, err
	}
	return handle{inner: in, addr: e.IPv4, mtu: int(e.MTU)}, nil
}

func (d dataPlane) Remove(h session.Handle) error {
	hh := h.(handle)
	return errors.Join(d.h.RemoveSession(hh.addr, hh.mtu), d.DataPlane.Remove(hh.inner))
}

func (d dataPlane) Stats(h session.Handle) (session.Stats, error) {
	return d.DataPlane.Stats(h.(handle).inner)
}
