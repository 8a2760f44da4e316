package ra

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// Router constants of RFC 4861 §10. MIN_DELAY_BETWEEN_RAS is a
// parameter (Params.MinDelay, DefaultMinDelay).
const (
	MaxInitialRtrAdvertInterval = 16 * time.Second
	MaxInitialRtrAdvertisements = 3
	MaxRADelayTime              = 500 * time.Millisecond
)

// Config is one session's Router Advertisements: what the session has
// (identifier, prefix, MTU, DNS) and the operator's Params.
type Config struct {
	// LocalID is our IPv6CP Interface-Identifier: RAs come from
	// fe80::LocalID, the address the client takes as its default router.
	LocalID ipv6.InterfaceID
	// Prefix is the session's link /64 (the profile's
	// remote-ipv6-prefix-pool or the secret's remote-ipv6-prefix),
	// announced on-link and for autonomous configuration. Invalid (zero)
	// sends RAs without prefix information, for DHCPv6-only links.
	Prefix netip.Prefix
	// Other sets the O flag (RFC 4861 §4.2) whatever Params.Other says:
	// the session's DHCPv6 server has something to give.
	Other bool
	// MTU is the link's MTU, announced in an MTU option unless
	// Params.MTU says otherwise; 0 with Params.MTU 0 sends none.
	MTU uint32
	// DNS is the profile's IPv6 dns-server, sent as RDNSS (RFC 8106)
	// when Params.AdvertiseDNS.
	DNS []netip.Addr
	// DNSLifetime is RDNSS's lifetime; 0 is 3 × MaxInterval (RFC 8106 §5.1).
	DNSLifetime time.Duration
	// Params are the operator's; nil is DefaultParams.
	Params *Params
	// Rand draws the random delays; nil seeds one from the runtime.
	Rand *rand.Rand
}

