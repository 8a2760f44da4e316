package ra

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ndp"
)

// Params are what the operator sets of a link's Router Advertisements:
// RouterOS's /ipv6 nd entry and its /ipv6 nd prefix default. Every value
// is explicit (zero is zero, or "unspecified" where RFC 4861 gives zero
// that meaning); DefaultParams are RouterOS's defaults.
type Params struct {
	// MinInterval and MaxInterval bound the unsolicited RA period
	// (ra-interval; MinRtrAdvInterval, MaxRtrAdvInterval of RFC 4861
	// §6.2.1).
	MinInterval, MaxInterval time.Duration
	// MinDelay is the least time between multicast RAs (ra-delay;
	// MIN_DELAY_BETWEEN_RAS of RFC 4861 §10).
	MinDelay time.Duration
	// RouterLifetime is how long the client may use us as its default
	// router (ra-lifetime); 0 (none) says we are not one.
	RouterLifetime time.Duration
	// HopLimit is Cur Hop Limit (hop-limit); 0 is unspecified.
	HopLimit uint8
	// MTU is the MTU option's value (mtu); 0 (unspecified) announces the
	// session's negotiated MTU.
	MTU uint32
	// ReachableTime and RetransTimer are the RA's fields of those names
	// (reachable-time, retransmit-interval); 0 is unspecified.
	ReachableTime, RetransTimer time.Duration
	// Managed and Other are the M and O flags (RFC 4861 §4.2)
	// (managed-address-configuration, other-configuration). The session
	// sets O also when its DHCPv6 server has something to give.
	Managed, Other bool
	// AdvertiseDNS sends the profile's IPv6 dns-server as RDNSS
	// (advertise-dns, RFC 8106).
	AdvertiseDNS bool
	// Preference is the Default Router Preference (ra-preference, RFC
	// 4191 §2.2).
	Preference ndp.Preference
	// ValidLifetime and PreferredLifetime are the prefix information's
	// (/ipv6 nd prefix default; RFC 4861 §4.6.2); ndp.Infinity is
	// infinity.
	ValidLifetime, PreferredLifetime time.Duration
}

// Defaults are RouterOS's /ipv6 nd and /ipv6 nd prefix default defaults
// (ra-interval=3m20s-10m, ra-delay=3s, ra-lifetime=30m,
// valid-lifetime=4w2d, preferred-lifetime=1w), which are also RFC 4861
// §6.2.1's and §10's.
const (
	DefaultMinInterval       = 200 * time.Second
	DefaultMaxInterval       = 600 * time.Second
	DefaultMinDelay          = 3 * time.Second
	DefaultRouterLifetime    = 30 * time.Minute
	DefaultValidLifetime     = 30 * 24 * time.Hour
	DefaultPreferredLifetime = 7 * 24 * time.Hour
)

// DefaultParams is RouterOS's default /ipv6 nd entry (interface=all): the
// defaults above, everything else unspecified or off, advertise-dns yes
// (RouterOS 7's default) and ra-preference medium.
func DefaultParams() Params {
	return Params{
		MinInterval:       DefaultMinInterval,
		MaxInterval:       DefaultMaxInterval,
		MinDelay:          DefaultMinDelay,
		RouterLifetime:    DefaultRouterLifetime,
		AdvertiseDNS:      true,
		Preference:        ndp.Medium,
		ValidLifetime:     DefaultValidLifetime,
		PreferredLifetime: DefaultPreferredLifetime,
	}
}

// MinMTU is the least MTU an MTU option may announce: IPv6's minimum
// link MTU (RFC 8200 §5).
const MinMTU = 1280

