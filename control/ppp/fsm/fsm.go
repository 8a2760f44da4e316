package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// RFC 1661 §4.6 defaults.
const (
	DefaultMaxTerminate = 2
	DefaultMaxConfigure = 10
	DefaultMaxFailure   = 5
	DefaultRestartTimer = 3 * time.Second
	// DefaultPeerMRU is the MRU assumed until LCP negotiates one
	// (RFC 1661 §6.1); it bounds the Rejected-Packet of a Code-Reject.
	DefaultPeerMRU = 1500
)

// Config holds the RFC 1661 §4.6 counters and the implementation options.
// Zero values take the defaults.
type Config struct {
	MaxTerminate int // Terminate-Requests sent before giving up
	MaxConfigure int // Configure-Requests sent without a reply before giving up
	// MaxFailure is how many Configure-Naks are sent without a
	// Configure-Ack before further Naks turn into Rejects (RFC 1661 §4.6).
	// The same bound applies to Naks received in a row: past it the
	// options the peer keeps Naking are dropped as if Rejected.
	MaxFailure int
	// RestartTimer is the period the owner runs the restart timer for; the
	// automaton only says when to start and stop it.
	RestartTimer time.Duration
	// PeerMRU bounds a Code-Reject (RFC 1661 §5.6); see SetPeerMRU.
	PeerMRU int
	// Passive: after Max-Configure unanswered requests wait in Stopped for
	// the peer instead of signalling tlf (RFC 1661 §4.2, [p]).
	Passive bool
	// Restart: an Open in Stopped, Closing, Stopping or Opened renegotiates
	// through a Down and an Up (RFC 1661 §4.3, [r]).
	Restart bool
	// Extension handles the codes beyond 1-7 (LCP); nil: they are RUC.
	Extension Extension
}

func (c *Config) setDefaults() {
	if c.MaxTerminate <= 0 {
		c.MaxTerminate = DefaultMaxTerminate
	}
	if c.MaxConfigure <= 0 {
		c.MaxConfigure = DefaultMaxConfigure
	}
	if c.MaxFailure <= 0 {
		c.MaxFailure = DefaultMaxFailure
	}
	if c.RestartTimer <= 0 {
		c.RestartTimer = DefaultRestartTimer
	}
	if c.PeerMRU <= 0 {
		c.PeerMRU = DefaultPeerMRU
	}
}

// Verdict is how we answer one option of the peer's Configure-Request.
type Verdict uint8

// Verdicts (RFC 1661 §5.2-§5.4).
const (
	Ack    Verdict = iota // acceptable as is
	Nak                   // recognizable, value unacceptable: suggest another
	Reject                // not recognizable or not acceptable for negotiation
)

// Negotiator is the protocol plug-in (LCP, IPCP, IPv6CP): what options we
// ask for and how we judge and answer the peer's.
type Negotiator interface {
	// Request returns the options of our next Configure-Request
	// (RFC 1661 §5.1), in order.
	Request() []ppp.Option
	// Check judges one option of the peer's Configure-Request. With Nak,
	// suggest is the value the Configure-Nak carries (RFC 1661 §5.3). The
	// automaton assembles the answer: any Reject makes a Configure-Reject
	// of just the rejected options; else any Nak a Configure-Nak; else a
	// Configure-Ack.
	Check(o ppp.Option) (v Verdict, suggest []byte)
	// Nak applies the peer's Configure-Nak of our request: adopt the
	// suggested values, consider options it asks us to add. An error gives
	// up negotiation.
	Nak(opts []ppp.Option) error
	// Reject applies the peer's Configure-Reject: stop asking for these
	// options. An error (such as ErrRequired for an option we cannot do
	// without) gives up negotiation.
	Reject(opts []ppp.Option) error
}

// Requirer may be implemented by a Negotiator that must see options the peer
// left out of its Configure-Request (an IPCP server that wants the peer to
// ask for an address): they are appended to the Configure-Nak (RFC 1661 §5.3
// allows options not in the request to prompt the peer).
type Requirer interface {
	Missing(req []ppp.Option) []ppp.Option
}

// Extension lets LCP plug in the codes only it has (RFC 1661 §5.7, §5.8).
type Extension interface {
	// Classify maps a received packet whose Code is not 1-7 to RXR
	// (Echo-Request, Echo-Reply, Discard-Request), RXJ+ or RXJ-
	// (Protocol-Reject) or RUC.
	Classify(p *ppp.Packet) Event
	// Reply returns what ser sends for p, which only happens in Opened:
	// the Echo-Reply to an Echo-Request, carrying our magic number. nil
	// sends nothing (Echo-Reply, Discard-Request).
	Reply(p *ppp.Packet) *ppp.Packet
}

