// Package server is the PPPoE access concentrator for every RouterOS
// "/interface pppoe-server server" entry: one AF_PACKET socket per physical
// interface, the discovery engine (RFC 2516 §5) per interface and VLAN stack,
// admission (max-sessions, one-session-per-host, bounds on half-open
// sessions), and the demultiplexing of session frames (RFC 2516 §6) to one
// goroutine per session.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/shrink"
)

// Conn is an access interface's frame socket; *afpacket.Conn is one. Its
// WriteFrame must not keep b once it returns: the server writes frames
// from reused buffers.
type Conn interface {
	pppoe.FrameConn
	Close() error
}

// Port is an opened physical access interface.
type Port struct {
	Conn    Conn
	Ifindex int
	MAC     net.HardwareAddr
}

// Admission refusals; the client gets a PADS with AC-System-Error (RFC 2516
// §5.4) carrying the error's text.
var (
	// ErrMaxSessions: the server's max-sessions established sessions are
	// up.
	ErrMaxSessions = errors.New("server: max-sessions reached")
	// ErrMaxStarting: Options.MaxStarting sessions are negotiating.
	ErrMaxStarting = errors.New("server: max-starting reached")
	// ErrMaxStartingPerHost: the client has Options.MaxStartingPerHost
	// sessions negotiating.
	ErrMaxStartingPerHost = errors.New("server: max-starting-per-host reached")
)

// DefaultPADTRate is how many PADTs per second a port sends for session
// frames of unknown sessions.
const DefaultPADTRate = 10

// Bounds on half-open sessions: admitted by a PADR, IPCP not opened yet.
// Each costs a goroutine and about 10 kB until it opens or its setup
// deadline passes, and a PADR costs the sender one frame, so without a
// bound a PADR flood takes memory and every max-sessions slot.
const (
	// DefaultMaxStarting bounds them over all servers (accel-ppp's
	// max-starting): about 10 MB, and four times the 256 setups in
	// flight at which bench-sessions is already CPU-bound, so a
	// reconnect storm is limited by the CPU, not by this bound.
	DefaultMaxStarting = 1000
	// DefaultMaxStartingPerHost bounds them per client (MAC on an
	// interface and VLAN stack): a CPE negotiates one session at a time,
	// two leaves room for one that restarted mid-setup, or two PPPoE
	// clients behind one MAC.
	DefaultMaxStartingPerHost = 2
)

// Half-open "session down" lines pass at this rate a second with this
// burst; the rest are summed up every halfOpenLogInterval.
const (
	halfOpenLogRate     = 2
	halfOpenLogBurst    = 20
	halfOpenLogInterval = 10 * time.Second
)

// ConfigurableAAA is an AAA backend that follows the configuration: the
// local secrets, profiles and pools.
type ConfigurableAAA interface {
	Update(s aaa.Settings) error
}

// ConfigAAA is an AAA backend that follows the whole configuration, not
// only the local secrets (RADIUS: /ppp aaa, /radius, /radius incoming,
// /system identity); Apply gives it cfg instead of Update.
type ConfigAAA interface {
	Configure(cfg *config.Config) error
}

// CountingAAA is an AAA backend with counters to report.
type CountingAAA interface {
	Counters() aaa.Counters
}

