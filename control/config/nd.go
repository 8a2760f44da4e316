package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
)

// ND is an /ipv6 nd item: the Router Advertisements sent on an interface
// (RFC 4861 §6.2). pppoed sends RAs only on PPPoE sessions, so Interface
// is "all" (the built-in entry, which RouterOS ships and applies to its
// dynamic pppoe interfaces) or one session's dynamic interface,
// "<pppoe-USER>", whose entry then applies to that user's sessions
// instead. A session to which no enabled entry applies sends no RAs.
// Names, defaults and ranges are RouterOS's.
type ND struct {
	meta
	Interface          string      `ros:"interface" ref:"interface" json:"interface"`
	RAInterval         RAInterval  `ros:"ra-interval" default:"3m20s-10m" json:"ra-interval"`
	RADelay            Time        `ros:"ra-delay" default:"3s" json:"ra-delay"`
	MTU                NDMTU       `ros:"mtu" default:"unspecified" json:"mtu"`
	ReachableTime      Unspecified `ros:"reachable-time" default:"unspecified" json:"reachable-time"`
	RetransmitInterval Unspecified `ros:"retransmit-interval" default:"unspecified" json:"retransmit-interval"`
	RALifetime         RALifetime  `ros:"ra-lifetime" default:"30m" json:"ra-lifetime"`
	RAPreference       string      `ros:"ra-preference" enum:"low,medium,high" default:"medium" json:"ra-preference"`
	HopLimit           HopLimit    `ros:"hop-limit" default:"unspecified" json:"hop-limit"`
	// AdvertiseMACAddress is kept for RouterOS scripts: a PPP link has
	// no link-layer address to put in a source link-layer option.
	AdvertiseMACAddress bool   `ros:"advertise-mac-address" default:"yes" json:"advertise-mac-address"`
	AdvertiseDNS        bool   `ros:"advertise-dns" default:"yes" json:"advertise-dns"`
	Managed             bool   `ros:"managed-address-configuration" json:"managed-address-configuration"`
	Other               bool   `ros:"other-configuration" json:"other-configuration"`
	Disabled            bool   `ros:"disabled" json:"disabled"`
	Comment             string `ros:"comment" json:"comment"`
}

// Key implements Item: one entry per interface, as in RouterOS.
func (n ND) Key() string { return n.Interface }

// NDPrefixDefault is /ipv6 nd prefix default: the lifetimes of the prefix
// information RAs carry (RFC 4861 §4.6.2), here each session's link /64.
type NDPrefixDefault struct {
	meta
	ValidLifetime     Lifetime `ros:"valid-lifetime" default:"4w2d" json:"valid-lifetime"`
	PreferredLifetime Lifetime `ros:"preferred-lifetime" default:"1w" json:"preferred-lifetime"`
}

// newND is the built-in /ipv6 nd entry, interface=all.
func newND() ND {
	n := defaults[ND]()
	n.Interface = ra.AllInterfaces
	return n
}

// Params is what entry n with prefix default d makes a session's RAs say.
func (n ND) Params(d NDPrefixDefault) ra.Params {
	pref := map[string]ndp.Preference{"low": ndp.Low, "medium": ndp.Medium, "high": ndp.High}[n.RAPreference]
	return ra.Params{
		MinInterval:       n.RAInterval.Min,
		MaxInterval:       n.RAInterval.Max,
		MinDelay:          time.Duration(n.RADelay),
		RouterLifetime:    time.Duration(n.RALifetime),
		HopLimit:          uint8(n.HopLimit),
		MTU:               uint32(n.MTU),
		ReachableTime:     time.Duration(n.ReachableTime),
		RetransTimer:      time.Duration(n.RetransmitInterval),
		Managed:           n.Managed,
		Other:             n.Other,
		AdvertiseDNS:      n.AdvertiseDNS,
		Preference:        pref,
		ValidLifetime:     time.Duration(d.ValidLifetime),
		PreferredLifetime: time.Duration(d.PreferredLifetime),
	}
}

