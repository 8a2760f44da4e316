package aaa

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// Proof is what a peer sent to prove who it is, for one method.
type Proof struct {
	// Method is the authentication protocol in use.
	Method auth.Method
	// User is the Peer-ID (PAP, RFC 1334 §2.2.1) or the Name of the CHAP
	// Response (RFC 1994 §4.1).
	User string
	// Password is the PAP Password (RFC 1334 §2.2.1).
	Password []byte
	// ID is the Identifier of the CHAP Challenge answered (RFC 1994 §4.1).
	ID uint8
	// Challenge is the Challenge Value the authenticator sent.
	Challenge []byte
	// Response is the Response Value: 16 octets for CHAP-MD5 (RFC 1994
	// §4.1), 49 for MS-CHAPv1 (RFC 2433 §4) and MS-CHAPv2 (RFC 2759 §4).
	Response []byte
}

// Result is what a successful check gives back to the authenticator.
type Result struct {
	// User is the authenticated user name.
	User string
	// AuthenticatorResponse is the MS-CHAPv2 "S=<40 hex digits>" the
	// Success message carries (RFC 2759 §5); nil for other methods.
	AuthenticatorResponse []byte
	// Profile is the user's resolved /ppp profile.
	Profile Profile
}

// Addresses are a session's IPCP addresses (RFC 1332 §3.3) and DNS servers
// (RFC 1877 §1.1, §1.3).
type Addresses struct {
	Local, Remote netip.Addr
	DNS           []netip.Addr
}

// Lease is one session's hold on AAA resources: its user (counted for
// only-one) and its addresses. Release gives them back once; calling it again
// does nothing, so every teardown path may call it.
type Lease struct {
	l       *Local
	service string

	mu   sync.Mutex
	user string
	// secret is the user's secret as checked, until the addresses it may
	// fix are assigned; profile is the resolved profile, shared with the
	// user's other leases (Local.profiles) unless the secret overrides
	// part of it.
	secret    *Secret
	profile   *Profile
	authed    bool // counted in l.online
	addrs     Addresses
	addrsDone bool
	owned     []netip.Addr // handed out by a pool, returned on Release
	v6        ipv6Lease    // the IPv6 prefixes, returned on Release
	released  bool
	err       error // last Verify/Addresses outcome, see Err
}

// Authenticate checks p against the /ppp secrets. On success the user's
// only-one slot is taken (ErrOnlyOne if the profile has only-one=yes and the
// user is already online). A lease authenticates once; a second success
// (the peer re-authenticating) must name the same user.
func (le *Lease) Authenticate(p Proof) (Result, error) {
	l := le.l
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.released {
		return Result{}, errors.New("aaa: lease released")
	}
	res, err := le.check(p)
	if err != nil {
		l.authFailed.Add(1)
		return Result{}, err
	}
	if le.authed {
		if le.user != p.User {
			l.authFailed.Add(1)
			return Result{}, fmt.Errorf("%w: user %q: re-authentication as another user", ErrAuthFailed, p.User)
		}
		l.authOK.Add(1)
		res.Profile = *le.profile
		return res, nil
	}
	l.mu.Lock()
	prof, ok := l.profiles[le.secret.Profile]
	if !ok {
		l.mu.Unlock()
		l.authFailed.Add(1)
		return Result{}, fmt.Errorf("%w: user %q: profile %q missing", ErrAuthFailed, p.User, le.secret.Profile)
	}
	if prof.OnlyOne && l.online[p.User] > 0 {
		l.mu.Unlock()
		l.onlyOne.Add(1)
		return Result{}, fmt.Errorf("user %q: %w", p.User, ErrOnlyOne)
	}
	l.online[p.User]++
	l.mu.Unlock()
	l.authOK.Add(1)
	if le.secret.RateLimit.Limited() { // RouterOS: the secret's settings override the profile's
		c := *prof
		c.RateLimit = le.secret.RateLimit
		prof = &c
	}
	le.authed, le.user, le.profile = true, p.User, prof
	res.Profile = *prof
	return res, nil
}

