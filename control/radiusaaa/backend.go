// Package radiusaaa is the access concentrator's AAA as /ppp aaa
// configures it: the local secrets (control/aaa) and, with
// use-radius=yes, the /radius servers (control/radius) for every other
// user; the RADIUS accounting of the sessions, as their observer; and
// what a Disconnect-Request or CoA-Request does to them.
package radiusaaa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Backend is the access concentrator's AAA as /ppp aaa configures it.
// With use-radius=yes a user who has an enabled local /ppp secret is
// checked locally and any other on the /radius servers of service ppp
// (RouterOS: local secrets first); with use-radius=no it is the local
// secrets alone. With accounting=yes every session that comes up is
// accounted on those servers, a local one with Acct-Authentic Local.
//
// It implements aaa.Backend for the server (and its configuration and
// counters follow server.Apply), session.Observer for the accounting, and
// Handler for /radius incoming's Disconnect and CoA.
type Backend struct {
	local *aaa.Local
	opts  BackendOptions
	log   *zap.Logger

	mu       sync.Mutex
	set      settings
	client   *radius.Client // nil until a /radius server of service ppp exists
	acct     *radius.Accounting
	acctStop context.CancelFunc
	acctDone chan struct{}
	onSent   bool
	dyn      *dynListener
	restored map[string]*radius.Session // accounting restored from the journal, by Acct-Session-Id (resume.go)
	kept     map[uint64]keptSession     // the journal's sessions, read once at the first Resume

	live    sync.Map // session handle (uint64) → *tracked
	adopted sync.Map // resumed, not yet observed: handle → *tracked (resume.go)
}

// BackendOptions are what a Backend needs besides the configuration.
type BackendOptions struct {
	// NASAddress is NAS-IP-Address (or NAS-IPv6-Address) in requests;
	// invalid leaves it out (NAS-Identifier, /system identity, is always
	// sent).
	NASAddress netip.Addr
	// Sessions ends and changes live sessions for Disconnect and CoA;
	// nil answers every one with Error-Cause 503.
	Sessions SessionControl
	// Accounting tunes the accounting queue (tests shorten the retries).
	Accounting radius.AccountingOptions
	// Client tunes the RADIUS client (tests shorten the hold-down).
	Client radius.Options
	// State keeps the sessions' accounting across a restart (resume.go);
	// nil keeps nothing, and adopted sessions are accounted as new ones.
	State Store
	// Resuming says the previous run left its sessions to this one (a
	// planned restart or a crash): no Accounting-On, which would tell the
	// servers that every session of this NAS has ended.
	Resuming bool
	Logger   *zap.Logger
}

// SessionControl is what Disconnect and CoA do to live sessions: the
// server's /ppp active remove, and a change of a session's limits.
type SessionControl interface {
	// Remove ends the sessions (Acct-Terminate-Cause Admin-Reset) and
	// returns how many it ended.
	Remove(ids ...session.ID) int
	// Change applies a CoA to one live session.
	Change(id session.ID, ch radius.Change) error
}

type settings struct {
	useRadius, accounting bool
	interim               time.Duration
	nasID                 string
	servers               []radius.Server
	incoming              config.RadiusIncoming
	dynClients            []radius.DynAuthClient
	defaultProfile        map[[2]string]string // {interface, service-name} → default-profile
}

// tracked is the backend's view of one session, from its authentication
// to its end.
type tracked struct {
	req   aaa.Request // the password left out
	local bool

	mu    sync.Mutex
	user  string
	class [][]byte
	ip    netip.Addr
	v6    radius.IPv6Prefixes
	fixed netip.Prefix // the Access-Accept's Delegated-IPv6-Prefix
	// held are the prefixes delegated to the session at any time, for
	// its Stop: a client's DHCPv6 Release before it hangs up must not
	// leave a RADIUS pool's lease (FreeRADIUS sqlippool frees on a Stop
	// naming the prefix) held until it expires. The Access-Accept's
	// Delegated-IPv6-Prefix comes first and stays; at most maxHeld, the
	// oldest others make way (a client cycling Solicit and Release must
	// not grow it, or the Stop, without bound).
	held []netip.Prefix
	upAt time.Time
	acct *radius.Session
	info radius.SessionInfo // what acct was started with
	// reported is what the last Start or Interim-Update carried, as
	// kept for a restart (keep).
	reported radius.Usage
}

