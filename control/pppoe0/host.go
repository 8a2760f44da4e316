// Package pppoe0 keeps the kernel's side of pppoe0, the one device the
// kernel routes subscriber traffic into: the AC's local addresses on it,
// its routes, and the sysctls that make it behave as the point-to-point
// links it stands for.
//
// Routes have one source of truth: the destinations the configuration
// routes to the sessions (the pools' ranges, static remote addresses) and
// the live sessions with their MTUs. Every change (a pool edit, a session
// up or down) recomputes the routes that change touches and applies the
// difference to the kernel, so a session's host route and a pool's /32 at
// the same address are one route, not two that delete each other.
package pppoe0

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Protocol marks the routes pppoed keeps on pppoe0 (rtm_protocol; `ip
// route show proto 33`). It is how a restarted pppoed finds the routes an
// earlier run left, and what keeps it from touching routes on pppoe0 that
// are not its own. 33 (0x21) is IPv4's PPP protocol number (RFC 1332).
const Protocol netlink.RouteProtocol = 0x21

// Host is pppoe0's addresses and routes. Its methods are safe for
// concurrent use; all act in the network namespace New was called in.
type Host struct {
	nl    *netlink.Handle
	index int
	name  string
	log   *zap.Logger

	mu     sync.Mutex
	devMTU int // the device's MTU now; table.devMTU is what it was
	table  table
	routes map[netip.Prefix]int // ours in the kernel: destination → MTU
	addrs  map[netip.Addr]bool  // addresses this Host added
}

// New takes over pppoe0 (by ifindex) in the calling thread's namespace:
// it stops ICMP Redirects on it (see noRedirects) and adopts the routes
// an earlier run left there, which stay until the first SyncPPPoE0
// decides which of them are still wanted, so a restart opens no gap.
func New(ifindex int, log *zap.Logger) (*Host, error) {
	if log == nil {
		log = zap.NewNop()
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("pppoe0: netlink: %w", err)
	}
	l, err := nl.LinkByIndex(ifindex)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("pppoe0: ifindex %d: %w", ifindex, err)
	}
	h := &Host{nl: nl, index: ifindex, name: l.Attrs().Name, log: log, devMTU: l.Attrs().MTU,
		table: newTable(l.Attrs().MTU), addrs: map[netip.Addr]bool{}}
	if h.routes, err = h.kernelRoutes(); err != nil {
		nl.Close()
		return nil, err
	}
	// Not fatal: routing works without it, only hairpin traffic draws
	// redirects (and /proc/sys may be read-only in a container).
	if err := noRedirects(h.name, log); err != nil {
		log.Warn("pppoe0: ICMP redirects stay on", zap.String("iface", h.name), zap.Error(err))
	}
	return h, nil
}

// Close releases the netlink socket; pppoe0's addresses and routes stay
// (SyncPPPoE0(nil, nil) removes them).
func (h *Host) Close() error {
	h.nl.Close()
	return nil
}

// SyncPPPoE0 implements daemon.AccessSystem: pppoe0 gets exactly addrs,
// each as a /32, of the addresses this Host added, and the routes
// derived from routes (the configuration's destinations) and the live
// sessions. The kernel's routes are read first, so routes someone else
// removed come back and none already gone is an error.
func (h *Host) SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	errs := []error{h.syncAddrs(addrs)}
	h.table.setPools(routes)
	errs = append(errs, h.syncRoutes())
	return errors.Join(errs...)
}

// syncRoutes makes the kernel's routes what the table wants, reading them
// first. h.mu held.
func (h *Host) syncRoutes() error {
	var errs []error
	if have, err := h.kernelRoutes(); err != nil {
		errs = append(errs, err)
	} else {
		h.routes = have
	}
	want := h.table.want()
	// Added or changed first, removed last: a session never goes without
	// a route while its pool's prefixes are split up or merged.
	for _, dst := range sortedKeys(want) {
		if have, ok := h.routes[dst]; !ok || have != want[dst] {
			errs = append(errs, h.replace(dst, want[dst]))
		}
	}
	for _, dst := range sortedKeys(h.routes) {
		if _, ok := want[dst]; !ok {
			errs = append(errs, h.remove(dst))
		}
	}
	return errors.Join(errs...)
}

