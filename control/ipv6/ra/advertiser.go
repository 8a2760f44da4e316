package ra

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// Router constants of RFC 4861 §10.
const (
	MaxInitialRtrAdvertInterval = 16 * time.Second
	MaxInitialRtrAdvertisements = 3
	MinDelayBetweenRAs          = 3 * time.Second
	MaxRADelayTime              = 500 * time.Millisecond
)

// Defaults are RouterOS's /ipv6 nd and /ipv6 nd prefix defaults
// (ra-interval=3m20s-10m, ra-lifetime=30m, valid-lifetime=4w2d,
// preferred-lifetime=1w), which are also RFC 4861 §6.2.1's.
const (
	DefaultMinInterval       = 200 * time.Second
	DefaultMaxInterval       = 600 * time.Second
	DefaultRouterLifetime    = 30 * time.Minute
	DefaultValidLifetime     = 30 * 24 * time.Hour
	DefaultPreferredLifetime = 7 * 24 * time.Hour
)

// Config is what one session's Router Advertisements say. The zero values
// of the durations take the defaults above.
type Config struct {
	// LocalID is our IPv6CP Interface-Identifier: RAs come from
	// fe80::LocalID, the address the client takes as its default router.
	LocalID ipv6.InterfaceID
	// Prefix is the session's link /64 (the profile's
	// remote-ipv6-prefix-pool or the secret's remote-ipv6-prefix),
	// announced on-link and for autonomous configuration. Invalid (zero)
	// sends RAs without prefix information, for DHCPv6-only links.
	Prefix netip.Prefix
	// Managed and Other are the M and O flags (RFC 4861 §4.2): addresses
	// or other configuration by DHCPv6.
	Managed, Other bool
	// MTU is the link MTU announced in an MTU option; 0 sends none.
	MTU uint32
	// DNS is the profile's IPv6 dns-server, sent as RDNSS (RFC 8106).
	DNS []netip.Addr
	// DNSLifetime is RDNSS's lifetime; 0 is 3 × MaxInterval (RFC 8106 §5.1).
	DNSLifetime time.Duration
	// HopLimit is Cur Hop Limit for the client; 0 is unspecified.
	HopLimit uint8
	// RouterLifetime is how long the client may use us as default router.
	RouterLifetime time.Duration
	// MinInterval and MaxInterval bound the unsolicited RA period
	// (MinRtrAdvInterval, MaxRtrAdvInterval of RFC 4861 §6.2.1).
	MinInterval, MaxInterval time.Duration
	// ValidLifetime and PreferredLifetime are the prefix's (RFC 4861 §4.6.2).
	ValidLifetime, PreferredLifetime time.Duration
	// Rand draws the random delays; nil seeds one from the runtime.
	Rand *rand.Rand
}

// withDefaults fills the zero durations and checks RFC 4861 §6.2.1's
// bounds.
func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MaxInterval, DefaultMaxInterval)
	if c.MinInterval == 0 {
		c.MinInterval = min(DefaultMinInterval, c.MaxInterval*3/4)
	}
	def(&c.RouterLifetime, DefaultRouterLifetime)
	def(&c.ValidLifetime, DefaultValidLifetime)
	def(&c.PreferredLifetime, DefaultPreferredLifetime)
	def(&c.DNSLifetime, 3*c.MaxInterval)
	switch {
	case c.MaxInterval < 4*time.Second || c.MaxInterval > 1800*time.Second:
		return c, fmt.Errorf("ra: max interval %v outside 4s..30m", c.MaxInterval)
	case c.MinInterval < 3*time.Second || c.MinInterval > c.MaxInterval*3/4:
		return c, fmt.Errorf("ra: min interval %v outside 3s..%v (0.75 × max)", c.MinInterval, c.MaxInterval*3/4)
	case c.RouterLifetime < 0 || c.RouterLifetime > 9000*time.Second:
		return c, fmt.Errorf("ra: router lifetime %v outside 0..2h30m", c.RouterLifetime)
	case c.PreferredLifetime > c.ValidLifetime:
		return c, fmt.Errorf("ra: preferred lifetime %v longer than valid lifetime %v", c.PreferredLifetime, c.ValidLifetime)
	case c.Prefix.IsValid() && (!c.Prefix.Addr().Is6() || c.Prefix.Addr().Is4In6() || c.Prefix.Bits() != 64 || c.Prefix.Masked() != c.Prefix):
		return c, fmt.Errorf("ra: prefix %v: want a masked IPv6 /64 (RFC 4862 §5.5.3)", c.Prefix)
	case c.LocalID == ipv6.InterfaceID{}:
		return c, errors.New("ra: zero local interface identifier (RFC 5072 §4.1)")
	}
	for _, d := range c.DNS {
		if !d.Is6() || d.Is4In6() || d.IsMulticast() || d.IsUnspecified() {
			return c, fmt.Errorf("ra: dns-server %v is not an IPv6 unicast address", d)
		}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return c, nil
}

// Advertiser is the server side of Router Discovery for one session: it
// decides when RAs go out (RFC 4861 §6.2.4 initial and periodic ones,
// §6.2.6 answers to solicitations) and builds them. It holds no goroutine
// or timer: the session loop calls Step when Next says.
type Advertiser struct {
	cfg  Config
	src  netip.Addr
	ra   []byte // the multicast RA; only the destination differs otherwise
	sent int    // unsolicited RAs sent, for the initial fast ones

	nextPeriodic  time.Time
	lastMulticast time.Time
	pending       []reply
	running       bool
}

// reply is a solicited RA waiting for its random delay.
type reply struct {
	at  time.Time
	dst netip.Addr
}