// check verifies p against the secret of p.User and keeps the secret.
func (le *Lease) check(p Proof) (Result, error) {
	le.l.mu.Lock()
	secrets := le.l.secrets
	le.l.mu.Unlock()
	s, ok := secrets.Get(p.User)
	fail := func(why string) (Result, error) {
		return Result{}, fmt.Errorf("%w: user %q (%v): %s", ErrAuthFailed, p.User, p.Method, why)
	}
	switch {
	case !ok:
		return fail("no such secret")
	case s.Disabled:
		return fail("secret disabled")
	case s.Service != "any" && s.Service != "" && s.Service != le.service:
		return fail(fmt.Sprintf("secret is for service %s, not %s", s.Service, le.service))
	}
	secret := []byte(s.Password)
	var res Result
	switch p.Method {
	case auth.PAP:
		if subtle.ConstantTimeCompare(p.Password, secret) != 1 {
			return fail("wrong password")
		}
	case auth.CHAP:
		if !auth.VerifyMD5Response(p.ID, secret, p.Challenge, p.Response) {
			return fail("wrong password")
		}
	case auth.MSCHAPv1:
		good, err := auth.VerifyMSCHAPv1Response(p.Challenge, secret, p.Response)
		if err != nil {
			return fail(fmt.Sprintf("malformed response: %v", err))
		}
		if !good {
			return fail("wrong password")
		}
	case auth.MSCHAPv2:
		var r chap.MSCHAPv2Response
		if err := r.UnmarshalBinary(p.Response); err != nil {
			return fail(fmt.Sprintf("malformed response: %v", err))
		}
		name := auth.StripDomain([]byte(p.User))
		good, err := auth.VerifyNTResponse(p.Challenge, r.PeerChallenge[:], name, secret, r.NTResponse[:])
		if err != nil {
			return fail(fmt.Sprintf("malformed response: %v", err))
		}
		if !good {
			return fail("wrong password")
		}
		ar, err := auth.GenerateAuthenticatorResponse(secret, r.NTResponse[:], r.PeerChallenge[:], p.Challenge, name)
		if err != nil {
			return fail(fmt.Sprintf("authenticator response: %v", err))
		}
		res.AuthenticatorResponse = ar
	default:
		return fail("unsupported method")
	}
	le.secret = &s
	res.User = p.User
	return res, nil
}

// User returns the authenticated user, "" before authentication.
func (le *Lease) User() string {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.user
}

// Profile returns the authenticated user's resolved profile.
func (le *Lease) Profile() Profile {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.profile == nil {
		return Profile{}
	}
	return *le.profile
}

// Assign gives the authenticated session its addresses: local-address
// from the secret, else the profile; remote-address from the secret (reserved
// in the pool that holds it, if any), else the profile's address or pool; DNS
// from the profile. Asked again, it returns the same addresses.
func (le *Lease) Assign() (Addresses, error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	switch {
	case le.released:
		return Addresses{}, errors.New("aaa: lease released")
	case !le.authed:
		return Addresses{}, errors.New("aaa: addresses before authentication")
	case le.addrsDone:
		return le.addrs, nil
	}
	l := le.l
	l.mu.Lock()
	defer l.mu.Unlock()
	var owned []netip.Addr
	undo := func() {
		for _, a := range owned {
			_ = l.pools.Release(a)
		}
	}
	local, err := l.address(le.secret.LocalAddress, le.profile.LocalAddress, false, &owned)
	if err != nil {
		undo()
		return Addresses{}, fmt.Errorf("aaa: user %q: local-address: %w", le.user, err)
	}
	remote, err := l.address(le.secret.RemoteAddress, le.profile.RemoteAddress, true, &owned)
	if err != nil {
		undo()
		return Addresses{}, fmt.Errorf("aaa: user %q: remote-address: %w", le.user, err)
	}
	le.addrs = Addresses{Local: local, Remote: remote, DNS: append([]netip.Addr(nil), le.profile.DNS...)}
	le.addrsDone, le.owned = true, owned
	le.secret = nil // what it fixes is assigned now; it is not kept for the session's life
	return le.addrs, nil
}