// Options are what the access concentrator needs besides the configuration.
type Options struct {
	// AAA checks credentials and gives sessions their attributes. When
	// it is also a Configurable (aaa.Local is), Apply updates it; when a
	// CountingAAA, Counters reports its counters.
	AAA aaa.Backend
	// DataPlane forwards the sessions' traffic.
	DataPlane session.DataPlane
	// Observers are told of every session's life (accounting).
	Observers []session.Observer
	// Open opens a physical interface; nil uses afpacket.Listen.
	Open func(ifname string) (Port, error)
	// CookieKey is the AC-Cookie HMAC key; nil draws one.
	CookieKey []byte
	// ServerDUID is the DHCPv6 server's DUID on every session
	// (session.Settings.ServerDUID); nil: each session's DUID-LL.
	ServerDUID dhcpv6.DUID
	// KeepaliveTimeout and EchoInterval, when set, override every server's
	// keepalive-timeout and the 1 s probe period (tests).
	KeepaliveTimeout, EchoInterval time.Duration
	// DiscoveryLimiter, if set, bounds the PADIs and PADRs of every port
	// (pppoe.Limits). Leave it nil where the data plane's xdp_access_in
	// applies the limits (pppoe.Limiter says why).
	DiscoveryLimiter *pppoe.Limiter
	// PADTRate limits PADTs for unknown sessions per port; 0 means
	// DefaultPADTRate.
	PADTRate int
	// SetupLatency, if set, gets each session's PADR → NetworkUp time
	// (a histogram's Observe).
	SetupLatency func(time.Duration)
	// MaxStarting and MaxStartingPerHost bound half-open sessions, over
	// all servers and per client; 0 means DefaultMaxStarting and
	// DefaultMaxStartingPerHost, negative no bound.
	MaxStarting, MaxStartingPerHost int
	// SetupTimeout bounds a session's time from PADR to IPCP opened; 0
	// means session.DefaultSetupTimeout.
	SetupTimeout time.Duration
	// IDs hands out the sessions' handles; nil starts at 1.
	IDs *session.IDs
	// SessionIDs hands out PPPoE session ids; nil starts a new allocator.
	// A restarted pppoed passes one set to where the last run's left off
	// (control/state), so that no id is handed out twice.
	SessionIDs *pppoe.SessionIDs
	// State, if set, gets a record of every session as it comes up,
	// changes and ends (journal.go), for a restarted pppoed: a
	// *state.Writer, which writes off the session loops, or a
	// *state.Store, which writes before it returns.
	State Journal
	// Resume, if set, is called once by New with the server configured
	// and its interfaces open but not yet read: the place to adopt the
	// previous run's sessions (restart.Reconcile with the server as
	// Adopter), so that no frame of theirs meets an unknown session and
	// a PADT. An error fails New.
	Resume func(*Server) error
	// Log: one line per session event at Info, discovery at Debug.
	Log *zap.Logger
}

// Server is the access concentrator.
type Server struct {
	opts Options
	log  *zap.Logger
	ids  *pppoe.SessionIDs
	ctx  context.Context
	stop context.CancelFunc
	// sched runs the sessions: a few loops, none a goroutine per session.
	sched *session.Scheduler
	wg    sync.WaitGroup // sessions (until their end is handled) and goroutines
	c     counters

	halfOpenLog *session.HalfOpenLog
	// nd is the /ipv6 nd table every session reads before its RAs,
	// replaced whole at each Apply (ra.Table).
	nd *ra.Table

	// applyMu serializes what opens and closes ports: Apply,
	// OpenMissing, InterfaceGone and InterfaceAppeared.
	applyMu sync.Mutex

	mu       sync.RWMutex
	cfg      *config.Config
	bindings map[serverKey]binding
	ports    map[string]*port
	// sessions, byID and byMAC index every live session: shrink.Maps,
	// so after a mass teardown they do not keep the tables of the peak.
	sessions shrink.Map[sessionKey, *live] // by circuit and PPPoE id, for frames
	byID     shrink.Map[session.ID, *live] // by handle, for removal
	// byMAC holds every session of sessions by client MAC, chained
	// through live.sameMAC: one-session-per-host finds a host's sessions
	// without going through all of them under mu for each PADR.
	byMAC shrink.Map[[6]byte, *live]
	// Admission's counts: established sessions per server (what
	// max-sessions bounds), half-open ones in all and per client, and
	// the half-open attempts by client and Host-Uniq.
	established  map[serverKey]int
	halfOpen     int
	hostHalfOpen map[pppoe.Circuit]int
	attempts     map[attemptKey]*live
	retired      pppoe.Counters // discovery counters of removed discovery servers
	closed       bool
	// holding: New has not served the ports yet (Options.Resume runs).
	holding bool
	// prepared are the previous run's links decoded by Prepare, by
	// handle, until Adopt takes them; nil once Options.Resume is done.
	prepared map[uint64]link.Saved
	// missing are physical interfaces an enabled server is configured on
	// that are not open, with why: they could not be opened, or went away
	// (InterfaceGone). Apply, OpenMissing and InterfaceAppeared try them
	// again.
	missing map[string]error

	traffic traffic
}

type sessionKey struct {
	c   pppoe.Circuit
	sid uint16
}

// attemptKey is one client's setup attempt: RFC 2516 lets a host tell its
// PADRs apart only by Host-Uniq.
type attemptKey struct {
	c        pppoe.Circuit
	hostUniq string
}

// slot is what a live session counts as for admission.
type slot uint8

