package radius

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/rfc4818"
)

// TerminateCause is Acct-Terminate-Cause (RFC 2866 §5.10).
type TerminateCause uint32

// Terminate causes, RFC 2866 §5.10.
const (
	CauseUserRequest        TerminateCause = 1
	CauseLostCarrier        TerminateCause = 2
	CauseLostService        TerminateCause = 3
	CauseIdleTimeout        TerminateCause = 4
	CauseSessionTimeout     TerminateCause = 5
	CauseAdminReset         TerminateCause = 6
	CauseAdminReboot        TerminateCause = 7
	CausePortError          TerminateCause = 8
	CauseNASError           TerminateCause = 9
	CauseNASRequest         TerminateCause = 10
	CauseNASReboot          TerminateCause = 11
	CausePortUnneeded       TerminateCause = 12
	CausePortPreempted      TerminateCause = 13
	CausePortSuspended      TerminateCause = 14
	CauseServiceUnavailable TerminateCause = 15
	CauseCallback           TerminateCause = 16
	CauseUserError          TerminateCause = 17
	CauseHostRequest        TerminateCause = 18
)

// String returns the RFC's name, e.g. "Lost-Carrier".
func (c TerminateCause) String() string {
	if s, ok := rfc2866.AcctTerminateCause_Strings[rfc2866.AcctTerminateCause(c)]; ok {
		return s
	}
	return fmt.Sprintf("TerminateCause(%d)", uint32(c))
}

// Usage is a session's counters so far. In is from the subscriber, Out
// to it (RFC 2866 §5.3, §5.4: from the NAS's view of the port).
type Usage struct {
	InOctets, OutOctets   uint64
	InPackets, OutPackets uint64
	// Time is Acct-Session-Time, sent in whole seconds.
	Time time.Duration
}

// atLeast returns u with every counter raised to o's where o's is higher.
func (u Usage) atLeast(o Usage) Usage {
	return Usage{
		InOctets: max(u.InOctets, o.InOctets), OutOctets: max(u.OutOctets, o.OutOctets),
		InPackets: max(u.InPackets, o.InPackets), OutPackets: max(u.OutPackets, o.OutPackets),
		Time: max(u.Time, o.Time),
	}
}

// SessionInfo is what every accounting record of a session carries.
type SessionInfo struct {
	User     string
	Port     Port
	FramedIP netip.Addr
	// Class is the Access-Accept's Class attributes, echoed unchanged
	// (RFC 2865 §5.25).
	Class [][]byte
	// Local is true for a session authenticated from local secrets:
	// Acct-Authentic Local rather than RADIUS (RFC 2866 §5.6).
	Local bool
	// IPv6 are the session's IPv6 prefixes as it starts; SetIPv6
	// changes them for the records queued after.
	IPv6 IPv6Prefixes
}

// IPv6Prefixes are what accounting reports of a session's IPv6, as
// accel-ppp does: Framed-IPv6-Prefix (RFC 3162 §2.3), the link's /64,
// and a Delegated-IPv6-Prefix (RFC 4818) for each delegated prefix.
type IPv6Prefixes struct {
	Link      netip.Prefix
	Delegated []netip.Prefix
}

// AccountingOptions tune an Accounting sender.
type AccountingOptions struct {
	// QueueLimit bounds the records waiting (default 65,536). See
	// Accounting.
	QueueLimit int
	// InFlight is how many records are sent at once (default 32).
	InFlight int
	// RetryMin and RetryMax bound the pause after no server took a
	// record: it starts at RetryMin (default 1s) and doubles up to
	// RetryMax (default 30s) while the outage lasts.
	RetryMin, RetryMax time.Duration
	// Journal, if set, keeps the queued session records where a restarted
	// pppoed finds them (acctjournal.go).
	Journal Journal
	Logger  *zap.Logger
}

