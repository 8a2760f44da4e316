package pppoe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// FrameConn sends and receives whole Ethernet frames, VLAN tags included.
// *afpacket.Conn satisfies it. Discover and Scan also need
// SetReadDeadline(time.Time) error, which afpacket.Conn has.
type FrameConn interface {
	// ReadFrame reads one frame into b and returns its length.
	ReadFrame(b []byte) (int, error)
	// WriteFrame sends one frame.
	WriteFrame(b []byte) error
}

// deadliner is the part of a connection that lets a read time out.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// ErrUnknownService is returned by an Admission that does not offer the
// requested service; the server answers with a Service-Name-Error PADS
// (RFC 2516 §5.4). Any other Admission error becomes an AC-System-Error.
var ErrUnknownService = errors.New("pppoe: unknown service")

// Admission decides whether a session may start and ends sessions; it is
// where max-sessions, one-session-per-host and the session id allocator
// live. The server calls it without holding any lock.
type Admission interface {
	// Open starts a session for a PADR (RFC 2516 §5.3) and returns its id,
	// neither 0 nor 0xffff; for a PADR repeating one whose session is still
	// being set up it may return that session's id instead. An error refuses the session: errors wrapping
	// ErrUnknownService become Service-Name-Error, others AC-System-Error,
	// with err.Error() as the message (RFC 2516 §5.4). r.MaxPayload is the
	// PPP-Max-Payload granted in the PADS (RFC 4638 §4), 0 when none was
	// agreed (then the PPP MRU is at most 1492, RFC 2516 §7); the session's
	// PPP link must not negotiate an MRU above it.
	Open(c Circuit, r PADR) (uint16, error)
	// Close ends session sid of c after the client's PADT (RFC 2516 §5.5).
	// It is called for any PADT addressed to the AC, so it must ignore
	// sessions it does not know.
	Close(c Circuit, sid uint16)
}

// DefaultDuplicateWindow is how long after a PADS a retransmitted PADR (the
// client lost the PADS, RFC 2516 §5.3) gets the same PADS again instead of a
// second session.
const DefaultDuplicateWindow = 5 * time.Second

// ServerConfig is the discovery configuration of the AC on one access
// interface: the RouterOS "/interface pppoe-server server" entries of that
// interface folded together.
type ServerConfig struct {
	// ACName is the AC-Name tag, the system identity (RFC 2516 Appendix A).
	ACName string
	// MAC is the access interface's address, the AC's Ethernet address.
	MAC net.HardwareAddr
	// Ifindex is the access interface's index, part of every Circuit.
	Ifindex int
	// ServiceNames are the services offered on the interface, one per
	// RouterOS server entry. A PADI for "" or for one of them is answered;
	// an entry "" serves any requested name.
	ServiceNames []string
	// CookieKey is the HMAC key of the AC-Cookie. Empty keeps the current
	// key, or draws a random one at NewServer. Servers that should accept
	// each other's cookies (a restart, a standby) share it.
	CookieKey []byte
	// CookiePeriod is the cookie time bucket; 0 means DefaultCookiePeriod.
	CookiePeriod time.Duration
	// MaxPayload is the largest PPP payload the AC takes (min of max-mtu and
	// max-mru). Above 1492 it grants RFC 4638 PPP-Max-Payload: a client that
	// sends the tag gets it back with min(client's, MaxPayload) in PADO and
	// PADS. At or below 1492 the tag is never echoed.
	MaxPayload uint16
	// DuplicateWindow is how long a PADR retransmission gets the same PADS;
	// 0 means DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// Limiter, if set, bounds the PADIs and PADRs handled (Limits); the
	// servers of all interfaces share one, so its global limit is global.
	// Where xdp_access_in already applies the limits (pppoed), leave it
	// nil (see Limiter).
	Limiter *Limiter
	// PADODelay, if set, says how long the PADO offering services waits
	// (pado-delay), or that the PADI gets no answer at all (answer
	// false). It is asked once per PADI that would be answered; Respond
	// returns the PADO with that delay.
	PADODelay func(services []string) (delay time.Duration, answer bool)
}

// Reply is a frame to send in answer to one received: now, or After from
// now (a PADO held back by pado-delay).
type Reply struct {
	Frame []byte
	After time.Duration
}