// Update is SyncPPPoE0 for one change of the configuration: pppoe0 gains
// addAddrs and loses delAddrs, and the configuration's destinations gain
// addRoutes and lose delRoutes. Only the routes those decide are touched
// (with the host routes of the sessions inside a pool prefix that came or
// went), so a change to one secret of 100,000 costs one route, not a walk
// of them all. Removing an address costs what SyncPPPoE0 does: the kernel
// flushes a device's routes with its last address, so they are read back.
func (h *Host) Update(addAddrs, delAddrs []netip.Addr, addRoutes, delRoutes []netip.Prefix) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: h.index}}
	for _, a := range delAddrs {
		if !h.addrs[a] {
			continue
		}
		if err := h.nl.AddrDel(l, hostAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("pppoe0: delete address %v: %w", a, err))
			continue
		}
		delete(h.addrs, a)
	}
	for _, a := range addAddrs {
		if err := h.nl.AddrReplace(l, hostAddr(a)); err != nil {
			errs = append(errs, fmt.Errorf("pppoe0: address %v: %w", a, err))
			continue
		}
		h.addrs[a] = true
	}
	var touched []netip.Prefix
	for _, p := range delRoutes {
		h.table.removePool(p)
		touched = append(touched, p.Masked())
	}
	for _, p := range addRoutes {
		h.table.addPool(p)
		touched = append(touched, p.Masked())
	}
	if len(delAddrs) > 0 {
		// The kernel flushes a device's routes with its last address:
		// put right whatever went, as SyncPPPoE0 does.
		return errors.Join(append(errs, h.syncRoutes())...)
	}
	hosts := map[netip.Addr]bool{}
	for _, dst := range touched {
		if !dst.IsValid() || !dst.Addr().Is4() {
			continue
		}
		if dst.Bits() == 32 {
			hosts[dst.Addr()] = true
			continue
		}
		errs = append(errs, h.syncPrefix(dst))
		// A session there may now need a host route, or no longer.
		for a := range h.table.sessions {
			if dst.Contains(a) {
				hosts[a] = true
			}
		}
	}
	for _, a := range sortedKeys(hosts) {
		errs = append(errs, h.syncHost(a))
	}
	return errors.Join(errs...)
}

// CarryMTU makes pppoe0 carry packets up to mtu, a multilink session's
// MRRU: the kernel must hand the data plane packets that size to fragment
// and take the reassembled ones injected into it. set raises the device's
// MTU (and its veth peer's); the MTU is never lowered. Routes that had
// the device's MTU (pools, sessions at it) get the old one explicitly, so
// sessions without multilink are sent nothing larger than before.
func (h *Host) CarryMTU(mtu int, set func(mtu int) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if mtu <= h.devMTU {
		return nil
	}
	if err := set(mtu); err != nil {
		return fmt.Errorf("pppoe0: MTU %d for multilink: %w", mtu, err)
	}
	h.devMTU = mtu
	var errs []error
	for dst, m := range h.routes {
		if m == 0 {
			errs = append(errs, h.replace(dst, 0))
		}
	}
	h.log.Info("pppoe0 MTU raised for multilink", zap.String("iface", h.name), zap.Int("mtu", mtu))
	return errors.Join(errs...)
}

// AddSession routes a session's address through pppoe0 as the table
// wants: with its MTU if that is below pppoe0's, without one if no pool
// covers it. Each call is undone by one RemoveSession with the same
// arguments. Addresses other than IPv4 need nothing.
func (h *Host) AddSession(a netip.Addr, mtu int) error {
	if !a.Is4() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.table.addSession(a, mtu)
	if err := h.syncHost(a); err != nil {
		h.table.removeSession(a, mtu)
		return err
	}
	return nil
}

// RemoveSession undoes AddSession: a's route becomes what the remaining
// sessions and the pools want, the pool's own /32 if there is one.
func (h *Host) RemoveSession(a netip.Addr, mtu int) error {
	if !a.Is4() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.table.removeSession(a, mtu) {
		return nil
	}
	return h.syncHost(a)
}

// AddRoutes routes prefixes to a session through pppoe0 (RADIUS
// Framed-Route: a customer's LAN behind the subscriber), with the
// session's MTU as AddSession routes its address. Each call is undone by
// one RemoveRoutes with the same arguments; prefixes other than IPv4 are
// left out. On error none is added.
func (h *Host) AddRoutes(ps []netip.Prefix, mtu int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			continue
		}
		h.table.addFramed(p, mtu)
		if err := h.syncPrefix(p.Masked()); err != nil {
			for _, q := range ps[:i+1] {
				if q.IsValid() && q.Addr().Is4() && h.table.removeFramed(q, mtu) {
					_ = h.syncPrefix(q.Masked())
				}
			}
			return err
		}
	}
	return nil
}

