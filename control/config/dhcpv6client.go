package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DHCPv6Client is an /ipv6 dhcp-client item: DHCPv6 (RFC 8415) on a
// pppoe-client's session. With request=prefix the delegated prefix becomes
// a local /ipv6 pool named PoolName, split into PoolPrefixLength pieces;
// AddDefaultRoute and UsePeerDNS take the default route and DNS servers
// from the session. Defaults are RouterOS's.
type DHCPv6Client struct {
	meta
	Interface            string        `ros:"interface" ref:"interface" json:"interface"`
	Request              DHCPv6Request `ros:"request" json:"request"`
	PoolName             string        `ros:"pool-name" json:"pool-name"`
	PoolPrefixLength     int           `ros:"pool-prefix-length" range:"0..128" default:"64" json:"pool-prefix-length"`
	PrefixHint           PrefixHint    `ros:"prefix-hint" default:"::/0" json:"prefix-hint"`
	AddDefaultRoute      bool          `ros:"add-default-route" json:"add-default-route"`
	DefaultRouteDistance int           `ros:"default-route-distance" range:"0..255" default:"1" json:"default-route-distance"`
	UsePeerDNS           bool          `ros:"use-peer-dns" default:"yes" json:"use-peer-dns"`
	RapidCommit          bool          `ros:"rapid-commit" default:"yes" json:"rapid-commit"`
	Disabled             bool          `ros:"disabled" json:"disabled"`
	Comment              string        `ros:"comment" json:"comment"`
}

// Key implements Item: one client per interface, as in RouterOS.
func (d DHCPv6Client) Key() string { return d.Interface }

// DHCPv6Request is request=: a set of info, address and prefix
// (Information-request only, IA_NA, IA_PD).
type DHCPv6Request []string

var dhcpv6RequestOrder = []string{"info", "address", "prefix"}

// MarshalText implements encoding.TextMarshaler.
func (r DHCPv6Request) MarshalText() ([]byte, error) { return []byte(strings.Join(r, ",")), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *DHCPv6Request) UnmarshalText(b []byte) error {
	out, err := parseSet(string(b), dhcpv6RequestOrder, "request")
	if err != nil {
		return err
	}
	*r = out
	return nil
}

// Has reports whether what (info, address, prefix) is requested.
func (r DHCPv6Request) Has(what string) bool { return slices.Contains(r, what) }

// PrefixHint is prefix-hint=: the prefix (or only its length, with ::) to
// ask the server for.
type PrefixHint netip.Prefix

// MarshalText implements encoding.TextMarshaler.
func (p PrefixHint) MarshalText() ([]byte, error) { return netip.Prefix(p).MarshalText() }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PrefixHint) UnmarshalText(b []byte) error {
	q, err := netip.ParsePrefix(string(b))
	if err != nil || !q.Addr().Is6() || q.Addr().Is4In6() || q.Addr().Zone() != "" {
		return fmt.Errorf("%q: want an IPv6 prefix", b)
	}
	*p = PrefixHint(q.Masked())
	return nil
}

// checkDHCPv6Clients: each client runs on a pppoe-client's session, asks
// for something, and names the pool a delegated prefix goes to.
func (c *Config) checkDHCPv6Clients() error {
	for _, d := range c.DHCPv6Clients.All() {
		if c.Clients.Index(d.Interface) < 0 {
			return errf(d.line, "interface", "/ipv6 dhcp-client: %q is not a pppoe-client", d.Interface)
		}
		if len(d.Request) == 0 {
			return errf(d.line, "request", "/ipv6 dhcp-client %s: request is required", d.Interface)
		}
		if d.Request.Has("prefix") {
			if d.PoolName == "" {
				return errf(d.line, "pool-name", "/ipv6 dhcp-client %s: request=prefix needs pool-name", d.Interface)
			}
			if c.IPv6Pools.Index(d.PoolName) >= 0 {
				// The dynamic pool would shadow the configured one.
				return errf(d.line, "pool-name", "/ipv6 dhcp-client %s: pool-name %s is an /ipv6 pool already", d.Interface, d.PoolName)
			}
			if h := netip.Prefix(d.PrefixHint); h.Bits() > d.PoolPrefixLength && h.Bits() != 0 {
				return errf(d.line, "pool-prefix-length", "/ipv6 dhcp-client %s: pool-prefix-length %d shorter than prefix-hint /%d", d.Interface, d.PoolPrefixLength, h.Bits())
			}
		}
	}
	return nil
}
