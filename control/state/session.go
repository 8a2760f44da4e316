package state

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Role is which end of the PPPoE session this box is.
type Role string

const (
	RoleServer Role = "server" // access concentrator (/interface pppoe-server)
	RoleClient Role = "client" // client (/interface pppoe-client)
)

// Phase is how far a session had got when its record was written.
type Phase string

const (
	// PhaseStarting: discovery done (PADS sent or received), LCP, auth or
	// IPCP still in flight. Nothing of it is in the data plane; a new run
	// cannot resume the negotiation, so it sweeps the session (PADT,
	// session id and address freed) and the subscriber retries.
	PhaseStarting Phase = "starting"
	// PhaseUp: IPCP opened and the session installed in the data plane:
	// what a new run adopts.
	PhaseUp Phase = "up"
)

// MAC is an Ethernet address that reads and writes as "aa:bb:cc:dd:ee:ff".
type MAC [6]byte

// HardwareAddr returns m as a net.HardwareAddr.
func (m MAC) HardwareAddr() net.HardwareAddr { return net.HardwareAddr(m[:]) }

func (m MAC) String() string { return m.HardwareAddr().String() }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	hw, err := net.ParseMAC(string(b))
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("MAC %q: want six bytes", b)
	}
	copy(m[:], hw)
	return nil
}

// VLAN is one 802.1Q/802.1ad tag, outermost first in Interface.VLANs.
type VLAN struct {
	TPID uint16 `json:"tpid"`
	ID   uint16 `json:"id"`
}

// Interface is where a session runs: the names are what the
// configuration says, the ifindex what the data plane keys it by (an
// interface deleted and created again has a new one).
type Interface struct {
	// Name is the configured interface (a /interface vlan name for a
	// tagged server); Parent the physical interface frames go through.
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
	// Ifindex is Parent's (or Name's, untagged) ifindex.
	Ifindex int    `json:"ifindex"`
	VLANs   []VLAN `json:"vlans,omitempty"`
}

// Counters are a session's traffic as of the record, and what accounting
// has reported: a new run goes on from the data plane's live counters
// (they keep counting while no daemon runs) and from Reported for its next
// Interim-Update.
type Counters struct {
	PacketsUp   uint64 `json:"packets_up"`
	BytesUp     uint64 `json:"bytes_up"`
	PacketsDown uint64 `json:"packets_down"`
	BytesDown   uint64 `json:"bytes_down"`
	// Base is what earlier data-plane installs of this session counted
	// (an IPCP renegotiation reinstalls it with zeroed counters): the
	// session's totals are Base plus the live counters.
	Base *Counters `json:"base,omitempty"`
	// LastInterim is when the last Accounting Interim-Update (or Start)
	// went out; zero before accounting started.
	LastInterim time.Time `json:"last_interim,omitzero"`
}

