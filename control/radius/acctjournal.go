package radius

import (
	"slices"
	"time"

	"layeh.com/radius/rfc2866"
)

// Journal keeps an Accounting's queued session records where a restarted
// pppoed finds them (pppoed: a bucket of the state store, written by its
// state.Writer), so that a Start, Interim-Update or Stop not yet
// delivered when the process ends (a restart, an upgrade, a kill -9, an
// outage of every server) is sent by the next run. Save is called when a
// record is queued or its counters change, Drop when it is delivered or
// gives way to a newer one; both with the queue's lock held, so they
// must not block (the state.Writer only queues). Accounting-On and
// Accounting-Off are not kept: they say what this process does.
type Journal interface {
	Save(key uint64, r SavedRecord)
	Drop(key uint64)
}

// SavedRecord is a queued accounting record as a Journal keeps it.
type SavedRecord struct {
	// Status is the Acct-Status-Type: Start, Interim-Update or Stop.
	Status uint32         `json:"status"`
	Info   SessionInfo    `json:"info"`
	Usage  Usage          `json:"usage"`
	Cause  TerminateCause `json:"cause,omitempty"`
	// Event is when the record was made: Event-Timestamp, and
	// Acct-Delay-Time counts from it, across the restart too.
	Event time.Time `json:"event"`
}

// save hands r to the journal; a.mu is held.
func (a *Accounting) save(r *record) {
	if a.opts.Journal == nil || r.sess == nil {
		return
	}
	a.opts.Journal.Save(r.seq, SavedRecord{Status: uint32(r.status), Info: r.sess.info, Usage: r.usage, Cause: r.cause, Event: r.event})
}

// drop tells the journal r is gone; a.mu is held.
func (a *Accounting) drop(r *record) {
	if a.opts.Journal == nil || r.sess == nil {
		return
	}
	a.opts.Journal.Drop(r.seq)
}

func (a *Accounting) dropKey(k uint64) {
	if a.opts.Journal != nil {
		a.opts.Journal.Drop(k)
	}
}

// nextSeq is a new record's journal key. Keys grow across runs too (they
// start from the clock), so that a record restored from an earlier run
// keeps its key and no new one takes it; a.mu is held.
func (a *Accounting) nextSeq() uint64 {
	a.seq = max(a.seq+1, uint64(time.Now().UnixNano()))
	return a.seq
}

// Restore queues the records a Journal kept from an earlier run, in the
// order they were queued, and returns the accounting of each of their
// sessions by Acct-Session-Id: an adopted session goes on with it (no
// second Start, its Interim-Update replacing the one restored) and a
// session that ended has its Stop sent. The records keep their journal
// keys. Call it before anything else is queued for those sessions.
func (a *Accounting) Restore(saved map[uint64]SavedRecord) map[string]*Session {
	keys := make([]uint64, 0, len(saved))
	for k := range saved {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	a.mu.Lock()
	defer a.mu.Unlock()
	sessions := map[string]*Session{}
	for _, k := range keys {
		sr := saved[k]
		st := rfc2866.AcctStatusType(sr.Status)
		if st != rfc2866.AcctStatusType_Value_Start && st != rfc2866.AcctStatusType_Value_InterimUpdate && st != rfc2866.AcctStatusType_Value_Stop {
			a.dropKey(k)
			continue
		}
		id := sr.Info.Port.AcctSessionID
		s := sessions[id]
		if s == nil {
			s = &Session{a: a, info: sr.Info, v6: sr.Info.IPv6, started: true}
			sessions[id] = s
		}
		if s.stopped {
			a.dropKey(k) // nothing after a Stop
			continue
		}
		r := &record{status: st, sess: s, usage: sr.Usage, cause: sr.Cause, event: sr.Event, seq: k, v6: s.v6}
		switch st {
		case rfc2866.AcctStatusType_Value_InterimUpdate:
			if s.interim != nil {
				a.remove(s.interim)
			}
			s.interim = r
			s.reported = s.reported.atLeast(sr.Usage)
		case rfc2866.AcctStatusType_Value_Stop:
			if s.interim != nil {
				a.remove(s.interim)
				s.interim = nil
			}
			s.stopped = true
		}
		if a.drained == nil {
			a.drained = make(chan struct{})
		}
		a.queue = append(a.queue, r)
		a.seq = max(a.seq, k)
	}
	if len(keys) > 0 {
		a.signal()
	}
	return sessions
}

// Resume returns the accounting of a session an earlier run of pppoed
// started accounting for and this one adopted: its Start is not sent
// again; its Interim-Updates and Stop carry the session's whole time and
// counters, never below reported (what the earlier run last reported).
// A session Restore returned is resumed with Resumed instead.
func (a *Accounting) Resume(info SessionInfo, reported Usage) *Session {
	return &Session{a: a, info: info, started: true, reported: reported}
}

// Resumed raises what s counts as reported to at least u (the adopted
// session's last Interim-Update as its record says) and returns s.
func (s *Session) Resumed(u Usage) *Session {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.reported = s.reported.atLeast(u)
	return s
}

// Stopped reports whether the session's Stop is queued or sent.
func (s *Session) Stopped() bool {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	return s.stopped
}
