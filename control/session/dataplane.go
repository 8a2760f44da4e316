package session

import (
	"net"
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// Entry is what the data plane needs to forward one session's traffic.
type Entry struct {
	// Circuit is the access interface, VLAN tags and client MAC.
	Circuit pppoe.Circuit
	// SessionID is the PPPoE SESSION_ID (RFC 2516 §4).
	SessionID uint16
	// ACMAC is our MAC address towards the client.
	ACMAC net.HardwareAddr
	// IPv4 is the address IPCP gave the client (RFC 1332 §3.3); the zero
	// Addr while IPCP is not open (an IPv6-only session, or IPCP closed
	// with IPv6CP still open): then the data plane forwards the
	// session's IPv6 only.
	IPv4 netip.Addr
	// MTU is the largest IP packet sent down the session: the client's
	// MRU as negotiated (RFC 1661 §6.1).
	MTU uint16
	// MSS is the TCP MSS to clamp SYNs to, MTU − 40 when the profile's
	// change-tcp-mss is yes (with MP up, the MRRU's: see
	// lcp.Multilink.ClampUnit); 0 for no clamping.
	MSS uint16
	// MP is the session's multilink, zero when off.
	MP MP
	// RateLimit is the session's rate-limit (rx: from the client), the
	// download shaped rather than policed if ShapeTx.
	RateLimit ratelimit.Limit
	ShapeTx   bool
	// Routes are the IPv4 prefixes routed to the session besides its
	// address (RADIUS Framed-Route, RFC 2865 §5.22): a customer's LAN.
	Routes []netip.Prefix
}

// Stats are a session's data-plane counters.
type Stats struct {
	PacketsUp, BytesUp     uint64 // from the client
	PacketsDown, BytesDown uint64 // towards the client
	Drops                  uint64
	// ReassemblyDrops counts what multilink reassembly dropped
	// (MPLink.Drops), MPDrops the same by reason.
	ReassemblyDrops uint64
	MPDrops         MPDrops
	// RateDropsUp and RateDropsDown are packets the session's rate limit
	// dropped, from and towards the client.
	RateDropsUp, RateDropsDown uint64
	// LastSeen is the data plane's timestamp of the newest packet from the
	// client, on the data plane's own clock: only its changes matter.
	LastSeen time.Duration
}

// Add returns the counts of s and o summed and the later LastSeen (one
// clock serves every install).
func (s Stats) Add(o Stats) Stats {
	return Stats{
		PacketsUp: s.PacketsUp + o.PacketsUp, BytesUp: s.BytesUp + o.BytesUp,
		PacketsDown: s.PacketsDown + o.PacketsDown, BytesDown: s.BytesDown + o.BytesDown,
		Drops: s.Drops + o.Drops, ReassemblyDrops: s.ReassemblyDrops + o.ReassemblyDrops, MPDrops: s.MPDrops.Add(o.MPDrops),
		LastSeen:    max(s.LastSeen, o.LastSeen),
		RateDropsUp: s.RateDropsUp + o.RateDropsUp, RateDropsDown: s.RateDropsDown + o.RateDropsDown,
	}
}

// counts are the data plane's part of Stats (it counts no multilink
// reassembly), what a Session keeps per install: half a Stats, so the
// Session stays in its allocation size class (TestFootprint).
type counts struct {
	packetsUp, bytesUp, packetsDown, bytesDown, drops uint64
	rateDropsUp, rateDropsDown                        uint64
	lastSeen                                          time.Duration
}

func countsOf(s Stats) counts {
	return counts{s.PacketsUp, s.BytesUp, s.PacketsDown, s.BytesDown, s.Drops, s.RateDropsUp, s.RateDropsDown, s.LastSeen}
}

func (c counts) stats() Stats {
	return Stats{PacketsUp: c.packetsUp, BytesUp: c.bytesUp, PacketsDown: c.packetsDown, BytesDown: c.bytesDown,
		Drops: c.drops, RateDropsUp: c.rateDropsUp, RateDropsDown: c.rateDropsDown, LastSeen: c.lastSeen}
}

// Handle is what the data plane gave back for an installed entry, opaque to
// the session and handed back to Remove and Stats.
type Handle any

// DataPlane installs, updates and removes sessions in the forwarding path (the BPF
// maps in production, a recorder in tests). Implementations are safe for
// concurrent use.
type DataPlane interface {
	Install(e Entry) (Handle, error)
	// Update rewrites the live entry of h as e in place (same key, same
	// counters), every copy the forwarding path reads at once, and returns
	// the handle to use from now on; on error the old entry stays.
	Update(h Handle, e Entry) (Handle, error)
	Remove(h Handle) error
	Stats(h Handle) (Stats, error)
}

// QueueDropper is implemented by a DataPlane whose shaper queues some
// sessions' downloads outside the BPF (an HTB class each), where what the
// queue drops never reaches Stats. QueueDrops reads them for every such
// session at once (one read per interface, not per session: for a print,
// never on the keepalive path) and returns the drops of the session
// installed as h, 0 for a session it does not queue.
type QueueDropper interface {
	QueueDrops() (func(h Handle) uint64, error)
}

// IPv6DataPlane is implemented by a DataPlane that forwards IPv6: the
// session's link /64 and delegated prefixes hang off its installed entry
// (h from Install or Update), which the first network protocol to open
// installs, IPCP or IPv6CP, with or without an IPv4 address. Update
// keeps them; Remove takes them with it.
type IPv6DataPlane interface {
	// SetIPv6LinkPrefix gives the session its link /64, or takes it away
	// when p is the zero Prefix.
	SetIPv6LinkPrefix(h Handle, p netip.Prefix) error
	// AddIPv6Prefix routes a delegated prefix to the session.
	AddIPv6Prefix(h Handle, p netip.Prefix) error
	// RemoveIPv6Prefix takes a delegated prefix away.
	RemoveIPv6Prefix(h Handle, p netip.Prefix) error
}