// Validate checks that c can run: a unicast MAC and services without NUL
// (RFC 2516 Appendix A, Service-Name is not NUL-terminated).
func (c *ServerConfig) Validate() error {
	if err := unicast(c.MAC); err != nil {
		return fmt.Errorf("pppoe: server MAC %v: %w", c.MAC, err)
	}
	for _, s := range append([]string{c.ACName}, c.ServiceNames...) {
		if len(s) > 1400 || strings.ContainsRune(s, 0) {
			return fmt.Errorf("pppoe: name %q: NUL or longer than 1400 bytes", s)
		}
	}
	if c.CookiePeriod < 0 || c.DuplicateWindow < 0 {
		return errors.New("pppoe: negative cookie period or duplicate window")
	}
	return nil
}

// Counters are the server's discovery counters, a snapshot for metrics.
type Counters struct {
	// Malformed counts frames that did not parse as PPPoE at all.
	Malformed uint64
	// Ignored counts well-formed frames that are not for this AC: session
	// stage, PADO/PADS of other ACs, PADR/PADT to other addresses.
	Ignored uint64
	// MACLimited and GlobalLimited count the PADIs and PADRs the Limiter
	// turned away, over their host's limit and over the global one; they
	// count towards nothing else.
	MACLimited, GlobalLimited uint64
	// PADIReceived counts every other PADI, PADIDropped those that broke RFC 2516
	// §5.1 (not broadcast, no Service-Name, bad lengths, group source),
	// PADIUnserved those asking for a service not offered here (§5.2) and
	// PADISilenced those left unanswered because pado-delay says -1 at
	// the AC's load.
	PADIReceived, PADIDropped, PADIUnserved, PADISilenced uint64
	// PADOSent counts offers (§5.2), PADODelayed those of them given a
	// pado-delay (counted when built, sent later), PADODropped those of
	// the delayed ones their sender could not queue (DropPADO).
	PADOSent, PADODelayed, PADODropped uint64
	// PADRReceived counts every PADR to this AC; PADRDropped those that
	// broke §5.3, PADRBadCookie those with a missing, forged or expired
	// AC-Cookie, PADRDuplicates the retransmissions answered from memory.
	PADRReceived, PADRDropped, PADRBadCookie, PADRDuplicates uint64
	// PADSSent counts every PADS (§5.4), PADSErrors those refusing a
	// session (SESSION_ID 0).
	PADSSent, PADSErrors uint64
	// PADTReceived counts PADTs from clients, PADTSent those built by
	// Server.PADT (§5.5). WriteErrors counts frames Serve could not send.
	PADTReceived, PADTSent, WriteErrors uint64
}

type counters struct {
	malformed, ignored, macLimited, globalLimited        atomic.Uint64
	padiReceived, padiDropped, padiUnserved, padoSent    atomic.Uint64
	padiSilenced, padoDelayed, padoDropped               atomic.Uint64
	padrReceived, padrDropped, padrBadCookie, padrDup    atomic.Uint64
	padsSent, padsErrors, padtReceived, padtSent, wrErrs atomic.Uint64
}

// Server is the access concentrator side of PPPoE discovery (RFC 2516 §5)
// on one interface. Handle is pure of sockets; Serve runs it on a FrameConn.
// Before PADR it keeps no per-client state: the AC-Cookie carries it.
type Server struct {
	adm Admission
	log *zap.Logger
	cfg atomic.Pointer[serverState]
	c   counters

	mu sync.Mutex
	// recent and older are two generations of the PADSs sent: a PADS is
	// remembered in recent, which becomes older after a window and is
	// dropped after another. A Go map never shrinks, so pruning one map
	// in place would keep a PADR burst's peak size for the process's
	// life; dropping whole generations gives it back.
	recent, older *generation
	rotated       time.Time
}

// generation is the PADSs remembered over one duplicate window, by
// request, and by session for forget: a PADT finds its session's PADS
// without going through every PADS the window's burst sent (at 5,000
// setups a second, tens of thousands for each PADT of a mass teardown).
type generation struct {
	pads     map[recentKey]recentPADS
	sessions map[sessionRef]recentKey
}

// sessionRef is a session of a circuit: RFC 2516 §4's SESSION_ID is
// unique per client.
type sessionRef struct {
	c   Circuit
	sid uint16
}

