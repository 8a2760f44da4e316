package client

import (
	"fmt"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// NetlinkRoutes implements Routes with rtnetlink (vishvananda/netlink) in
// the calling thread's network namespace. Routes are added with proto
// "boot" in the main table, like pppd's defaultroute.
type NetlinkRoutes struct{}

// AddAddress puts local/32 with peer on the netdev, as pppd does for a
// point-to-point link (ip addr add local peer remote/32 dev pppoe-out1).
func (NetlinkRoutes) AddAddress(a Address) error {
	if err := netlink.AddrAdd(linkOf(a.Ifindex), nlAddr(a)); err != nil {
		return fmt.Errorf("client: netlink: add address %s peer %s: %w", a.Local, a.Peer, err)
	}
	return nil
}

// DelAddress removes an address AddAddress added.
func (NetlinkRoutes) DelAddress(a Address) error {
	if err := netlink.AddrDel(linkOf(a.Ifindex), nlAddr(a)); err != nil {
		return fmt.Errorf("client: netlink: delete address %s: %w", a.Local, err)
	}
	return nil
}

// AddRoute adds r; an existing identical route is an error, so two clients
// never silently share one.
func (NetlinkRoutes) AddRoute(r Route) error {
	if err := netlink.RouteAdd(nlRoute(r)); err != nil {
		return fmt.Errorf("client: netlink: add route %s dev %d metric %d: %w", r.Dst, r.Ifindex, r.Metric, err)
	}
	return nil
}

// DelRoute deletes r.
func (NetlinkRoutes) DelRoute(r Route) error {
	if err := netlink.RouteDel(nlRoute(r)); err != nil {
		return fmt.Errorf("client: netlink: delete route %s dev %d metric %d: %w", r.Dst, r.Ifindex, r.Metric, err)
	}
	return nil
}

func linkOf(ifindex int) netlink.Link {
	return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}
}

func nlAddr(a Address) *netlink.Addr {
	bits := a.Local.BitLen()
	if !a.Peer.IsValid() {
		// SLAAC's address: no duplicate address detection, the link has
		// two ends and IPv6CP made their identifiers differ (RFC 5072 §5).
		return &netlink.Addr{IPNet: &net.IPNet{IP: a.Local.AsSlice(), Mask: net.CIDRMask(a.Bits, bits)},
			Flags: unix.IFA_F_NODAD}
	}
	return &netlink.Addr{
		IPNet: &net.IPNet{IP: a.Local.AsSlice(), Mask: net.CIDRMask(bits, bits)},
		Peer:  &net.IPNet{IP: a.Peer.AsSlice(), Mask: net.CIDRMask(bits, bits)},
	}
}

func nlRoute(r Route) *netlink.Route {
	dst := r.Dst.Masked()
	nr := &netlink.Route{
		LinkIndex: r.Ifindex,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Priority:  r.Metric,
		Protocol:  unix.RTPROT_BOOT,
		Scope:     unix.RT_SCOPE_LINK,
	}
	if r.Gateway.IsValid() {
		nr.Gw = r.Gateway.AsSlice()
		nr.Scope = unix.RT_SCOPE_UNIVERSE
		// The gateway is the peer of a /32: on-link by construction.
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	return nr
}

// SystemInterfaces implements Interfaces with one AF_PACKET socket per
// Ethernet interface, shared by the clients on it through a Mux.
type SystemInterfaces struct {
	// VLAN resolves a RouterOS /interface vlan name to its parent
	// Ethernet interface and its tags, outermost first; nil, or ok false,
	// means name is an Ethernet interface itself.
	VLAN func(name string) (parent string, vlans []ethernet.VLAN, ok bool)

	mu    sync.Mutex
	muxes map[string]*sharedMux
}

type sharedMux struct {
	mux   *Mux
	users int
}

// Attach implements Interfaces.
func (s *SystemInterfaces) Attach(name string) (Attachment, error) {
	parent, vlans := name, []ethernet.VLAN(nil)
	if s.VLAN != nil {
		if p, v, ok := s.VLAN(name); ok {
			parent, vlans = p, v
		}
	}
	ifi, err := net.InterfaceByName(parent)
	if err != nil {
		return Attachment{}, fmt.Errorf("client: interface %s: %w", parent, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return Attachment{}, fmt.Errorf("client: interface %s: not Ethernet", parent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muxes == nil {
		s.muxes = map[string]*sharedMux{}
	}
	sm := s.muxes[parent]
	if sm == nil {
		conn, err := afpacket.Listen(ifi)
		if err != nil {
			return Attachment{}, fmt.Errorf("client: %w", err)
		}
		sm = &sharedMux{mux: NewMux(conn)}
		s.muxes[parent] = sm
	}
	sm.users++
	port := sm.mux.Port()
	return Attachment{
		Conn:    &releasingPort{Port: port, release: func() { s.release(parent, sm) }},
		Ifindex: ifi.Index,
		MAC:     ifi.HardwareAddr,
		VLANs:   vlans,
	}, nil
}

// release closes an interface's socket when its last client is gone.
func (s *SystemInterfaces) release(parent string, sm *sharedMux) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm.users--
	if sm.users == 0 && s.muxes[parent] == sm {
		delete(s.muxes, parent)
		sm.mux.Close()
	}
}

type releasingPort struct {
	*Port
	once    sync.Once
	release func()
}

func (p *releasingPort) Close() error {
	err := p.Port.Close()
	p.once.Do(p.release)
	return err
}

var _ Routes = NetlinkRoutes{}
