package state

import (
	"net/netip"
	"time"
)

// ClientState is what a client session's record (Role RoleClient) holds
// beyond the fields every record has: what the client put on its netdev
// and in resolv.conf besides IPCP's address and DNS, so that a new run
// takes the session over with all of it kept, and the configuration it
// ran under, so that a changed client is not adopted. Every field is
// optional JSON: a field added later reads as zero from an older record.
type ClientState struct {
	// Config is a digest of what of the client's configuration the
	// session depends on (control/client sessionDigest: interface, user,
	// discovery filters, MTU limits, routes and DNS, the /ipv6
	// dhcp-client, the profile's rate limit) when the record was
	// written: a new run adopts the session only under the same.
	Config string `json:"config"`
	// ACName is the AC-Name of the AC's PADO, for the monitor.
	ACName string `json:"ac_name,omitempty"`
	// SLAAC is the address SLAAC formed from the AC's Router
	// Advertisement (RFC 4862), valid until SLAACUntil.
	SLAAC      netip.Prefix `json:"slaac,omitzero"`
	SLAACUntil time.Time    `json:"slaac_until,omitzero"`
	// RouterUntil is when the IPv6 default route through the AC ends
	// (the RA's router lifetime); zero: no such route.
	RouterUntil time.Time `json:"router_until,omitzero"`
	// RDNSS are the RA's DNS servers (RFC 8106), until RDNSSUntil.
	RDNSS      []netip.Addr `json:"rdnss,omitempty"`
	RDNSSUntil time.Time    `json:"rdnss_until,omitzero"`
	// Lease is the /ipv6 dhcp-client's binding (RFC 8415), nil: none.
	Lease *ClientLease `json:"dhcpv6_lease,omitempty"`
}

// ClientLease is a DHCPv6 client's lease as the client holds it
// (control/ipv6/dhcp6.Lease): a new run renews it at T1 as the old one
// would have.
type ClientLease struct {
	// Server is the server's DUID as it sent it (RFC 8415 §11).
	Server     []byte        `json:"server"`
	ServerAddr netip.Addr    `json:"server_addr,omitzero"`
	Prefix     netip.Prefix  `json:"prefix,omitzero"`
	Address    netip.Addr    `json:"address,omitzero"`
	T1         time.Duration `json:"t1"`
	T2         time.Duration `json:"t2"`
	Preferred  time.Duration `json:"preferred"`
	Valid      time.Duration `json:"valid"`
	Obtained   time.Time     `json:"obtained"`
	DNS        []netip.Addr  `json:"dns,omitempty"`
	// Route is true when the dhcp-client's default route was added.
	Route bool `json:"route,omitempty"`
}