// lookup returns the PADS remembered for key; g may be nil (empty).
func (g *generation) lookup(key recentKey) (recentPADS, bool) {
	if g == nil {
		return recentPADS{}, false
	}
	r, ok := g.pads[key]
	return r, ok
}

// drop forgets the PADS of session ref, if g has one; g may be nil.
func (g *generation) drop(ref sessionRef) {
	if g == nil {
		return
	}
	if key, ok := g.sessions[ref]; ok {
		delete(g.sessions, ref)
		if r, ok := g.pads[key]; ok && r.sid == ref.sid {
			delete(g.pads, key)
		}
	}
}

func (g *generation) empty() bool { return g == nil || len(g.pads) == 0 }

// serverState is a validated, private copy of a ServerConfig.
type serverState struct {
	ServerConfig
	mac        [6]byte
	cookies    *cookieKey
	anyService bool
	err        error
}

// recentKey identifies one client's request: RFC 2516 lets a host tell
// its own sessions apart only by Host-Uniq.
type recentKey struct {
	c        Circuit
	hostUniq string
}

// recentPADS is a PADS sent, kept for DuplicateWindow to answer a
// retransmitted PADR.
type recentPADS struct {
	cookie string
	sid    uint16
	frame  []byte
	at     time.Time
}

// NewServer returns a Server for cfg. cfg should have passed Validate: a
// server with an invalid configuration answers nothing (and logs why) until
// SetConfig gives it a valid one. adm must not be nil. A nil log logs
// nothing.
func NewServer(cfg ServerConfig, adm Admission, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{adm: adm, log: log}
	if len(cfg.CookieKey) == 0 {
		cfg.CookieKey = make([]byte, 32)
		rand.Read(cfg.CookieKey)
	}
	st := newServerState(cfg)
	if st.err != nil {
		log.Error("pppoe server config invalid, not answering", zap.Error(st.err))
	}
	s.cfg.Store(st)
	return s
}

func newServerState(cfg ServerConfig) *serverState {
	st := &serverState{ServerConfig: cfg}
	st.err = cfg.Validate()
	st.MAC = slices.Clone(cfg.MAC)
	st.ServiceNames = slices.Clone(cfg.ServiceNames)
	st.CookieKey = slices.Clone(cfg.CookieKey)
	st.cookies = newCookieKey(st.CookieKey)
	copy(st.mac[:], cfg.MAC)
	st.anyService = slices.Contains(cfg.ServiceNames, "")
	if st.CookiePeriod == 0 {
		st.CookiePeriod = DefaultCookiePeriod
	}
	if st.DuplicateWindow == 0 {
		st.DuplicateWindow = DefaultDuplicateWindow
	}
	return st
}

// SetConfig replaces the configuration, as servers are added to or removed
// from the interface at run time. An empty CookieKey keeps the current key,
// so cookies already issued stay valid. An invalid cfg is refused and the
// old one kept.
func (s *Server) SetConfig(cfg ServerConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(cfg.CookieKey) == 0 {
		cfg.CookieKey = s.cfg.Load().CookieKey
	}
	s.cfg.Store(newServerState(cfg))
	return nil
}

// Config returns a copy of the current configuration.
func (s *Server) Config() ServerConfig {
	st := s.cfg.Load()
	c := st.ServerConfig
	c.MAC = slices.Clone(c.MAC)
	c.ServiceNames = slices.Clone(c.ServiceNames)
	c.CookieKey = slices.Clone(c.CookieKey)
	return c
}

// Counters returns a snapshot of the discovery counters.
func (s *Server) Counters() Counters {
	c := &s.c
	return Counters{
		Malformed: c.malformed.Load(), Ignored: c.ignored.Load(),
		MACLimited: c.macLimited.Load(), GlobalLimited: c.globalLimited.Load(),
		PADIReceived: c.padiReceived.Load(), PADIDropped: c.padiDropped.Load(), PADIUnserved: c.padiUnserved.Load(),
		PADISilenced: c.padiSilenced.Load(),
		PADOSent:     c.padoSent.Load(), PADODelayed: c.padoDelayed.Load(), PADODropped: c.padoDropped.Load(),
		PADRReceived: c.padrReceived.Load(), PADRDropped: c.padrDropped.Load(),
		PADRBadCookie: c.padrBadCookie.Load(), PADRDuplicates: c.padrDup.Load(),
		PADSSent: c.padsSent.Load(), PADSErrors: c.padsErrors.Load(),
		PADTReceived: c.padtReceived.Load(), PADTSent: c.padtSent.Load(), WriteErrors: c.wrErrs.Load(),
	}
}