const (
	slotNone        slot = iota // ended, or replaced and ending
	slotHalfOpen                // admitted, IPCP not opened yet
	slotEstablished             // IPCP opened once: counts for max-sessions
)

// live is one running session and the server entry it belongs to.
type live struct {
	key     sessionKey
	server  serverKey
	attempt attemptKey
	sess    *session.Session
	slot    slot   // s.mu
	acMAC   []byte // our MAC towards the client
	// trafficAt is l's place in traffic.live, -1 once retired
	// (traffic.mu).
	trafficAt int
	// sameMAC is the next session of the same client MAC in byMAC (s.mu).
	sameMAC *live
}

// New starts the access concentrator for cfg's servers.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.AAA == nil || opts.DataPlane == nil {
		return nil, errors.New("server: AAA and data plane are required")
	}
	if opts.Open == nil {
		opts.Open = listen
	}
	if opts.PADTRate <= 0 {
		opts.PADTRate = DefaultPADTRate
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.MaxStarting == 0 {
		opts.MaxStarting = DefaultMaxStarting
	}
	if opts.MaxStartingPerHost == 0 {
		opts.MaxStartingPerHost = DefaultMaxStartingPerHost
	}
	if opts.SetupTimeout < 0 {
		return nil, errors.New("server: negative setup timeout")
	}
	if opts.IDs == nil {
		opts.IDs = session.NewIDs(1)
	}
	if opts.SessionIDs == nil {
		opts.SessionIDs = pppoe.NewSessionIDs()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Log, ids: opts.SessionIDs, ctx: ctx, stop: stop,
		sched:       session.NewScheduler(ctx, 0),
		halfOpenLog: session.NewHalfOpenLog(opts.Log, halfOpenLogRate, halfOpenLogBurst),
		nd:          &ra.Table{},
		cfg:         config.New(), bindings: map[serverKey]binding{}, ports: map[string]*port{},
		missing:     map[string]error{},
		established: map[serverKey]int{}, hostHalfOpen: map[pppoe.Circuit]int{}, attempts: map[attemptKey]*live{},
		traffic: traffic{retired: map[string]session.Stats{}},
		holding: true,
	}
	if err := s.Apply(cfg); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Resume != nil {
		if err := opts.Resume(s); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.mu.Lock()
	s.holding, s.prepared = false, nil
	ports := make([]*port, 0, len(s.ports))
	for _, p := range s.ports {
		ports = append(ports, p)
	}
	s.mu.Unlock()
	for _, p := range ports {
		go p.serve()
	}
	s.wg.Add(1)
	go s.flushHalfOpenLog()
	return s, nil
}

// flushHalfOpenLog sums up the held-back half-open lines periodically.
func (s *Server) flushHalfOpenLog() {
	defer s.wg.Done()
	t := time.NewTicker(halfOpenLogInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.halfOpenLog.Flush()
		}
	}
}

func listen(name string) (Port, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return Port{}, fmt.Errorf("server: %w", err)
	}
	c, err := afpacket.Listen(ifi)
	if err != nil {
		return Port{}, fmt.Errorf("server: %s: %w", name, err)
	}
	return Port{Conn: c, Ifindex: ifi.Index, MAC: ifi.HardwareAddr}, nil
}