// withDefaults fills in the defaults and checks the session's part; the
// parameters are checked by Params.Check.
func (c Config) withDefaults() (Config, Params, error) {
	p := DefaultParams()
	if c.Params != nil {
		p = *c.Params
	}
	if err := p.Check(); err != nil {
		return c, p, fmt.Errorf("ra: %w", err)
	}
	switch {
	case c.Prefix.IsValid() && (!c.Prefix.Addr().Is6() || c.Prefix.Addr().Is4In6() || c.Prefix.Bits() != 64 || c.Prefix.Masked() != c.Prefix):
		return c, p, fmt.Errorf("ra: prefix %v: want a masked IPv6 /64 (RFC 4862 §5.5.3)", c.Prefix)
	case c.LocalID == ipv6.InterfaceID{}:
		return c, p, errors.New("ra: zero local interface identifier (RFC 5072 §4.1)")
	}
	for _, d := range c.DNS {
		if !d.Is6() || d.Is4In6() || d.IsMulticast() || d.IsUnspecified() {
			return c, p, fmt.Errorf("ra: dns-server %v is not an IPv6 unicast address", d)
		}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return c, p, nil
}

// Advertiser is the server side of Router Discovery for one session: it
// decides when RAs go out (RFC 4861 §6.2.4 initial and periodic ones,
// §6.2.6 answers to solicitations) and builds them. It holds no goroutine
// or timer: the session loop calls Step when Next says.
type Advertiser struct {
	cfg  Config
	p    Params
	src  netip.Addr
	ra   []byte // the multicast RA; only the destination differs otherwise
	sent int    // unsolicited RAs sent, for the initial fast ones

	nextPeriodic  time.Time
	lastMulticast time.Time
	pending       []reply
	running       bool
	// quiet: no /ipv6 nd entry applies to the link (SetParams), which is
	// then no advertising interface (RFC 4861 §6.2.2): nothing is sent.
	// retire: it just became one of those; the next Step sends the
	// final RA (§6.2.5).
	quiet, retire bool
}

// reply is a solicited RA waiting for its random delay.
type reply struct {
	at  time.Time
	dst netip.Addr
}

// NewAdvertiser checks cfg and returns a stopped Advertiser.
func NewAdvertiser(cfg Config) (*Advertiser, error) {
	cfg, p, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Advertiser{cfg: cfg, p: p, src: ipv6.LinkLocal(cfg.LocalID)}
	if a.ra, err = a.build(ipv6.AllNodes, p.RouterLifetime); err != nil {
		return nil, err
	}
	return a, nil
}

// Params returns the parameters in use, and false when the link is not
// advertising (SetParams with none).
func (a *Advertiser) Params() (Params, bool) { return a.p, !a.quiet }

// SetParams changes what the next RAs say (the configuration changed):
// p, or, when ok is false, that no /ipv6 nd entry applies to the link any
// more, in which case the next Step sends a final RA with router lifetime
// zero (RFC 4861 §6.2.5) and nothing after. A link that becomes
// advertising again starts over as at Start (§6.2.4). A shorter period
// takes effect at once: the next unsolicited RA is drawn again if the old
// draw is later than the new maximum. An invalid p changes nothing.
func (a *Advertiser) SetParams(now time.Time, p Params, ok bool) error {
	if !ok {
		if !a.quiet {
			a.quiet, a.retire = true, a.running
			a.pending = nil
			if a.retire {
				a.nextPeriodic = now // the final RA goes at once
			}
		}
		return nil
	}
	if err := p.Check(); err != nil {
		return fmt.Errorf("ra: %w", err)
	}
	old := a.p
	a.p = p
	b, err := a.build(ipv6.AllNodes, p.RouterLifetime)
	if err != nil {
		a.p = old
		return err
	}
	a.ra = b
	switch {
	case a.quiet:
		a.quiet, a.retire = false, false
		if a.running {
			a.Start(now)
		}
	case a.running && a.nextPeriodic.After(now.Add(p.MaxInterval)):
		a.nextPeriodic = now.Add(a.interval())
	}
	return nil
}

// Source is the link-local address RAs come from.
func (a *Advertiser) Source() netip.Addr { return a.src }

// Message is the RA this advertiser sends, as ndp types.
func (a *Advertiser) Message(routerLifetime time.Duration) *ndp.RouterAdvertisement {
	c, p := a.cfg, a.p
	m := &ndp.RouterAdvertisement{
		CurrentHopLimit:      p.HopLimit,
		ManagedConfiguration: p.Managed,
		OtherConfiguration:   p.Other || c.Other,
		RouterLifetime:       routerLifetime,
		ReachableTime:        p.ReachableTime,
		RetransmitTimer:      p.RetransTimer,
	}
	if routerLifetime != 0 {
		// RFC 4191 §2.2: a router that is no default router sends the
		// preference as medium (zero).
		m.RouterSelectionPreference = p.Preference
	}
	if c.Prefix.IsValid() {
		m.Options = append(m.Options, &ndp.PrefixInformation{
			PrefixLength:                   uint8(c.Prefix.Bits()),
			OnLink:                         true,
			AutonomousAddressConfiguration: true,
			ValidLifetime:                  p.ValidLifetime,
			PreferredLifetime:              p.PreferredLifetime,
			Prefix:                         c.Prefix.Addr(),
		})
	}
	if mtu := cmp.Or(p.MTU, c.MTU); mtu != 0 {
		m.Options = append(m.Options, ndp.NewMTU(mtu))
	}
	if len(c.DNS) > 0 && p.AdvertiseDNS {
		m.Options = append(m.Options, &ndp.RecursiveDNSServer{Lifetime: cmp.Or(c.DNSLifetime, 3*p.MaxInterval), Servers: c.DNS})
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
	if !a.running || a.quiet {
		return
	}
	delay := time.Duration(a.cfg.Rand.Int64N(int64(MaxRADelayTime) + 1))
	r := reply{at: now.Add(delay), dst: s.Src}
	if s.Src.IsUnspecified() {
		r.dst = ipv6.AllNodes
		if !a.lastMulticast.IsZero() {
			if earliest := a.lastMulticast.Add(a.p.MinDelay + delay); r.at.Before(earliest) {
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
	if a.quiet {
		// Not advertising: wake at the old pace only to see whether
		// an entry applies again (SetParams).
		var out [][]byte
		if a.retire {
			a.retire = false
			b, err := a.build(ipv6.AllNodes, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		if !now.Before(a.nextPeriodic) {
			a.nextPeriodic = now.Add(a.p.MaxInterval)
		}
		return out, nil
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
			b, err := a.build(p.dst, a.p.RouterLifetime)
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
	lo, hi := a.p.MinInterval, a.p.MaxInterval
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
	if a.quiet && !a.retire {
		return nil, nil // said already, or never advertised
	}
	a.retire = false
	return a.build(ipv6.AllNodes, 0)
}
