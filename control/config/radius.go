package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The RADIUS menus: /radius (the servers, in the order they are tried),
// /radius incoming (RFC 5176 dynamic authorization) and /ppp aaa (whether
// PPP uses them). Property names and defaults are RouterOS's; the one
// addition is require-message-authenticator (BlastRADIUS, CVE-2024-3596).

// Radius is a /radius item: one RADIUS server. Its secret is sensitive:
// print leaves it out unless show-sensitive is given.
type Radius struct {
	meta
	Service                     RadiusServices `ros:"service" json:"service"`
	Address                     IPAddr         `ros:"address" json:"address"`
	Secret                      string         `ros:"secret" sensitive:"yes" json:"secret,omitempty"`
	AuthenticationPort          int            `ros:"authentication-port" range:"1..65535" default:"1812" json:"authentication-port"`
	AccountingPort              int            `ros:"accounting-port" range:"1..65535" default:"1813" json:"accounting-port"`
	Timeout                     Duration       `ros:"timeout" default:"300ms" json:"timeout"`
	SrcAddress                  IPAddr         `ros:"src-address" json:"src-address"`
	RequireMessageAuthenticator bool           `ros:"require-message-authenticator" default:"yes" json:"require-message-authenticator"`
	Disabled                    bool           `ros:"disabled" json:"disabled"`
	Comment                     string         `ros:"comment" json:"comment"`
}

// Key implements Item: the same server may be listed for different
// services, not twice for the same one.
func (r Radius) Key() string {
	b, _ := r.Service.MarshalText()
	return string(b) + "/" + netip.AddrPortFrom(r.Address.Addr, uint16(r.AuthenticationPort)).String()
}

// RadiusIncoming is /radius incoming: the RFC 5176 listener for
// Disconnect-Request and CoA-Request.
//
// Requests are taken from the /radius entries' addresses, each with its
// secret, as RouterOS does. Address narrows that further: when set, only
// the entries inside one of its prefixes may send them (an addition,
// named and written as /ip service's address allow-list).
type RadiusIncoming struct {
	meta
	Accept  bool        `ros:"accept" json:"accept"`
	Port    int         `ros:"port" range:"1..65535" default:"3799" json:"port"`
	Address AddressList `ros:"address" json:"address,omitempty"`
}

// AddressList is a comma-separated list of IPv4 and IPv6 addresses and
// prefixes, as /ip service's address; a bare address is a /32 or /128.
// Empty is no restriction.
type AddressList []netip.Prefix

