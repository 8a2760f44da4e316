package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// The state store (Options.State) gets a session's record when it comes
// up (IPCP open, installed), when its entry changes and at each interim,
// and loses it when the session ends: the journal is an Observer of the
// session, so the record is made on the session's event loop; pppoed
// hands the write to a state.Writer, so that the loop never waits for the
// file. The record
// holds what Adopt needs to take the session over in a new process: the
// link as negotiated (link.Saved: magic numbers, MRU, options and
// identifiers), the user, profile, pool, addresses, DNS, timeouts and the
// counters of earlier installs. A session still negotiating has no
// record: nothing of it is in the data plane or outlives the process, and
// after a restart its subscriber's frames meet an unknown session (PADT)
// and it dials again. A store that fails a write costs the session
// nothing but the record; it is logged.

// Journal is where the server writes its sessions' records
// (*state.Writer or *state.Store).
type Journal interface {
	Put(rec state.Session, cursor uint16) error
	Delete(handle uint64) error
}

// journal is the Observer writing l's record.
type journal struct {
	s *Server
	l *live
}

// Observe implements session.Observer.
func (j journal) Observe(sess *session.Session, _ time.Time, e session.Event) {
	switch e := e.(type) {
	case session.NetworkUp:
		if e.Protocol != ppp.ProtocolIPCP {
			return
		}
	case session.Updated, session.Interim:
	default:
		return
	}
	j.s.record(j.l, sess)
}

// recordOf is what the server knows of a session, for its store record.
func (s *Server) recordOf(l *live, sess *session.Session) (state.Session, error) {
	r, err := sess.Resumable()
	if err != nil {
		return state.Session{}, err
	}
	snap := sess.Snapshot()
	info := r.Link.Info
	rec := state.Session{
		Handle:          uint64(snap.ID),
		Role:            state.RoleServer,
		Phase:           state.PhaseUp,
		SessionID:       snap.SessionID,
		PeerMAC:         l.key.c.MAC,
		Iface:           state.Interface{Name: snap.Interface, Ifindex: l.key.c.Ifindex},
		MagicLocal:      info.LocalMagic,
		MagicPeer:       info.PeerMagic,
		MRU:             info.MRU,
		MTU:             info.MTU,
		MSS:             r.Entry.MSS,
		User:            snap.Name,
		Profile:         r.Answer.Profile,
		Service:         snap.ServiceName,
		Pool:            r.Answer.Pool,
		LocalIPv4:       info.IP.Local,
		PeerIPv4:        info.IP.Remote,
		DNS:             dnsOf(info.IP),
		Started:         r.Opened.UTC(),
		RADIUSClass:     r.Answer.Class,
		SessionTimeout:  r.Answer.SessionTimeout,
		IdleTimeout:     r.Answer.IdleTimeout,
		InterimInterval: r.Answer.InterimInterval,
		ChangeTCPMSS:    r.Answer.ChangeTCPMSS,
		Routes:          r.Answer.Routes,
		Counters: state.Counters{PacketsUp: snap.Stats.PacketsUp, BytesUp: snap.Stats.BytesUp,
			PacketsDown: snap.Stats.PacketsDown, BytesDown: snap.Stats.BytesDown},
	}
	if r.Answer.Remote.IsValid() && r.Answer.Pool != "" {
		// A fixed remote address is not from the pool the profile names.
		rec.Pool = ""
	}
	if r.Answer.RateLimit.Limited() {
		rec.RateLimit = r.Answer.RateLimit.String()
	}
	if b := r.Base; b != (session.Stats{}) {
		rec.Counters.Base = &state.Counters{PacketsUp: b.PacketsUp, BytesUp: b.BytesUp, PacketsDown: b.PacketsDown, BytesDown: b.BytesDown}
	}
	if rec.Link, err = json.Marshal(r.Link); err != nil {
		return state.Session{}, fmt.Errorf("server: session %v: link: %w", snap.ID, err)
	}
	copy(rec.LocalMAC[:], l.acMAC)
	for _, v := range snap.Circuit.VLANs[:snap.Circuit.NumVLANs] {
		rec.Iface.VLANs = append(rec.Iface.VLANs, state.VLAN{TPID: uint16(v.TPID), ID: v.ID})
	}
	if b, ok := s.binding(l.server); ok {
		rec.Iface.Parent = b.port
	}
	return rec, nil
}

