package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// Property value types whose text form is RouterOS's. Values are never
// mutated in place (a set assigns a fresh value), so items can be copied
// shallowly.

// Ranges is an /ip pool ranges value (see pool.ParseRanges). It prints in
// normal form: sorted, first-last or a single address, so a CIDR such as
// 10.0.0.0/30 prints as 10.0.0.0-10.0.0.3.
type Ranges []pool.Range

// MarshalText implements encoding.TextMarshaler.
func (r Ranges) MarshalText() ([]byte, error) { return []byte(pool.FormatRanges(r)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Ranges) UnmarshalText(b []byte) error {
	rs, err := pool.ParseRanges(string(b))
	if err != nil {
		return err
	}
	*r = rs
	return nil
}

// Seconds is a time value in whole seconds. It reads a bare number of
// seconds ("10"), units ("10s", "1m30s", "2h", "1d", "1w") or "hh:mm:ss",
// and prints as a bare number of seconds, as RouterOS prints
// keepalive-timeout=10.
type Seconds time.Duration

const maxSeconds = 1<<32 - 1

// MarshalText implements encoding.TextMarshaler.
func (s Seconds) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(time.Duration(s)/time.Second), 10)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Seconds) UnmarshalText(b []byte) error {
	v, err := parseSeconds(string(b))
	if err != nil {
		return err
	}
	*s = Seconds(time.Duration(v) * time.Second)
	return nil
}

func parseSeconds(t string) (int64, error) {
	if t == "" {
		return 0, errors.New("empty time")
	}
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		if len(parts) != 3 {
			return 0, fmt.Errorf("time %q: want hh:mm:ss", t)
		}
		var total int64
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 32)
			if err != nil || (i > 0 && v > 59) {
				return 0, fmt.Errorf("time %q: bad field %q", t, p)
			}
			total = total*60 + int64(v)
		}
		return checkSeconds(t, total)
	}
	units := map[byte]int64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}
	var total int64
	rest := t
	for first := true; rest != ""; first = false {
		n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if n == 0 {
			return 0, fmt.Errorf("time %q: expected a number", t)
		}
		v, err := strconv.ParseInt(rest[:n], 10, 64)
		if err != nil || v > maxSeconds {
			return 0, fmt.Errorf("time %q: too large", t)
		}
		rest = rest[n:]
		mul := int64(1)
		if rest != "" {
			u, ok := units[rest[0]]
			if !ok {
				return 0, fmt.Errorf("time %q: unknown unit %q", t, rest[0])
			}
			mul, rest = u, rest[1:]
		} else if !first {
			return 0, fmt.Errorf("time %q: number without unit", t)
		}
		total += v * mul
		if total > maxSeconds {
			return 0, fmt.Errorf("time %q: too large", t)
		}
	}
	return checkSeconds(t, total)
}

func checkSeconds(t string, v int64) (int64, error) {
	if v > maxSeconds {
		return 0, fmt.Errorf("time %q: too large", t)
	}
	return v, nil
}

// MTU is a max-mtu/max-mru value: "auto" (0) or 64..65535.
type MTU int

