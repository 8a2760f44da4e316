package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Device is a network device created by this package: one end of a veth
// pair that the kernel routes into, and its peer, where the TC program
// that encapsulates those packets runs.
type Device struct {
	Name      string
	Index     int
	MAC       net.HardwareAddr
	PeerIndex int // the veth peer's ifindex (same namespace)
}

// CreatePPPoE0 creates the slow-path device: a veth pair (name and peer),
// both up, name with ARP off (routes to subscribers never wait for a
// neighbour) and the given MTU. Set the MTU to the largest session MTU the
// server allows; sessions with a smaller one need a host route carrying
// theirs (control/pppoe0) so the kernel fragments or sends ICMP
// Fragmentation Needed (RFC 1191) for them.
//
// GSO is limited to one segment (gso_max_segs 1), so TCP from the box
// itself sends MTU-sized packets and the veth's xmit path segments any GSO
// skb (e.g. forwarded GRO aggregates) before tc_pppoe0_out sees it on the
// peer: a PPPoE header can only be put on a single packet.
// Call SetPPPoE0 and AttachPPPoE0 with the result.
func CreatePPPoE0(name, peer string, mtu int) (*Device, error) {
	return createVeth(name, peer, mtu)
}

func createVeth(name, peer string, mtu int) (*Device, error) {
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, GSOMaxSegs: 1},
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
		// Older kernels ignore IFLA_GSO_MAX_SEGS at creation.
		err = netlink.LinkSetGSOMaxSegs(l, 1)
	}
	if err == nil {
		err = noIPv6LinkLocal(l)
	}
	if err == nil {
		err = txChecksumOff(name)
	}
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err == nil {
		var p netlink.Link
		if p, err = netlink.LinkByName(peer); err == nil {
			err = netlink.LinkSetMTU(p, mtu)
			if err == nil {
				err = noIPv6LinkLocal(p)
			}
			if err == nil {
				err = netlink.LinkSetUp(p)
			}
		}
	}
	if err != nil {
		_ = netlink.LinkDel(veth)
		return nil, fmt.Errorf("maps: set up %s: %w", name, err)
	}
	return LookupDevice(name)
}

// noIPv6LinkLocal sets IFLA_INET6_ADDR_GEN_MODE to none before the link
// goes up, so it gets no fe80:: address (RFC 4291 §2.5.6) and the kernel
// sends no router solicitations (RFC 4861 §6.3.7), MLD reports (RFC 3810)
// or DAD probes from it: a ppp interface says nothing on its own either,
// and on pppoe0 that chatter would only be dropped as unknown_dest.
// Addresses added later (AddAddress) and IPv6 forwarding are unaffected.
// A kernel without IPv6 has nothing to silence.
func noIPv6LinkLocal(l netlink.Link) error {
	err := netlink.LinkSetIP6AddrGenMode(l, nl.IN6_ADDR_GEN_MODE_NONE)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("addr_gen_mode none: %w", err)
	}
	return nil
}

// txChecksumOff turns transmit checksum offload off on the device the kernel
// routes into, so every packet leaves it with complete checksums, as from a
// ppp interface, which has no offloads. Otherwise a veth hands its peer
// CHECKSUM_PARTIAL packets; once encapsulated they may cross an XDP
// redirect (on a veth link to the peer, for one), which drops the
// "checksum still to do" state and delivers a wrong checksum. TSO goes with
// it, which gso_max_segs 1 already stood for.
func txChecksumOff(name string) error {
	if err := SetTxChecksum(name, false); err != nil {
		return fmt.Errorf("tx checksum off: %w", err)
	}
	return nil
}

// SetTxChecksum turns transmit checksum offload on or off on a device in
// the calling thread's namespace (ethtool -K name tx on|off).
func SetTxChecksum(name string, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	_, err := ethtoolValue(name, unix.ETHTOOL_STXCSUM, v)
	return err
}

// LookupDevice returns a device made by CreatePPPoE0 or CreateClientDevice,
// e.g. one left by an earlier run.
func LookupDevice(name string) (*Device, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("maps: device %s: %w", name, err)
	}
	return deviceOf(l)
}

func deviceOf(l netlink.Link) (*Device, error) {
	a := l.Attrs()
	if l.Type() != "veth" || a.ParentIndex <= 0 {
		return nil, fmt.Errorf("maps: device %s: not a veth with a peer in this namespace", a.Name)
	}
	return &Device{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr, PeerIndex: a.ParentIndex}, nil
}

// DeleteDevice removes a device created by CreatePPPoE0 or
// CreateClientDevice (its peer goes with it).
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

func setMTU(ifindex, mtu int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(l, mtu)
}