// DropPADO counts a delayed PADO (a Reply with After) that its sender
// could not hold back: its Later was full or closed.
func (s *Server) DropPADO() { s.c.padoDropped.Add(1) }

// Handle processes one frame received on the interface at time now and
// returns the frames to send in reply (RFC 2516 §5): a PADO for a PADI it
// can serve, a PADS for a PADR, nothing otherwise. It sends everything at
// once: it is Respond for a server without PADODelay, whose replies all
// have After 0.
func (s *Server) Handle(frame []byte, now time.Time) [][]byte {
	rs := s.Respond(frame, now)
	if len(rs) == 0 {
		return nil
	}
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = r.Frame
	}
	return out
}

// Respond processes one frame received on the interface at time now and
// returns the replies (RFC 2516 §5), each to be sent After from now: a
// PADO for a PADI it can serve (held back by PADODelay), a PADS for a
// PADR, nothing otherwise.
func (s *Server) Respond(frame []byte, now time.Time) []Reply {
	st := s.cfg.Load()
	if st.err != nil {
		return nil
	}
	f, p, err := ParseFrame(frame)
	if err != nil {
		s.dropMalformed(&f, err)
		return nil
	}
	if !s.admit(st, &f, p.Code, now) {
		return nil
	}
	switch p.Code {
	case CodePADI:
		return s.padi(st, &f, &p, now)
	case CodePADR:
		if out := s.padr(st, &f, &p, now); out != nil {
			return []Reply{{Frame: out}}
		}
		return nil
	case CodePADT:
		s.padt(st, &f, &p)
		return nil
	default:
		s.c.ignored.Add(1)
		return nil
	}
}

// admit asks the Limiter, if any, whether a frame may be handled, before
// it costs a cookie or a reply. A frame without a circuit is left to the
// handler, which drops it.
func (s *Server) admit(st *serverState, f *ethernet.Frame, code Code, now time.Time) bool {
	if st.Limiter == nil {
		return true
	}
	c, err := CircuitOf(st.Ifindex, f)
	if err != nil {
		return true
	}
	switch st.Limiter.Admit(c, code, now) {
	case MACLimited:
		s.c.macLimited.Add(1)
		return false
	case GlobalLimited:
		s.c.globalLimited.Add(1)
		return false
	}
	return true
}

// dropMalformed counts a frame that did not parse, against its code when
// the Ethernet header and the CODE byte were readable, so a PADI with a
// lying LENGTH shows as a dropped PADI.
func (s *Server) dropMalformed(f *ethernet.Frame, err error) {
	if f.EtherType == ethernet.EtherTypePPPoEDiscovery && len(f.Payload) >= 2 {
		switch Code(f.Payload[1]) {
		case CodePADI:
			s.c.padiReceived.Add(1)
			s.c.padiDropped.Add(1)
			s.log.Debug("padi dropped", zap.Error(err))
			return
		case CodePADR:
			s.c.padrReceived.Add(1)
			s.c.padrDropped.Add(1)
			s.log.Debug("padr dropped", zap.Error(err))
			return
		}
	}
	s.c.malformed.Add(1)
}