// ErrRequired is what a Negotiator returns when the peer rejects an option we
// cannot do without; the automaton then gives up.
var ErrRequired = errors.New("required option rejected")

// ErrNotConverging is the give-up reason when the peer keeps Naking past
// Max-Failure and there is nothing left to drop.
var ErrNotConverging = errors.New("negotiation not converging")

// TimerOp tells the owner what to do with the restart timer.
type TimerOp uint8

// Timer operations.
const (
	TimerKeep  TimerOp = iota // leave it as it is (running or not)
	TimerStart                // (re)start it for Config.RestartTimer
	TimerStop                 // stop it
)

// Effect is one action taken, in order, with the packet it sends if any.
type Effect struct {
	Action Action
	Packet *ppp.Packet // scr, sca, scn, str, sta, scj, ser
}

// Output is what one event did and what the owner must carry out, in order:
// send each Effect's Packet, act on tlu/tld/tls/tlf, then apply Timer.
type Output struct {
	Event    Event
	From, To State
	Effects  []Effect
	Timer    TimerOp
	// Ignored: the event has no transition in From ("-" in the table).
	Ignored bool
	// Discarded is why a received packet was silently discarded before
	// it became an event (RFC 1661 §5: bad identifier, malformed...).
	Discarded error
	// Err is why the automaton gave up negotiation and closed itself.
	Err error
}

// Has reports whether a was taken.
func (o *Output) Has(a Action) bool {
	for _, e := range o.Effects {
		if e.Action == a {
			return true
		}
	}
	return false
}

// Packets returns the packets to send, in order.
func (o *Output) Packets() []*ppp.Packet {
	var ps []*ppp.Packet
	for _, e := range o.Effects {
		if e.Packet != nil {
			ps = append(ps, e.Packet)
		}
	}
	return ps
}

// Automaton is one protocol's RFC 1661 §4 automaton. It is not safe for
// concurrent use: the session loop owns it.
type Automaton struct {
	cfg   Config
	neg   Negotiator
	state State

	restart  int // restart counter
	naksSent int // Configure-Naks sent since the last Configure-Ack sent
	naksRcvd int // Configure-Naks received in a row
	id       uint8

	req     *ppp.Packet // our last Configure-Request
	replied bool        // a valid reply to req was received
	term    *ppp.Packet // our last Terminate-Request

	// ours and theirs are the options acked both ways, encoded: one
	// small buffer each for the link's life rather than a slice and a
	// buffer per option. ours is the Data of req, which is never
	// changed once built.
	ours, theirs []byte
}

// New returns an automaton in the Initial state.
func New(neg Negotiator, cfg Config) *Automaton {
	cfg.setDefaults()
	return &Automaton{cfg: cfg, neg: neg}
}

// State returns the current state.
func (a *Automaton) State() State { return a.state }

// Config returns the configuration in effect, defaults filled in.
func (a *Automaton) Config() Config { return a.cfg }

// SetPeerMRU records the MRU LCP negotiated for the peer.
func (a *Automaton) SetPeerMRU(mru int) {
	if mru > 0 {
		a.cfg.PeerMRU = mru
	}
}

// NewID returns a fresh Identifier, for packets the protocol sends itself
// (LCP Echo-Request, Protocol-Reject), so they never reuse a pending one.
func (a *Automaton) NewID() uint8 {
	a.id++
	return a.id
}

// Ours returns our options as the peer last acked them (valid in Opened),
// parsed anew on each call; their Data share the automaton's buffer and
// must not be changed.
func (a *Automaton) Ours() []ppp.Option { return mustParse(a.ours) }

// Theirs returns the peer's options as we last acked them (valid in
// Opened), as Ours.
func (a *Automaton) Theirs() []ppp.Option { return mustParse(a.theirs) }

// Up is the lower layer coming up.
func (a *Automaton) Up() Output { return a.event(Up, nil, nil) }

// Down is the lower layer going down.
func (a *Automaton) Down() Output { return a.event(Down, nil, nil) }

// Open is the administrative Open.
func (a *Automaton) Open() Output { return a.event(Open, nil, nil) }

// Close is the administrative Close.
func (a *Automaton) Close() Output { return a.event(Close, nil, nil) }

// Timeout is the restart timer expiring: TO+ while the restart counter is
// above zero, TO- once it is spent.
func (a *Automaton) Timeout() Output {
	if a.restart > 0 {
		return a.event(TOPlus, nil, nil)
	}
	return a.event(TOMinus, nil, nil)
}

