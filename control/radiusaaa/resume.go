package radiusaaa

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// A RADIUS-accounted session survives a restart of pppoed (a planned
// restart, an upgrade or a kill -9) with its accounting going on: the
// server's state record (control/server's journal) brings the session
// back, and two buckets of the state store bring its accounting back:
//
//   - radius_acct_sessions, by handle: the session's accounting identity
//     (radius.SessionInfo: Acct-Session-Id = the handle, NAS-Port, Class,
//     …), when it came up and the counters last reported, written at its
//     Start and each Interim-Update and removed when it ends;
//   - radius_acct_queue: the accounting records queued and not yet
//     delivered (radius.Journal), sent by the next run.
//
// An adopted session gets no second Start; its Interim-Updates and Stop
// carry Acct-Session-Time from its first Start and the data plane's
// counters, which went on counting while no daemon ran. A session whose
// accounting started but that the new run did not adopt (swept) gets its
// Stop (EndUnadopted) with what was last reported. With sessions left to
// it, the new run sends no Accounting-On (BackendOptions.Resuming).

// Store is where the backend keeps its accounting across a restart: the
// state store through its writer (*state.Writer).
type Store interface {
	Records(bucket string, fn func(key uint64, value []byte) error) error
	PutIn(bucket string, key uint64, value []byte) error
	DeleteIn(bucket string, key uint64) error
}

// The state store's buckets of the backend.
const (
	bucketQueue    = "radius_acct_queue"
	bucketSessions = "radius_acct_sessions"
)

// keptSession is a session's accounting as bucketSessions keeps it.
type keptSession struct {
	Info radius.SessionInfo `json:"info"`
	// Up is when the session came up: Acct-Session-Time counts from it.
	Up time.Time `json:"up"`
	// Reported is what the last Interim-Update carried.
	Reported radius.Usage `json:"reported"`
	// IPv6 are the session's prefixes now, Held every prefix delegated
	// to it (tracked.held): its Stop names them all, one released before
	// the restart too.
	IPv6 radius.IPv6Prefixes `json:"ipv6,omitzero"`
	Held []netip.Prefix      `json:"held,omitempty"`
}

// keep writes t's accounting identity and what was last reported; t.mu
// held.
func (b *Backend) keep(h uint64, t *tracked, reported radius.Usage) {
	if b.opts.State == nil || t.acct == nil {
		return
	}
	t.reported = reported
	v, err := json.Marshal(keptSession{Info: t.info, Up: t.upAt, Reported: reported, IPv6: t.v6, Held: t.held})
	if err == nil {
		err = b.opts.State.PutIn(bucketSessions, h, v)
	}
	if err != nil {
		b.log.Warn("radius accounting not kept for a restart", zap.String("acct_session_id", radius.AcctSessionID(h)), zap.Error(err))
	}
}

// forget removes a session that ended from bucketSessions: its Stop is
// in the queue (and its journal) if it was accounted.
func (b *Backend) forget(h uint64) {
	if b.opts.State == nil {
		return
	}
	if err := b.opts.State.DeleteIn(bucketSessions, h); err != nil {
		b.log.Warn("radius accounting record not removed", zap.String("acct_session_id", radius.AcctSessionID(h)), zap.Error(err))
	}
}

// queueJournal is the accounting queue's radius.Journal: bucketQueue.
type queueJournal struct{ b *Backend }

// Save implements radius.Journal.
func (j queueJournal) Save(key uint64, r radius.SavedRecord) {
	v, err := json.Marshal(r)
	if err == nil {
		err = j.b.opts.State.PutIn(bucketQueue, key, v)
	}
	if err != nil {
		j.b.log.Warn("radius accounting record not kept for a restart", zap.String("acct_session_id", r.Info.Port.AcctSessionID), zap.Error(err))
	}
}

// Drop implements radius.Journal.
func (j queueJournal) Drop(key uint64) {
	if err := j.b.opts.State.DeleteIn(bucketQueue, key); err != nil {
		j.b.log.Warn("radius accounting record not removed from the store", zap.Error(err))
	}
}