// RemoveRoutes undoes AddRoutes: each prefix's route becomes what the
// remaining sessions and the configuration want, none if nothing does.
func (h *Host) RemoveRoutes(ps []netip.Prefix, mtu int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if p.IsValid() && p.Addr().Is4() && h.table.removeFramed(p, mtu) {
			errs = append(errs, h.syncPrefix(p.Masked()))
		}
	}
	return errors.Join(errs...)
}

// syncHost makes a's /32 what the table wants. h.mu held.
func (h *Host) syncHost(a netip.Addr) error { return h.syncPrefix(netip.PrefixFrom(a, 32)) }

// syncPrefix makes dst's route what the table wants. h.mu held.
func (h *Host) syncPrefix(dst netip.Prefix) error {
	want, ok := h.table.route(dst)
	have, had := h.routes[dst]
	switch {
	case ok && (!had || have != want):
		return h.replace(dst, want)
	case !ok && had:
		return h.remove(dst)
	}
	return nil
}

func (h *Host) route(dst netip.Prefix, mtu int) *netlink.Route {
	if mtu == 0 && h.devMTU != h.table.devMTU {
		// CarryMTU raised the device: what had its MTU keeps it.
		mtu = h.table.devMTU
	}
	return &netlink.Route{
		LinkIndex: h.index,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
		Scope:     netlink.SCOPE_LINK,
		Protocol:  Protocol,
		Table:     unix.RT_TABLE_MAIN,
		MTU:       mtu,
	}
}

// replace sets dst's route; a route to dst that is not ours (same
// destination, metric and table) is taken over, as the kernel replaces
// by those. h.mu held.
func (h *Host) replace(dst netip.Prefix, mtu int) error {
	if err := h.nl.RouteReplace(h.route(dst, mtu)); err != nil {
		return fmt.Errorf("pppoe0: route %v mtu %d dev %s: %w", dst, mtu, h.name, err)
	}
	h.routes[dst] = mtu
	h.log.Debug("pppoe0 route", zap.Stringer("dst", dst), zap.Int("mtu", mtu))
	return nil
}

// remove deletes our route to dst; one already gone (or replaced by
// someone else's, which the protocol tells apart) is no error. h.mu held.
func (h *Host) remove(dst netip.Prefix) error {
	r := h.route(dst, 0)
	r.MTU = 0 // the kernel matches a delete's metrics: none matches any
	err := h.nl.RouteDel(r)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pppoe0: delete route %v dev %s: %w", dst, h.name, err)
	}
	delete(h.routes, dst)
	h.log.Debug("pppoe0 route removed", zap.Stringer("dst", dst))
	return nil
}

// kernelRoutes returns our routes on pppoe0 as the kernel has them.
func (h *Host) kernelRoutes() (map[netip.Prefix]int, error) {
	rs, err := h.nl.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: h.index, Protocol: Protocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("pppoe0: routes on %s: %w", h.name, err)
	}
	out := make(map[netip.Prefix]int, len(rs))
	for _, r := range rs {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if r.Dst != nil {
			a, _ := netip.AddrFromSlice(r.Dst.IP.To4())
			bits, _ := r.Dst.Mask.Size()
			dst = netip.PrefixFrom(a, bits)
		}
		mtu := r.MTU
		if mtu == h.table.devMTU && h.devMTU != h.table.devMTU {
			mtu = 0 // CarryMTU made the device's MTU explicit (see route)
		}
		out[dst] = mtu
	}
	return out, nil
}

// syncAddrs makes pppoe0 carry exactly addrs of those this Host added.
// Replace, not add: a pppoe0 left by an earlier run may hold them. h.mu
// held.
func (h *Host) syncAddrs(addrs []netip.Addr) error {
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: h.index}}
	var errs []error
	want := map[netip.Addr]bool{}
	for _, a := range addrs {
		want[a] = true
		if !h.addrs[a] {
			if err := h.nl.AddrReplace(l, hostAddr(a)); err != nil {
				errs = append(errs, fmt.Errorf("pppoe0: address %v: %w", a, err))
				continue
			}
			h.addrs[a] = true
		}
	}
	for _, a := range sortedKeys(h.addrs) {
		if want[a] {
			continue
		}
		if err := h.nl.AddrDel(l, hostAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("pppoe0: delete address %v: %w", a, err))
			continue
		}
		delete(h.addrs, a)
	}
	return errors.Join(errs...)
}

func hostAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}
}

// sortedKeys orders a map's keys, so that changes happen (and errors
// read) in address order.
func sortedKeys[K interface {
	comparable
	Compare(K) int
}, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, K.Compare)
	return ks
}