// Apply reconfigures the running access concentrator: AAA (secrets,
// profiles, pools) is updated, interfaces are opened and closed, discovery
// offers the enabled services. Sessions of removed or disabled servers end
// (ReasonShutdown); all others keep running, and changed limits apply to new
// sessions.
//
// Apply is all or nothing: everything that can fail is checked and
// prepared first, and on error nothing has changed. An interface that
// cannot be opened (it does not exist yet, say) is not an error: its
// servers are kept, reported by Invalid, and served once OpenMissing (or
// a later Apply) opens it, as RouterOS keeps an invalid server.
func (s *Server) Apply(cfg *config.Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	bs, err := resolve(cfg)
	if err != nil {
		return err
	}
	newBindings := make(map[serverKey]binding, len(bs))
	for _, b := range bs {
		b.sessions = s.sessionSettings(cfg, b.cfg)
		newBindings[b.key] = b
	}
	want := wanted(bs)

	s.mu.RLock()
	closed := s.closed
	have := make(map[string]*port, len(s.ports))
	for name, p := range s.ports {
		have[name] = p
	}
	s.mu.RUnlock()
	if closed {
		return errors.New("server: closed")
	}
	opened, missing := map[string]*port{}, map[string]error{}
	abort := func() {
		for _, p := range opened {
			p.close()
		}
	}
	for name := range want {
		if have[name] != nil {
			continue
		}
		p, err := s.open(name)
		if err != nil {
			missing[name] = err
			continue
		}
		opened[name] = p
	}
	// Every discovery configuration is checked before anything changes,
	// so none can be refused below. The configuration has passed
	// Validate: what can still be wrong is the interface (no Ethernet
	// address), and that makes its servers invalid, as a missing one does.
	configs := map[string]map[stack]pppoe.ServerConfig{}
	for name, stacks := range want {
		p := have[name]
		if p == nil {
			p = opened[name]
		}
		if p == nil {
			continue
		}
		scs, err := s.discoveryConfigs(cfg, p, stacks)
		if err != nil && opened[name] != nil {
			p.close()
			delete(opened, name)
			missing[name] = err
			continue
		}
		if err != nil {
			abort()
			return fmt.Errorf("server: interface %s: %w", name, err)
		}
		configs[name] = scs
	}
	// AAA last: the one step left that can fail, and it fails whole.
	if c, ok := s.opts.AAA.(ConfigAAA); ok {
		if err := c.Configure(cfg); err != nil {
			abort()
			return fmt.Errorf("server: %w", err)
		}
	} else if c, ok := s.opts.AAA.(ConfigurableAAA); ok {
		if err := c.Update(cfg.LocalAAA()); err != nil {
			abort()
			return fmt.Errorf("server: %w", err)
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		abort()
		return errors.New("server: closed")
	}
	var closing []*port
	for name, p := range s.ports {
		if want[name] == nil {
			closing = append(closing, p)
			for _, d := range p.discs {
				addDiscovery(&s.retired, d.srv.Counters())
			}
			delete(s.ports, name)
		}
	}
	for name, p := range opened {
		s.ports[name] = p
	}
	for name, scs := range configs {
		s.setDiscovery(s.ports[name], scs)
	}
	// Sessions whose server is gone, disabled or moved end. Most changes
	// (a secret, a profile) leave every server as it was: then no session
	// is looked at.
	var ending []*live
	if changed := changedServers(s.bindings, newBindings); len(changed) > 0 {
		for _, l := range s.sessions.All() {
			if changed[l.server] {
				ending = append(ending, l)
			}
		}
	}
	for name, err := range missing {
		if old, ok := s.missing[name]; !ok || old.Error() != err.Error() {
			s.log.Warn("server interface unavailable: its servers are invalid until it can be opened",
				zap.String("iface", name), zap.Error(err))
		}
	}
	s.cfg, s.bindings, s.missing = cfg, newBindings, missing
	// Live sessions take it at their next RA (session.Settings.ND).
	s.nd.Set(cfg.NDTable())
	holding := s.holding
	s.mu.Unlock()

	for _, p := range opened {
		if !holding {
			go p.serve()
		}
	}
	for _, l := range ending {
		l.sess.Stop(session.ReasonShutdown)
	}
	for _, l := range ending {
		<-l.sess.Done()
	}
	for _, p := range closing {
		p.close()
	}
	return nil
}

// OpenMissing tries again to open the interfaces of enabled servers that
// could not be opened (see Invalid), and serves those it opens. It returns
// their names. It is the hook for whatever learns that an interface
// appeared: a periodic retry, or a netlink link watcher.
func (s *Server) OpenMissing() []string {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.RLock()
	names := make([]string, 0, len(s.missing))
	for name := range s.missing {
		names = append(names, name)
	}
	s.mu.RUnlock()
	var out []string
	for _, name := range names {
		if ok, _ := s.openMissing(name); ok {
			out = append(out, name)
		}
	}
	return out
}

// openMissing opens the physical interface name for the enabled servers
// on it and serves it, unless it is open already or no server wants it;
// on failure it stays missing, with why. s.applyMu held: ports change
// under it only.
func (s *Server) openMissing(name string) (bool, error) {
	s.mu.RLock()
	cfg, bindings := s.cfg, s.bindings
	s.mu.RUnlock()
	fail := func(err error) (bool, error) {
		s.mu.Lock()
		s.missing[name] = err
		s.mu.Unlock()
		return false, err
	}
	var group []binding
	for _, b := range bindings {
		if b.port == name {
			group = append(group, b)
		}
	}
	stacks := wanted(group)[name]
	if stacks == nil {
		return false, nil
	}
	p, err := s.open(name)
	if err != nil {
		return fail(err)
	}
	scs, err := s.discoveryConfigs(cfg, p, stacks)
	if err != nil {
		p.close()
		return fail(err)
	}
	s.mu.Lock()
	if s.closed || s.ports[name] != nil {
		s.mu.Unlock()
		p.close()
		return false, nil
	}
	delete(s.missing, name)
	s.ports[name] = p
	s.setDiscovery(p, scs)
	s.mu.Unlock()
	s.log.Info("server interface opened", zap.String("iface", name), zap.Int("ifindex", p.Ifindex))
	go p.serve()
	return true, nil
}

// Invalid returns the enabled servers that cannot run, by config.Server
// Key (interface/service-name), with the reason: RouterOS's I flag.
func (s *Server) Invalid() map[string]error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]error{}
	for _, b := range s.bindings {
		if b.cfg.Disabled {
			continue
		}
		if err, ok := s.missing[b.port]; ok {
			out[b.cfg.Key()] = fmt.Errorf("interface %s: %w", b.port, err)
		}
	}
	return out
}