// NewBackend returns a Backend over local; nothing is sent before Update
// gives it a configuration.
func NewBackend(local *aaa.Local, opts BackendOptions) *Backend {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Backend{local: local, opts: opts, log: opts.Logger}
}

// Configure implements server.ConfigAAA: the local secrets, profiles and
// pools, then /ppp aaa, /radius, /radius incoming and /system identity.
// On error nothing of the RADIUS side changes.
func (b *Backend) Configure(cfg *config.Config) error {
	if err := b.local.Update(cfg.LocalAAA()); err != nil {
		return err
	}
	set := settings{
		useRadius:      cfg.AAA.UseRadius,
		accounting:     cfg.AAA.Accounting,
		interim:        time.Duration(cfg.AAA.InterimUpdate),
		nasID:          cfg.Identity.Name,
		servers:        radius.ServersFromConfig(cfg.Radius.Items(), "ppp"),
		incoming:       cfg.RadiusIncoming,
		dynClients:     radius.DynAuthClientsFromConfig(cfg.Radius.Items(), cfg.RadiusIncoming.Address),
		defaultProfile: map[[2]string]string{},
	}
	for _, s := range cfg.Servers.Items() {
		set.defaultProfile[[2]string{s.Interface, s.ServiceName}] = s.DefaultProfile
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(set.servers) > 0 {
		if b.client == nil {
			o := b.opts.Client
			o.NASIdentifier, o.NASAddress, o.Logger = set.nasID, b.opts.NASAddress, b.log
			c, err := radius.NewClient(set.servers, o)
			if err != nil {
				return fmt.Errorf("radius: %w", err)
			}
			b.client = c
			ao := b.opts.Accounting
			ao.Logger = b.log
			if b.opts.State != nil {
				ao.Journal = queueJournal{b}
			}
			b.acct = radius.NewAccounting(c, ao)
			b.restoreQueue()
			ctx, cancel := context.WithCancel(context.Background())
			b.acctStop, b.acctDone = cancel, make(chan struct{})
			go func(a *radius.Accounting, done chan struct{}) { defer close(done); _ = a.Run(ctx) }(b.acct, b.acctDone)
		} else if err := b.client.SetServers(set.servers); err != nil {
			return fmt.Errorf("radius: %w", err)
		}
		b.client.SetNASIdentifier(set.nasID)
	}
	// Accounting-On once, when accounting first has somewhere to go: the
	// servers may close whatever sessions they still think open from a
	// previous run (RFC 2866 §5.1, Acct-Status-Type 7).
	if set.useRadius && set.accounting && b.acct != nil && !b.onSent && !b.opts.Resuming {
		if err := b.acct.On(); err != nil {
			b.log.Warn("radius accounting-on not queued", zap.Error(err))
		} else {
			b.onSent = true
		}
	}
	b.set = set
	b.followIncoming(set)
	return nil
}

// Counters implements server.CountingAAA.
func (b *Backend) Counters() aaa.Counters { return b.local.Counters() }

func (b *Backend) current() (settings, *radius.Client, *radius.Accounting) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.set, b.client, b.acct
}

// Authenticate implements aaa.Backend.
func (b *Backend) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	set, c, _ := b.current()
	t := &tracked{req: req, user: req.User}
	t.req.Password = nil
	// Stored before the session can end: Stopped, from the same session
	// loop, removes it.
	b.live.Store(req.Handle, t)
	if !set.useRadius || c == nil || len(set.servers) == 0 || b.local.HasSecret(req.User, req.Service) {
		t.local = true
		b.local.Authenticate(ctx, req, func(a aaa.Answer) {
			if a.Accept && set.useRadius && set.accounting {
				a.InterimInterval = radius.InterimInterval(set.interim, 0)
			}
			reply(a)
		})
		return
	}
	go func() {
		res, err := c.Authenticate(ctx, b.authRequest(req))
		reply(b.answer(set, req, res, err))
	}()
}

func (b *Backend) authRequest(req aaa.Request) radius.AuthRequest {
	return radius.AuthRequest{
		Method: req.Method, User: req.User, Password: string(req.Password),
		CHAPID: req.CHAPID, Challenge: req.Challenge, Response: req.Response,
		Port: port(req),
	}
}