// address resolves one address: the secret's if set, else the profile's
// (an address or a pool name). A remote address inside a pool is reserved
// there so the pool never hands it to someone else; the profile's fixed
// local address is shared by every session and reserves nothing. l.mu held.
func (l *Local) address(fromSecret netip.Addr, fromProfile string, remote bool, owned *[]netip.Addr) (netip.Addr, error) {
	fixed := fromSecret
	if !fixed.IsValid() && fromProfile != "" {
		if a, err := netip.ParseAddr(fromProfile); err == nil {
			fixed = a
		} else {
			a, _, err := l.pools.Allocate(fromProfile, netip.Addr{})
			if err != nil {
				if errors.Is(err, pool.ErrNoAddrAvail) {
					l.exhausted.Add(1)
				}
				return netip.Addr{}, fmt.Errorf("pool %q: %w", fromProfile, err)
			}
			*owned = append(*owned, a)
			return a, nil
		}
	}
	if !fixed.IsValid() {
		return netip.Addr{}, ErrNoAddress
	}
	if !remote {
		return fixed, nil
	}
	for _, name := range l.poolList {
		if p := l.pools.Pool(name); p != nil && p.Contains(fixed) {
			if err := p.Reserve(fixed); err != nil {
				return netip.Addr{}, fmt.Errorf("%v in pool %q: %w", fixed, name, err)
			}
			*owned = append(*owned, fixed)
			break
		}
	}
	return fixed, nil
}