// Accounting sends RFC 2866 accounting through a Client's servers.
//
// Nothing is lost to an outage: a record no server answered stays queued,
// oldest first, and is sent again after a pause, each time as a new packet
// whose Acct-Delay-Time (RFC 2866 §5.2) says how long it has waited. The
// queue is bounded: a session has at most one Interim-Update queued (a
// newer one replaces its counters, a Stop removes it, since the counters
// are cumulative and the later record says all the earlier one did); when
// the queue is full the oldest queued Interim-Update of any session gives
// way, and only when none is left is a new record refused with
// ErrQueueFull. A Stop is queued once per session: a second one is
// ErrStopped, and once answered it is never sent again. (A record in flight
// whose answer was lost reaches a server twice; that is RADIUS's
// at-least-once and servers key on Acct-Session-Id and Acct-Status-Type.)
//
// Run must be running for anything to be sent.
type Accounting struct {
	c    *Client
	opts AccountingOptions
	log  *zap.Logger
	wake chan struct{}

	mu       sync.Mutex
	queue    []*record // oldest first
	inflight int
	paused   time.Time // no new sends before this
	backoff  time.Duration
	drained  chan struct{} // closed when the queue empties; nil while it is empty
	seq      uint64        // the last record's journal key
	pass     uint64        // next's calls, to mark sessions blocked in one

	// Dropped counts Interim-Updates that gave way to a full queue,
	// Refused the records refused with ErrQueueFull.
	Dropped, Refused atomic.Uint64
	// Delivered counts records a server answered.
	Delivered atomic.Uint64
}

// Errors of the accounting sender.
var (
	ErrQueueFull = errors.New("radius: accounting queue full")
	ErrStopped   = errors.New("radius: session accounting already stopped")
	ErrStarted   = errors.New("radius: session accounting already started")
)

type record struct {
	status  rfc2866.AcctStatusType
	sess    *Session // nil for Accounting-On/Off
	usage   Usage
	cause   TerminateCause
	event   time.Time
	sending bool
	id      string       // Acct-Session-Id of Accounting-On/Off
	v6      IPv6Prefixes // the session's as the record was queued
	seq     uint64       // its journal key
}

// NewAccounting returns a sender over c's servers (their accounting ports).
func NewAccounting(c *Client, opts AccountingOptions) *Accounting {
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = 65536
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 32
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(30*time.Second, opts.RetryMin)
	}
	if opts.Logger == nil {
		opts.Logger = c.log
	}
	return &Accounting{c: c, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1), backoff: opts.RetryMin}
}

// Session is the accounting of one session. Its methods queue records
// and return at once.
type Session struct {
	a    *Accounting
	info SessionInfo

	// guarded by a.mu
	started, stopped bool
	interim          *record // queued, not yet sending
	reported         Usage   // the highest counters an Interim-Update carried
	v6               IPv6Prefixes
	blocked          uint64 // the Accounting.pass of next that saw it blocked
}

// Session returns the accounting handle of a session.
func (a *Accounting) Session(info SessionInfo) *Session {
	return &Session{a: a, info: info, v6: info.IPv6}
}

// SetIPv6 changes the IPv6 prefixes the session's next records report
// (IPv6CP opened, DHCPv6 delegated or released a prefix).
func (s *Session) SetIPv6(p IPv6Prefixes) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.v6 = IPv6Prefixes{Link: p.Link, Delegated: slices.Clone(p.Delegated)}
	if s.interim != nil {
		s.interim.v6 = s.v6
	}
}

// Start queues Acct-Status-Type Start.
func (s *Session) Start() error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.started || s.stopped {
		return ErrStarted
	}
	if err := a.push(&record{status: rfc2866.AcctStatusType_Value_Start, sess: s, event: time.Now()}); err != nil {
		return err
	}
	s.started = true
	return nil
}

// Interim queues an Interim-Update with u, or updates the one still
// queued.
func (s *Session) Interim(u Usage) error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if s.interim != nil {
		s.interim.usage, s.interim.event, s.interim.v6 = u, time.Now(), s.v6
		s.reported = s.reported.atLeast(u)
		a.save(s.interim)
		return nil
	}
	r := &record{status: rfc2866.AcctStatusType_Value_InterimUpdate, sess: s, usage: u, event: time.Now()}
	if err := a.push(r); err != nil {
		return err
	}
	s.interim = r
	s.reported = s.reported.atLeast(u)
	return nil
}

// Stop queues the session's Stop with its final counters and cause. It
// may be called once; later calls return ErrStopped.
//
// The counters are cumulative, so a Stop never reports less than an
// Interim-Update of the session was given: a counter below that (the
// data plane's entry was gone before it was read, a counter reset) is
// raised to what was reported, and the mismatch logged. A session that
// carried traffic never ends with a zero Stop once an interim said so.
func (s *Session) Stop(u Usage, cause TerminateCause) error {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if final := u.atLeast(s.reported); final != u {
		a.log.Warn("radius accounting stop counters below the last interim update; the interim's are sent",
			zap.String("acct_session_id", s.info.Port.AcctSessionID), zap.String("user", s.info.User),
			zap.Uint64("in_octets", u.InOctets), zap.Uint64("reported_in_octets", s.reported.InOctets),
			zap.Uint64("out_octets", u.OutOctets), zap.Uint64("reported_out_octets", s.reported.OutOctets))
		u = final
	}
	if s.interim != nil {
		a.remove(s.interim)
		s.interim = nil
	}
	if err := a.push(&record{status: rfc2866.AcctStatusType_Value_Stop, sess: s, usage: u, cause: cause, event: time.Now()}); err != nil {
		return err
	}
	s.stopped = true
	return nil
}