// MarshalText implements encoding.TextMarshaler.
func (m MTU) MarshalText() ([]byte, error) {
	if m == 0 {
		return []byte("auto"), nil
	}
	return []byte(strconv.Itoa(int(m))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MTU) UnmarshalText(b []byte) error {
	if string(b) == "auto" {
		*m = 0
		return nil
	}
	v, err := parseInt(string(b), 64, 65535)
	if err != nil {
		return fmt.Errorf("%w (or auto)", err)
	}
	*m = MTU(v)
	return nil
}

// MRRU is an mrru value: "disabled" (0) or 512..65535 (RFC 1990 multilink
// MRRU).
type MRRU int

// MarshalText implements encoding.TextMarshaler.
func (m MRRU) MarshalText() ([]byte, error) {
	if m == 0 {
		return []byte("disabled"), nil
	}
	return []byte(strconv.Itoa(int(m))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MRRU) UnmarshalText(b []byte) error {
	if string(b) == "disabled" {
		*m = 0
		return nil
	}
	v, err := parseInt(string(b), 512, 65535)
	if err != nil {
		return fmt.Errorf("%w (or disabled)", err)
	}
	*m = MRRU(v)
	return nil
}

// AuthMethods is a set of PPP authentication protocols (authentication on
// the server, allow on the client): mschap2 (RFC 2759), mschap1 (RFC 2433),
// chap (RFC 1994), pap (RFC 1334). It prints in that order, strongest
// first, whatever order it was given in.
type AuthMethods []string

var authOrder = []string{"mschap2", "mschap1", "chap", "pap"}

// MarshalText implements encoding.TextMarshaler.
func (a AuthMethods) MarshalText() ([]byte, error) { return []byte(strings.Join(a, ",")), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *AuthMethods) UnmarshalText(b []byte) error {
	out, err := parseSet(string(b), authOrder, "authentication method")
	if err != nil {
		return err
	}
	*a = out
	return nil
}

// parseSet reads a comma-separated set of words from order, in any order
// and with repeats, and returns it in order's order: a set prints one way
// however it was typed.
func parseSet(text string, order []string, what string) ([]string, error) {
	seen := map[string]bool{}
	for w := range strings.SplitSeq(text, ",") {
		if !slices.Contains(order, w) {
			return nil, fmt.Errorf("unknown %s %q (want %s)", what, w, strings.Join(order, "|"))
		}
		seen[w] = true
	}
	var out []string
	for _, w := range order {
		if seen[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// DNSServers is a profile's dns-server: up to two IPv4 addresses (RFC 1877
// offers a primary and a secondary, IPCP) and up to three IPv6 addresses
// (RFC 8106 RDNSS, the DHCPv6 DNS option), in any order; printed as typed.
type DNSServers []netip.Addr

// MarshalText implements encoding.TextMarshaler.
func (d DNSServers) MarshalText() ([]byte, error) {
	parts := make([]string, len(d))
	for i, a := range d {
		parts[i] = a.String()
	}
	return []byte(strings.Join(parts, ",")), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *DNSServers) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = nil
		return nil
	}
	var out DNSServers
	for s := range strings.SplitSeq(string(b), ",") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("%q: not an IPv4 or IPv6 address", s)
		}
		if a.Is6() && (a.IsMulticast() || a.IsUnspecified()) {
			return fmt.Errorf("%s: not a unicast address", s)
		}
		if slices.Contains(out, a) {
			return fmt.Errorf("%s: given twice", s)
		}
		out = append(out, a)
	}
	if n := len(out.IPv4()); n > 2 {
		return errors.New("at most two IPv4 DNS servers (RFC 1877)")
	}
	if n := len(out.IPv6()); n > 3 {
		return errors.New("at most three IPv6 DNS servers")
	}
	*d = out
	return nil
}

// IPv4 returns the IPv4 servers, in order.
func (d DNSServers) IPv4() []netip.Addr {
	var out []netip.Addr
	for _, a := range d {
		if a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// IPv6 returns the IPv6 servers, in order.
func (d DNSServers) IPv6() []netip.Addr {
	var out []netip.Addr
	for _, a := range d {
		if a.Is6() {
			out = append(out, a)
		}
	}
	return out
}

// IPv6Prefix is an IPv6 prefix property (prefix=2001:db8::/40); the zero
// value is unset. The prefix must be masked: 2001:db8::1/40 is refused
// rather than silently meaning 2001:db8::/40.
type IPv6Prefix netip.Prefix

// MarshalText implements encoding.TextMarshaler.
func (p IPv6Prefix) MarshalText() ([]byte, error) {
	if !netip.Prefix(p).IsValid() {
		return nil, nil
	}
	return []byte(netip.Prefix(p).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *IPv6Prefix) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = IPv6Prefix{}
		return nil
	}
	q, err := netip.ParsePrefix(string(b))
	if err != nil || !q.Addr().Is6() || q.Addr().Is4In6() {
		return fmt.Errorf("%q: not an IPv6 prefix (like 2001:db8::/40)", b)
	}
	if q.Masked() != q {
		return fmt.Errorf("%s: host bits set (the prefix is %s)", q, q.Masked())
	}
	*p = IPv6Prefix(q)
	return nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s: not an IPv4 address", s)
	}
	return a, nil
}

func parseInt(s string, lo, hi int64) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: not an integer", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d: out of range %d..%d", v, lo, hi)
	}
	return v, nil
}

func parseBool(s string) (bool, error) {
	switch s {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q: want yes or no", s)
}

// RateLimit is a /ppp profile's or secret's rate-limit, in RouterOS's
// format (package ratelimit), kept as written; empty = none (a secret's
// empty rate-limit leaves the profile's).
type RateLimit string

// MarshalText implements encoding.TextMarshaler.
func (r RateLimit) MarshalText() ([]byte, error) { return []byte(r), nil }

// UnmarshalText implements encoding.TextUnmarshaler: the value must parse.
func (r *RateLimit) UnmarshalText(b []byte) error {
	s := strings.Join(strings.Fields(string(b)), " ")
	if _, err := ratelimit.Parse(s); err != nil {
		return err
	}
	*r = RateLimit(s)
	return nil
}

// Limit returns the parsed value.
func (r RateLimit) Limit() ratelimit.Limit {
	l, _ := ratelimit.Parse(string(r)) // validated when set
	return l
}

// IPv6LinkPrefix is a secret's remote-ipv6-prefix: an IPv6Prefix that must
// be a /64, the length SLAAC needs (RFC 4862 §5.5.3). Checked as it is
// parsed, so validating a configuration costs nothing per secret.
type IPv6LinkPrefix IPv6Prefix

// MarshalText implements encoding.TextMarshaler.
func (p IPv6LinkPrefix) MarshalText() ([]byte, error) { return IPv6Prefix(p).MarshalText() }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *IPv6LinkPrefix) UnmarshalText(b []byte) error {
	var q IPv6Prefix
	if err := q.UnmarshalText(b); err != nil {
		return err
	}
	if pr := netip.Prefix(q); pr.IsValid() && pr.Bits() != 64 {
		return fmt.Errorf("%s: the link prefix for SLAAC is a /64 (RFC 4862 §5.5.3)", pr)
	}
	*p = IPv6LinkPrefix(q)
	return nil
}
