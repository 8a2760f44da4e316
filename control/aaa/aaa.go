// Package aaa is the local authentication, authorization and address
// accounting of the access concentrator: RouterOS's /ppp secret, /ppp profile
// and /ip pool.
//
// A Local holds the configuration; each PPP session takes a Lease from it,
// which checks the peer's credentials (PAP, RFC 1334; CHAP-MD5, RFC 1994;
// MS-CHAPv1, RFC 2433; MS-CHAPv2, RFC 2759), hands out the IPCP addresses
// (RFC 1332) and DNS servers (RFC 1877), and gives everything back exactly
// once on Release, whichever way the session ends.
//
// Passwords never appear in errors or logs.
package aaa

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// ServicePPPoE is the /ppp secret service a PPPoE session matches, besides
// "any".
const ServicePPPoE = "pppoe"

// ErrAuthFailed is wrapped by every refusal of a peer's credentials: unknown
// user, wrong password, disabled secret, secret for another service,
// malformed response. The wrapping error says which, without the password.
var ErrAuthFailed = errors.New("aaa: authentication failed")

// ErrOnlyOne is returned when the user's profile has only-one=yes and the
// user already has a live session.
var ErrOnlyOne = errors.New("aaa: user already has a session (only-one)")

// ErrNoAddress is returned when neither the secret nor the profile gives a
// local-address or a remote-address. Pool exhaustion wraps
// pool.ErrNoAddrAvail instead.
var ErrNoAddress = errors.New("aaa: no address configured")

// Profile is a /ppp profile with RouterOS's "default" values resolved
// against the built-in default profile.
type Profile struct {
	Name string
	// LocalAddress and RemoteAddress hold an IPv4 address, a pool name or "".
	LocalAddress, RemoteAddress string
	// DNS are the dns-server addresses offered through IPCP (RFC 1877).
	DNS []netip.Addr
	// OnlyOne refuses a second session of the same user.
	OnlyOne bool
	// ChangeTCPMSS asks the data plane to clamp the TCP MSS to MTU − 40.
	ChangeTCPMSS bool
	// RateLimit is the profile's rate-limit (the default profile's when
	// empty), or the user's secret's, which overrides it.
	RateLimit ratelimit.Limit
	// ShapeTx shapes the download instead of policing it (queue-type).
	ShapeTx bool
	// RemoteIPv6PrefixPool names the /ipv6 pool (of /64s) each session's
	// link prefix comes from, DHCPv6PDPool the one its DHCPv6 delegated
	// prefixes come from; "" for none. Either turns IPv6CP on.
	RemoteIPv6PrefixPool, DHCPv6PDPool string
	// DHCPv6LeaseTime is the lifetime of what the session's DHCPv6
	// server hands out (dhcpv6-lease-time); 0 is dhcp6.DefaultLifetime.
	DHCPv6LeaseTime time.Duration
	// IPv6DNS are dns-server's IPv6 addresses (RDNSS, DHCPv6).
	IPv6DNS []netip.Addr
}

// Counters are the AAA counters, a snapshot for metrics.
type Counters struct {
	// AuthOK and AuthFailed count credential checks.
	AuthOK, AuthFailed uint64
	// OnlyOneRefused counts sessions refused by only-one=yes.
	OnlyOneRefused uint64
	// PoolExhausted counts address requests a pool chain could not serve.
	PoolExhausted uint64
	// Leases is the number of leases not yet released.
	Leases int64
}

// Local is the local AAA backend. It is safe for concurrent use.
type Local struct {
	log *zap.Logger

	mu       sync.Mutex
	secrets  Secrets             // immutable: shared with the configuration
	profiles map[string]*Profile // shared by the leases: never changed, replaced whole
	poolList []string            // pool names in config order, for Reserve
	pools    *pool.Set
	// prefixPools are the /ipv6 pools by name. A lease keeps the pool it
	// took from, so an Update that drops or redefines a pool leaves live
	// sessions' prefixes where they were until they are released.
	prefixPools map[string]*pool.PrefixPool
	online      map[string]int // user → authenticated, unreleased leases

	authOK, authFailed, onlyOne, exhausted atomic.Uint64
	leases                                 atomic.Int64
}

