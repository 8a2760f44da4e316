package session

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// Adopter is a DataPlane that can hand over an entry a previous process
// installed: the entry is looked up, not written, and its counters go on.
type Adopter interface {
	Adopt(e Entry) (Handle, error)
}

// Resumable is what a session up now needs to be taken over by a new
// process (restart, #13), for its state record: the link as negotiated
// (link.Saved: options and identifiers, no secret), AAA's answer without
// its lease, the data-plane entry, and the counters of earlier installs.
type Resumable struct {
	Link   link.Saved
	Answer aaa.Answer // Lease nil
	Entry  Entry
	// Base is what earlier installs counted (IPCP renegotiated); the
	// live entry's counters come on top.
	Base Stats
	// Live, for Adopt, are the live entry's counters as the caller read
	// them (restart lists them with the entries): a read fewer per
	// session at a start with 100,000 of them.
	Live Stats
	// Opened is when the session began (its PADR): uptime goes on from
	// it.
	Opened time.Time
	// IPv6 is the session's IPv6 control state while IPv6CP is open (nil
	// otherwise): Answer's IPv6 fields say what it was given.
	IPv6 *IPv6State
	// MPSeq is multilink's next sending sequence number (MPLink.SendSeq)
	// while MP is up: an adopted session sends on past it, so the peer's
	// reassembler does not take its fragments for old ones.
	MPSeq uint32
}

// IPv6State is what a session's IPv6 needs to go on in a new process:
// its prefixes as routed (the link /64 of its Router Advertisements,
// the delegated prefixes) and its DHCPv6 bindings (client DUID, IAID,
// prefix, lifetime), so that an RS is still answered with the same /64
// and a Renew with the same prefix. The IPv6CP interface identifiers
// are the link's (link.Saved).
type IPv6State struct {
	Prefixes Prefixes
	Bindings []dhcp6.Binding
}

// ErrNotInstalled is Resumable's error for a session with nothing in the
// data plane: nothing of it outlives the process.
var ErrNotInstalled = errors.New("session: not installed")

// Resumable returns what a new process needs to adopt the session, for
// its state record: the record's writer calls it (MPSequence counts from
// its MPSeq). It must be called from the session's goroutine (an
// Observer): it reads the link. It fails for a session not up.
func (s *Session) Resumable() (Resumable, error) {
	saved, err := s.link.Save()
	if err != nil {
		return Resumable{}, err
	}
	var v6 *IPv6State
	if s.v6 != nil {
		v6 = &IPv6State{Prefixes: s.v6.copyPrefixes(), Bindings: s.v6.dhcp.Bindings()}
	}
	s.mu.Lock()
	if !s.installed {
		s.mu.Unlock()
		return Resumable{}, ErrNotInstalled
	}
	a := s.answer
	a.Lease = nil
	r := Resumable{Link: saved, Answer: a, Entry: s.entry, Base: s.past.stats(), Opened: s.cfg.Opened, IPv6: v6}
	s.mu.Unlock()
	if s.mp != nil {
		// The record is being written: MPSequence measures from here.
		r.MPSeq = s.mp.RecordSeq()
	}
	return r, nil
}

// Resumed is an adopted session's Started event: it was taken over from a
// previous process, up, without a packet to the peer.
type Resumed struct{ Entry Entry }

func (Resumed) sessionEvent() {}

// Adopt returns a session taken over from a previous process: its link
// restored as r.Link says (Network phase, everything Opened, nothing
// sent), its data-plane entry looked up through cfg.DataPlane (an
// Adopter; nothing is written), AAA's answer r.Answer (its Lease holds
// the address again), up. cfg is what New takes, with Opened the
// session's original start. Run starts it without bringing the link up:
// it arms the keepalive (LCP echoes with the stored magic number) and
// the interim timer and tells the observers (Resumed). Multilink goes on
// as LCP negotiated it (r.Link.Info.Multilink: reassembly, and the
// packets the data plane diverts fragmented again), and IPv6 as r.IPv6
// says: Router Advertisements resumed (ra.Advertiser.Resume), the DHCPv6
// bindings restored, the prefixes' routes synced. On error nothing is
// held: the caller releases r.Answer's Lease.
func Adopt(cfg Config, r Resumable) (*Session, error) {
	ad, ok := cfg.DataPlane.(Adopter)
	if !ok {
		return nil, fmt.Errorf("session %d: the data plane cannot adopt", cfg.SessionID)
	}
	if r.Answer.Lease == nil {
		return nil, fmt.Errorf("session %d: adopt: AAA gave no lease", cfg.SessionID)
	}
	s, err := newSession(cfg, func(lc link.Config) (*link.Link, error) { return link.Restore(lc, r.Link) })
	if err != nil {
		return nil, err
	}
	info := r.Link.Info
	s.answer = r.Answer
	var six *v6
	if r.IPv6 != nil && r.Answer.IPv6 {
		if six, err = s.newV6(info); err != nil {
			return nil, fmt.Errorf("session %d: adopt: %w", cfg.SessionID, err)
		}
		if err := six.dhcp.Restore(r.IPv6.Bindings); err != nil {
			return nil, fmt.Errorf("session %d: adopt: %w", cfg.SessionID, err)
		}
		six.prefixes = Prefixes{Link: r.IPv6.Prefixes.Link, Delegated: slices.Clone(r.IPv6.Prefixes.Delegated)}
		six.expiry = six.dhcp.LatestExpiry()
	}
	h, err := ad.Adopt(r.Entry)
	if err != nil {
		return nil, fmt.Errorf("session %d: adopt: %w", cfg.SessionID, err)
	}
	s.adopted = true
	s.grant = r.Answer.Lease
	s.wasUp = true
	s.handle, s.installed, s.entry = h, true, r.Entry
	s.user, s.addr, s.mtu, s.mru = info.User, info.IP.Remote, info.MTU, info.MRU
	s.ipv4Up = slices.ContainsFunc(r.Link.NCPs, func(p link.SavedProtocol) bool { return p.Protocol == ppp.ProtocolIPCP })
	s.past, s.cur = countsOf(r.Base), countsOf(r.Live)
	s.lastSeen, s.lastUp = r.Live.LastSeen, r.Live.PacketsUp
	if info.Multilink.Active() {
		s.mp = NewMPLink(info.Multilink, info.MRU, info.MTU, s.cfg.Send)
		s.mp.ResumeSeq(r.MPSeq)
		s.mp.OnRecordDue(s.eng.Poke)
		s.mpTotals = &mpTotals{}
		if r.Entry.MP.On {
			s.divert(h)
		}
	}
	s.v6 = six
	return s, nil
}

// resume is Start for an adopted session: the link is up already.
func (s *Session) resume(now time.Time) {
	s.started = s.cfg.Opened
	s.lastActivity = now
	s.setState(StateUp)
	if t := s.cfg.KeepaliveTimeout; t > 0 {
		s.nextCheck = now.Add(t)
	}
	if d := s.answer.InterimInterval; d > 0 {
		s.interimAt = now.Add(d)
	}
	if s.v6 != nil {
		s.v6.ra.Resume(now)
		// The prefixes are in the maps and routed on pppoe0 already:
		// installing them again changes nothing there, and the data
		// plane learns they are the session's to remove when it ends.
		s.ipv6Install(s.handle)
		s.setPrefixes()
	}
	s.log.Debug("session adopted", zap.String("user", s.user), zap.Stringer("address", s.addr))
	s.observe(now, Resumed{Entry: s.entry})
}
