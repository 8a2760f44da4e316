package session

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// Observer is told of a session's life (the shape of accel-ppp's
// events.h): logs, metrics, accounting and the restart journal are
// observers, not code inside the session. Observe is called from the
// goroutine driving the session, in the order things happen, with the
// session's clock; it must not block (hand slow work, a RADIUS request,
// to a goroutine of its own) and must not call back into the session's
// steps. The *Session may be read (ID, Circuit, Snapshot).
type Observer interface {
	Observe(s *Session, at time.Time, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(s *Session, at time.Time, e Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(s *Session, at time.Time, e Event) { f(s, at, e) }

// Event is one of Started, StateChanged, Authenticated, AuthFailed,
// NetworkUp, NetworkDown, IPv6Prefixes, IPv6Bindings, MPSequence, Updated,
// Interim, Stopping, Stopped.
type Event interface{ sessionEvent() }

// Started: the session exists (its PADS is out) and LCP starts.
type Started struct{}

// StateChanged: the session moved between States.
type StateChanged struct{ From, To State }

// Authenticated: AAA accepted the peer; Answer holds the session's
// attributes (its Lease belongs to the session: observers must not
// release it).
type Authenticated struct {
	User   string
	Method auth.Method
	Answer aaa.Answer
}

// AuthFailed: the peer's credentials were refused.
type AuthFailed struct {
	User   string
	Method auth.Method
	Detail string
}

// NetworkUp: a network protocol opened; for IPCP and IPv6CP the data
// plane forwards Entry (its IPv4 the zero Addr while IPCP is not open).
// Setup is the time from the PADR, Info what the link negotiated.
type NetworkUp struct {
	Protocol ppp.Protocol
	Entry    Entry
	Info     link.Info
	Setup    time.Duration
	// SessionUp: this is the first network protocol open, IPCP or
	// IPv6CP; the session came up with it (its entry installed, the
	// keepalive and interim started). An IPv6-only session has no IPCP
	// NetworkUp at all; one whose IPv6CP opened first gets its IPCP
	// NetworkUp with SessionUp false.
	SessionUp bool
	// IPv6 are the session's IPv6 prefixes as IPv6CP opens
	// (ppp.ProtocolIPv6CP): the link /64; delegated prefixes follow
	// in IPv6Prefixes events as DHCPv6 binds them.
	IPv6 Prefixes
}

// Prefixes are a session's IPv6 prefixes: the link /64 its RAs announce
// and the prefixes DHCPv6 delegated to it.
type Prefixes struct {
	Link      netip.Prefix
	Delegated []netip.Prefix
}

// IPv6Prefixes: the session's delegated prefixes changed (a DHCPv6
// binding made, released or expired); Prefixes are all it holds now.
type IPv6Prefixes struct{ Prefixes Prefixes }

// IPv6Bindings: a DHCPv6 binding's lifetime moved on (a Renew or
// Rebind) with the delegated prefixes unchanged: what the session's
// state record keeps (Resumable) changed.
type IPv6Bindings struct{}

// MPSequence: multilink's sending sequence number moved mp.RecordEvery
// of its space past the one the state record took (Resumable): the record
// is to be written again, so that a restart resumes past every fragment
// sent (mp.Fragmenter.Resume).
type MPSequence struct{}

// NetworkDown: a network protocol left Opened; the session may go on.
type NetworkDown struct{ Protocol ppp.Protocol }

// Updated: a live session's entry changed in the data plane (Update).
type Updated struct{ Entry Entry }

// Interim: the session's accounting period (Answer.InterimInterval)
// passed; Stats are its counters so far.
type Interim struct{ Stats Stats }

// Stopping: the session is ending for Reason; Stats are its final
// counters, read from the data plane before its entry is removed.
type Stopping struct {
	Reason Reason
	Stats  Stats
}

// Stopped: the session has ended and cleaned up. Reason is what went
// wrong first, Trigger what ended it now (see Reason.TerminateCause for
// RADIUS), Detail and Fields say more for logs.
type Stopped struct {
	Reason, Trigger Reason
	Detail          string
	Fields          []zap.Field
	User            string
	Address         netip.Addr
	Duration        time.Duration
	Stats           Stats
	// WasUp: the network was up at some point (else the session was
	// half-open all its life).
	WasUp bool
}

func (Started) sessionEvent()       {}
func (StateChanged) sessionEvent()  {}
func (Authenticated) sessionEvent() {}
func (AuthFailed) sessionEvent()    {}
func (NetworkUp) sessionEvent()     {}
func (NetworkDown) sessionEvent()   {}
func (IPv6Prefixes) sessionEvent()  {}
func (IPv6Bindings) sessionEvent()  {}
func (MPSequence) sessionEvent()    {}
func (Updated) sessionEvent()       {}
func (Interim) sessionEvent()       {}
func (Stopping) sessionEvent()      {}
func (Stopped) sessionEvent()       {}

// Hooks let the server count what sessions do: an Observer of four
// events. Each is optional.
type Hooks struct {
	// State reports a state change.
	State func(from, to State)
	// Up reports the session up (NetworkUp.SessionUp: the first network
	// protocol opened, the data plane installed), latency after
	// Config.Opened (the PADR).
	Up func(latency time.Duration)
	// AuthFailed reports refused credentials.
	AuthFailed func(m auth.Method)
	// Down reports the end of the session.
	Down func(r Reason)
}

// Observe implements Observer.
func (h Hooks) Observe(_ *Session, _ time.Time, e Event) {
	switch e := e.(type) {
	case StateChanged:
		if h.State != nil {
			h.State(e.From, e.To)
		}
	case NetworkUp:
		if h.Up != nil && e.SessionUp {
			h.Up(e.Setup)
		}
	case AuthFailed:
		if h.AuthFailed != nil {
			h.AuthFailed(e.Method)
		}
	case Stopped:
		if h.Down != nil {
			h.Down(e.Reason)
		}
	}
}

// logLines is the observer writing a session's Info lines: "session up"
// and "session down" (held back to Debug by the HalfOpenLog for sessions
// that never came up).
type logLines struct{ halfOpen *HalfOpenLog }

// Observe implements Observer.
func (o logLines) Observe(s *Session, at time.Time, e Event) {
	switch e := e.(type) {
	case NetworkUp:
		if !e.SessionUp {
			return
		}
		fields := []zap.Field{zap.String("user", e.Info.User)}
		if e.Entry.IPv4.IsValid() {
			fields = append(fields, zap.Stringer("address", e.Entry.IPv4))
		} else {
			fields = append(fields, zap.Stringer("protocol", e.Protocol)) // IPv6 first, or only
		}
		s.log.Info("session up", append(fields,
			zap.Uint16("mtu", e.Info.MTU),
			zap.Uint16("mss", e.Entry.MSS),
			zap.Stringer("method", e.Info.Method),
			zap.Duration("setup", e.Setup),
		)...)
	case Stopped:
		fields := []zap.Field{
			zap.String("user", e.User),
			zap.Stringer("reason", e.Reason),
		}
		if e.Trigger != e.Reason {
			fields = append(fields, zap.Stringer("ended_by", e.Trigger))
		}
		fields = append(fields, e.Fields...)
		fields = append(fields, zap.Duration("duration", e.Duration))
		if e.Address.IsValid() {
			fields = append(fields, zap.Stringer("address", e.Address))
		}
		if e.Detail != "" {
			fields = append(fields, zap.String("detail", e.Detail))
		}
		if !e.WasUp && o.halfOpen != nil && !o.halfOpen.allow(e.Reason, at) {
			s.log.Debug("session down", fields...)
		} else {
			s.log.Info("session down", fields...)
		}
	}
}

// observe tells every observer about e.
func (s *Session) observe(at time.Time, e Event) {
	for _, o := range s.observers {
		o.Observe(s, at, e)
	}
}
