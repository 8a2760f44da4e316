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
type Authorized struct {
	User    string
	Profile string
	// Remote is the client's fixed address (Framed-IP-Address); Pool the
	// /ip pool to take one from instead (Framed-Pool).
	Remote netip.Addr
	Pool   string
	// DNS replaces the profile's dns-server.
	DNS []netip.Addr
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
	if a.Pool != "" && !a.Remote.IsValid() || len(a.DNS) > 0 {
		c := *prof // this user's own, the others share the profile
		if a.Pool != "" && !a.Remote.IsValid() {
			c.RemoteAddress = a.Pool
		}
		if len(a.DNS) > 0 {
			c.DNS = append([]netip.Addr(nil), a.DNS...)
		}
		prof = &c
	}
	l.leases.Add(1)
	l.authOK.Add(1)
	return &Lease{
		l: l, service: service, user: a.User, authed: true, profile: prof,
		secret: &Secret{Name: a.User, Profile: a.Profile, RemoteAddress: a.Remote},
	}, nil
}
