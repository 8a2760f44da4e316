package client

import (
	"net"
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Deps are what a Client needs from the system. Each is a small interface so
// that unit tests run without a kernel; the daemon adapts maps, netlink and
// AF_PACKET to them.
type Deps struct {
	// Interfaces opens the Ethernet side of the client (RouterOS interface).
	Interfaces Interfaces
	// DataPlane creates the client netdev and installs the session into
	// the BPF data path.
	DataPlane DataPlane
	// Routes adds the address and routes on the client netdev.
	Routes Routes
	// DNS receives the peer's DNS servers when use-peer-dns is set; nil
	// drops them (the monitor still shows them).
	DNS DNS
	// Pools receives the dynamic /ipv6 pools made from delegated
	// prefixes (/ipv6 dhcp-client pool-name); nil keeps them to the
	// client's status only. Manager fills it in when nil.
	Pools *PrefixPools
	// Timing overrides timers so tests run fast; zero fields take the
	// defaults.
	Timing Timing
	// State keeps each session's record, from which a restarted pppoed
	// takes it over (adopt.go), with handles from IDs (shared with the
	// access concentrator's sessions); nil either: no records.
	State Journal
	IDs   *psession.IDs
}

// Timing holds the client's timers. Zero fields take the defaults noted.
type Timing struct {
	// DiscoveryTimeout and DiscoveryMaxTimeout are the first and the
	// largest wait for a PADO or PADS (RFC 2516 §5.1); defaults
	// pppoe.DefaultClientTimeout and pppoe.DefaultClientMaxTimeout.
	DiscoveryTimeout, DiscoveryMaxTimeout time.Duration
	// DiscoveryLimit bounds one whole discovery attempt, after which the
	// client reports the failure and backs off; default 30s.
	DiscoveryLimit time.Duration
	// Restart is the RFC 1661 §4.6 Restart timer; default 3s.
	Restart time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff, doubled
	// after every failed attempt; defaults 1s and 60s.
	ReconnectMin, ReconnectMax time.Duration
	// EchoInterval is the period of Echo-Requests once keepalive-timeout
	// of silence has passed; default 1s (RouterOS sends one every
	// second), and at most keepalive-timeout/2.
	EchoInterval time.Duration
	// CloseTimeout bounds the wait for the AC's Terminate-Ack when the
	// client is stopped; default 3s.
	CloseTimeout time.Duration
}

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.DiscoveryTimeout, pppoe.DefaultClientTimeout)
	def(&t.DiscoveryMaxTimeout, pppoe.DefaultClientMaxTimeout)
	def(&t.DiscoveryLimit, 30*time.Second)
	def(&t.Restart, 3*time.Second)
	def(&t.ReconnectMin, time.Second)
	def(&t.ReconnectMax, 60*time.Second)
	def(&t.EchoInterval, time.Second)
	def(&t.CloseTimeout, 3*time.Second)
	if t.ReconnectMax < t.ReconnectMin {
		t.ReconnectMax = t.ReconnectMin
	}
	return t
}

// Conn carries the PPPoE discovery and PPP control frames of one Ethernet
// interface (RFC 2516 §4). *afpacket.Conn and *Port satisfy it.
type Conn interface {
	pppoe.FrameConn
	SetReadDeadline(t time.Time) error
	Close() error
}

// Attachment is a client's Ethernet side: its frames and its identity on
// the wire.
type Attachment struct {
	// Conn is this client's view of the interface's control frames. A
	// client closes it when it stops.
	Conn Conn
	// Ifindex is the Ethernet interface (the parent, for a VLAN).
	Ifindex int
	// MAC is the client's address, the source of its frames.
	MAC net.HardwareAddr
	// VLANs are the tags of the configured interface, outermost first
	// (RouterOS /interface vlan; never a kernel VLAN device).
	VLANs []ethernet.VLAN
	// Lost is closed when the attachment stops working for good (its
	// interface was deleted, or its socket failed): the client then lets
	// go of it and attaches again, waiting for the interface if need be.
	// nil: never.
	Lost <-chan struct{}
}

// Interfaces opens the Ethernet side of a client by its RouterOS interface
// name. Several clients may attach to one interface: each gets its own
// Conn seeing every frame (see Mux), and Host-Uniq and the session id keep
// them apart (RFC 2516 Appendix A).
type Interfaces interface {
	Attach(name string) (Attachment, error)
}

// DataPlane creates the client netdevs, named after the clients (RouterOS
// name, e.g. pppoe-out1): the kernel routes through them and BPF moves
// their packets to and from the Ethernet interface, encapsulated in the
// session (RFC 2516 §6).
type DataPlane interface {
	// Netdev creates the netdev name with the given MTU, or takes over one
	// left by an earlier run.
	Netdev(name string, mtu int) (Netdev, error)
}