// MarshalText implements encoding.TextMarshaler.
func (l AddressList) MarshalText() ([]byte, error) {
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return []byte(strings.Join(out, ",")), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *AddressList) UnmarshalText(b []byte) error {
	var out AddressList
	for _, f := range strings.Split(string(b), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("%q: not an address or prefix", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		if p != p.Masked() {
			return fmt.Errorf("%q: host bits set", f)
		}
		out = append(out, p)
	}
	*l = out
	return nil
}

// Allows reports whether a is inside the list, or the list is empty.
func (l AddressList) Allows(a netip.Addr) bool {
	if len(l) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AAA is /ppp aaa. With use-radius=yes a user without a local secret is
// looked up on the /radius servers of service ppp (local secrets first,
// as RouterOS does). interim-update=0s sends no Interim-Update unless the
// server's Acct-Interim-Interval asks for them.
type AAA struct {
	meta
	UseRadius     bool     `ros:"use-radius" json:"use-radius"`
	Accounting    bool     `ros:"accounting" default:"yes" json:"accounting"`
	InterimUpdate Duration `ros:"interim-update" default:"0s" json:"interim-update"`
}

// RadiusServices is a /radius service value: the router services that use
// the server. pppoe-xdp uses the entries with ppp; the others are kept so
// that a RouterOS export loads.
type RadiusServices []string

var radiusServices = []string{"ppp", "login", "hotspot", "wireless", "dhcp", "ipsec", "dot1x"}

// MarshalText implements encoding.TextMarshaler, in RouterOS's order.
func (s RadiusServices) MarshalText() ([]byte, error) { return []byte(strings.Join(s, ",")), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty is no service.
func (s *RadiusServices) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = nil
		return nil
	}
	out, err := parseSet(string(b), radiusServices, "service")
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// Has reports whether service v is listed.
func (s RadiusServices) Has(v string) bool { return slices.Contains(s, v) }

// IPAddr is an IPv4 or IPv6 address; unset prints as 0.0.0.0, as RouterOS
// prints an unset src-address, and 0.0.0.0 or :: reads as unset.
type IPAddr struct{ netip.Addr }

// MarshalText implements encoding.TextMarshaler.
func (a IPAddr) MarshalText() ([]byte, error) {
	if !a.IsValid() {
		return []byte("0.0.0.0"), nil
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *IPAddr) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = IPAddr{}
		return nil
	}
	v, err := netip.ParseAddr(string(b))
	if err != nil || v.Zone() != "" {
		return fmt.Errorf("%q: not an IP address", b)
	}
	v = v.Unmap()
	if v.IsUnspecified() {
		v = netip.Addr{}
	}
	*a = IPAddr{v}
	return nil
}

// Duration is a RouterOS time with millisecond resolution: "300ms", "5m",
// "1h30m", a bare number of seconds, or hh:mm:ss. It prints as RouterOS
// does, largest unit first ("1m30s", "0s").
type Duration time.Duration

const maxDuration = Duration(maxSeconds * time.Second)

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	if d == 0 {
		return []byte("0s"), nil
	}
	var b strings.Builder
	rest := time.Duration(d)
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := rest / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			rest -= n * u.d
		}
	}
	return []byte(b.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	t := string(b)
	if strings.Contains(t, ":") || strings.Trim(t, "0123456789") == "" {
		s, err := parseSeconds(t)
		if err != nil {
			return err
		}
		*d = Duration(time.Duration(s) * time.Second)
		return nil
	}
	units := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	var total time.Duration
	for rest := t; rest != ""; {
		n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if n == 0 {
			return fmt.Errorf("time %q: expected a number", t)
		}
		v, err := strconv.ParseInt(rest[:n], 10, 64)
		if err != nil || v > maxSeconds*1000 {
			return fmt.Errorf("time %q: too large", t)
		}
		rest = rest[n:]
		var u string
		switch { // "ms" before "m": the longest unit that is a prefix
		case strings.HasPrefix(rest, "ms"):
			u = "ms"
		case rest != "":
			u = rest[:1]
		default:
			return fmt.Errorf("time %q: number without unit", t)
		}
		mul, ok := units[u]
		if !ok {
			return fmt.Errorf("time %q: unknown unit %q", t, u)
		}
		rest = rest[len(u):]
		total += time.Duration(v) * mul
		if Duration(total) > maxDuration {
			return fmt.Errorf("time %q: too large", t)
		}
	}
	*d = Duration(total)
	return nil
}

// validateRADIUS checks what the property types cannot: a server address,
// a source address of the server's family, a timeout that can be waited
// on.
func (c *Config) validateRADIUS() error {
	for _, r := range c.Radius.All() {
		if !r.Address.IsValid() {
			return errf(r.line, "address", "/radius: a server address is required")
		}
		if r.SrcAddress.IsValid() && r.SrcAddress.Is4() != r.Address.Is4() {
			return errf(r.line, "src-address", "/radius %s: %s is not of the server's address family", r.Address, r.SrcAddress)
		}
		if r.Timeout < Duration(time.Millisecond) || r.Timeout > Duration(time.Minute) {
			return errf(r.line, "timeout", "/radius %s: %w", r.Address, errors.New("want 1ms..1m"))
		}
	}
	return nil
}