// open opens a physical access interface as a port.
func (s *Server) open(name string) (*port, error) {
	p, err := s.opts.Open(name)
	if err != nil {
		return nil, err
	}
	pt := &port{Port: p, name: name, s: s, discs: map[stack]*disc{}, limit: newLimiter(s.opts.PADTRate)}
	pt.later = pppoe.NewLater(func(b []byte) error {
		err := p.Conn.WriteFrame(b)
		if err != nil {
			s.log.Debug("write", zap.String("iface", name), zap.Error(err))
		}
		return err
	}, 0)
	return pt, nil
}

// wanted groups the enabled bindings by physical interface and VLAN stack.
func wanted(bs []binding) map[string]map[stack][]binding {
	want := map[string]map[stack][]binding{}
	for _, b := range bs {
		if b.cfg.Disabled {
			continue
		}
		if want[b.port] == nil {
			want[b.port] = map[stack][]binding{}
		}
		want[b.port][b.stack] = append(want[b.port][b.stack], b)
	}
	return want
}

// setDiscovery gives p exactly the discovery servers of scs, keeping those
// of stacks it had (and their cookies and counters). The configurations
// have passed Validate. s.mu held.
func (s *Server) setDiscovery(p *port, scs map[stack]pppoe.ServerConfig) {
	for st, d := range p.discs {
		if _, ok := scs[st]; !ok {
			addDiscovery(&s.retired, d.srv.Counters())
			delete(p.discs, st)
		}
	}
	for st, sc := range scs {
		if d := p.discs[st]; d != nil {
			if err := d.srv.SetConfig(sc); err != nil {
				// Validated before: a bug if it happens.
				s.log.Error("discovery config refused", zap.String("iface", p.name+st.String()), zap.Error(err))
			}
			continue
		}
		s.addDisc(p, st, sc)
	}
}

// changedServers returns the servers whose sessions must end going from
// old to new: removed, disabled, or moved to another interface or VLAN.
func changedServers(old, new map[serverKey]binding) map[serverKey]bool {
	out := map[serverKey]bool{}
	for k, ob := range old {
		nb, ok := new[k]
		if !ok || nb.cfg.Disabled || nb.port != ob.port || nb.stack != ob.stack {
			out[k] = true
		}
	}
	return out
}

// discoveryConfigs returns the discovery configurations of an interface's
// VLAN stacks, checked.
func (s *Server) discoveryConfigs(cfg *config.Config, p *port, stacks map[stack][]binding) (map[stack]pppoe.ServerConfig, error) {
	out := make(map[stack]pppoe.ServerConfig, len(stacks))
	for st, group := range stacks {
		sc := s.discoveryConfig(cfg, p, group)
		if err := sc.Validate(); err != nil {
			return nil, fmt.Errorf("%s%s: %w", p.name, st, err)
		}
		out[st] = sc
	}
	return out, nil
}

// addDisc starts the discovery server of a port's VLAN stack. s.mu held.
func (s *Server) addDisc(p *port, st stack, sc pppoe.ServerConfig) {
	d := &disc{port: p, stack: st}
	d.srv = pppoe.NewServer(sc, &admission{s: s, d: d}, s.log.With(zap.String("iface", p.name+st.String())))
	p.discs[st] = d
}