// NewAdvertiser checks cfg and returns a stopped Advertiser.
func NewAdvertiser(cfg Config) (*Advertiser, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Advertiser{cfg: cfg, src: ipv6.LinkLocal(cfg.LocalID)}
	if a.ra, err = a.build(ipv6.AllNodes, cfg.RouterLifetime); err != nil {
		return nil, err
	}
	return a, nil
}

// Source is the link-local address RAs come from.
func (a *Advertiser) Source() netip.Addr { return a.src }

// Message is the RA this advertiser sends, as ndp types.
func (a *Advertiser) Message(routerLifetime time.Duration) *ndp.RouterAdvertisement {
	c := a.cfg
	m := &ndp.RouterAdvertisement{
		CurrentHopLimit:      c.HopLimit,
		ManagedConfiguration: c.Managed,
		OtherConfiguration:   c.Other,
		RouterLifetime:       routerLifetime,
	}
	if c.Prefix.IsValid() {
		m.Options = append(m.Options, &ndp.PrefixInformation{
			PrefixLength:                   uint8(c.Prefix.Bits()),
			OnLink:                         true,
			AutonomousAddressConfiguration: true,
			ValidLifetime:                  c.ValidLifetime,
			PreferredLifetime:              c.PreferredLifetime,
			Prefix:                         c.Prefix.Addr(),
		})
	}
	if c.MTU != 0 {
		m.Options = append(m.Options, ndp.NewMTU(c.MTU))
	}
	if len(c.DNS) > 0 {
		m.Options = append(m.Options, &ndp.RecursiveDNSServer{Lifetime: c.DNSLifetime, Servers: c.DNS})
	}
	return m
}

func (a *Advertiser) build(dst netip.Addr, routerLifetime time.Duration) ([]byte, error) {
	return marshalND(a.Message(routerLifetime), a.src, dst)
}

// Start makes the link advertising (the session's IPv6CP is up): the
// first RA goes at now.
func (a *Advertiser) Start(now time.Time) {
	a.running = true
	a.sent = 0
	a.nextPeriodic = now
	a.pending = nil
}

// Solicited schedules the answer to a valid RS (RFC 4861 §6.2.6): after a
// random delay up to MaxRADelayTime, unicast to a solicitor that has an
// address, multicast otherwise, and no multicast sooner than
// MinDelayBetweenRAs after the previous one.
func (a *Advertiser) Solicited(now time.Time, s Solicitation) {
	if !a.running {
		return
	}
	delay := time.Duration(a.cfg.Rand.Int64N(int64(MaxRADelayTime) + 1))
	r := reply{at: now.Add(delay), dst: s.Src}
	if s.Src.IsUnspecified() {
		r.dst = ipv6.AllNodes
		if !a.lastMulticast.IsZero() {
			if earliest := a.lastMulticast.Add(MinDelayBetweenRAs + delay); r.at.Before(earliest) {
				r.at = earliest
			}
		}
	}
	for _, p := range a.pending {
		if p.dst == r.dst {
			return // one answer already on its way covers this solicitation
		}
	}
	a.pending = append(a.pending, r)
}

// Receive takes an ICMPv6 datagram the session received: a valid Router
// Solicitation schedules an answer (see Solicited); anything else is an
// error and changes nothing.
func (a *Advertiser) Receive(now time.Time, pkt []byte) error {
	s, err := ParseSolicitation(pkt)
	if err != nil {
		return err
	}
	a.Solicited(now, s)
	return nil
}

// Next is when Step must next be called; false when nothing is scheduled.
func (a *Advertiser) Next() (time.Time, bool) {
	if !a.running {
		return time.Time{}, false
	}
	t := a.nextPeriodic
	for _, p := range a.pending {
		if p.at.Before(t) {
			t = p.at
		}
	}
	return t, true
}

// Step returns the RAs due at now, each a whole IPv6 datagram.
func (a *Advertiser) Step(now time.Time) ([][]byte, error) {
	if !a.running {
		return nil, nil
	}
	var out [][]byte
	multicast := false
	keep := a.pending[:0]
	for _, p := range a.pending {
		switch {
		case p.at.After(now):
			keep = append(keep, p)
		case p.dst == ipv6.AllNodes:
			multicast = true
		default:
			b, err := a.build(p.dst, a.cfg.RouterLifetime)
			if err != nil {
				return out, err
			}
			out = append(out, b)
		}
	}
	a.pending = keep
	if !now.Before(a.nextPeriodic) {
		multicast = true
		a.sent++
		a.nextPeriodic = now.Add(a.interval())
	}
	if multicast {
		out = append(out, a.ra)
		a.lastMulticast = now
	}
	return out, nil
}

// interval draws the next unsolicited period: uniform in
// [MinInterval, MaxInterval], at most MaxInitialRtrAdvertInterval for the
// first MaxInitialRtrAdvertisements (RFC 4861 §6.2.4).
func (a *Advertiser) interval() time.Duration {
	lo, hi := a.cfg.MinInterval, a.cfg.MaxInterval
	d := lo + time.Duration(a.cfg.Rand.Int64N(int64(hi-lo)+1))
	if a.sent < MaxInitialRtrAdvertisements && d > MaxInitialRtrAdvertInterval {
		d = MaxInitialRtrAdvertInterval
	}
	return d
}

// Stop ends advertising (IPv6CP down or the session ending) and returns
// the final RA with Router Lifetime zero (RFC 4861 §6.2.5), so the client
// stops using us as its default router at once.
func (a *Advertiser) Stop() ([]byte, error) {
	if !a.running {
		return nil, nil
	}
	a.running = false
	a.pending = nil
	return a.build(ipv6.AllNodes, 0)
}
