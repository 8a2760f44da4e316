package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Device is a network device created by this package.
type Device struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
}

// CreatePPPoE0 creates the slow-path device: a veth pair (name and peer),
// both up, name with ARP off (routes to subscribers never wait for a
// neighbour) and the given MTU, which makes the kernel fragment or send
// ICMP Fragmentation Needed for larger packets to subscribers. Call
// SetPPPoE0 and AttachPPPoE0 with the result.
func CreatePPPoE0(name, peer string, mtu int) (*Device, error) {
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu},
		PeerName:  peer,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("maps: create %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetARPOff(l)
	}
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err == nil {
		var p netlink.Link
		if p, err = netlink.LinkByName(peer); err == nil {
			if err = netlink.LinkSetMTU(p, mtu); err == nil {
				err = netlink.LinkSetUp(p)
			}
		}
	}
	if err != nil {
		_ = netlink.LinkDel(veth)
		return nil, fmt.Errorf("maps: set up %s: %w", name, err)
	}
	return &Device{Name: name, Index: l.Attrs().Index, MAC: l.Attrs().HardwareAddr}, nil
}

// DeleteDevice removes a device created by CreatePPPoE0 (its peer goes
// with it).
func DeleteDevice(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("maps: delete %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("maps: delete %s: %w", name, err)
	}
	return nil
}

// AddAddress adds an address (e.g. the profile's local-address as a /32)
// to a device.
func AddAddress(ifindex int, p netip.Prefix) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("maps: address %v: %w", p, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("maps: address %v on ifindex %d: %w", p, ifindex, err)
	}
	return nil
}

// AddRoute routes a destination (e.g. an address pool) through a device
// with no gateway, as a ppp interface's routes are.
func AddRoute(ifindex int, dst netip.Prefix) error {
	if !dst.IsValid() {
		return fmt.Errorf("maps: route: %w", errors.New("invalid prefix"))
	}
	dst = dst.Masked()
	r := &netlink.Route{
		LinkIndex: ifindex,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Scope:     netlink.SCOPE_LINK,
	}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("maps: route %v via ifindex %d: %w", dst, ifindex, err)
	}
	return nil
}