// discoveryConfig folds the enabled servers of one interface and VLAN stack
// into a discovery configuration.
func (s *Server) discoveryConfig(cfg *config.Config, p *port, group []binding) pppoe.ServerConfig {
	sc := pppoe.ServerConfig{ACName: cfg.Identity.Name, MAC: p.MAC, Ifindex: p.Ifindex, CookieKey: s.opts.CookieKey,
		Limiter: s.opts.DiscoveryLimiter}
	delays := map[string]config.PADODelay{}
	for _, b := range group {
		sc.ServiceNames = append(sc.ServiceNames, b.cfg.ServiceName)
		if m := uint16(min(b.cfg.MaxMTU, b.cfg.MaxMRU)); m > sc.MaxPayload {
			sc.MaxPayload = m
		}
		if len(b.cfg.PADODelay) > 0 {
			delays[b.cfg.ServiceName] = b.cfg.PADODelay
		}
	}
	slices.Sort(sc.ServiceNames)
	if len(delays) > 0 {
		sc.PADODelay = func(offer []string) (time.Duration, bool) { return padoDelay(delays, offer, s.active()) }
	}
	return sc
}

// padoDelay is the pado-delay of a PADO offering services, at active
// sessions: each service's delay is its server entry's (the entry named
// so, else the one with an empty service-name, which serves any, as
// bindingFor picks), and the offer waits the shortest delay of those that
// answer, since the AC would serve any of them. It is silent only when
// every offered service is.
func padoDelay(delays map[string]config.PADODelay, offer []string, active int) (time.Duration, bool) {
	var best time.Duration
	answer := false
	for _, name := range offer {
		pd, ok := delays[name]
		if !ok {
			pd = delays[""]
		}
		d, ok := pd.Select(active)
		if ok && (!answer || d < best) {
			best, answer = d, true
		}
	}
	return best, answer
}

// active counts the AC's sessions for pado-delay, as accel-ppp does: every
// session from its PADS on, half-open ones included, over all servers, so
// a burst of setups raises the delay before the sessions are up.
func (s *Server) active() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.halfOpen
	for _, e := range s.established {
		n += e
	}
	return n
}

// Sessions returns a snapshot of every live session, for /ppp active print.
func (s *Server) Sessions() []session.Snapshot {
	ls := s.liveSessions()
	out := make([]session.Snapshot, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.sess.Snapshot())
	}
	// In the order they started, as RouterOS prints items by .id.
	slices.SortFunc(out, func(a, b session.Snapshot) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// liveSessions returns every live session, collected under s.mu: what
// its callers do with each (take the session's own lock) is done outside.
func (s *Server) liveSessions() []*live {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ls := make([]*live, 0, s.sessions.Len())
	for _, l := range s.sessions.All() {
		ls = append(ls, l)
	}
	return ls
}

// QueueDrops returns, by session, what the data plane's shaper queue
// dropped of its download outside the BPF (session.QueueDropper), read
// for all sessions at once; nil if the data plane queues none.
func (s *Server) QueueDrops() (map[session.ID]uint64, error) {
	qd, ok := s.opts.DataPlane.(session.QueueDropper)
	if !ok {
		return nil, nil
	}
	drops, err := qd.QueueDrops()
	if err != nil {
		return nil, err
	}
	ls := s.liveSessions()
	out := map[session.ID]uint64{}
	for _, l := range ls {
		if h, ok := l.sess.DataPlaneHandle(); ok {
			if n := drops(h); n != 0 {
				out[l.sess.ID()] = n
			}
		}
	}
	return out, nil
}

// Session returns the live session with handle id.
func (s *Server) Session(id session.ID) (*session.Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l := s.byID.Get(id); l != nil {
		return l.sess, true
	}
	return nil, false
}

// Remove ends the sessions with the handles ids, as /ppp active remove
// does, and waits for them to be cleaned up. It returns how many it ended:
// handles of sessions that have ended already are skipped.
func (s *Server) Remove(ids ...session.ID) int {
	s.mu.RLock()
	var ls []*live
	for _, id := range ids {
		l := s.byID.Get(id)
		if l == nil {
			continue
		}
		select {
		case <-l.sess.Done():
			// Ended: its loop is about to take it out of byID (the
			// end callback runs after Done).
			continue
		default:
		}
		ls = append(ls, l)
	}
	s.mu.RUnlock()
	for _, l := range ls {
		l.sess.Stop(session.ReasonAdmin)
	}
	for _, l := range ls {
		<-l.sess.Done()
	}
	return len(ls)
}

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	c := Counters{
		Ended:          map[session.Reason]uint64{},
		AuthFailures:   map[auth.Method]uint64{},
		RefusedBy:      map[string]uint64{},
		Refused:        s.c.refused.Load(),
		LateDuplicates: s.c.lateDuplicates.Load(),
		UnknownSession: s.c.unknown.Load(),
		UnknownPADT:    s.c.unknownPADT.Load(),
		QueueDrops:     s.c.queueDrops.Load(),
		NoServer:       s.c.noServer.Load(),
		Setups:         s.c.setups.Load(),
		SetupTime:      time.Duration(s.c.setupTime.Load()),
		Traffic:        s.traffic.sum(),
	}
	if a, ok := s.opts.AAA.(CountingAAA); ok {
		c.AAA = a.Counters()
	}
	c.States = s.States()
	for r := range s.c.ended {
		if n := s.c.ended[r].Load(); n > 0 {
			c.Ended[session.Reason(r)] = n
		}
	}
	for m := range s.c.authFailures {
		if n := s.c.authFailures[m].Load(); n > 0 {
			c.AuthFailures[auth.Method(m)] = n
		}
	}
	for l := range s.c.refusedBy {
		if n := s.c.refusedBy[l].Load(); n > 0 {
			c.RefusedBy[limit(l).String()] = n
		}
	}
	s.mu.RLock()
	c.HalfOpen = s.halfOpen
	for _, n := range s.established {
		c.Established += n
	}
	c.Discovery = s.retired
	for _, p := range s.ports {
		for _, d := range p.discs {
			addDiscovery(&c.Discovery, d.srv.Counters())
		}
	}
	s.mu.RUnlock()
	return c
}