// On queues Accounting-On (RFC 2866 §5.1): the NAS starts with no
// sessions, so the server may close any it still thinks open.
func (a *Accounting) On() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.push(&record{status: rfc2866.AcctStatusType_Value_AccountingOn, event: time.Now(), id: randomID()})
}

// Off queues Accounting-Off, after every Stop queued before it, and waits
// until the queue is empty or ctx ends. Run must still be running.
func (a *Accounting) Off(ctx context.Context) error {
	a.mu.Lock()
	if err := a.push(&record{status: rfc2866.AcctStatusType_Value_AccountingOff, event: time.Now(), id: randomID()}); err != nil {
		a.mu.Unlock()
		return err
	}
	done := a.drained
	a.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("radius: accounting off: %d records not delivered: %w", a.Len(), ctx.Err())
	}
}

// Len is the number of records queued or in flight.
func (a *Accounting) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// push appends r, making room by dropping the oldest waiting
// Interim-Update if the queue is full; a.mu is held.
func (a *Accounting) push(r *record) error {
	if r.sess != nil {
		r.v6 = r.sess.v6
	}
	if len(a.queue) >= a.opts.QueueLimit {
		victim := -1
		for i, q := range a.queue {
			if q.status == rfc2866.AcctStatusType_Value_InterimUpdate && !q.sending {
				victim = i
				break
			}
		}
		if victim < 0 {
			a.Refused.Add(1)
			return fmt.Errorf("%w (%d records)", ErrQueueFull, len(a.queue))
		}
		v := a.queue[victim]
		v.sess.interim = nil
		a.queue = append(a.queue[:victim], a.queue[victim+1:]...)
		a.drop(v)
		if a.Dropped.Add(1) == 1 {
			a.log.Warn("radius accounting queue full: dropping interim updates, oldest first", zap.Int("limit", a.opts.QueueLimit))
		}
	}
	if a.drained == nil {
		a.drained = make(chan struct{})
	}
	r.seq = a.nextSeq()
	a.queue = append(a.queue, r)
	a.save(r)
	a.signal()
	return nil
}

// remove takes r out of the queue; a.mu is held.
func (a *Accounting) remove(r *record) {
	for i, q := range a.queue {
		if q == r {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			a.drop(r)
			break
		}
	}
	if len(a.queue) == 0 && a.drained != nil {
		close(a.drained)
		a.drained = nil
	}
}

func (a *Accounting) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run sends queued records until ctx ends, then waits for the sends under
// way. Records still queued stay queued.
func (a *Accounting) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		a.mu.Lock()
		var next *record
		wait := time.Duration(-1)
		if now := time.Now(); now.Before(a.paused) {
			wait = a.paused.Sub(now)
		} else if a.inflight < a.opts.InFlight {
			next = a.next()
		}
		if next != nil {
			next.sending = true
			if next.sess != nil && next.sess.interim == next {
				next.sess.interim = nil // later counters make a new record
			}
			a.inflight++
		}
		a.mu.Unlock()
		if next != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.send(ctx, next)
			}()
			continue
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-a.wake:
		case <-timer:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// next picks the record to send: the oldest one whose session has no
// older record waiting or in flight, so that a session's Start, Interims
// and Stop reach the server in order even with InFlight sends at once.
// Accounting-On and Accounting-Off are barriers: sent alone, after
// everything before them, before anything after them. a.mu is held.
//
// A session is marked blocked with the pass number rather than put in a
// set: next runs once per record sent, with up to InFlight records in
// flight at the head of the queue, and a set built each time cost more
// than the record's encoding.
func (a *Accounting) next() *record {
	a.pass++
	for i, r := range a.queue {
		if r.sess == nil {
			if i == 0 && !r.sending && a.inflight == 0 {
				return r
			}
			return nil
		}
		if r.sending || r.sess.blocked == a.pass {
			r.sess.blocked = a.pass
			continue
		}
		return r
	}
	return nil
}