// padi answers a PADI with a PADO (RFC 2516 §5.1, §5.2).
func (s *Server) padi(st *serverState, f *ethernet.Frame, p *Packet, now time.Time) []Reply {
	s.c.padiReceived.Add(1)
	if err := ValidateFrame(f, p); err != nil {
		s.c.padiDropped.Add(1)
		s.log.Debug("padi dropped", zap.Stringer("mac", f.Source), zap.Error(err))
		return nil
	}
	c, err := CircuitOf(st.Ifindex, f)
	if err != nil {
		s.c.padiDropped.Add(1)
		return nil
	}
	want, _ := FindTag[ServiceName](p.Tags)
	offer := st.offer(string(want))
	if offer == nil {
		// §5.2: the AC MUST NOT answer a PADI it cannot serve.
		s.c.padiUnserved.Add(1)
		s.log.Debug("padi unserved", zap.Stringer("circuit", c), zap.String("service", string(want)))
		return nil
	}
	var delay time.Duration
	if st.PADODelay != nil {
		var answer bool
		if delay, answer = st.PADODelay(offer); !answer {
			// accel-ppp's pado-delay -1: loaded past the last step,
			// the AC leaves the client to the others.
			s.c.padiSilenced.Add(1)
			s.log.Debug("padi silenced by pado-delay", zap.Stringer("circuit", c))
			return nil
		}
	}
	ck := issueCookie(st.cookies, st.mac, c, now, st.CookiePeriod)
	tags := []Tag{ACName(st.ACName)}
	for _, n := range offer {
		tags = append(tags, ServiceName(n))
	}
	tags = append(tags, ACCookie(ck[:]))
	tags = append(tags, echoTags(st, p)...)
	out, err := s.reply(st, c, &Packet{Code: CodePADO, Tags: tags})
	if err != nil {
		s.c.padiDropped.Add(1)
		s.log.Debug("padi dropped", zap.Stringer("circuit", c), zap.Error(err))
		return nil
	}
	s.c.padoSent.Add(1)
	if delay > 0 {
		s.c.padoDelayed.Add(1)
	}
	s.log.Debug("pado sent", zap.Stringer("circuit", c), zap.Strings("services", offer), zap.Duration("delay", delay))
	return []Reply{{Frame: out, After: delay}}
}

// offer returns the Service-Names a PADO for want carries: want itself if
// served, every offered name for an empty request (so pppoe-discovery and
// a scanner list them all), nil if want is not served.
func (st *serverState) offer(want string) []string {
	if want == "" {
		if len(st.ServiceNames) == 0 {
			return []string{""}
		}
		return st.ServiceNames
	}
	if st.anyService || slices.Contains(st.ServiceNames, want) {
		return []string{want}
	}
	return nil
}

// resolve returns the service a PADR for want opens: want itself, or for
// an empty request the first offered name. ok is false if not served.
func (st *serverState) resolve(want string) (string, bool) {
	if want == "" {
		if len(st.ServiceNames) == 0 {
			return "", true
		}
		return st.ServiceNames[0], true
	}
	return want, st.anyService || slices.Contains(st.ServiceNames, want)
}

// padrOf is what admission sees of PADR p opening service.
func padrOf(st *serverState, p *Packet, service string, hu HostUniq) PADR {
	r := PADR{Service: service, HostUniq: slices.Clone([]byte(hu)), MaxPayload: grantedPayload(st, p)}
	if rs, ok := FindTag[RelaySessionID](p.Tags); ok {
		r.RelaySessionID = slices.Clone([]byte(rs))
	}
	r.Line, _ = FindLineID(p.Tags)
	return r
}

// echoTags returns the tags an AC echoes from a PADI or PADR: Host-Uniq and
// Relay-Session-Id unmodified (RFC 2516 Appendix A), and PPP-Max-Payload
// with the granted value (RFC 4638 §4) when the AC may go above 1492.
func echoTags(st *serverState, p *Packet) []Tag {
	var tags []Tag
	if hu, ok := FindTag[HostUniq](p.Tags); ok {
		tags = append(tags, hu)
	}
	if r, ok := FindTag[RelaySessionID](p.Tags); ok {
		tags = append(tags, r)
	}
	if mp := grantedPayload(st, p); mp != 0 {
		tags = append(tags, PPPMaxPayload(mp))
	}
	return tags
}

// grantedPayload is the PPP-Max-Payload the AC grants a PADI or PADR (RFC
// 4638 §4): min(client's, MaxPayload) when the client sent the tag and the
// AC may go above 1492, else 0 (no tag, MRU at most 1492).
func grantedPayload(st *serverState, p *Packet) uint16 {
	if mp, ok := FindTag[PPPMaxPayload](p.Tags); ok && st.MaxPayload > 1492 {
		return min(uint16(mp), st.MaxPayload)
	}
	return 0
}

// reply marshals p to the client of c, refusing what Validate refuses (for
// example a PADO grown past 1500 bytes by a long echoed Host-Uniq).
func (s *Server) reply(st *serverState, c Circuit, p *Packet) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return MarshalFrame(c.HardwareAddr(), st.MAC, c.VLANList(), p)
}