// States returns the number of live sessions in each state, as Counters
// does, without the rest of the counters: a few atomic loads, whatever
// the number of sessions.
func (s *Server) States() [session.NumStates]int64 {
	var out [session.NumStates]int64
	for i := range out {
		out[i] = s.c.states[i].Load()
	}
	return out
}

// Close ends every session (LCP Terminate-Request, PADT, data-plane entry
// removed, address returned), then closes the interfaces.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ports := s.ports
	s.ports = map[string]*port{}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.sched.Wait()
	s.halfOpenLog.Flush()
	for _, p := range ports {
		p.close()
	}
	return nil
}

// ended is called once a session's Run has returned.
func (s *Server) ended(l *live) {
	s.traffic.retire(l)
	s.mu.Lock()
	s.removeSession(l)
	if s.byID.Get(l.sess.ID()) == l {
		s.byID.Delete(l.sess.ID())
	}
	s.release(l)
	s.mu.Unlock()
	s.ids.Release(l.key.c.MAC, l.key.sid)
}

// release gives up what l counts as for admission. s.mu held.
// addSession enters l in sessions and byMAC; s.mu held.
func (s *Server) addSession(l *live) {
	if old := s.sessions.Get(l.key); old != nil {
		s.removeSession(old)
	}
	s.sessions.Set(l.key, l)
	l.sameMAC = s.byMAC.Get(l.key.c.MAC)
	s.byMAC.Set(l.key.c.MAC, l)
}

// removeSession takes l out of sessions and byMAC if it is there; s.mu held.
func (s *Server) removeSession(l *live) {
	if s.sessions.Get(l.key) != l {
		return
	}
	s.sessions.Delete(l.key)
	mac := l.key.c.MAC
	if s.byMAC.Get(mac) == l {
		if l.sameMAC == nil {
			s.byMAC.Delete(mac)
		} else {
			s.byMAC.Set(mac, l.sameMAC)
		}
	} else {
		for p := s.byMAC.Get(mac); p != nil; p = p.sameMAC {
			if p.sameMAC == l {
				p.sameMAC = l.sameMAC
				break
			}
		}
	}
	l.sameMAC = nil
}

func (s *Server) release(l *live) {
	switch l.slot {
	case slotHalfOpen:
		s.halfOpen--
		if s.hostHalfOpen[l.key.c]--; s.hostHalfOpen[l.key.c] <= 0 {
			delete(s.hostHalfOpen, l.key.c)
		}
		if s.attempts[l.attempt] == l {
			delete(s.attempts, l.attempt)
		}
	case slotEstablished:
		s.established[l.server]--
	}
	l.slot = slotNone
}