func (a *Accounting) send(ctx context.Context, r *record) {
	_, _, err := a.c.exchange(ctx, true, func(s *server) *radius.Packet {
		return a.packet(s, r, time.Now())
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	r.sending = false
	defer a.signal()
	if err != nil {
		if r.status == rfc2866.AcctStatusType_Value_InterimUpdate {
			// A newer Interim-Update or the Stop says all this one did.
			if r.sess.stopped || r.sess.interim != nil {
				a.remove(r)
			} else {
				r.sess.interim = r
			}
		}
		if ctx.Err() == nil {
			a.paused = time.Now().Add(a.backoff)
			a.log.Warn("radius accounting not delivered; kept queued", zap.Stringer("status", r.status), zap.Int("queued", len(a.queue)), zap.Duration("retry_in", a.backoff), zap.Error(err))
			a.backoff = min(2*a.backoff, a.opts.RetryMax)
		}
		return
	}
	a.backoff = a.opts.RetryMin
	a.Delivered.Add(1)
	a.remove(r)
}

// packet builds the Accounting-Request of r for server s at now.
func (a *Accounting) packet(s *server, r *record, now time.Time) *radius.Packet {
	p := radius.New(radius.CodeAccountingRequest, s.secret)
	// Room for a Stop's attributes (accessRequest says why).
	p.Attributes = make(radius.Attributes, 0, 28)
	if r.sess == nil {
		a.c.addNAS(p)
		_ = rfc2866.AcctSessionID_SetString(p, r.id)
	} else {
		info := r.sess.info
		a.c.addPort(p, info.User, info.Port)
		if info.FramedIP.Is4() {
			_ = rfc2865.FramedIPAddress_Set(p, net.IP(info.FramedIP.AsSlice()))
		}
		if l := r.v6.Link; l.IsValid() {
			_ = rfc3162.FramedIPv6Prefix_Add(p, ipNet(l))
		}
		for _, d := range r.v6.Delegated {
			_ = rfc4818.DelegatedIPv6Prefix_Add(p, ipNet(d))
		}
		for _, c := range info.Class {
			_ = rfc2865.Class_Add(p, c)
		}
		authentic := rfc2866.AcctAuthentic_Value_RADIUS
		if info.Local {
			authentic = rfc2866.AcctAuthentic_Value_Local
		}
		_ = rfc2866.AcctAuthentic_Set(p, authentic)
	}
	_ = rfc2866.AcctStatusType_Set(p, r.status)
	delay := now.Sub(r.event)
	_ = rfc2866.AcctDelayTime_Set(p, rfc2866.AcctDelayTime(max(0, delay/time.Second)))
	_ = rfc2869.EventTimestamp_Set(p, r.event)
	if r.status == rfc2866.AcctStatusType_Value_InterimUpdate || r.status == rfc2866.AcctStatusType_Value_Stop {
		u := r.usage
		_ = rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(u.Time/time.Second))
		_ = rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(uint32(u.InOctets)))
		_ = rfc2869.AcctInputGigawords_Set(p, rfc2869.AcctInputGigawords(uint32(u.InOctets>>32)))
		_ = rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(uint32(u.OutOctets)))
		_ = rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(uint32(u.OutOctets>>32)))
		// Packet counters have no Gigawords (RFC 2866 §5.8): they wrap,
		// as the RFC's counters do.
		_ = rfc2866.AcctInputPackets_Set(p, rfc2866.AcctInputPackets(uint32(u.InPackets)))
		_ = rfc2866.AcctOutputPackets_Set(p, rfc2866.AcctOutputPackets(uint32(u.OutPackets)))
	}
	if r.status == rfc2866.AcctStatusType_Value_Stop && r.cause != 0 {
		_ = rfc2866.AcctTerminateCause_Set(p, rfc2866.AcctTerminateCause(r.cause))
	}
	return p
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// MinInterimInterval is the shortest interim-update period honoured.
const MinInterimInterval = 10 * time.Second

// InterimInterval is a session's Interim-Update period: the server's
// Acct-Interim-Interval when the Access-Accept had one, else the
// configured interim-update (RouterOS: the RADIUS attribute wins); 0
// means none. A period under MinInterimInterval is raised to it and no
// higher: RFC 2869 §5.16's advice of at least 600 s is the operator's
// call, not a hidden floor.
func InterimInterval(configured, fromServer time.Duration) time.Duration {
	d := configured
	if fromServer > 0 {
		d = fromServer
	}
	if d <= 0 {
		return 0
	}
	return max(d, MinInterimInterval)
}