// Session is one session's record: what a new pppoed needs to adopt it
// without a packet to the peer, and to sweep it properly if it cannot.
type Session struct {
	// Handle is the session's 64-bit handle (session.ID): the CLI's .id,
	// the Acct-Session-Id and this record's key.
	Handle uint64 `json:"handle"`
	Role   Role   `json:"role"`
	Phase  Phase  `json:"phase"`
	// SessionID is the PPPoE SESSION_ID (RFC 2516 §4).
	SessionID uint16 `json:"session_id"`
	// PeerMAC is the subscriber's MAC (server) or the AC's (client);
	// LocalMAC ours on the interface.
	PeerMAC  MAC       `json:"peer_mac"`
	LocalMAC MAC       `json:"local_mac"`
	Iface    Interface `json:"interface"`
	// Client is the client's configured name (/interface pppoe-client
	// name, its netdev); "" for a server session.
	Client string `json:"client,omitempty"`
	// MagicLocal and MagicPeer are the LCP Magic-Numbers (RFC 1661
	// §6.4): keepalive resumes with ours and checks the peer's.
	MagicLocal uint32 `json:"magic_local"`
	MagicPeer  uint32 `json:"magic_peer"`
	// MRU and MTU are what LCP negotiated (RFC 1661 §6.1): the MRU we
	// receive, the MTU we send; MSS the clamp installed.
	MRU uint16 `json:"mru"`
	MTU uint16 `json:"mtu"`
	MSS uint16 `json:"mss,omitempty"`
	// User is the authenticated name; Profile the /ppp profile applied;
	// Service the PPPoE Service-Name of the PADR.
	User    string `json:"user,omitempty"`
	Profile string `json:"profile,omitempty"`
	Service string `json:"service,omitempty"`
	// Pool is the /ip pool the peer's address was leased from, "" for a
	// static one: a new run takes the lease out of that pool again.
	Pool string `json:"pool,omitempty"`
	// LocalIPv4 and PeerIPv4 are IPCP's addresses (RFC 1332); DNS what
	// IPCP gave (RFC 1877).
	LocalIPv4 netip.Addr   `json:"local_ipv4,omitzero"`
	PeerIPv4  netip.Addr   `json:"peer_ipv4,omitzero"`
	DNS       []netip.Addr `json:"dns,omitempty"`
	// MPSeq is multilink's next sending sequence number as of the record
	// (RFC 1990 §3), while MP is up: a new run sends on a quarter of the
	// sequence space past it. The other multilink values (MRRUs,
	// short sequence numbers, the peer's endpoint discriminator) are the
	// link's.
	MPSeq uint32 `json:"mp_seq,omitempty"`
	// IPv6 is the session's IPv6 control state while IPv6CP is open, nil
	// otherwise (the interface identifiers are the link's).
	IPv6 *IPv6 `json:"ipv6_control,omitempty"`
	// Started is when the session began (its PADS): uptime goes on from
	// it.
	Started time.Time `json:"started"`
	// Counters and accounting position.
	Counters Counters `json:"counters"`
	// RADIUS is what the session's RADIUS answer carried that it must
	// echo back (Class, RFC 2865 §5.25) or keep applying: RADIUSAttrs
	// is the authorization (aaa.Authorized as JSON: Framed-IP-Address,
	// Framed-Pool, the DNS servers, the IPv6 prefixes and pools) while a
	// network protocol is not open, which gets it after a restart.
	RADIUSClass [][]byte `json:"radius_class,omitempty"`
	RADIUSAttrs []byte   `json:"radius_attrs,omitempty"`
	// SessionTimeout and IdleTimeout as applied, 0 = none;
	// InterimInterval the accounting period, 0 = none.
	SessionTimeout  time.Duration `json:"session_timeout,omitempty"`
	IdleTimeout     time.Duration `json:"idle_timeout,omitempty"`
	InterimInterval time.Duration `json:"interim_interval,omitempty"`
	// RateLimit is the rate limit as applied, in RouterOS's format
	// (control/ratelimit), "" for none; Routes the Framed-Routes: what a
	// RADIUS answer gave, which a new run cannot ask for again.
	RateLimit string         `json:"rate_limit,omitempty"`
	Routes    []netip.Prefix `json:"routes,omitempty"`
	// ChangeTCPMSS is the profile's change-tcp-mss as applied.
	ChangeTCPMSS bool `json:"change_tcp_mss,omitempty"`
	// Link is the PPP link as negotiated (control/ppp/link.Saved,
	// encoded by its owner: LCP's and each opened NCP's acked options
	// and last Identifiers, the multilink values, no secret): a new run
	// restores the link from it without a packet to the peer. Absent,
	// the session cannot be adopted and is swept.
	Link []byte `json:"-"`
	// ClientState is a client session's own state (client.go); nil for
	// a server session.
	ClientState *ClientState `json:"client_state,omitempty"`
}

// IPv6 is what a server session's IPv6 needs to go on in a new process:
// the prefixes routed to it, where they came from, and its DHCPv6
// bindings.
type IPv6 struct {
	// Link is the /64 its Router Advertisements announce (SLAAC), zero
	// for none; it is reserved again in the /ipv6 pool holding it.
	Link netip.Prefix `json:"link,omitzero"`
	// Delegated are the prefixes DHCPv6 delegated, routed to it now.
	Delegated []netip.Prefix `json:"delegated,omitempty"`
	// Fixed is the prefix AAA delegated to this session alone
	// (Delegated-IPv6-Prefix), no pool's; PDPool the /ipv6 pool the
	// others come from ("" for none).
	Fixed  netip.Prefix `json:"fixed,omitzero"`
	PDPool string       `json:"pd_pool,omitempty"`
	// DNS are the IPv6 DNS servers of its RAs (RDNSS) and DHCPv6.
	DNS []netip.Addr `json:"dns,omitempty"`
	// Bindings are the DHCPv6 server's committed bindings.
	Bindings []DHCPv6Binding `json:"bindings,omitempty"`
}

// DHCPv6Binding is one committed IA (RFC 8415 §12): a Renew after a
// restart gets the same prefix.
type DHCPv6Binding struct {
	// DUID is the client's DUID as it sent it; IAID its IA's.
	DUID []byte  `json:"duid"`
	IAID [4]byte `json:"iaid"`
	// PD: an IA_PD (a delegated prefix); else an IA_NA, Prefix a /128.
	PD     bool         `json:"pd,omitempty"`
	Prefix netip.Prefix `json:"prefix"`
	// Fixed: IPv6.Fixed, no pool's.
	Fixed bool `json:"fixed,omitempty"`
	// Expires is when its valid lifetime ends unless renewed.
	Expires time.Time `json:"expires"`
}

// Circuit is the identity the data plane keys the session by.
type Circuit struct {
	Ifindex   int
	OuterVLAN uint16
	InnerVLAN uint16
	SessionID uint16
	PeerMAC   MAC
}

// Circuit returns where the session's frames are matched in the data
// plane: interface, VLAN ids, session id and peer MAC.
func (s *Session) Circuit() Circuit {
	c := Circuit{Ifindex: s.Iface.Ifindex, SessionID: s.SessionID, PeerMAC: s.PeerMAC}
	if len(s.Iface.VLANs) > 0 {
		c.OuterVLAN = s.Iface.VLANs[0].ID
	}
	if len(s.Iface.VLANs) > 1 {
		c.InnerVLAN = s.Iface.VLANs[1].ID
	}
	return c
}