// establish moves l from half-open to established as its IPCP opens:
// false if its server has max-sessions established sessions meanwhile.
func (s *Server) establish(l *live) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.slot != slotHalfOpen {
		// Replaced or shut down meanwhile: whoever released it ends it.
		return true
	}
	if b, ok := s.bindings[l.server]; ok && b.cfg.MaxSessions > 0 && s.established[l.server] >= b.cfg.MaxSessions {
		return false
	}
	s.release(l)
	l.slot = slotEstablished
	s.established[l.server]++
	return true
}

// lookup returns the live session of a circuit and id.
func (s *Server) lookup(k sessionKey) *live {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions.Get(k)
}

// sendFunc wraps PPP frames in PPPoE session frames to c (RFC 2516 §6).
// The session's Ethernet and PPPoE headers are encoded once; each frame
// is that header, the PPP protocol and the information, put together in
// a pooled buffer that goes back to the pool once written: nothing is
// allocated per frame.
func sendFunc(p *port, c pppoe.Circuit, sid uint16) func(ppp.Frame) error {
	hdr, err := pppoe.MarshalFrame(c.HardwareAddr(), p.MAC, c.VLANList(), &pppoe.Packet{Code: pppoe.CodeSession, SessionID: sid})
	if err != nil {
		err = fmt.Errorf("server: session %d: %w", sid, err)
		return func(ppp.Frame) error { return err }
	}
	return func(f ppp.Frame) error {
		n := 2 + len(f.Information) // the PPPoE payload: protocol and information
		if n > 0xffff {
			return fmt.Errorf("server: session %d: %d-byte PPP frame exceeds PPPoE's LENGTH", sid, n)
		}
		bp := framePool.Get().(*[]byte)
		b := append((*bp)[:0], hdr...)
		// LENGTH is the header's last two bytes (RFC 2516 §4).
		b[len(hdr)-2], b[len(hdr)-1] = byte(n>>8), byte(n)
		b = append(b, byte(f.Protocol>>8), byte(f.Protocol))
		b = append(b, f.Information...)
		err := p.Conn.WriteFrame(b)
		*bp = b
		framePool.Put(bp)
		return err
	}
}

// framePool holds the buffers sendFunc builds frames in (Conn.WriteFrame
// keeps none).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// mpQueue is the frame queue of a session that may run multilink: MP
// fragments of the client's data go through it.
const mpQueue = 512

// sessionSettings are what the sessions of a server entry share, one
// value for all of them rather than a copy in each.
func (s *Server) sessionSettings(cfg *config.Config, srv config.Server) *session.Settings {
	keepalive := time.Duration(srv.KeepaliveTimeout)
	if s.opts.KeepaliveTimeout > 0 {
		keepalive = s.opts.KeepaliveTimeout
	}
	queue := 0 // session.DefaultQueue
	if srv.MRRU != 0 {
		// MP fragments pass through the session's queue: room for a
		// TCP window's worth of them (about 2 per full-size packet).
		queue = mpQueue
	}
	return &session.Settings{
		Link:             linkConfig(cfg, srv),
		AAA:              s.opts.AAA,
		DataPlane:        s.opts.DataPlane,
		KeepaliveTimeout: keepalive,
		EchoInterval:     s.opts.EchoInterval,
		SetupTimeout:     s.opts.SetupTimeout,
		ServerDUID:       s.opts.ServerDUID,
		ND:               s.nd,
		HalfOpenLog:      s.halfOpenLog,
		Queue:            queue,
		Hooks:            s.hooks(),
		Log:              s.log,
	}
}

// linkConfig is the PPP link configuration of a server entry.
func linkConfig(cfg *config.Config, srv config.Server) link.Config {
	lc := link.Config{
		MaxMRU: uint16(srv.MaxMRU),
		MaxMTU: uint16(srv.MaxMTU),
		Name:   cfg.Identity.Name,
		// mrru (validated by config): 0 is disabled, MRRU rejected.
		Multilink: lcp.MultilinkPolicy{MRRU: uint16(srv.MRRU)},
	}
	for _, name := range srv.Authentication {
		if m, err := auth.ParseMethod(name); err == nil {
			lc.Methods = append(lc.Methods, m)
		}
	}
	return lc
}
