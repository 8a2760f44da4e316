// Package server is the PPPoE access concentrator for every RouterOS
// "/interface pppoe-server server" entry: one AF_PACKET socket per physical
// interface, the discovery engine (RFC 2516 §5) per interface and VLAN stack,
// admission (max-sessions, one-session-per-host), and the demultiplexing of
// session frames (RFC 2516 §6) to one goroutine per session.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Conn is an access interface's frame socket; *afpacket.Conn is one.
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

// ErrMaxSessions refuses a PADR when the server's max-sessions is reached;
// the client gets a PADS with AC-System-Error (RFC 2516 §5.4).
var ErrMaxSessions = errors.New("server: max-sessions reached")

// DefaultPADTRate is how many PADTs per second a port sends for session
// frames of unknown sessions.
const DefaultPADTRate = 10

// Options are what the access concentrator needs besides the configuration.
type Options struct {
	// AAA checks credentials and hands out addresses; Apply updates it.
	AAA *aaa.Local
	// DataPlane forwards the sessions' traffic.
	DataPlane session.DataPlane
	// Open opens a physical interface; nil uses afpacket.Listen.
	Open func(ifname string) (Port, error)
	// CookieKey is the AC-Cookie HMAC key; nil draws one.
	CookieKey []byte
	// KeepaliveTimeout and EchoInterval, when set, override every server's
	// keepalive-timeout and the 1 s probe period (tests).
	KeepaliveTimeout, EchoInterval time.Duration
	// PADTRate limits PADTs for unknown sessions per port; 0 means
	// DefaultPADTRate.
	PADTRate int
	// SetupLatency, if set, gets each session's PADR → NetworkUp time
	// (a histogram's Observe).
	SetupLatency func(time.Duration)
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
	wg   sync.WaitGroup // session goroutines
	c    counters

	applyMu sync.Mutex // serializes Apply and OpenMissing

	mu       sync.RWMutex
	cfg      *config.Config
	bindings map[serverKey]binding
	ports    map[string]*port
	missing  map[string]error // interfaces wanted but not open: why
	sessions map[sessionKey]*live
	count    map[serverKey]int
	retired  pppoe.Counters // discovery counters of removed discovery servers
	closed   bool
}

type sessionKey struct {
	c   pppoe.Circuit
	sid uint16
}

