package ra

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// Host constants of RFC 4861 §10.
const (
	MaxRtrSolicitationDelay = time.Second
	RtrSolicitationInterval = 4 * time.Second
	MaxRtrSolicitations     = 3
)

// minIPv6MTU is the smallest MTU an RA may announce (RFC 8200 §5).
const minIPv6MTU = 1280

// Address is one address formed by SLAAC (RFC 4862 §5.5.3).
type Address struct {
	Prefix    netip.Prefix // the advertised /64
	Addr      netip.Addr   // Prefix with our interface identifier
	Valid     time.Duration
	Preferred time.Duration
}

// Configuration is what a client takes from one Router Advertisement.
type Configuration struct {
	// Router is the default router (the RA's source) and RouterLifetime
	// how long it is one; zero means it is not a default router.
	Router         netip.Addr
	RouterLifetime time.Duration
	// Managed and Other are the M and O flags: DHCPv6 for addresses or for
	// other configuration.
	Managed, Other bool
	// HopLimit is the advertised Cur Hop Limit; 0 is unspecified.
	HopLimit uint8
	// Addresses are those formed from prefixes with the A flag.
	Addresses []Address
	// MTU is the advertised link MTU; 0 when absent or not acceptable.
	MTU uint32
	// DNS and DNSLifetime are the RDNSS servers (RFC 8106); a lifetime of
	// zero tells the client to stop using them.
	DNS         []netip.Addr
	DNSLifetime time.Duration
}

// Autoconfigure is stateless address autoconfiguration from a validated
// RA (RFC 4862 §5.5.3) for a host with interface identifier id on a link
// of MTU linkMTU (0 when unknown): every prefix information option with
// the A flag, not link-local, whose preferred lifetime is not longer than
// its valid one and whose length leaves 64 bits for id, yields an address.
// The MTU is taken when it is at least 1280 and not above linkMTU (RFC
// 4861 §6.3.4).
func Autoconfigure(ad Advertisement, id ipv6.InterfaceID, linkMTU uint32) Configuration {
	m := ad.Message
	c := Configuration{
		Router:         ad.Src,
		RouterLifetime: m.RouterLifetime,
		Managed:        m.ManagedConfiguration,
		Other:          m.OtherConfiguration,
		HopLimit:       m.CurrentHopLimit,
	}
	for _, o := range m.Options {
		switch o := o.(type) {
		case *ndp.PrefixInformation:
			if !o.AutonomousAddressConfiguration || o.PreferredLifetime > o.ValidLifetime || o.PrefixLength != 64 {
				continue
			}
			p, err := o.Prefix.Prefix(int(o.PrefixLength))
			if err != nil || p.Addr().IsLinkLocalUnicast() {
				continue
			}
			addr, err := ipv6.WithInterfaceID(p, id)
			if err != nil {
				continue
			}
			c.Addresses = append(c.Addresses, Address{Prefix: p, Addr: addr, Valid: o.ValidLifetime, Preferred: o.PreferredLifetime})
		case *ndp.MTU:
			if o.MTU >= minIPv6MTU && (linkMTU == 0 || o.MTU <= linkMTU) {
				c.MTU = o.MTU
			}
		case *ndp.RecursiveDNSServer:
			c.DNS = append(c.DNS, o.Servers...)
			c.DNSLifetime = o.Lifetime
		}
	}
	return c
}

// Solicitor sends a host's Router Solicitations when its interface comes
// up (RFC 4861 §6.3.7): the first after a random delay up to
// MaxRtrSolicitationDelay, then every RtrSolicitationInterval, at most
// MaxRtrSolicitations, until an RA arrives.
type Solicitor struct {
	src  netip.Addr
	rand *rand.Rand
	next time.Time
	sent int
	done bool
}

// NewSolicitor returns a Solicitor sending from fe80::id; r draws the
// initial delay (nil seeds one from the runtime).
func NewSolicitor(id ipv6.InterfaceID, r *rand.Rand) *Solicitor {
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Solicitor{src: ipv6.LinkLocal(id), rand: r, done: true}
}

// Start begins soliciting at now (IPv6CP opened).
func (s *Solicitor) Start(now time.Time) {
	s.sent, s.done = 0, false
	s.next = now.Add(time.Duration(s.rand.Int64N(int64(MaxRtrSolicitationDelay) + 1)))
}

// Next is when Step must next be called; false when soliciting is over.
func (s *Solicitor) Next() (time.Time, bool) { return s.next, !s.done }

// Step returns the RS due at now, or nil.
func (s *Solicitor) Step(now time.Time) ([]byte, error) {
	if s.done || now.Before(s.next) {
		return nil, nil
	}
	s.sent++
	if s.sent >= MaxRtrSolicitations {
		s.done = true
	}
	s.next = now.Add(RtrSolicitationInterval)
	return MarshalSolicitation(s.src)
}

// Received stops soliciting: a valid RA arrived.
func (s *Solicitor) Received() { s.done = true }

// Sent is the number of RSs sent since Start.
func (s *Solicitor) Sent() int { return s.sent }

// twoHours is RFC 4862 §5.5.3 (e)'s bound on how far an RA may shorten an
// address's valid lifetime.
const twoHours = 2 * time.Hour

// ValidLifetime is the valid lifetime an address keeps when an RA
// advertises advertised for its prefix while remaining is left (RFC 4862
// §5.5.3 (e)): an RA may lengthen it at will but shorten it to no less than
// two hours, so a forged RA cannot take an address away at once.
func ValidLifetime(remaining, advertised time.Duration) time.Duration {
	switch {
	case advertised > twoHours || advertised > remaining:
		return advertised
	case remaining <= twoHours:
		return remaining
	}
	return twoHours
}