// padr answers a PADR with a PADS (RFC 2516 §5.3, §5.4).
func (s *Server) padr(st *serverState, f *ethernet.Frame, p *Packet, now time.Time) []byte {
	if !bytesEqual(f.Destination, st.mac[:]) {
		s.c.ignored.Add(1)
		return nil
	}
	s.c.padrReceived.Add(1)
	c, err := CircuitOf(st.Ifindex, f)
	if err == nil {
		err = ValidateFrame(f, p)
	}
	if err != nil {
		s.c.padrDropped.Add(1)
		s.log.Debug("padr dropped", zap.Stringer("mac", f.Source), zap.Error(err))
		return nil
	}
	ck, _ := FindTag[ACCookie](p.Tags)
	if !checkCookie(st.cookies, st.mac, c, ck, now, st.CookiePeriod) {
		// No answer: a PADR flood without valid cookies costs neither state
		// nor a reply.
		s.c.padrBadCookie.Add(1)
		s.log.Debug("padr bad cookie", zap.Stringer("circuit", c))
		return nil
	}
	hu, _ := FindTag[HostUniq](p.Tags)
	key := recentKey{c: c, hostUniq: string(hu)}
	if out := s.duplicate(key, string(ck), now, st.DuplicateWindow); out != nil {
		s.c.padrDup.Add(1)
		s.c.padsSent.Add(1)
		s.log.Debug("padr duplicate", zap.Stringer("circuit", c))
		return out
	}
	want, _ := FindTag[ServiceName](p.Tags)
	service, ok := st.resolve(string(want))
	var sid uint16
	if !ok {
		err = fmt.Errorf("service %q: %w", want, ErrUnknownService)
	} else {
		sid, err = s.adm.Open(c, padrOf(st, p, service, hu))
		if err == nil && (sid == 0 || sid == SessionIDReserved) {
			err = fmt.Errorf("pppoe: admission returned session id 0x%04x", sid)
		}
	}
	tags := []Tag{ServiceName(want)}
	if err != nil {
		sid = 0
		msg := err.Error()
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		if errors.Is(err, ErrUnknownService) {
			tags = append(tags, ServiceNameError(msg))
		} else {
			tags = append(tags, ACSystemError(msg))
		}
	}
	tags = append(tags, echoTags(st, p)...)
	out, merr := s.reply(st, c, &Packet{Code: CodePADS, SessionID: sid, Tags: tags})
	if merr != nil {
		// Only an absurd echoed tag gets here; the session must not leak.
		if err == nil {
			s.adm.Close(c, sid)
		}
		s.c.padrDropped.Add(1)
		s.log.Debug("padr dropped", zap.Stringer("circuit", c), zap.Error(merr))
		return nil
	}
	s.c.padsSent.Add(1)
	if err != nil {
		s.c.padsErrors.Add(1)
		s.log.Debug("pads refused", zap.Stringer("circuit", c), zap.String("service", service), zap.Error(err))
		return out
	}
	s.remember(key, recentPADS{cookie: string(ck), sid: sid, frame: out, at: now}, now, st.DuplicateWindow)
	s.log.Debug("pads sent", zap.Stringer("circuit", c), zap.String("service", service),
		zap.Uint16("session_id", sid), zap.String("host_uniq", hex.EncodeToString(hu)))
	return out
}

// duplicate returns the PADS already sent for key if this PADR is a
// retransmission of the one that got it: same cookie, within window.
func (s *Server) duplicate(key recentKey, cookie string, now time.Time, window time.Duration) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recent.lookup(key)
	if !ok {
		r, ok = s.older.lookup(key)
	}
	if !ok || r.cookie != cookie || now.Sub(r.at) > window || now.Before(r.at) {
		return nil
	}
	return r.frame
}

// remember keeps a PADS for at least window: a generation is at most
// window old when it is retired to older, where it stays one more
// window, so the maps hold what at most two windows of PADRs sent.
//
// A new generation's maps are made for as many PADSs as the one just
// retired holds: during a mass setup each window remembers about as many
// as the last, and a map grown from empty to tens of thousands of
// entries splits and copies its tables a dozen times (3-5 % of the AC's
// CPU per setup in bench-sessions' profile). After a quiet window the
// next generation is small again.
func (s *Server) remember(key recentKey, r recentPADS, now time.Time, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.rotated) > window || now.Before(s.rotated) {
		s.older, s.recent = s.recent, nil
		if now.Sub(s.rotated) > 2*window || now.Before(s.rotated) {
			s.older = nil // nothing in it is within the window any more
		}
		s.rotated = now
	}
	if s.recent == nil {
		n := 0
		if s.older != nil {
			n = len(s.older.pads)
		}
		s.recent = &generation{pads: make(map[recentKey]recentPADS, n), sessions: make(map[sessionRef]recentKey, n)}
	}
	if old, ok := s.recent.pads[key]; ok {
		// The request's earlier PADS (another session) is replaced.
		delete(s.recent.sessions, sessionRef{key.c, old.sid})
	}
	s.recent.pads[key] = r
	s.recent.sessions[sessionRef{key.c, r.sid}] = key
}

