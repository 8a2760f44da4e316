package pppoe0

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// AddIPv6Prefix routes a session's IPv6 prefix (its link /64 or a
// delegated prefix) through pppoe0, so what the fast path leaves to the
// kernel (pppoe0 → tc_pppoe0_out) reaches the session as IPv4 does. The
// data plane refuses a prefix two sessions would share, so each has one
// owner and needs no counting. The kernel forwards IPv6 to it only with
// net.ipv6.conf.all.forwarding=1, which is the operator's (README).
//
// mtu is the session's route MTU (session.Entry.RouteMTU), 0 for
// pppoe0's own: as for IPv4, the kernel answers Packet Too Big from it
// for what the session cannot carry, and hands the data plane packets up
// to an MP session's MRRU to fragment but no larger, whatever pppoe0's
// MTU (CarryMTU raises it for the largest MRRU in use). Adding a prefix
// again replaces its route (a new MTU).
func (h *Host) AddIPv6Prefix(p netip.Prefix, mtu int) error {
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("pppoe0: %v is not an IPv6 prefix", p)
	}
	p = p.Masked()
	r := h.route6(p)
	r.MTU = mtu
	if err := h.nl.RouteReplace(r); err != nil {
		return fmt.Errorf("pppoe0: route %v mtu %d dev %s: %w", p, mtu, h.name, err)
	}
	h.log.Debug("pppoe0 route", zap.Stringer("dst", p), zap.Int("mtu", mtu))
	return nil
}

// RemoveIPv6Prefix undoes AddIPv6Prefix; a route already gone is no error.
func (h *Host) RemoveIPv6Prefix(p netip.Prefix) error {
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("pppoe0: %v is not an IPv6 prefix", p)
	}
	p = p.Masked()
	if err := h.nl.RouteDel(h.route6(p)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pppoe0: delete route %v dev %s: %w", p, h.name, err)
	}
	h.log.Debug("pppoe0 route removed", zap.Stringer("dst", p))
	return nil
}

func (h *Host) route6(dst netip.Prefix) *netlink.Route {
	return &netlink.Route{
		LinkIndex: h.index,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 128)},
		Scope:     netlink.SCOPE_UNIVERSE, // IPv6 routes have no link scope of their own
		Protocol:  Protocol,
		Table:     unix.RT_TABLE_MAIN,
	}
}