// restoreQueue queues what the previous run left undelivered; b.mu held,
// b.acct just made.
func (b *Backend) restoreQueue() {
	if b.opts.State == nil {
		return
	}
	saved := map[uint64]radius.SavedRecord{}
	err := b.opts.State.Records(bucketQueue, func(k uint64, v []byte) error {
		var r radius.SavedRecord
		if json.Unmarshal(v, &r) != nil {
			b.log.Warn("radius accounting record of the last run unreadable: dropped", zap.Uint64("key", k))
			_ = b.opts.State.DeleteIn(bucketQueue, k)
			return nil
		}
		saved[k] = r
		return nil
	})
	if err != nil {
		b.log.Warn("radius accounting of the last run not restored", zap.Error(err))
		return
	}
	b.restored = b.acct.Restore(saved)
	if len(saved) > 0 {
		b.log.Info("radius accounting records of the last run queued", zap.Int("records", len(saved)))
	}
}

// keptSessions reads bucketSessions once; b.mu held.
func (b *Backend) keptSessions() map[uint64]keptSession {
	if b.kept != nil || b.opts.State == nil {
		return b.kept
	}
	b.kept = map[uint64]keptSession{}
	err := b.opts.State.Records(bucketSessions, func(k uint64, v []byte) error {
		var ks keptSession
		if json.Unmarshal(v, &ks) == nil {
			b.kept[k] = ks
		}
		return nil
	})
	if err != nil {
		b.log.Warn("radius accounting of the last run's sessions not read", zap.Error(err))
	}
	return b.kept
}

// Resume implements aaa.Resumer for a restarted pppoed
// (control/restart): the address, profile and only-one count as the
// local backend resumes them, the RADIUS answer's rate limit and routes
// kept (the Access-Accept is not asked for again), and the session's
// accounting going on without a second Start (see the top of this file).
func (b *Backend) Resume(r aaa.Resumed) (aaa.Answer, error) {
	ans, err := b.local.Resume(r)
	if err != nil {
		return ans, err
	}
	set, _, acct := b.current()
	local := !set.useRadius || b.local.HasSecret(r.User, r.Service)
	if !local && r.RateLimit.Limited() {
		ans.RateLimit = r.RateLimit // Mikrotik-Rate-Limit wins over the profile, as at the start
	}
	ans.Routes, ans.Class = r.Routes, r.Class
	t := &tracked{req: aaa.Request{Handle: r.Handle, Service: r.Service, User: r.User, Circuit: r.Circuit},
		local: local, user: r.User, class: r.Class, ip: r.Remote}
	b.mu.Lock()
	ks, ok := b.keptSessions()[r.Handle]
	restored := b.restored[radius.AcctSessionID(r.Handle)]
	b.mu.Unlock()
	switch {
	case ok && acct != nil:
		t.upAt, t.info, t.local = ks.Up, ks.Info, ks.Info.Local
		t.v6, t.held, t.reported = ks.IPv6, ks.Held, ks.Reported
		if r.IPv6 != nil {
			t.fixed = r.IPv6.Fixed
		}
		if restored != nil {
			t.acct = restored.Resumed(ks.Reported)
		} else {
			t.acct = acct.Resume(ks.Info, ks.Reported)
		}
		if ks.IPv6.Link.IsValid() || len(ks.IPv6.Delegated) > 0 {
			t.acct.SetIPv6(ks.IPv6)
		}
	case ok:
		b.log.Warn("adopted session's accounting cannot go on: no /radius server for ppp now",
			zap.String("acct_session_id", radius.AcctSessionID(r.Handle)), zap.String("user", r.User))
	case set.useRadius && set.accounting && acct != nil && len(set.servers) > 0:
		// Accounted now, with no trace of it before (accounting was off,
		// or its record did not reach the file): it starts here.
		p := port(t.req)
		t.upAt = time.Now()
		t.info = radius.SessionInfo{User: r.User, Port: p, FramedIP: r.Remote, Class: r.Class, Local: local}
		t.acct = acct.Session(t.info)
		if err := t.acct.Start(); err != nil {
			b.log.Warn("radius accounting start not queued", zap.String("acct_session_id", p.AcctSessionID), zap.Error(err))
		}
		b.keep(r.Handle, t, radius.Usage{})
	}
	b.adopted.Store(r.Handle, t)
	ans.Lease = resumedLease{Grant: ans.Lease, b: b, h: r.Handle, reported: ks.Reported}
	return ans, nil
}