// record writes (or queues) a session's record.
func (s *Server) record(l *live, sess *session.Session) {
	if s.opts.State == nil {
		return
	}
	rec, err := s.recordOf(l, sess)
	if err == nil {
		err = s.opts.State.Put(rec, s.ids.Cursor())
	}
	if err != nil {
		s.log.Warn("state store", zap.Stringer("handle", sess.ID()), zap.Error(err))
	}
}

// unrecord removes an ended session's record.
func (s *Server) unrecord(l *live) {
	if s.opts.State == nil {
		return
	}
	if err := s.opts.State.Delete(uint64(l.sess.ID())); err != nil {
		s.log.Warn("state store", zap.Stringer("handle", l.sess.ID()), zap.Error(err))
	}
}

// observers are l's session observers: the journal when there is a
// store.
func (s *Server) observers(l *live) []session.Observer {
	if s.opts.State == nil {
		return s.opts.Observers
	}
	return append(slices.Clip(s.opts.Observers), journal{s: s, l: l})
}

// binding returns the server entry of a key.
func (s *Server) binding(k serverKey) (binding, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.bindings[k]
	return b, ok
}

// Adopt implements restart.Adopter: the session rec describes, found
// installed as in, is taken over as it runs, without a packet to the
// peer: same handle, PPPoE id, magic numbers, MRU, address (reserved
// again in its pool), user, profile, start and counters; its id is
// reserved in the allocator, it counts for max-sessions and
// one-session-per-host, and keepalive resumes. It fails (the session is
// swept) when the record cannot be restored: no link in it, its server
// entry, interface, profile or pool gone. Adopt is called before the
// ports serve (Options.Resume), so no frame of an adopted session meets
// an unknown one.
func (s *Server) Adopt(rec state.Session, in *maps.Installed) error {
	if rec.Role != state.RoleServer {
		return fmt.Errorf("a %s session, not the access concentrator's", rec.Role)
	}
	if in == nil || in.Client {
		return errors.New("not installed as a server session")
	}
	if len(rec.Link) == 0 {
		return errors.New("state record without the link (written by an older pppoed)")
	}
	saved, err := s.savedLink(rec)
	if err != nil {
		return err
	}
	c := pppoe.Circuit{Ifindex: in.Ifindex, MAC: rec.PeerMAC}
	for _, v := range rec.Iface.VLANs {
		if int(c.NumVLANs) == len(c.VLANs) {
			return errors.New("state record with more VLAN tags than a circuit holds")
		}
		c.VLANs[c.NumVLANs] = ethernet.VLAN{TPID: ethernet.EtherType(v.TPID), ID: v.ID}
		c.NumVLANs++
	}
	s.mu.RLock()
	b, ok := s.bindings[serverKey{iface: rec.Iface.Name, service: rec.Service}]
	var p *port
	var d *disc
	if ok {
		if p = s.ports[b.port]; p != nil {
			d = p.discs[b.stack]
		}
	}
	s.mu.RUnlock()
	switch {
	case !ok || b.cfg.Disabled:
		return fmt.Errorf("server %s/%s gone or disabled", rec.Iface.Name, rec.Service)
	case p == nil || d == nil || p.Ifindex != in.Ifindex:
		return fmt.Errorf("interface %s not open", b.port)
	case stackOf(c) != b.stack:
		return fmt.Errorf("VLAN tags no longer those of %s", rec.Iface.Name)
	}
	res, ok := s.opts.AAA.(aaa.Resumer)
	if !ok {
		return errors.New("the AAA backend cannot resume sessions")
	}
	resumed := aaa.Resumed{Service: aaa.ServicePPPoE, User: rec.User, Profile: rec.Profile, Pool: rec.Pool,
		Local: rec.LocalIPv4, Remote: rec.PeerIPv4, DNS: rec.DNS, Handle: rec.Handle, Class: rec.RADIUSClass, Routes: rec.Routes,
		Circuit: aaa.Circuit{MAC: rec.PeerMAC.HardwareAddr(), Interface: rec.Iface.Name, ServiceName: rec.Service, SessionID: rec.SessionID}}
	for _, v := range rec.Iface.VLANs {
		resumed.Circuit.VLANs = append(resumed.Circuit.VLANs, v.ID)
	}
	if rec.RateLimit != "" {
		lim, err := ratelimit.Parse(rec.RateLimit)
		if err != nil {
			return fmt.Errorf("state record's rate limit: %w", err)
		}
		resumed.RateLimit = lim
	}
	ans, err := res.Resume(resumed)
	if err != nil {
		return err
	}
	ans.SessionTimeout, ans.IdleTimeout, ans.InterimInterval = rec.SessionTimeout, rec.IdleTimeout, rec.InterimInterval
	ans.Class = rec.RADIUSClass
	if err := s.ids.Reserve(c.MAC, rec.SessionID); err != nil {
		ans.Lease.Release()
		return err
	}
	var maxPayload uint16
	if m := max(saved.Info.MRU, saved.Info.MTU); m > link.PPPoEMaxMRU {
		maxPayload = m // the PADR's PPP-Max-Payload (RFC 4638) allowed it
	}
	l := &live{key: sessionKey{c, rec.SessionID}, server: b.key, acMAC: p.MAC}
	srv := d.srv
	entry := session.Entry{Circuit: c, SessionID: rec.SessionID, ACMAC: p.MAC, IPv4: in.IPv4, MTU: in.MTU, MSS: in.MSS}
	r := session.Resumable{Link: saved, Answer: ans, Entry: entry, Opened: rec.Started, Live: session.Stats{
		PacketsUp: in.Stats.PacketsUp, BytesUp: in.Stats.BytesUp, PacketsDown: in.Stats.PacketsDown,
		BytesDown: in.Stats.BytesDown, Drops: in.Stats.Drops, LastSeen: in.Stats.LastSeen}}
	if base := rec.Counters.Base; base != nil {
		r.Base = session.Stats{PacketsUp: base.PacketsUp, BytesUp: base.BytesUp, PacketsDown: base.PacketsDown, BytesDown: base.BytesDown}
	}
	if in.IPv4 != rec.PeerIPv4 && rec.PeerIPv4 != (netip.Addr{}) {
		ans.Lease.Release()
		s.ids.Release(c.MAC, rec.SessionID)
		return fmt.Errorf("data plane has %v, the record %v", in.IPv4, rec.PeerIPv4)
	}
	sess, err := session.Adopt(session.Config{
		Settings:   b.sessions,
		ID:         session.ID(rec.Handle),
		Circuit:    c,
		SessionID:  rec.SessionID,
		ACMAC:      p.MAC,
		Interface:  b.key.iface,
		Service:    rec.Service,
		MaxPayload: maxPayload,
		Send:       sendFunc(p, c, rec.SessionID),
		SendPADT:   func(msg string) error { return writePADT(p, srv, c, rec.SessionID, msg) },
		Opened:     rec.Started,
		Observers:  s.observers(l),
	}, r)
	if err != nil {
		ans.Lease.Release()
		s.ids.Release(c.MAC, rec.SessionID)
		return err
	}
	s.mu.Lock()
	l.sess = sess
	l.slot = slotEstablished
	s.established[b.key]++
	s.addSession(l)
	s.byID[sess.ID()] = l
	s.traffic.add(l)
	s.c.states[session.StateEstablish].Add(1) // the hooks move it to Up
	s.wg.Add(1)
	s.mu.Unlock()
	s.start(l)
	return nil
}