// NDTable is the RA parameters by interface for ra.Table.Set: the enabled
// /ipv6 nd entries.
func (c *Config) NDTable() map[string]ra.Params {
	out := make(map[string]ra.Params, c.ND.Len())
	for _, n := range c.ND.All() {
		if !n.Disabled {
			out[n.Interface] = n.Params(c.NDPrefix)
		}
	}
	return out
}

// checkND: entries name interfaces pppoed advertises on, and what they
// make an RA say holds to RFC 4861 (ra.Params.Check), which names the
// property at fault.
func (c *Config) checkND() error {
	d := c.NDPrefix
	if d.PreferredLifetime > d.ValidLifetime {
		pl, _ := d.PreferredLifetime.MarshalText()
		vl, _ := d.ValidLifetime.MarshalText()
		return errf(d.line, "preferred-lifetime", "/ipv6 nd prefix default: preferred-lifetime %s longer than valid-lifetime %s", pl, vl)
	}
	for _, n := range c.ND.All() {
		if n.Interface != ra.AllInterfaces && !isPPPoEDynamic(n.Interface) {
			return errf(n.line, "interface", "/ipv6 nd: %q: pppoed sends RAs only on PPPoE sessions: want all or <pppoe-USER>", n.Interface)
		}
		if err := n.Params(d).Check(); err != nil {
			prop, _, _ := strings.Cut(err.Error(), ":")
			return errf(n.line, prop, "/ipv6 nd %s: %w", n.Interface, err)
		}
	}
	return nil
}

// isPPPoEDynamic tells a RouterOS dynamic PPPoE server interface name,
// "<pppoe-USER>".
func isPPPoEDynamic(name string) bool {
	return len(name) > len("<pppoe->") && strings.HasPrefix(name, "<pppoe-") && strings.HasSuffix(name, ">")
}

// Time is a RouterOS time value printed as RouterOS prints one: 3m20s,
// 4w2d, 0s. It reads what Seconds reads.
type Time time.Duration

// MarshalText implements encoding.TextMarshaler.
func (t Time) MarshalText() ([]byte, error) { return []byte(formatTime(time.Duration(t))), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := parseSeconds(string(b))
	if err != nil {
		return err
	}
	*t = Time(time.Duration(v) * time.Second)
	return nil
}

// formatTime is d in RouterOS's form: weeks, days, hours, minutes and
// seconds, each only if not zero.
func formatTime(d time.Duration) string {
	s := int64(d / time.Second)
	if s == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		secs int64
		unit byte
	}{{7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}} {
		if n := s / u.secs; n > 0 {
			b.WriteString(strconv.FormatInt(n, 10))
			b.WriteByte(u.unit)
			s -= n * u.secs
		}
	}
	return b.String()
}

// wordTime reads a time or word (for zero).
func wordTime(b []byte, word string) (time.Duration, error) {
	if string(b) == word {
		return 0, nil
	}
	v, err := parseSeconds(string(b))
	if err != nil {
		return 0, fmt.Errorf("%w (or %s)", err, word)
	}
	return time.Duration(v) * time.Second, nil
}

func wordFormat(d time.Duration, word string) []byte {
	if d == 0 {
		return []byte(word)
	}
	return []byte(formatTime(d))
}

// Unspecified is a time that may be "unspecified" (zero on the wire, RFC
// 4861 §4.2): reachable-time, retransmit-interval.
type Unspecified time.Duration

// MarshalText implements encoding.TextMarshaler.
func (u Unspecified) MarshalText() ([]byte, error) {
	return wordFormat(time.Duration(u), "unspecified"), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *Unspecified) UnmarshalText(b []byte) error {
	d, err := wordTime(b, "unspecified")
	*u = Unspecified(d)
	return err
}

// RALifetime is ra-lifetime: a time, or "none" (zero: not a default
// router, RFC 4861 §6.2.3).
type RALifetime time.Duration