// live is one running session and the server entry it belongs to.
type live struct {
	key     sessionKey
	server  serverKey
	sess    *session.Session
	counted bool // holds a max-sessions slot (s.mu)
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
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Log, ids: pppoe.NewSessionIDs(), ctx: ctx, stop: stop,
		cfg: config.New(), bindings: map[serverKey]binding{}, ports: map[string]*port{}, missing: map[string]error{},
		sessions: map[sessionKey]*live{}, count: map[serverKey]int{},
	}
	if err := s.Apply(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
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
	if err := s.opts.AAA.Update(cfg); err != nil {
		abort()
		return fmt.Errorf("server: %w", err)
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
		for _, l := range s.sessions {
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
	s.mu.Unlock()

	for _, p := range opened {
		go p.serve()
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
	cfg, bindings := s.cfg, s.bindings
	s.mu.RUnlock()
	var out []string
	for _, name := range names {
		p, err := s.open(name)
		if err != nil {
			s.mu.Lock()
			s.missing[name] = err
			s.mu.Unlock()
			continue
		}
		var group []binding
		for _, b := range bindings {
			if b.port == name {
				group = append(group, b)
			}
		}
		scs, err := s.discoveryConfigs(cfg, p, wanted(group)[name])
		if err != nil {
			p.close()
			s.mu.Lock()
			s.missing[name] = err
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			p.close()
			return out
		}
		delete(s.missing, name)
		s.ports[name] = p
		s.setDiscovery(p, scs)
		s.mu.Unlock()
		s.log.Info("server interface opened", zap.String("iface", name))
		go p.serve()
		out = append(out, name)
	}
	return out
}

// Invalid returns the enabled servers that cannot run, by config.Server
// Key (interface/service-name), with the reason: RouterOS's I flag.
func (s *Server) Invalid() map[string]error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]error{}
	for _, b := range s.bindings {
		if err, ok := s.missing[b.port]; ok && !b.cfg.Disabled {
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
	return &port{Port: p, name: name, s: s, discs: map[stack]*disc{}, limit: newLimiter(s.opts.PADTRate)}, nil
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
		d := &disc{port: p, stack: st}
		d.srv = pppoe.NewServer(sc, &admission{s: s, d: d}, s.log.With(zap.String("iface", p.name+st.String())))
		p.discs[st] = d
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

// discoveryConfig folds the enabled servers of one interface and VLAN stack
// into a discovery configuration.
func (s *Server) discoveryConfig(cfg *config.Config, p *port, group []binding) pppoe.ServerConfig {
	sc := pppoe.ServerConfig{ACName: cfg.Identity.Name, MAC: p.MAC, Ifindex: p.Ifindex, CookieKey: s.opts.CookieKey}
	for _, b := range group {
		sc.ServiceNames = append(sc.ServiceNames, b.cfg.ServiceName)
		if m := uint16(min(b.cfg.MaxMTU, b.cfg.MaxMRU)); m > sc.MaxPayload {
			sc.MaxPayload = m
		}
	}
	slices.Sort(sc.ServiceNames)
	return sc
}

// Sessions returns a snapshot of every live session, for /ppp active print.
func (s *Server) Sessions() []session.Snapshot {
	s.mu.RLock()
	ls := make([]*live, 0, len(s.sessions))
	for _, l := range s.sessions {
		ls = append(ls, l)
	}
	s.mu.RUnlock()
	out := make([]session.Snapshot, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.sess.Snapshot())
	}
	slices.SortFunc(out, func(a, b session.Snapshot) int {
		if c := bytes.Compare(a.Circuit.MAC[:], b.Circuit.MAC[:]); c != 0 {
			return c
		}
		return int(a.SessionID) - int(b.SessionID)
	})
	return out
}

// Remove ends every session with PPPoE session id id (ids are unique per
// client MAC, RFC 2516 §4, so there may be several), as /ppp active remove
// does, and waits for them to be cleaned up. It returns how many ended.
func (s *Server) Remove(id uint16) int {
	s.mu.RLock()
	var ls []*live
	for k, l := range s.sessions {
		if k.sid == id {
			ls = append(ls, l)
		}
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
		Refused:        s.c.refused.Load(),
		UnknownSession: s.c.unknown.Load(),
		UnknownPADT:    s.c.unknownPADT.Load(),
		NoServer:       s.c.noServer.Load(),
		Setups:         s.c.setups.Load(),
		SetupTime:      time.Duration(s.c.setupTime.Load()),
		AAA:            s.opts.AAA.Counters(),
	}
	for i := range c.States {
		c.States[i] = s.c.states[i].Load()
	}
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
	s.mu.RLock()
	c.Discovery = s.retired
	for _, p := range s.ports {
		for _, d := range p.discs {
			addDiscovery(&c.Discovery, d.srv.Counters())
		}
	}
	s.mu.RUnlock()
	return c
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
	for _, p := range ports {
		p.close()
	}
	return nil
}

// ended is called once a session's Run has returned.
func (s *Server) ended(l *live) {
	s.mu.Lock()
	if s.sessions[l.key] == l {
		delete(s.sessions, l.key)
	}
	if l.counted {
		l.counted = false
		s.count[l.server]--
	}
	s.mu.Unlock()
	s.ids.Release(l.key.c.MAC, l.key.sid)
}

// lookup returns the live session of a circuit and id.
func (s *Server) lookup(k sessionKey) *live {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[k]
}

// sendFunc wraps PPP frames in PPPoE session frames to c (RFC 2516 §6).
func sendFunc(p *port, c pppoe.Circuit, sid uint16) func(ppp.Frame) error {
	dst, vlans := c.HardwareAddr(), c.VLANList()
	return func(f ppp.Frame) error {
		payload, err := f.MarshalBinary()
		if err != nil {
			return fmt.Errorf("server: session %d: %w", sid, err)
		}
		b, err := pppoe.MarshalFrame(dst, p.MAC, vlans, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: sid, Payload: payload})
		if err != nil {
			return fmt.Errorf("server: session %d: %w", sid, err)
		}
		return p.Conn.WriteFrame(b)
	}
}

// linkConfig is the PPP link configuration of a server entry.
func linkConfig(cfg *config.Config, srv config.Server) link.Config {
	lc := link.Config{
		MaxMRU:     uint16(srv.MaxMRU),
		MaxMTU:     uint16(srv.MaxMTU),
		Name:       cfg.Identity.Name,
		RejectMRRU: true, // multilink is not implemented
	}
	for _, name := range srv.Authentication {
		if m, err := auth.ParseMethod(name); err == nil {
			lc.Methods = append(lc.Methods, m)
		}
	}
	return lc
}