// Netdev is one client's netdev and its place in the data path.
type Netdev interface {
	// Ifindex is the netdev's interface index, for addresses and routes.
	Ifindex() int
	// Install starts forwarding between the netdev and the session.
	Install(s Session) error
	// Remove stops forwarding; traffic into the netdev is then dropped,
	// and reported on Demand.
	Remove() error
	// Stats returns the installed session's counters.
	Stats() (Stats, error)
	// Demand is signalled (without blocking, coalesced) when a packet
	// enters the netdev while no session is installed: dial-on-demand.
	// A data plane that cannot tell returns nil and dial-on-demand then
	// dials at once.
	Demand() <-chan struct{}
	// Close removes the session, if any, and deletes the netdev.
	Close() error
}

// Session is what the data plane needs to carry one client session.
type Session struct {
	// Ifindex, VLANs, LocalMAC: where the session's frames go out and
	// come in.
	Ifindex  int
	VLANs    []ethernet.VLAN
	LocalMAC net.HardwareAddr
	// ACMAC and SessionID identify the session (RFC 2516 §4).
	ACMAC     net.HardwareAddr
	SessionID uint16
	// Local and Remote are the IPCP addresses (RFC 1332 §3.3): frames
	// decapsulated into the netdev come from Remote's side, packets
	// leaving it carry Local as their source. Both are zero when IPv6CP
	// installed the session (IPCP not open); IPCP opening later leaves
	// the installed session as it is: nothing in the data plane depends
	// on them.
	Local, Remote netip.Addr
	// MTU is the largest IP packet sent into the session (the peer's
	// MRU), MRU the largest we accept (RFC 1661 §6.1).
	MTU, MRU uint16
	// MSS is the TCP MSS clamp for SYNs both ways: MTU minus 40, or
	// with multilink up the MRRU's (lcp.Multilink.ClampUnit).
	MSS uint16
	// MP is the session's multilink: with it on, the netdev's MTU is
	// MP.MRRU (Session.RouteMTU).
	MP psession.MP
	// RateLimit is the client's profile's rate-limit, in the client
	// router's directions: Rx what the AC sends us, Tx what we send it.
	RateLimit ratelimit.Limit
}

// RouteMTU is the netdev's MTU for s: the AC's MRRU when multilink is up
// and larger than the link's MTU, else the MTU.
func (s Session) RouteMTU() uint16 {
	return psession.Entry{MTU: s.MTU, MP: s.MP}.RouteMTU()
}

// MPNetdev is a Netdev that runs multilink's user-space half: a client
// offers its mrru only when its netdev is one.
type MPNetdev interface {
	Netdev
	// Inject hands the kernel one packet the session reassembled, as if
	// it had come from the AC into the netdev.
	Inject(proto ppp.Protocol, packet []byte) error
	// Divert sends the packets the data plane diverts from the installed
	// session, for being over its MTU, to to (from another goroutine);
	// nil stops them (before Remove).
	Divert(to func(proto ppp.Protocol, packet []byte))
}

// Stats are one session's data-plane counters.
type Stats struct {
	// PacketsIn, BytesIn count what came from the AC into the netdev;
	// PacketsOut, BytesOut what left the netdev for the AC.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// LastSeen is the CLOCK_MONOTONIC time of the last packet from the AC,
	// 0 if none. Only its changes matter to the keepalive.
	LastSeen time.Duration
}

// Routes changes addresses and routes; the daemon adapts netlink to it.
type Routes interface {
	AddAddress(a Address) error
	DelAddress(a Address) error
	AddRoute(r Route) error
	DelRoute(r Route) error
}

// Address is a point-to-point address on a netdev: local/32 with a peer,
// as pppd puts IPCP's addresses on a ppp interface; or, without a peer,
// Local/Bits, as SLAAC puts local/64 from a Router Advertisement's prefix
// (RFC 4862 §5.5.3).
type Address struct {
	Ifindex     int
	Local, Peer netip.Addr
	// Bits is the prefix length of an address without a peer.
	Bits int
}

// IPv6Host is implemented by a Routes whose netdevs the kernel would
// otherwise configure for IPv6 on its own: the client speaks Router
// Discovery and DHCPv6 itself, over the session (ipv6.go).
type IPv6Host interface {
	// PrepareIPv6 stops the kernel's own autoconfiguration on the netdev
	// (no Router Solicitations, no addresses from Router Advertisements,
	// no link-local address made from the netdev's MAC).
	PrepareIPv6(ifindex int) error
}

// Route is a route through a netdev.
type Route struct {
	Ifindex int
	Dst     netip.Prefix
	// Gateway is the next hop, invalid for a device route.
	Gateway netip.Addr
	// Metric is the route's priority (RouterOS distance).
	Metric int
}

// DNS receives the peer's DNS servers (RFC 1877) of each client with
// use-peer-dns; servers nil withdraws them.
type DNS interface {
	SetServers(client string, servers []netip.Addr) error
}