// MarshalText implements encoding.TextMarshaler.
func (r RALifetime) MarshalText() ([]byte, error) { return wordFormat(time.Duration(r), "none"), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *RALifetime) UnmarshalText(b []byte) error {
	d, err := wordTime(b, "none")
	*r = RALifetime(d)
	return err
}

// Lifetime is a prefix lifetime: a time or "infinity" (RFC 4861 §4.6.2's
// all-ones).
type Lifetime time.Duration

// MarshalText implements encoding.TextMarshaler.
func (l Lifetime) MarshalText() ([]byte, error) {
	if time.Duration(l) == ndp.Infinity {
		return []byte("infinity"), nil
	}
	return []byte(formatTime(time.Duration(l))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Lifetime) UnmarshalText(b []byte) error {
	if string(b) == "infinity" {
		*l = Lifetime(ndp.Infinity)
		return nil
	}
	v, err := parseSeconds(string(b))
	if err != nil {
		return fmt.Errorf("%w (or infinity)", err)
	}
	*l = Lifetime(time.Duration(v) * time.Second)
	return nil
}

// RAInterval is ra-interval, "min-max" (MinRtrAdvInterval,
// MaxRtrAdvInterval of RFC 4861 §6.2.1): RouterOS's ranges 3s..20m50s and
// 4s..30m.
type RAInterval struct{ Min, Max time.Duration }

// MarshalText implements encoding.TextMarshaler.
func (r RAInterval) MarshalText() ([]byte, error) {
	return []byte(formatTime(r.Min) + "-" + formatTime(r.Max)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *RAInterval) UnmarshalText(b []byte) error {
	lo, hi, found := strings.Cut(string(b), "-")
	if !found {
		return fmt.Errorf("%q: want min-max", b)
	}
	min, err := parseSeconds(lo)
	if err != nil {
		return fmt.Errorf("%w: want min-max", err)
	}
	max, err := parseSeconds(hi)
	if err != nil {
		return fmt.Errorf("%w: want min-max", err)
	}
	switch {
	case min < 3 || min > 1250:
		return fmt.Errorf("%q: min %s outside 3s..20m50s", b, formatTime(time.Duration(min)*time.Second))
	case max < 4 || max > 1800:
		return fmt.Errorf("%q: max %s outside 4s..30m", b, formatTime(time.Duration(max)*time.Second))
	case min > max:
		return fmt.Errorf("%q: min above max", b)
	}
	*r = RAInterval{Min: time.Duration(min) * time.Second, Max: time.Duration(max) * time.Second}
	return nil
}

// HopLimit is hop-limit: "unspecified" (0) or 1..255.
type HopLimit int

// MarshalText implements encoding.TextMarshaler.
func (h HopLimit) MarshalText() ([]byte, error) {
	if h == 0 {
		return []byte("unspecified"), nil
	}
	return []byte(strconv.Itoa(int(h))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HopLimit) UnmarshalText(b []byte) error {
	if string(b) == "unspecified" {
		*h = 0
		return nil
	}
	v, err := parseInt(string(b), 0, 255)
	if err != nil {
		return fmt.Errorf("%w (or unspecified)", err)
	}
	*h = HopLimit(v)
	return nil
}

// NDMTU is /ipv6 nd mtu: "unspecified" (0: the session's negotiated MTU
// is announced) or 1280..65535 (IPv6's minimum link MTU, RFC 8200 §5, up).
type NDMTU int

// MarshalText implements encoding.TextMarshaler.
func (m NDMTU) MarshalText() ([]byte, error) {
	if m == 0 {
		return []byte("unspecified"), nil
	}
	return []byte(strconv.Itoa(int(m))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *NDMTU) UnmarshalText(b []byte) error {
	if string(b) == "unspecified" {
		*m = 0
		return nil
	}
	v, err := parseInt(string(b), ra.MinMTU, 65535)
	if err != nil {
		return fmt.Errorf("%w (or unspecified)", err)
	}
	*m = NDMTU(v)
	return nil
}
