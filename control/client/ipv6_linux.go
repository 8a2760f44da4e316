package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// PrepareIPv6 implements IPv6Host. The netdev is a veth: left alone, the
// kernel would give it fe80:: from its MAC and send Router Solicitations
// from it (the data plane keeps the AC's link-local and multicast IPv6,
// RAs included, for the control plane, so none would be answered). The
// client does Router Discovery over the session itself, with its IPv6CP
// identifier, as pppd leaves it to its own ipv6cp.
func (NetlinkRoutes) PrepareIPv6(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("client: netlink: netdev %d: %w", ifindex, err)
	}
	name := l.Attrs().Name
	for _, kv := range [][2]string{{"accept_ra", "0"}, {"autoconf", "0"}} {
		p := filepath.Join("/proc/sys/net/ipv6/conf", name, kv[0])
		if err := os.WriteFile(p, []byte(kv[1]), 0o644); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // a kernel without IPv6: nothing to stop
			}
			return fmt.Errorf("client: %s: %w", p, err)
		}
	}
	if err := netlink.LinkSetIP6AddrGenMode(l, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		return fmt.Errorf("client: %s: addr_gen_mode none: %w", name, err)
	}
	// The mode stops new link-local addresses; one made when the netdev
	// came up stays until removed.
	addrs, err := netlink.AddrList(l, unix.AF_INET6)
	if err != nil {
		return fmt.Errorf("client: netlink: %s addresses: %w", name, err)
	}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			if err := netlink.AddrDel(l, &a); err != nil {
				return fmt.Errorf("client: netlink: %s: delete %s: %w", name, a.IPNet, err)
			}
		}
	}
	return nil
}

var _ IPv6Host = NetlinkRoutes{}