// forget drops the remembered PADS of session sid of c, so a PADR after
// the session ended opens a new one. A generation left empty is dropped
// with its table, so memory comes back after churn even when no PADR
// follows.
func (s *Server) forget(c Circuit, sid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range []**generation{&s.recent, &s.older} {
		(*g).drop(sessionRef{c, sid})
		if (*g).empty() {
			*g = nil
		}
	}
}

// padt ends a session at the client's request (RFC 2516 §5.5).
func (s *Server) padt(st *serverState, f *ethernet.Frame, p *Packet) {
	if !bytesEqual(f.Destination, st.mac[:]) {
		s.c.ignored.Add(1)
		return
	}
	c, err := CircuitOf(st.Ifindex, f)
	if err == nil {
		err = ValidateFrame(f, p)
	}
	if err != nil {
		s.c.malformed.Add(1)
		s.log.Debug("padt dropped", zap.Stringer("mac", f.Source), zap.Error(err))
		return
	}
	s.c.padtReceived.Add(1)
	s.forget(c, p.SessionID)
	msg, _ := FindTag[GenericError](p.Tags)
	s.log.Debug("padt received", zap.Stringer("circuit", c), zap.Uint16("session_id", p.SessionID), zap.String("message", string(msg)))
	s.adm.Close(c, p.SessionID)
}

// PADT builds the PADT the AC sends to end session sid of c, with msg as a
// Generic-Error tag when not empty (RFC 2516 §5.5). It returns nil if sid
// cannot be a session (0 or 0xffff) or the server has no valid config.
func (s *Server) PADT(c Circuit, sid uint16, msg string) []byte {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	var tags []Tag
	if msg != "" {
		tags = []Tag{GenericError(msg)}
	}
	st := s.cfg.Load()
	if st.err != nil {
		return nil
	}
	out, err := s.reply(st, c, &Packet{Code: CodePADT, SessionID: sid, Tags: tags})
	if err != nil {
		s.log.Debug("padt not built", zap.Stringer("circuit", c), zap.Error(err))
		return nil
	}
	s.forget(c, sid)
	s.c.padtSent.Add(1)
	s.log.Debug("padt sent", zap.Stringer("circuit", c), zap.Uint16("session_id", sid), zap.String("message", msg))
	return out
}

// Serve reads frames from conn, handles them and writes the replies until
// ctx ends or a read fails. If conn has SetReadDeadline (afpacket.Conn
// does) cancelling ctx interrupts a blocked read; otherwise close conn to
// stop Serve. A failed write is counted and Serve carries on. PADOs held
// back by PADODelay go out from a Later, so conn must take writes from two
// goroutines (an AF_PACKET socket does).
func (s *Server) Serve(ctx context.Context, conn FrameConn) error {
	if d, ok := conn.(deadliner); ok {
		stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	later := NewLater(func(b []byte) error {
		err := conn.WriteFrame(b)
		if err != nil {
			s.c.wrErrs.Add(1)
		}
		return err
	}, 0)
	defer later.Close()
	buf := make([]byte, 9216)
	for {
		n, err := conn.ReadFrame(buf)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("pppoe: server read: %w", err)
		}
		for _, r := range s.Respond(buf[:n], time.Now()) {
			if r.After > 0 {
				if !later.Send(r.Frame, r.After) {
					s.DropPADO()
				}
				continue
			}
			if err := conn.WriteFrame(r.Frame); err != nil {
				s.c.wrErrs.Add(1)
				s.log.Debug("write failed", zap.Error(err))
			}
		}
	}
}

func bytesEqual(a []byte, b []byte) bool { return string(a) == string(b) }
