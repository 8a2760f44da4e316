package aaa

import (
	"fmt"
	"net/netip"
)

// HasSecret reports whether user has an enabled /ppp secret for service:
// with /ppp aaa use-radius=yes such a user is checked locally, any other
// on RADIUS (RouterOS: local secrets first).
func (l *Local) HasSecret(user, service string) bool {
	l.mu.Lock()
	secrets := l.secrets
	l.mu.Unlock()
	s, ok := secrets.Get(user)
	return ok && !s.Disabled && (s.Service == "any" || s.Service == "" || s.Service == service)
}

// Authorized is what an outside authority (RADIUS) granted a user: the
// profile whose settings apply (the server's default-profile), and what
// overrides it. Zero fields leave the profile's value.
//
// A session's state record keeps it while one of its network protocols
// is not open (Answer.Authorized, Resumed.Authorized): adopted after a
// restart, the session gives that protocol what the authority granted,
// not the profile's.
type Authorized struct {
	User    string `json:"user"`
	Profile string `json:"profile"`
	// Remote is the client's fixed address (Framed-IP-Address); Pool the
	// /ip pool to take one from instead (Framed-Pool).
	Remote netip.Addr `json:"remote,omitzero"`
	Pool   string     `json:"pool,omitempty"`
	// DNS replaces the profile's dns-server.
	DNS []netip.Addr `json:"dns,omitempty"`
	// IPv6Link is the session's fixed link /64 (Framed-IPv6-Prefix),
	// reserved in the /ipv6 pool holding it, if any; IPv6LinkPool the
	// /ipv6 pool to take one from instead (Framed-IPv6-Pool), in place
	// of the profile's remote-ipv6-prefix-pool.
	IPv6Link     netip.Prefix `json:"ipv6_link,omitzero"`
	IPv6LinkPool string       `json:"ipv6_link_pool,omitempty"`
	// IPv6PDPool replaces the profile's dhcpv6-pd-pool
	// (Delegated-IPv6-Prefix-Pool).
	IPv6PDPool string `json:"ipv6_pd_pool,omitempty"`
	// IPv6DNS replaces the profile's dns-server IPv6 addresses
	// (DNS-Server-IPv6-Address).
	IPv6DNS []netip.Addr `json:"ipv6_dns,omitempty"`
	// IPv6Delegated is a prefix delegated to the session alone
	// (Delegated-IPv6-Prefix): Admit leaves it to the Answer
	// (Answer.IPv6Delegated), a resumed session's late IPv6CP gets it.
	IPv6Delegated netip.Prefix `json:"ipv6_delegated,omitzero"`
}

// profile is prof with a's overrides: this user's own copy when there
// are any, the others share the profile.
func (a Authorized) profile(prof *Profile) *Profile {
	if !(a.Pool != "" && !a.Remote.IsValid() || len(a.DNS) > 0 ||
		a.IPv6LinkPool != "" && !a.IPv6Link.IsValid() || a.IPv6PDPool != "" || len(a.IPv6DNS) > 0) {
		return prof
	}
	c := *prof
	if a.Pool != "" && !a.Remote.IsValid() {
		c.RemoteAddress = a.Pool
	}
	if len(a.DNS) > 0 {
		c.DNS = append([]netip.Addr(nil), a.DNS...)
	}
	if a.IPv6LinkPool != "" && !a.IPv6Link.IsValid() {
		c.RemoteIPv6PrefixPool = a.IPv6LinkPool
	}
	if a.IPv6PDPool != "" {
		c.DHCPv6PDPool = a.IPv6PDPool
	}
	if len(a.IPv6DNS) > 0 {
		c.IPv6DNS = append([]netip.Addr(nil), a.IPv6DNS...)
	}
	return &c
}

// secret is what a fixes for the session, as a /ppp secret would.
func (a Authorized) secret() *Secret {
	return &Secret{Name: a.User, Profile: a.Profile, RemoteAddress: a.Remote, RemoteIPv6Prefix: a.IPv6Link}
}

// AdmittedIPv6 is the IPv6 an admitted lease holds: on when the session
// runs IPv6CP, its link /64 and the pool it delegates from (nil for
// none), and the DNS servers.
type AdmittedIPv6 struct {
	On       bool
	Link     netip.Prefix
	Delegate PrefixAllocator
	DNS      []netip.Addr
	// Err says why IPv6 is off although the answer asked for it (no such
	// pool, pool exhausted, a link prefix that is not a /64); IPv4 goes
	// on regardless.
	Err error
}

// Admit returns the lease of a session whose user an outside authority
// has authenticated: counted for only-one like a local one, its addresses
// resolved (as IPCP starts, by Assign) from the overrides, then the
// profile, from the same pools as local sessions. ErrOnlyOne when the
// profile has only-one=yes and the user is online.
func (l *Local) Admit(service string, a Authorized) (*Lease, error) {
	l.mu.Lock()
	prof, ok := l.profiles[a.Profile]
	if !ok {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: user %q: profile %q missing", ErrAuthFailed, a.User, a.Profile)
	}
	if prof.OnlyOne && l.online[a.User] > 0 {
		l.mu.Unlock()
		l.onlyOne.Add(1)
		return nil, fmt.Errorf("user %q: %w", a.User, ErrOnlyOne)
	}
	l.online[a.User]++
	l.mu.Unlock()
	prof = a.profile(prof)
	l.leases.Add(1)
	l.authOK.Add(1)
	return &Lease{
		l: l, service: service, user: a.User, authed: true, profile: prof, secret: a.secret(),
	}, nil
}

// AssignIPv6 gives an admitted lease its IPv6 prefixes, as a local
// session's are given at authentication: the Authorized link /64 or
// one from its pool (else the profile's), and the pool to delegate
// from. Release returns them.
func (le *Lease) AssignIPv6() AdmittedIPv6 {
	le.mu.Lock()
	defer le.mu.Unlock()
	err := le.assignIPv6()
	v := AdmittedIPv6{On: le.v6.on, Link: le.v6.link, DNS: le.profile.IPv6DNS, Err: err}
	if le.v6.pd != nil {
		v.Delegate = le.v6.pd
	}
	return v
}