// port is where req's session is, as RADIUS names it.
func port(req aaa.Request) radius.Port {
	c := req.Circuit
	return radius.Port{
		AcctSessionID:    radius.AcctSessionID(req.Handle),
		NASPort:          uint32(c.SessionID),
		NASPortID:        radius.NASPortID(c.Interface, c.VLANs...),
		CallingStationID: strings.ToUpper(c.MAC.String()),
		CalledStationID:  c.ServiceName,
		CircuitID:        c.CircuitID,
		RemoteID:         c.RemoteID,
	}
}

// answer turns a RADIUS verdict into the session's Answer.
func (b *Backend) answer(set settings, req aaa.Request, res radius.AuthResult, err error) aaa.Answer {
	switch {
	case err != nil:
		return aaa.Answer{Err: fmt.Errorf("%w: RADIUS: %w", aaa.ErrAuthFailed, err), Message: aaa.MessageAuthFailed}
	case !res.Accepted:
		msg := res.ReplyMessage
		if msg == "" {
			msg = aaa.MessageAuthFailed
		}
		return aaa.Answer{Err: fmt.Errorf("%w: user %q (%v): Access-Reject from %s", aaa.ErrAuthFailed, req.User, req.Method, res.Server), Message: msg}
	}
	profName := set.defaultProfile[[2]string{req.Circuit.Interface, req.Circuit.ServiceName}]
	if profName == "" {
		profName = config.DefaultProfile
	}
	remote := res.FramedIP
	// 255.255.255.254: the NAS picks; 255.255.255.255: the user may
	// (RFC 2865 §5.8). Either way the pool or the profile decides here.
	if remote == netip.AddrFrom4([4]byte{255, 255, 255, 254}) || remote == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		remote = netip.Addr{}
	}
	var dns []netip.Addr
	for _, d := range []netip.Addr{res.DNS1, res.DNS2} {
		if d.IsValid() {
			dns = append(dns, d)
		}
	}
	authorized := &aaa.Authorized{User: req.User, Profile: profName, Remote: remote, Pool: res.FramedPool, DNS: dns,
		IPv6Link: res.FramedIPv6Prefix, IPv6LinkPool: res.FramedIPv6Pool, IPv6PDPool: res.DelegatedIPv6Pool, IPv6DNS: res.IPv6DNS,
		IPv6Delegated: res.DelegatedIPv6Prefix}
	lease, err := b.local.Admit(req.Service, *authorized)
	if err != nil {
		msg := aaa.MessageAuthFailed
		if errors.Is(err, aaa.ErrOnlyOne) {
			msg = aaa.MessageOnlyOne
		}
		return aaa.Answer{Err: err, Message: msg}
	}
	prof := lease.Profile()
	v6 := lease.AssignIPv6()
	if v6.Err != nil {
		b.log.Warn("radius: IPv6 off for the session", zap.String("user", req.User), zap.Error(v6.Err))
	}
	a := aaa.Answer{
		Accept:          true,
		Message:         res.ReplyMessage,
		User:            req.User,
		Lease:           lease,
		Remote:          remote,
		Pool:            res.FramedPool,
		DNS:             dns,
		ChangeTCPMSS:    prof.ChangeTCPMSS,
		SessionTimeout:  res.SessionTimeout,
		IdleTimeout:     res.IdleTimeout,
		RateLimit:       b.rateLimit(req, res.RateLimit, prof.RateLimit),
		ShapeTx:         prof.ShapeTx,
		Class:           res.Class,
		Routes:          framedRoutes(res.FramedRoutes),
		Profile:         profName,
		InterimInterval: 0,
		// Delegated-IPv6-Prefix alone turns IPv6CP on too: the session's
		// DHCPv6 server hands it out (RFC 4818).
		IPv6:          v6.On || res.DelegatedIPv6Prefix.IsValid(),
		IPv6Link:      v6.Link,
		IPv6Delegate:  v6.Delegate,
		IPv6Delegated: res.DelegatedIPv6Prefix,
		IPv6DNS:       v6.DNS,
		// The profile's: RADIUS has no attribute for it.
		DHCPv6LeaseTime: prof.DHCPv6LeaseTime,
		Authorized:      authorized,
	}
	if len(res.MSCHAP2Success) > 0 {
		a.AuthenticatorResponse = res.MSCHAP2Success
	}
	a.Local, _ = netip.ParseAddr(prof.LocalAddress)
	if set.accounting {
		a.InterimInterval = radius.InterimInterval(set.interim, res.InterimInterval)
	}
	return a
}

