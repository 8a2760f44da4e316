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
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// The state store (Options.State) gets a session's record when it comes
// up (IPCP open, installed), when its entry changes, at each interim and
// each time multilink's sending sequence number moves 1/16 of its space
// on (session.MPSequence),
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
		if e.Protocol != ppp.ProtocolIPCP && e.Protocol != ppp.ProtocolIPv6CP {
			return
		}
	case session.NetworkDown:
		// The other protocol may go on: the record loses the one that
		// closed. With none left the session is not in the data plane
		// and its record goes stale until it ends (swept at a start).
		j.s.recordQuiet(j.l, sess)
		return
	case session.Updated, session.Interim, session.IPv6Prefixes, session.IPv6Bindings, session.MPSequence:
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
	if !rec.PeerIPv4.IsValid() {
		// IPv6 only: no IPv4 address was taken from the profile's pool.
		rec.Pool = ""
	}
	if v := r.IPv6; v != nil {
		rec.IPv6 = ipv6Record(r.Answer, v)
	}
	rec.MPSeq = r.MPSeq
	if err := keepAuthorized(&rec, r.Answer.Authorized); err != nil {
		return state.Session{}, fmt.Errorf("server: session %v: %w", snap.ID, err)
	}
	if b := r.Base; b != (session.Stats{}) {
		rec.Counters.Base = &state.Counters{PacketsUp: b.PacketsUp, BytesUp: b.BytesUp, PacketsDown: b.PacketsDown, BytesDown: b.BytesDown}
	}
	if rec.Link, err = r.Link.MarshalBinary(); err != nil {
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

// ipv6Record is the record of a session's IPv6: what it was given (a)
// and what it holds (v).
func ipv6Record(a aaa.Answer, v *session.IPv6State) *state.IPv6 {
	out := &state.IPv6{Link: v.Prefixes.Link, Delegated: slices.Clone(v.Prefixes.Delegated),
		Fixed: a.IPv6Delegated, PDPool: aaa.PoolName(a.IPv6Delegate), DNS: slices.Clone(a.IPv6DNS)}
	for _, b := range v.Bindings {
		out.Bindings = append(out.Bindings, state.DHCPv6Binding{DUID: b.DUID, IAID: b.IAID, PD: b.PD,
			Prefix: b.Prefix, Fixed: b.Fixed, Expires: b.Expires.UTC()})
	}
	return out
}

// keepAuthorized puts what RADIUS granted the session (au, nil for a
// local one) in its record while a network protocol is not open: after
// a restart that protocol gets it, not the profile's
// (aaa.Resumed.Authorized). Only then: a dual-stack session's records
// stay as small as they were.
func keepAuthorized(rec *state.Session, au *aaa.Authorized) error {
	rec.RADIUSAttrs = nil
	if au == nil || rec.PeerIPv4.IsValid() && rec.IPv6 != nil {
		return nil
	}
	b, err := json.Marshal(au)
	if err != nil {
		return fmt.Errorf("RADIUS authorization: %w", err)
	}
	rec.RADIUSAttrs = b
	return nil
}

// keptAuthorized is what keepAuthorized put in rec, nil for none.
func keptAuthorized(rec state.Session) (*aaa.Authorized, error) {
	if len(rec.RADIUSAttrs) == 0 {
		return nil, nil
	}
	au := new(aaa.Authorized)
	if err := json.Unmarshal(rec.RADIUSAttrs, au); err != nil {
		return nil, fmt.Errorf("state record's RADIUS authorization: %w", err)
	}
	return au, nil
}

// resumedIPv6 is what AAA reserves again of a record's IPv6: the pool
// prefixes bound now (the fixed one is no pool's).
func resumedIPv6(v *state.IPv6) *aaa.ResumedIPv6 {
	r := &aaa.ResumedIPv6{Link: v.Link, PDPool: v.PDPool, Fixed: v.Fixed, DNS: v.DNS}
	for _, b := range v.Bindings {
		if b.PD && !b.Fixed {
			r.Delegated = append(r.Delegated, b.Prefix)
		}
	}
	return r
}

// sessionIPv6 is the session's IPv6 state as a record keeps it.
func sessionIPv6(v *state.IPv6) *session.IPv6State {
	out := &session.IPv6State{Prefixes: session.Prefixes{Link: v.Link, Delegated: slices.Clone(v.Delegated)}}
	for _, b := range v.Bindings {
		out.Bindings = append(out.Bindings, dhcp6.Binding{DUID: b.DUID, IAID: b.IAID, PD: b.PD,
			Prefix: b.Prefix, Fixed: b.Fixed, Expires: b.Expires})
	}
	return out
}

// record writes (or queues) a session's record.
func (s *Server) record(l *live, sess *session.Session) {
	if err := s.put(l, sess); err != nil {
		s.log.Warn("state store", zap.Stringer("handle", sess.ID()), zap.Error(err))
	}
}

// recordQuiet is record for a session that may have left the data
// plane (its last network protocol closed): then there is nothing to
// record, and no warning.
func (s *Server) recordQuiet(l *live, sess *session.Session) {
	err := s.put(l, sess)
	if err != nil && !errors.Is(err, session.ErrNotInstalled) && !errors.Is(err, link.ErrNotOpened) {
		s.log.Warn("state store", zap.Stringer("handle", sess.ID()), zap.Error(err))
	}
}

func (s *Server) put(l *live, sess *session.Session) error {
	if s.opts.State == nil {
		return nil
	}
	rec, err := s.recordOf(l, sess)
	if err != nil {
		return err
	}
	return s.opts.State.Put(rec, s.ids.Cursor())
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
	if rec.IPv6 != nil {
		resumed.IPv6 = resumedIPv6(rec.IPv6)
	}
	if resumed.Authorized, err = keptAuthorized(rec); err != nil {
		return err
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
	// The entry as the session installed it: multilink as LCP settled
	// it (pppoe0 routes the session at its MRRU), the rate limit and the
	// Framed-Routes as applied.
	v4 := in.IPv4
	if v4.IsUnspecified() {
		v4 = netip.Addr{} // an IPv6-only session: maps.Installed lists 0.0.0.0
	}
	entry := session.Entry{Circuit: c, SessionID: rec.SessionID, ACMAC: p.MAC, IPv4: v4, MTU: in.MTU, MSS: in.MSS,
		MP: session.MPOf(saved.Info.Multilink), RateLimit: ans.RateLimit, ShapeTx: ans.ShapeTx}
	if v4.IsValid() {
		for _, rt := range ans.Routes {
			if rt.Addr().Is4() {
				entry.Routes = append(entry.Routes, rt)
			}
		}
	}
	r := session.Resumable{Link: saved, Answer: ans, Entry: entry, Opened: rec.Started, Live: session.Stats{
		PacketsUp: in.Stats.PacketsUp, BytesUp: in.Stats.BytesUp, PacketsDown: in.Stats.PacketsDown,
		BytesDown: in.Stats.BytesDown, Drops: in.Stats.Drops, LastSeen: in.Stats.LastSeen}}
	if base := rec.Counters.Base; base != nil {
		r.Base = session.Stats{PacketsUp: base.PacketsUp, BytesUp: base.BytesUp, PacketsDown: base.PacketsDown, BytesDown: base.BytesDown}
	}
	if rec.IPv6 != nil {
		r.IPv6 = sessionIPv6(rec.IPv6)
	}
	r.MPSeq = rec.MPSeq
	if v4 != rec.PeerIPv4 && rec.PeerIPv4 != (netip.Addr{}) {
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
	s.byID.Set(sess.ID(), l)
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
				ok[i] = links[i].Decode(recs[i].Link) == nil
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
	if err := saved.Decode(rec.Link); err != nil {
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