// Check tells whether p holds to RFC 4861 §6.2.1 (and RFC 8200's minimum
// MTU): what a host would refuse or a router must not send is an error
// that names the property.
func (p Params) Check() error {
	switch {
	case p.MaxInterval < 4*time.Second || p.MaxInterval > 1800*time.Second:
		return fmt.Errorf("ra-interval: max %v outside 4s..30m", p.MaxInterval)
	case p.MinInterval < 3*time.Second || p.MinInterval > p.MaxInterval*3/4:
		return fmt.Errorf("ra-interval: min %v outside 3s..%v (0.75 × max)", p.MinInterval, p.MaxInterval*3/4)
	case p.MinDelay < 0 || p.MinDelay > p.MinInterval:
		return fmt.Errorf("ra-delay: %v outside 0..%v (the min of ra-interval)", p.MinDelay, p.MinInterval)
	case p.RouterLifetime < 0 || p.RouterLifetime > 9000*time.Second:
		return fmt.Errorf("ra-lifetime: %v outside 0..2h30m", p.RouterLifetime)
	case p.RouterLifetime != 0 && p.RouterLifetime < p.MaxInterval:
		return fmt.Errorf("ra-lifetime: %v shorter than the max of ra-interval %v (RFC 4861 §6.2.1)", p.RouterLifetime, p.MaxInterval)
	case p.MTU != 0 && p.MTU < MinMTU:
		return fmt.Errorf("mtu: %d under IPv6's minimum %d", p.MTU, MinMTU)
	case p.ReachableTime < 0 || p.ReachableTime > time.Hour:
		return fmt.Errorf("reachable-time: %v outside 0..1h", p.ReachableTime)
	case p.RetransTimer < 0 || p.RetransTimer/time.Millisecond > 1<<32-1:
		return fmt.Errorf("retransmit-interval: %v outside 0..%v", p.RetransTimer, time.Duration(1<<32-1)*time.Millisecond)
	case p.Preference != ndp.Low && p.Preference != ndp.Medium && p.Preference != ndp.High:
		return fmt.Errorf("ra-preference: %v is not low, medium or high", p.Preference)
	case p.ValidLifetime < 0 || p.ValidLifetime > ndp.Infinity || p.PreferredLifetime < 0:
		return fmt.Errorf("valid-lifetime: %v outside 0..infinity", p.ValidLifetime)
	case p.PreferredLifetime > p.ValidLifetime:
		return fmt.Errorf("preferred-lifetime: %v longer than valid-lifetime %v", p.PreferredLifetime, p.ValidLifetime)
	}
	return nil
}

// Table is the RA parameters of every link, one value shared by all
// sessions and replaced whole when the configuration changes: a session
// reads it before each RA it sends, so a change applies from every live
// session's next RA. The zero Table (and a nil one) gives every link
// DefaultParams.
type Table struct {
	v atomic.Pointer[tableVersion]
}

type tableVersion struct {
	gen     uint64
	byIface map[string]Params
}

// AllInterfaces is the interface name of the entry that applies to every
// link without one of its own (RouterOS's interface=all).
const AllInterfaces = "all"

// PPPoEInterface is the interface name of user's PPPoE sessions in a
// Table: RouterOS names a PPPoE server's dynamic interface <pppoe-USER>.
func PPPoEInterface(user string) string { return "<pppoe-" + user + ">" }

// Set replaces the table: byIface maps an interface name, or
// AllInterfaces, to its parameters. A link with neither an entry of its
// own nor an AllInterfaces entry sends no RAs. byIface must not change
// afterwards.
func (t *Table) Set(byIface map[string]Params) {
	gen := uint64(1)
	if old := t.v.Load(); old != nil {
		gen = old.gen + 1
	}
	t.v.Store(&tableVersion{gen: gen, byIface: byIface})
}

// Gen is the table's version: it changes at every Set, so a session that
// saw it already need not look again.
func (t *Table) Gen() uint64 {
	if t == nil {
		return 0
	}
	if v := t.v.Load(); v != nil {
		return v.gen
	}
	return 0
}

// Lookup returns the parameters for the link named iface: its own entry,
// else the AllInterfaces one. ok is false when neither exists (the link
// is not an advertising interface).
func (t *Table) Lookup(iface string) (p Params, ok bool) {
	if t == nil {
		return DefaultParams(), true
	}
	v := t.v.Load()
	if v == nil {
		return DefaultParams(), true
	}
	if p, ok := v.byIface[iface]; ok {
		return p, true
	}
	p, ok = v.byIface[AllInterfaces]
	return p, ok
}