// event runs one event through the table; in is the received packet behind
// it and resp the Configure-Ack/Nak/Reject prepared for an RCR.
func (a *Automaton) event(e Event, in, resp *ppp.Packet) Output {
	o := Output{Event: e, From: a.state}
	restarted := a.step(&o, e, in, resp)
	if e == Open && a.cfg.Restart {
		if cell, ok := Transition(o.From, Open); ok && cell.Restart {
			restarted = a.step(&o, Down, nil, nil) || restarted
			restarted = a.step(&o, Up, nil, nil) || restarted
		}
	}
	a.finish(&o, restarted)
	return o
}

func (a *Automaton) finish(o *Output, restarted bool) {
	o.To = a.state
	switch {
	case restarted && a.state.timed():
		o.Timer = TimerStart
	case !a.state.timed() && (o.From.timed() || restarted):
		o.Timer = TimerStop
	}
}

// step applies one table cell; it reports whether the restart timer must
// be (re)started.
func (a *Automaton) step(o *Output, e Event, in, resp *ppp.Packet) (restarted bool) {
	from := a.state
	cell, ok := Transition(from, e)
	if !ok {
		o.Ignored = true
		return false
	}
	next := cell.Next
	if !from.negotiating() && next.negotiating() {
		a.naksSent, a.naksRcvd = 0, 0
	}
	for _, act := range cell.Actions {
		if act == TLF && cell.Passive && a.cfg.Passive {
			continue
		}
		eff := Effect{Action: act}
		switch act {
		case IRC:
			if next == Closing || next == Stopping {
				a.restart = a.cfg.MaxTerminate
			} else {
				a.restart = a.cfg.MaxConfigure
			}
		case ZRC:
			a.restart = 0
			restarted = true
		case SCR:
			if e != TOPlus || a.req == nil {
				a.req = &ppp.Packet{Code: ppp.ConfigureRequest, Identifier: a.NewID(),
					Data: ppp.MarshalOptions(a.neg.Request())}
				a.replied = false
			}
			a.restart--
			restarted = true
			eff.Packet = clone(a.req)
		case SCA:
			a.naksSent = 0
			a.theirs = bytes.Clone(resp.Data)
			eff.Packet = resp
		case SCN:
			if resp.Code == ppp.ConfigureNak {
				a.naksSent++
			}
			eff.Packet = resp
		case STR:
			if e != TOPlus || a.term == nil {
				a.term = &ppp.Packet{Code: ppp.TerminateRequest, Identifier: a.NewID()}
			}
			a.restart--
			restarted = true
			eff.Packet = clone(a.term)
		case STA:
			eff.Packet = &ppp.Packet{Code: ppp.TerminateAck, Identifier: in.Identifier}
		case SCJ:
			eff.Packet = a.codeReject(in)
		case SER:
			if a.cfg.Extension != nil {
				eff.Packet = a.cfg.Extension.Reply(in)
			}
		}
		o.Effects = append(o.Effects, eff)
	}
	a.state = next
	return restarted
}

// codeReject builds the Code-Reject for in, its Rejected-Packet truncated to
// the peer's MRU (RFC 1661 §5.6).
func (a *Automaton) codeReject(in *ppp.Packet) *ppp.Packet {
	raw, err := in.MarshalBinary()
	if err != nil {
		raw = nil
	}
	p := ppp.NewCodeReject(a.NewID(), raw, a.cfg.PeerMRU)
	return &p
}

func clone(p *ppp.Packet) *ppp.Packet {
	q := *p
	q.Data = bytes.Clone(p.Data)
	return &q
}

func cloneOptions(opts []ppp.Option) []ppp.Option {
	out := make([]ppp.Option, len(opts))
	for i, o := range opts {
		out[i] = ppp.Option{Type: o.Type, Data: bytes.Clone(o.Data)}
	}
	return out
}

// mustParse parses options this package encoded or already validated.
func mustParse(b []byte) []ppp.Option {
	opts, err := ppp.ParseOptions(b)
	if err != nil {
		panic(fmt.Sprintf("fsm: re-parse of validated options: %v", err))
	}
	return opts
}

// Restore returns an automaton already Opened, with ours and theirs as the
// options acked both ways and id the last Identifier used: a link taken
// over after a restart, which the peer never saw go away. Up, Open and
// the timers are not run; the next packet from the peer is handled as in
// Opened (a Configure-Request renegotiates, RFC 1661 §4.3).
func Restore(neg Negotiator, cfg Config, ours, theirs []ppp.Option, id uint8) *Automaton {
	a := New(neg, cfg)
	a.state = Opened
	a.ours, a.theirs = ppp.MarshalOptions(ours), ppp.MarshalOptions(theirs)
	a.id = id
	return a
}

// LastID returns the last Identifier the automaton used, for Restore.
func (a *Automaton) LastID() uint8 { return a.id }