// rateLimit is the session's rate limit: Mikrotik-Rate-Limit when the
// Access-Accept has one that parses, else the profile's (RouterOS: the
// attribute wins). One that does not parse is logged and ignored, never
// fatal to the session.
func (b *Backend) rateLimit(req aaa.Request, attr string, fromProfile ratelimit.Limit) ratelimit.Limit {
	if attr == "" {
		return fromProfile
	}
	l, err := ratelimit.Parse(attr)
	if err != nil {
		b.log.Warn("radius: Mikrotik-Rate-Limit ignored", zap.String("user", req.User), zap.String("value", attr), zap.Error(err))
		return fromProfile
	}
	return l
}

// framedRoutes reads Framed-Route values ("192.0.2.0/24 10.9.0.5 1",
// RFC 2865 §5.22: destination, gateway, metrics); the destination is what
// the session routes. A value that does not parse is left out.
func framedRoutes(vs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range vs {
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(f[0]); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// Observe implements session.Observer: accounting Start when IPCP opens,
// Interim-Update on the session's interim tick, Stop with the final
// counters as the session ends. It never blocks: records are queued.
func (b *Backend) Observe(s *session.Session, at time.Time, e session.Event) {
	v, ok := b.live.Load(uint64(s.ID()))
	if !ok {
		if v, ok = b.takeAdopted(s, e); !ok {
			return
		}
	}
	t := v.(*tracked)
	switch e := e.(type) {
	case session.Authenticated:
		t.mu.Lock()
		if e.Answer.User != "" {
			t.user = e.Answer.User
		} else {
			t.user = e.User
		}
		t.class = e.Answer.Class
		// What the answer fixed; IPv6CP and DHCPv6 tell the rest.
		t.v6 = radius.IPv6Prefixes{Link: e.Answer.IPv6Link}
		if d := e.Answer.IPv6Delegated; d.IsValid() {
			t.v6.Delegated = []netip.Prefix{d}
			t.fixed = d
			t.hold(d)
		}
		t.mu.Unlock()
	case session.NetworkUp:
		if e.Protocol == ppp.ProtocolIPv6CP {
			p := e.IPv6
			t.mu.Lock()
			if len(p.Delegated) == 0 && t.fixed.IsValid() {
				// IPv6CP opens before DHCPv6 has delegated anything;
				// the session will delegate what the Access-Accept
				// fixed, which a Start sent now must name.
				p.Delegated = []netip.Prefix{t.fixed}
			}
			t.mu.Unlock()
			b.setIPv6(t, p)
		}
		b.networkUp(uint64(s.ID()), t, at, e)
	case session.IPv6Prefixes:
		b.setIPv6(t, e.Prefixes)
	case session.Interim:
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.acct != nil {
			u := usage(e.Stats, at.Sub(t.upAt))
			if err := t.acct.Interim(u); err != nil && !errors.Is(err, radius.ErrStopped) {
				b.log.Warn("radius interim update not queued", zap.Error(err))
			}
			b.keep(uint64(s.ID()), t, u)
		}
	case session.Stopping:
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.acct != nil {
			t.stopIPv6()
			cause := e.Reason.TerminateCause()
			if err := t.acct.Stop(usage(e.Stats, at.Sub(t.upAt)), cause); err != nil && !errors.Is(err, radius.ErrStopped) {
				b.log.Warn("radius accounting stop not queued", zap.String("acct_session_id", radius.AcctSessionID(uint64(s.ID()))), zap.Error(err))
			}
		}
	case session.Stopped:
		b.live.Delete(uint64(s.ID()))
		b.forget(uint64(s.ID()))
	}
}

// networkUp starts the accounting of a session as IPCP opens.
func (b *Backend) networkUp(h uint64, t *tracked, at time.Time, e session.NetworkUp) {
	set, _, acct := b.current()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Protocol == ppp.ProtocolIPCP {
		t.ip = e.Entry.IPv4
	}
	// Accounting starts with the session: at the first network protocol
	// to open, IPCP or IPv6CP (an IPv6-only session is accounted too). A
	// second one, or an IPCP renegotiation, keeps it going.
	if !e.SessionUp || t.acct != nil || !set.useRadius || !set.accounting || acct == nil || len(set.servers) == 0 {
		return
	}
	p := port(t.req)
	p.FramedMTU = int(e.Entry.MTU)
	t.upAt = at
	t.info = radius.SessionInfo{User: t.user, Port: p, FramedIP: t.ip, Class: t.class, Local: t.local, IPv6: t.v6}
	t.acct = acct.Session(t.info)
	if err := t.acct.Start(); err != nil {
		b.log.Warn("radius accounting start not queued", zap.String("acct_session_id", p.AcctSessionID), zap.Error(err))
	}
	b.keep(h, t, radius.Usage{})
}

// setIPv6 keeps the session's IPv6 prefixes for its accounting records.
func (b *Backend) setIPv6(t *tracked, p session.Prefixes) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.v6 = radius.IPv6Prefixes{Link: p.Link, Delegated: p.Delegated}
	for _, d := range p.Delegated {
		t.hold(d)
	}
	if t.acct != nil {
		t.acct.SetIPv6(t.v6)
		// A restarted pppoed's Stop names these too (keptSession.Held).
		b.keep(t.req.Handle, t, t.reported)
	}
}

// stopIPv6 makes the session's Stop name every prefix it was delegated,
// released or not (see held); t.mu is held.
func (t *tracked) stopIPv6() {
	v6 := t.v6
	v6.Delegated = slices.Clone(v6.Delegated)
	for _, p := range t.held {
		if !slices.Contains(v6.Delegated, p) {
			v6.Delegated = append(v6.Delegated, p)
		}
	}
	t.acct.SetIPv6(v6)
}

// maxHeld bounds tracked.held: 16 Delegated-IPv6-Prefix attributes take
// at most 16×20 bytes of a Stop's 4,096.
const maxHeld = 16

// hold records p among the prefixes the session was delegated; t.mu is
// held.
func (t *tracked) hold(p netip.Prefix) {
	if slices.Contains(t.held, p) {
		return
	}
	if len(t.held) >= maxHeld {
		// held[0], the Access-Accept's (held first, at Authenticated)
		// or else the first delegated, stays.
		t.held = slices.Delete(t.held, 1, 2)
	}
	t.held = append(t.held, p)
}

func usage(st session.Stats, d time.Duration) radius.Usage {
	return radius.Usage{InOctets: st.BytesUp, OutOctets: st.BytesDown, InPackets: st.PacketsUp, OutPackets: st.PacketsDown, Time: d}
}

// selected returns the live sessions sel names.
func (b *Backend) selected(sel radius.Selector) []session.ID {
	var ids []session.ID
	b.live.Range(func(k, v any) bool {
		t := v.(*tracked)
		t.mu.Lock()
		user, ip := t.user, t.ip
		t.mu.Unlock()
		h := k.(uint64)
		if sel.Matches(radius.AcctSessionID(h), user, ip, t.req.Circuit.MAC.String()) {
			ids = append(ids, session.ID(h))
		}
		return true
	})
	slices.Sort(ids)
	return ids
}

// Disconnect implements Handler: the selected sessions end as
// /ppp active remove ends them (Acct-Terminate-Cause Admin-Reset).
func (b *Backend) Disconnect(_ context.Context, sel radius.Selector) (int, error) {
	ids := b.selected(sel)
	if len(ids) == 0 || b.opts.Sessions == nil {
		return 0, nil
	}
	return b.opts.Sessions.Remove(ids...), nil
}

// Change implements Handler.
func (b *Backend) Change(_ context.Context, sel radius.Selector, ch radius.Change) (int, error) {
	ids := b.selected(sel)
	if len(ids) == 0 || b.opts.Sessions == nil {
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		if err := b.opts.Sessions.Change(id, ch); err != nil {
			if errors.Is(err, session.ErrNotUp) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Queued is the number of accounting records not yet delivered.
func (b *Backend) Queued() int {
	_, _, acct := b.current()
	if acct == nil {
		return 0
	}
	return acct.Len()
}

// Delivered is the number of accounting records a server has answered.
func (b *Backend) Delivered() uint64 {
	_, _, acct := b.current()
	if acct == nil {
		return 0
	}
	return acct.Delivered.Load()
}

// RadiusCounters returns the RADIUS counters for metrics: nil while no
// /radius server serves ppp and /radius incoming is off.
func (b *Backend) RadiusCounters() *radius.Counters {
	b.mu.Lock()
	c, acct, dyn := b.client, b.acct, b.dyn
	b.mu.Unlock()
	if c == nil && dyn == nil {
		return nil
	}
	out := &radius.Counters{}
	if c != nil {
		out.Servers = c.ServerStats()
	}
	if acct != nil {
		out.AccountingQueued = acct.Len()
		out.AccountingDropped, out.AccountingRefused, out.AccountingDelivered = acct.Dropped.Load(), acct.Refused.Load(), acct.Delivered.Load()
	}
	if dyn != nil {
		out.DynAuth = dyn.d.Stats()
	}
	return out
}

// Close sends Accounting-Off after the Stops of the sessions that ended
// (the server is closed first), waits for the queue to drain or ctx,
// and closes the sockets.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	set, acct, c := b.set, b.acct, b.client
	b.stopIncomingLocked()
	b.mu.Unlock()
	var err error
	if acct != nil {
		if set.useRadius && set.accounting && b.onSent {
			err = acct.Off(ctx)
		}
		b.acctStop()
		<-b.acctDone
	}
	if c != nil {
		c.Close()
	}
	return err
}

// dynListener is /radius incoming while accept=yes.
type dynListener struct {
	port   int
	d      *radius.DynAuth
	cancel context.CancelFunc
	done   chan struct{}
}

// followIncoming starts, moves or stops the Disconnect/CoA listener as
// /radius incoming says; b.mu held. A port that cannot be bound is logged
// (an Error: the operator asked for it) and the rest of the configuration
// runs.
func (b *Backend) followIncoming(set settings) {
	in := set.incoming
	if b.dyn != nil && (!in.Accept || b.dyn.port != in.Port) {
		b.stopIncomingLocked()
	}
	if !in.Accept {
		return
	}
	if b.dyn != nil {
		b.dyn.d.SetClients(set.dynClients)
		return
	}
	conn, err := net.ListenPacket("udp", fmt.Sprintf(":%d", in.Port))
	if err != nil {
		b.log.Error("radius incoming: cannot listen", zap.Int("port", in.Port), zap.Error(err))
		return
	}
	d := radius.NewDynAuth(b, radius.DynAuthOptions{Clients: set.dynClients, NASIdentifier: set.nasID, NASAddress: b.opts.NASAddress, Logger: b.log})
	ctx, cancel := context.WithCancel(context.Background())
	l := &dynListener{port: in.Port, d: d, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(l.done); _ = d.Serve(ctx, conn) }()
	b.dyn = l
	b.log.Info("radius incoming: accepting Disconnect and CoA", zap.Int("port", in.Port))
}

// stopIncomingLocked stops the listener; b.mu held.
func (b *Backend) stopIncomingLocked() {
	if b.dyn == nil {
		return
	}
	b.dyn.cancel()
	<-b.dyn.done
	b.dyn = nil
}

// ApplyChange carries out a CoA on one live session: the rate limit
// (Mikrotik-Rate-Limit, through the data plane's Update), Session-Timeout
// and Idle-Timeout. A rate limit that does not parse is refused whole
// with Error-Cause 407 (Invalid-Attribute-Value), before anything changes.
func ApplyChange(s *session.Session, ch radius.Change) error {
	var lim ratelimit.Limit
	if ch.RateLimit != nil {
		var err error
		if lim, err = ratelimit.Parse(*ch.RateLimit); err != nil {
			return &radius.CauseError{Cause: radius.CauseInvalidAttributeValue, Err: err}
		}
	}
	if ch.SessionTimeout != nil || ch.IdleTimeout != nil {
		if err := s.SetLimits(session.Limits{SessionTimeout: ch.SessionTimeout, IdleTimeout: ch.IdleTimeout}); err != nil {
			return err
		}
	}
	if ch.RateLimit != nil {
		return s.Update(func(e session.Entry) session.Entry { e.RateLimit = lim; return e })
	}
	return nil
}