// Secret is a /ppp secret as the local backend checks it.
type Secret struct {
	Name, Password string
	// Profile names the /ppp profile; Service the secret's service
	// ("any", "pppoe", ...).
	Profile, Service string
	// LocalAddress and RemoteAddress override the profile's when valid.
	LocalAddress, RemoteAddress netip.Addr
	Disabled                    bool
	// RateLimit overrides the profile's when Limited (RouterOS: a
	// secret's settings override its profile's).
	RateLimit ratelimit.Limit
	// RemoteIPv6Prefix is a fixed link /64 for the user, reserved in the
	// /ipv6 pool holding it, if any; it turns IPv6CP on.
	RemoteIPv6Prefix netip.Prefix
}

// Secrets finds a secret by name. The configuration's persistent list is
// one (config adapts it without copying), so an Update does not cost per
// secret.
type Secrets interface {
	Get(name string) (Secret, bool)
}

// Settings are what the local backend serves: the configuration's
// secrets, profiles (resolved: no "default" values left) and pools, in
// aaa's own types (config.Config.AAA builds them).
type Settings struct {
	Secrets  Secrets
	Profiles []Profile
	Pools    []pool.Spec
	// PrefixPools are the /ipv6 pools.
	PrefixPools []pool.PrefixSpec
}

// New returns a Local serving s. A nil log logs nothing.
func New(s Settings, log *zap.Logger) (*Local, error) {
	if log == nil {
		log = zap.NewNop()
	}
	l := &Local{log: log, pools: pool.NewSet(), online: map[string]int{}}
	if err := l.Update(s); err != nil {
		return nil, err
	}
	return l, nil
}

// Update swaps in the secrets, profiles and pools of s. Live leases keep
// their addresses (pool.Set.Update keeps handed-out addresses, also of
// removed pools, until they are released) and their resolved profile; only
// new sessions see the new configuration. On error nothing changes.
func (l *Local) Update(s Settings) error {
	profiles := make(map[string]*Profile, len(s.Profiles))
	for _, p := range s.Profiles {
		profiles[p.Name] = &p
	}
	names := make([]string, 0, len(s.Pools))
	for _, p := range s.Pools {
		names = append(names, p.Name)
	}
	prefixPools := make(map[string]*pool.PrefixPool, len(s.PrefixPools))
	for _, ps := range s.PrefixPools {
		l.mu.Lock()
		old := l.prefixPools[ps.Name]
		l.mu.Unlock()
		if old != nil && old.Prefix() == ps.Prefix && old.PrefixLength() == ps.PrefixLength {
			prefixPools[ps.Name] = old
			continue
		}
		p, err := pool.NewPrefixPool(ps)
		if err != nil {
			return fmt.Errorf("aaa: ipv6 pools: %w", err)
		}
		prefixPools[ps.Name] = p
	}
	secrets := s.Secrets
	if secrets == nil {
		secrets = noSecrets{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.pools.Update(s.Pools); err != nil {
		return fmt.Errorf("aaa: pools: %w", err)
	}
	l.secrets, l.profiles, l.poolList, l.prefixPools = secrets, profiles, names, prefixPools
	return nil
}

type noSecrets struct{}

func (noSecrets) Get(string) (Secret, bool) { return Secret{}, false }

// Profile returns the resolved profile name, or false when there is none.
func (l *Local) Profile(name string) (Profile, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.profiles[name]
	if !ok {
		return Profile{}, false
	}
	return *p, true
}

// Counters returns a snapshot of the counters.
func (l *Local) Counters() Counters {
	return Counters{
		AuthOK:         l.authOK.Load(),
		AuthFailed:     l.authFailed.Load(),
		OnlyOneRefused: l.onlyOne.Load(),
		PoolExhausted:  l.exhausted.Load(),
		Leases:         l.leases.Load(),
	}
}

// Online returns how many live, authenticated sessions user has.
func (l *Local) Online(user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.online[user]
}

// PoolUsed returns how many addresses the named pool has handed out, -1 when
// there is no such pool.
func (l *Local) PoolUsed(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pools.Pool(name)
	if p == nil {
		return -1
	}
	return p.Used()
}

// PrefixPoolUsed returns how many prefixes the named /ipv6 pool has
// handed out, -1 when there is no such pool.
func (l *Local) PrefixPoolUsed(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.prefixPools[name]
	if p == nil {
		return -1
	}
	return p.Used()
}

// Begin starts the AAA side of one session offered under service (a /ppp
// secret service: "pppoe" for the access concentrator). The caller must call
// Release on the returned lease when the session ends, however it ends.
func (l *Local) Begin(service string) *Lease {
	l.leases.Add(1)
	return &Lease{l: l, service: service}
}