// Prepare implements restart.Preparer: the records' links are decoded
// on every CPU before Adopt takes them one by one.
func (s *Server) Prepare(recs []state.Session) {
	links := make([]link.Saved, len(recs))
	ok := make([]bool, len(recs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(recs)/1024))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				ok[i] = len(recs[i].Link) > 0 && json.Unmarshal(recs[i].Link, &links[i]) == nil
			}
		}()
	}
	wg.Wait()
	m := make(map[uint64]link.Saved, len(recs))
	for i := range recs {
		if ok[i] {
			m[recs[i].Handle] = links[i]
		}
	}
	s.mu.Lock()
	s.prepared = m
	s.mu.Unlock()
}

// savedLink is rec's link, as Prepare decoded it or decoded now.
func (s *Server) savedLink(rec state.Session) (link.Saved, error) {
	s.mu.Lock()
	saved, ok := s.prepared[rec.Handle]
	if ok {
		delete(s.prepared, rec.Handle)
	}
	s.mu.Unlock()
	if ok {
		return saved, nil
	}
	if err := json.Unmarshal(rec.Link, &saved); err != nil {
		return link.Saved{}, fmt.Errorf("state record's link: %w", err)
	}
	return saved, nil
}

// dnsOf lists the DNS servers IPCP gave.
func dnsOf(ip link.IPConfig) []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{ip.DNS1, ip.DNS2} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}