// Release returns the lease's pool addresses and its only-one slot. Only the
// first call does anything.
func (le *Lease) Release() {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.released {
		return
	}
	le.released = true
	l := le.l
	if err := le.releaseIPv6(); err != nil {
		l.log.Warn("IPv6 prefix release", zap.String("user", le.user), zap.Error(err))
	}
	l.leases.Add(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range le.owned {
		if err := l.pools.Release(a); err != nil {
			l.log.Warn("address release", zap.String("user", le.user), zap.Stringer("address", a), zap.Error(err))
		}
	}
	le.owned = nil
	if le.authed {
		if l.online[le.user]--; l.online[le.user] <= 0 {
			delete(l.online, le.user)
		}
	}
}

// Resumed is a session a restarted pppoed takes over (control/restart):
// who it was, what it was given, and where its address came from.
type Resumed struct {
	Service string
	User    string
	// Profile is the /ppp profile the session was given; it must still
	// exist.
	Profile string
	// Pool is the pool the remote address was leased from, "" for a
	// fixed one; it must still exist and the address must still be in it.
	Pool          string
	Local, Remote netip.Addr
	DNS           []netip.Addr
	// Handle and Circuit are the session's, as at its authentication; a
	// backend that accounts sessions goes on with them by the handle
	// (Acct-Session-Id).
	Handle  uint64
	Circuit Circuit
	// Class, RateLimit and Routes are what its answer carried (a RADIUS
	// Access-Accept's Class, Mikrotik-Rate-Limit and Framed-Routes): a
	// backend that cannot ask again keeps applying them.
	Class     [][]byte
	RateLimit ratelimit.Limit
	Routes    []netip.Prefix
	// IPv6 is what the session held of IPv6, nil when IPv6CP was not
	// open.
	IPv6 *ResumedIPv6
	// Authorized is what an outside authority (RADIUS) granted the
	// session (Answer.Authorized), nil for a local one: a network
	// protocol not open yet gets its addresses from it, then the
	// profile, as at authentication.
	Authorized *Authorized
}

// Resumer is a Backend that can take a session over without asking the
// peer again: what the state store recorded becomes an accepted Answer
// whose Lease holds the same address and only-one slot.
type Resumer interface {
	Resume(r Resumed) (Answer, error)
}

// Resume implements Resumer: the profile must exist, the address is
// reserved again in its pool (pool.Set.Reserve), and so are its IPv6
// prefixes in their /ipv6 pools; the user is counted online. Nothing is
// checked against the secrets: the peer authenticated in the
// earlier run and PPP does not authenticate twice.
//
// A network protocol that was not open (its peer may open it later, and
// the adopted session answers it as a live one would) gets what
// authentication would have given it: without r.Remote, Assign gives
// the addresses of the secret and the profile then (ErrNoAddress for a
// service without IPv4); without r.IPv6, the IPv6 of the secret and the
// profile is assigned now, as at authentication. For a session an
// outside authority admitted (r.Authorized), what it granted takes the
// secret's place and overrides the profile, as in Admit.
func (l *Local) Resume(r Resumed) (Answer, error) {
	a, err := l.resume(r)
	if err != nil || r.IPv6 != nil && r.Remote.IsValid() {
		return a, err
	}
	le := a.Lease.(*Lease)
	l.mu.Lock()
	secrets := l.secrets // replaced by Update
	l.mu.Unlock()
	le.mu.Lock()
	if au := r.Authorized; au != nil {
		le.secret, le.profile = au.secret(), au.profile(le.profile)
	} else if sec, ok := secrets.Get(r.User); ok {
		le.secret = &sec
	} else {
		le.secret = &Secret{Name: r.User, Profile: r.Profile}
	}
	var v6err error
	if r.IPv6 == nil {
		v6err = le.assignIPv6()
	}
	if r.Remote.IsValid() {
		le.secret = nil // as Assign leaves it: its addresses are given
	} else {
		le.addrs, le.addrsDone = Addresses{}, false
	}
	v6 := le.v6
	le.mu.Unlock()
	if v6err != nil {
		l.log.Warn("IPv6 off for the adopted session", zap.String("user", r.User), zap.Error(v6err))
	}
	if r.IPv6 == nil && v6.on {
		a.IPv6, a.IPv6Link, a.IPv6DNS = true, v6.link, le.profile.IPv6DNS
		a.DHCPv6LeaseTime = le.profile.DHCPv6LeaseTime
		if v6.pd != nil {
			a.IPv6Delegate = v6.pd
		}
	}
	if au := r.Authorized; r.IPv6 == nil && au != nil && au.IPv6Delegated.IsValid() {
		// Delegated-IPv6-Prefix alone turns IPv6CP on, as at
		// authentication (radiusaaa).
		a.IPv6, a.IPv6Delegated = true, au.IPv6Delegated
		a.IPv6DNS, a.DHCPv6LeaseTime = le.profile.IPv6DNS, le.profile.DHCPv6LeaseTime
	}
	return a, nil
}

// resume is Resume for what the record holds.
func (l *Local) resume(r Resumed) (Answer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prof, ok := l.profiles[r.Profile]
	if !ok {
		return Answer{}, fmt.Errorf("aaa: resume user %q: profile %q gone", r.User, r.Profile)
	}
	var v6 ipv6Lease
	if r.IPv6 != nil {
		var err error
		if v6, err = l.resumeIPv6(r.IPv6); err != nil {
			return Answer{}, fmt.Errorf("aaa: resume user %q: %w", r.User, err)
		}
	}
	var owned []netip.Addr
	fail := func(err error) (Answer, error) {
		le := Lease{v6: v6}
		return Answer{}, errors.Join(err, le.releaseIPv6())
	}
	if r.Pool != "" {
		if l.pools.Pool(r.Pool) == nil {
			return fail(fmt.Errorf("aaa: resume user %q: pool %q gone", r.User, r.Pool))
		}
		if err := l.pools.Reserve(r.Pool, r.Remote); err != nil {
			return fail(fmt.Errorf("aaa: resume user %q: %v in pool %q: %w", r.User, r.Remote, r.Pool, err))
		}
		owned = append(owned, r.Remote)
	} else {
		for _, name := range l.poolList {
			if p := l.pools.Pool(name); p != nil && p.Contains(r.Remote) {
				if err := p.Reserve(r.Remote); err != nil {
					return fail(fmt.Errorf("aaa: resume user %q: %v in pool %q: %w", r.User, r.Remote, name, err))
				}
				owned = append(owned, r.Remote)
				break
			}
		}
	}
	l.online[r.User]++
	l.leases.Add(1)
	le := &Lease{l: l, service: r.Service, user: r.User, profile: prof, authed: true,
		addrs:     Addresses{Local: r.Local, Remote: r.Remote, DNS: append([]netip.Addr(nil), r.DNS...)},
		addrsDone: true, owned: owned, v6: v6}
	limit := prof.RateLimit
	if sec, ok := l.secrets.Get(r.User); ok && sec.RateLimit.Limited() {
		limit = sec.RateLimit // as Authenticate: the secret's overrides the profile's
	}
	a := Answer{Accept: true, Lease: le, User: r.User, Local: r.Local, Remote: r.Remote, Pool: r.Pool,
		DNS: le.addrs.DNS, ChangeTCPMSS: prof.ChangeTCPMSS, RateLimit: limit, ShapeTx: prof.ShapeTx,
		Profile: prof.Name, Authorized: r.Authorized}
	if r.IPv6 != nil {
		a.IPv6, a.IPv6Link, a.IPv6Delegated = true, r.IPv6.Link, r.IPv6.Fixed
		a.IPv6DNS = append([]netip.Addr(nil), r.IPv6.DNS...)
		if v6.pd != nil {
			a.IPv6Delegate = v6.pd
		}
	}
	return a, nil
}