// resumedLease is a resumed session's lease: released before the session
// ran (its adoption failed after Resume), it ends the accounting Resume
// took over.
type resumedLease struct {
	aaa.Grant
	b        *Backend
	h        uint64
	reported radius.Usage
}

func (l resumedLease) Release() {
	l.Grant.Release()
	if v, ok := l.b.adopted.LoadAndDelete(l.h); ok {
		l.b.endAccounting(l.h, v.(*tracked), l.reported, radius.CauseNASError)
	}
}

// takeAdopted moves a resumed session to the live ones at its first
// event (session.Resumed, the adopted session's start).
func (b *Backend) takeAdopted(s *session.Session, e session.Event) (any, bool) {
	if _, ok := e.(session.Resumed); !ok {
		return nil, false
	}
	v, ok := b.adopted.LoadAndDelete(uint64(s.ID()))
	if ok {
		b.live.Store(uint64(s.ID()), v)
	}
	return v, ok
}

// endAccounting queues the Stop of a session that will not run, with
// what was last reported.
func (b *Backend) endAccounting(h uint64, t *tracked, u radius.Usage, cause radius.TerminateCause) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.acct != nil {
		t.stopIPv6()
		if err := t.acct.Stop(u, cause); err != nil && !errors.Is(err, radius.ErrStopped) {
			b.log.Warn("radius accounting stop not queued", zap.String("acct_session_id", radius.AcctSessionID(h)), zap.Error(err))
		}
	}
	b.forget(h)
}

// EndUnadopted ends the accounting of the sessions the previous run
// accounted and this one did not adopt (restart swept them): each gets
// its Stop, Acct-Terminate-Cause NAS-Error, with the counters last
// reported. pppoed calls it once the previous run's sessions are
// reconciled. Without a /radius server for ppp the records are kept
// for a run that has one.
func (b *Backend) EndUnadopted() {
	b.mu.Lock()
	acct := b.acct
	kept := b.keptSessions()
	restored := b.restored
	b.mu.Unlock()
	if acct == nil {
		return
	}
	running := func(h uint64) bool {
		_, live := b.live.Load(h)
		_, adopted := b.adopted.Load(h)
		return live || adopted
	}
	n := 0
	for h, ks := range kept {
		if running(h) {
			continue
		}
		s := restored[ks.Info.Port.AcctSessionID]
		if s == nil {
			s = acct.Resume(ks.Info, ks.Reported)
		}
		b.endAccounting(h, &tracked{acct: s, v6: ks.IPv6, held: ks.Held}, ks.Reported, radius.CauseNASError)
		n++
	}
	// A session whose Start or Interim-Update was still queued but
	// whose own record never reached the file: its Stop too, with what
	// its last record carried.
	for id, s := range restored {
		h, err := strconv.ParseUint(id, 16, 64)
		if err != nil || s.Stopped() || running(h) {
			continue
		}
		if _, ok := kept[h]; ok {
			continue
		}
		b.endAccounting(h, &tracked{acct: s}, radius.Usage{}, radius.CauseNASError)
		n++
	}
	b.mu.Lock()
	b.kept = map[uint64]keptSession{} // read once: what is live now is written anew
	b.mu.Unlock()
	if n > 0 {
		b.log.Info("radius accounting stopped for sessions not adopted", zap.Int("sessions", n))
	}
}
