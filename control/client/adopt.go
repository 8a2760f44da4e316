package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// A client's session outlives pppoed (restart, #13), as the access
// concentrator's do: its record is in the state store (Deps.State, the
// daemon's state.Writer) from IPCP's opening to the session's end —
// written before anything is installed, so a kill -9 at any moment finds
// it, and again whenever what the client put in place changes (SLAAC, a
// DHCPv6 lease, DNS). A new pppoed reconciles the data plane with the
// store (control/restart) and offers each client session to the Manager
// (Offer): a client still configured as it was gets it back when it
// starts, without a packet to the AC — same PPPoE session id, the link
// restored with its magic numbers, the netdev with its address, routes
// and installed session kept, resolv.conf left as it is; keepalive goes
// on. Anything else ends the session properly: a session refused by
// Offer is swept by restart (PADT, entries removed, record deleted) and
// its client's netdev made anew (addresses and routes go with the old
// one) before it dials; one whose take-over fails when its client
// starts is ended by the client itself, the same way.

// Journal keeps the client sessions' records (*state.Writer).
type Journal interface {
	Put(rec state.Session, cursor uint16) error
	Delete(handle uint64) error
	// Flush returns once everything queued is in the file.
	Flush()
}

// NetdevTakeover is a DataPlane that can take over a client netdev an
// earlier pppoed left, or remove it.
type NetdevTakeover interface {
	// AdoptNetdev takes over the netdev name as it is (MTU, addresses,
	// routes, installed session) with the session's Ethernet interface
	// ifindex; it fails if it has no session.
	AdoptNetdev(name string, ifindex int) (Netdev, error)
	// RemoveNetdev deletes the netdev name, with its session and what is
	// on it, if there is one.
	RemoveNetdev(name string) error
}

// DNSKeeper is a DNS that an adopted session's servers can be handed to
// without writing them: they are in the file already.
type DNSKeeper interface {
	DNS
	// Keep records client's servers as SetServers does, without writing.
	Keep(client string, servers []netip.Addr)
	// Settle writes the file if it differs from what the clients have.
	Settle() error
}

// resumption is a Manager's clients' take-over of the previous run's
// sessions: Resume starts it, Offer fills it, Reconciled ends it.
type resumption struct {
	gate chan struct{} // closed by Reconciled: clients go on

	mu     sync.Mutex
	expect map[string]expected // the configuration the clients start with
	offers map[string]*offer
}

type expected struct {
	cfg    config.Client
	dhcp   *config.DHCPv6Client
	digest string
}

// offer is a session a client will take over when it starts.
type offer struct {
	rec    state.Session
	netdev int
	saved  link.Saved
}

// take returns and forgets name's offer.
func (r *resumption) take(name string) *offer {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.offers[name]
	delete(r.offers, name)
	return o
}

// sessionDigest names in a record what of a client's configuration its
// session depends on: where and how it dials (interface, user,
// service-name, ac-name, allow, the MTU, MRU and MRRU it negotiated
// under), what it put on the host (use-peer-dns, add-default-route and
// its distance, the /ipv6 dhcp-client's settings) and its profile's rate
// limit, in the data plane. A new pppoed adopts the session only under
// the same. The rest (keepalive-timeout, dial-on-demand, the password,
// a comment) applies to the adopted session as it is; each property is
// written by name, so that a field added to config.Client in a later
// version does not end every client session at an upgrade.
func sessionDigest(c config.Client, d *config.DHCPv6Client, l ratelimit.Limit) string {
	var b strings.Builder
	fmt.Fprintf(&b, "interface=%q user=%q service-name=%q ac-name=%q allow=%q max-mtu=%d max-mru=%d mrru=%d "+
		"use-peer-dns=%t add-default-route=%t default-route-distance=%d rate-limit=%q",
		c.Interface, c.User, c.ServiceName, c.ACName, []string(c.Allow), int(c.MaxMTU), int(c.MaxMRU), int(c.MRRU),
		c.UsePeerDNS, c.AddDefaultRoute, c.DefaultRouteDistance, l.String())
	if d != nil && !d.Disabled {
		fmt.Fprintf(&b, " dhcpv6 request=%q pool-name=%q pool-prefix-length=%d prefix-hint=%s add-default-route=%t "+
			"default-route-distance=%d use-peer-dns=%t rapid-commit=%t",
			[]string(d.Request), d.PoolName, d.PoolPrefixLength, netip.Prefix(d.PrefixHint), d.AddDefaultRoute,
			d.DefaultRouteDistance, d.UsePeerDNS, d.RapidCommit)
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:16])
}

// Resume makes the clients wait, when they start, until Reconciled: the
// sessions a previous run left are offered to them first (Offer). cfg is
// the configuration they start with. Call it before the first Apply.
func (m *Manager) Resume(cfg *config.Config) {
	r := &resumption{gate: make(chan struct{}), expect: map[string]expected{}, offers: map[string]*offer{}}
	dhcpOf := map[string]*config.DHCPv6Client{}
	for _, d := range cfg.DHCPv6Clients.Items() {
		dhcpOf[d.Interface] = &d
	}
	for _, c := range cfg.Clients.Items() {
		r.expect[c.Name] = expected{cfg: c, dhcp: dhcpOf[c.Name], digest: sessionDigest(c, dhcpOf[c.Name], cfg.ClientRateLimit(c))}
	}
	m.mu.Lock()
	m.resuming = r
	m.mu.Unlock()
}

// Offer gives the client named in rec the session rec records, installed
// on the netdev with ifindex netdev, to take over when it starts. It
// refuses (the caller then sweeps the session) a record that is not a
// client's, a client gone, disabled or configured otherwise since, and a
// link that cannot be restored; a client gone or disabled loses its
// netdev too.
func (m *Manager) Offer(rec state.Session, netdev int) error {
	m.mu.Lock()
	r := m.resuming
	m.mu.Unlock()
	if r == nil {
		return errors.New("the pppoe-clients are not resuming sessions")
	}
	if rec.Role != state.RoleClient || rec.Client == "" {
		return fmt.Errorf("a %s session's record, not a pppoe-client's", rec.Role)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.expect[rec.Client]
	if !ok || e.cfg.Disabled {
		if t, ok := m.deps.DataPlane.(NetdevTakeover); ok {
			if err := t.RemoveNetdev(rec.Client); err != nil {
				m.log.Warn("removing the netdev of a pppoe-client gone", zap.String("client", rec.Client), zap.Error(err))
			}
		}
		return fmt.Errorf("pppoe-client %s gone or disabled", rec.Client)
	}
	if rec.ClientState == nil || rec.ClientState.Config != e.digest {
		return fmt.Errorf("pppoe-client %s configured otherwise since", rec.Client)
	}
	if _, err := New(e.cfg, m.deps, nil); err != nil {
		return err
	}
	if _, dup := r.offers[rec.Client]; dup {
		return fmt.Errorf("pppoe-client %s has another session recorded", rec.Client)
	}
	var saved link.Saved
	if err := saved.Decode(rec.Link); err != nil {
		return fmt.Errorf("state record without a link to restore (%v)", err)
	}
	r.offers[rec.Client] = &offer{rec: rec, netdev: netdev, saved: saved}
	if k, ok := m.deps.DNS.(DNSKeeper); ok {
		k.Keep(rec.Client, recordedDNS(rec, e.dhcp))
	}
	return nil
}

// Reconciled lets the clients go on: every session of the previous run
// was offered. resolv.conf loses the servers of sessions not adopted.
func (m *Manager) Reconciled() {
	m.mu.Lock()
	r := m.resuming
	m.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case <-r.gate:
		return
	default:
	}
	close(r.gate)
	if k, ok := m.deps.DNS.(DNSKeeper); ok {
		if err := k.Settle(); err != nil {
			m.log.Warn("resolv.conf", zap.Error(err))
		}
	}
}

// recordedDNS is what the session wrote to Deps.DNS, as writeDNS orders
// it: IPCP's, RDNSS's, DHCPv6's.
func recordedDNS(rec state.Session, d *config.DHCPv6Client) []netip.Addr {
	out := slices.Clone(rec.DNS)
	if cs := rec.ClientState; cs != nil {
		out = append(out, cs.RDNSS...)
		if cs.Lease != nil && d != nil && d.UsePeerDNS {
			out = append(out, cs.Lease.DNS...)
		}
	}
	return out
}

// awaitReconcile waits until the Manager's clients may go on; false if
// ctx ended first.
func (c *Client) awaitReconcile(ctx context.Context) bool {
	if c.resuming == nil {
		return true
	}
	select {
	case <-c.resuming.gate:
		return true
	case <-ctx.Done():
		return false
	}
}

// resume takes over the session offered to this client, if any: its
// netdev as it is, its interface, the session restored. run runs it to
// its end. A session that cannot be taken over is ended (abandon) and
// resume returns nothing.
func (c *Client) resume(ctx context.Context) (nd Netdev, att *Attachment, run func() (bool, string)) {
	o := c.resuming.take(c.cfg.Name)
	if o == nil {
		return nil, nil, nil
	}
	var err error
	defer func() {
		if err != nil {
			c.abandon(o, nd, att, err)
			nd, att, run = nil, nil, nil
		}
	}()
	t, ok := c.deps.DataPlane.(NetdevTakeover)
	if !ok {
		err = errors.New("the data plane cannot take a netdev over")
		return
	}
	if nd, err = t.AdoptNetdev(c.cfg.Name, o.rec.Iface.Ifindex); err != nil {
		return
	}
	if nd.Ifindex() != o.netdev {
		err = fmt.Errorf("netdev %s is ifindex %d, the session's was %d", c.cfg.Name, nd.Ifindex(), o.netdev)
		return
	}
	a, err := c.deps.Interfaces.Attach(c.cfg.Interface)
	if err != nil {
		return
	}
	att = &a
	rec := o.rec
	if a.Ifindex != rec.Iface.Ifindex || !bytes.Equal(a.MAC, rec.LocalMAC[:]) || !sameVLANs(a.VLANs, vlansOf(rec.Iface)) {
		err = fmt.Errorf("interface %s (ifindex %d, %s) is no longer the session's (ifindex %d, %s)",
			c.cfg.Interface, a.Ifindex, a.MAC, rec.Iface.Ifindex, rec.LocalMAC)
		return
	}
	s, err := c.adoptSession(a, nd, o)
	if err != nil {
		return
	}
	return nd, att, func() (bool, string) { return s.run(ctx) }
}

func vlansOf(i state.Interface) []ethernet.VLAN {
	var out []ethernet.VLAN
	for _, v := range i.VLANs {
		out = append(out, ethernet.VLAN{TPID: ethernet.EtherType(v.TPID), ID: v.ID})
	}
	return out
}

// sessionOf is the PPPoE session a record describes, on att.
func sessionOf(rec state.Session, att Attachment) pppoe.Session {
	ps := pppoe.Session{ACMAC: slices.Clone(rec.PeerMAC.HardwareAddr()), ServiceName: rec.Service,
		SessionID: rec.SessionID, LocalMAC: att.MAC, VLANs: att.VLANs}
	if cs := rec.ClientState; cs != nil {
		ps.ACName = cs.ACName
	}
	return ps
}

// abandonMessage is the Generic-Error of the PADT ending a session that
// could not be taken over, as control/restart's sweep says it.
const abandonMessage = "pppoed restarted without this session's state"

// abandon ends a session of the previous run that this client could not
// take over: PADT to the AC, the netdev (with its session, address and
// routes) removed, DNS servers withdrawn, the record deleted. The client
// then makes its netdev anew and dials.
func (c *Client) abandon(o *offer, nd Netdev, att *Attachment, why error) {
	rec := o.rec
	log := c.log.With(zap.Uint16("session_id", rec.SessionID), zap.Stringer("ac_mac", rec.PeerMAC))
	if att == nil {
		if a, err := c.deps.Interfaces.Attach(c.cfg.Interface); err == nil {
			att = &a
		}
	}
	switch {
	case att != nil && att.Ifindex == rec.Iface.Ifindex && bytes.Equal(att.MAC, rec.LocalMAC[:]):
		c.sendPADT(*att, sessionOf(rec, *att), abandonMessage)
	default:
		log.Warn("no PADT for the session not adopted: its interface is not available")
	}
	if att != nil {
		att.Conn.Close()
	}
	switch t, ok := c.deps.DataPlane.(NetdevTakeover); {
	case nd != nil:
		if err := nd.Close(); err != nil {
			log.Warn("removing the netdev", zap.Error(err))
		}
	case ok:
		if err := t.RemoveNetdev(c.cfg.Name); err != nil {
			log.Warn("removing the netdev", zap.Error(err))
		}
	}
	if c.deps.DNS != nil {
		if err := c.deps.DNS.SetServers(c.cfg.Name, nil); err != nil {
			log.Warn("withdrawing peer DNS", zap.Error(err))
		}
	}
	if j := c.deps.State; j != nil {
		if err := j.Delete(rec.Handle); err != nil {
			log.Warn("state store", zap.Error(err))
		}
	}
	log.Info("session of the previous run ended", zap.String("reason", why.Error()))
}

// adoptSession restores the offered session on att and nd: its link as
// it was (no frame sent), and what up and the IPv6 half put in place,
// kept as it is and added only where missing.
func (c *Client) adoptSession(att Attachment, nd Netdev, o *offer) (*session, error) {
	rec := o.rec
	info := o.saved.Info
	if _, err := nd.Stats(); err != nil {
		return nil, fmt.Errorf("no session installed on %s: %w", c.cfg.Name, err)
	}
	ps := sessionOf(rec, att)
	if m := max(info.MRU, info.MTU); m > link.PPPoEMaxMRU {
		ps.MaxPayload = m // the PADS's PPP-Max-Payload allowed it (RFC 4638)
	}
	lc, queue := c.linkConfig(att, nd, ps)
	lk, err := link.Restore(lc, o.saved)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, att: att, nd: nd, ps: ps, lk: lk, eng: newEngine(lk, queue),
		log:     c.log.With(zap.Uint16("session_id", ps.SessionID), zap.Stringer("ac_mac", ps.ACMAC), zap.String("user", c.cfg.User)),
		adopted: true, record: rec.Handle, started: rec.Started}
	if info.Multilink.Active() {
		if err := s.adoptMP(info, rec.MPSeq); err != nil {
			return nil, err
		}
	}
	s.installed, s.everConnected = true, true
	if opened(o.saved, ppp.ProtocolIPCP) {
		addr, routes := s.network(info)
		if err := c.ensureNet(addr, routes); err != nil {
			return nil, err
		}
		s.connected, s.addr, s.routes = true, addr, routes
		s.dns4 = slices.Clone(rec.DNS)
	}
	if opened(o.saved, ppp.ProtocolIPv6CP) {
		if err := s.adoptIPv6(info, rec.ClientState); err != nil {
			return nil, err
		}
	}
	s.dns = len(s.dns4)+len(s.ipv6DNS()) > 0
	s.journaled, _ = json.Marshal(s.clientState())
	c.mu.Lock()
	c.connectedAt = rec.Started
	c.st = Status{Name: c.cfg.Name, Status: StateConnected, ACMAC: slices.Clone(ps.ACMAC), ACName: ps.ACName,
		ServiceName: ps.ServiceName, SessionID: ps.SessionID, ActiveLinks: 1,
		MTU: int(info.MTU), MRU: int(info.MRU), DNSServers: slices.Clone(s.dns4)}
	if s.connected {
		c.st.LocalAddress, c.st.RemoteAddress = info.IP.Local, info.IP.Remote
	}
	if s.mp != nil {
		c.st.MRRU = int(s.mp.ML.RecvMRRU)
	}
	if s.v6 != nil {
		c.st.LocalIPv6, c.st.RemoteIPv6 = ipv6.LinkLocal(s.v6.local), ipv6.LinkLocal(s.v6.remote)
	}
	c.mu.Unlock()
	s.publishSLAAC()
	s.publishDHCP()
	return s, nil
}

// opened reports whether the saved link has network protocol p open.
func opened(s link.Saved, p ppp.Protocol) bool {
	return slices.ContainsFunc(s.NCPs, func(n link.SavedProtocol) bool { return n.Protocol == p })
}

// adoptMP restores multilink's user-space half of an adopted session as
// LCP negotiated it: reassembly starts empty (fragments in flight at the
// crash are lost, as RFC 1990 §4.1 allows), the packets the data plane
// diverts are fragmented again, and the sending sequence number goes on
// past the recorded one (mp.Fragmenter.Resume), where starting from 0
// would be behind what the AC has seen and every fragment dropped as old.
func (s *session) adoptMP(info link.Info, seq uint32) error {
	mnd, ok := s.nd.(MPNetdev)
	if !ok {
		return errors.New("multilink session, and this data plane runs no multilink")
	}
	s.mp = psession.NewMPLink(info.Multilink, info.MRU, info.MTU, s.send)
	s.mp.ResumeSeq(seq)
	s.mpSeq = seq
	s.divert(mnd)
	return nil
}

// ensureNet is addNet for an adopted session: what is there stays.
func (c *Client) ensureNet(addr Address, routes []Route) error {
	if err := c.deps.Routes.AddAddress(addr); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("address %s peer %s: %w", addr.Local, addr.Peer, err)
	}
	for _, r := range routes {
		if err := c.ensureRoute(r); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) ensureRoute(r Route) error {
	if err := c.deps.Routes.AddRoute(r); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("route %s metric %d: %w", r.Dst, r.Metric, err)
	}
	return nil
}

// adoptIPv6 restores the session's IPv6 half from its record: IPv6CP's
// identifiers (in the link), SLAAC's address and default route, the RA's
// DNS servers, the DHCPv6 client bound to its lease. No Router
// Solicitation goes out: the old process had its RA.
func (s *session) adoptIPv6(info link.Info, cs *state.ClientState) error {
	c := s.c
	v := &v6{local: ipv6.InterfaceID(info.IPv6.Local), remote: ipv6.InterfaceID(info.IPv6.Remote)}
	v.rs = ra.NewSolicitor(v.local, nil)
	v.rs.Received()
	if cs == nil {
		cs = &state.ClientState{}
	}
	if p := cs.SLAAC; p.IsValid() {
		a := Address{Ifindex: s.nd.Ifindex(), Local: p.Addr(), Bits: p.Bits()}
		if err := c.deps.Routes.AddAddress(a); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("SLAAC address %s: %w", p, err)
		}
		v.addr, v.addrUntil = a, cs.SLAACUntil
	}
	if !cs.RouterUntil.IsZero() && c.cfg.AddDefaultRoute {
		r := Route{Ifindex: s.nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Metric: c.cfg.DefaultRouteDistance}
		if err := c.ensureRoute(r); err != nil {
			return err
		}
		v.router, v.routerTill = &r, cs.RouterUntil
	}
	v.dns, v.dnsUntil = slices.Clone(cs.RDNSS), cs.RDNSSUntil
	s.v6 = v
	if v.dhcp = s.newDHCPClient(v.local); v.dhcp == nil || cs.Lease == nil {
		return nil
	}
	l := cs.Lease
	server, err := dhcpv6.DUIDFromBytes(l.Server)
	if err != nil {
		return fmt.Errorf("dhcpv6 lease's server DUID: %w", err)
	}
	lease := dhcp6.Lease{Server: server, ServerAddr: l.ServerAddr, Prefix: l.Prefix, Address: l.Address,
		T1: l.T1, T2: l.T2, Preferred: l.Preferred, Valid: l.Valid, Obtained: l.Obtained, DNS: slices.Clone(l.DNS)}
	if err := v.dhcp.Resume(lease); err != nil {
		return err
	}
	v.lease = lease
	s.setPool()
	if l.Route {
		d := c.dhcp
		r := Route{Ifindex: s.nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Metric: d.DefaultRouteDistance}
		if err := c.ensureRoute(r); err != nil {
			return err
		}
		v.pdRoute = &r
	}
	return nil
}

// resumeAt is Start for an adopted session: the link is up, keepalive
// goes on from now, and a DHCPv6 client without a lease solicits.
func (s *session) resumeAt(now time.Time) {
	s.adopted = false
	s.lastRx = now
	s.lastStats, _ = s.nd.Stats()
	s.scheduleProbe(now)
	if v := s.v6; v != nil && v.dhcp != nil && v.lease.Obtained.IsZero() {
		v.dhcp.Start(now)
	}
	s.log.Info("session adopted", zap.Stringer("local", s.addr.Local), zap.Stringer("remote", s.addr.Peer),
		zap.Time("started", s.started))
}

// clientState is the record's ClientState as the session is now.
func (s *session) clientState() state.ClientState {
	cs := state.ClientState{Config: s.c.digest, ACName: s.ps.ACName}
	v := s.v6
	if v == nil {
		return cs
	}
	if v.addr.Local.IsValid() {
		cs.SLAAC, cs.SLAACUntil = netip.PrefixFrom(v.addr.Local, v.addr.Bits), v.addrUntil.UTC()
	}
	if v.router != nil {
		cs.RouterUntil = v.routerTill.UTC()
	}
	cs.RDNSS, cs.RDNSSUntil = slices.Clone(v.dns), v.dnsUntil.UTC()
	if l := v.lease; !l.Obtained.IsZero() && l.Server != nil {
		cs.Lease = &state.ClientLease{Server: l.Server.ToBytes(), ServerAddr: l.ServerAddr, Prefix: l.Prefix,
			Address: l.Address, T1: l.T1, T2: l.T2, Preferred: l.Preferred, Valid: l.Valid,
			Obtained: l.Obtained.UTC(), DNS: slices.Clone(l.DNS), Route: v.pdRoute != nil}
	}
	return cs
}

// journal writes the session's record: with flush, before the first
// network protocol's session is installed or IPCP's address added (it
// returns once the record is in the file); otherwise when what the
// record holds changed since it was last written (the client state, the
// link's open protocols, multilink's sequence number having moved on by
// mp.RecordEvery). A link not opened has nothing to adopt and writes
// nothing.
func (s *session) journal(info link.Info, flush bool) {
	c := s.c
	if c.deps.State == nil || c.deps.IDs == nil {
		return
	}
	cs := s.clientState()
	b, err := json.Marshal(cs)
	if err != nil {
		return
	}
	var seq uint32
	if s.mp != nil {
		seq = s.mp.SendSeq()
	}
	if !flush && !s.ncpChanged && bytes.Equal(b, s.journaled) && !s.mpMoved(seq) {
		return
	}
	saved, err := s.lk.Save()
	if err != nil {
		return
	}
	lb, err := saved.MarshalBinary()
	if err != nil {
		s.log.Warn("state store", zap.Error(err))
		return
	}
	if s.record == 0 {
		s.record = uint64(c.deps.IDs.Next())
	}
	if s.started.IsZero() {
		s.started = time.Now().UTC()
	}
	rec := state.Session{
		Handle: s.record, Role: state.RoleClient, Phase: state.PhaseUp, SessionID: s.ps.SessionID,
		Iface:  state.Interface{Name: c.cfg.Interface, Ifindex: s.att.Ifindex},
		Client: c.cfg.Name, MagicLocal: info.LocalMagic, MagicPeer: info.PeerMagic, MRU: info.MRU, MTU: info.MTU,
		User: c.cfg.User, Service: s.ps.ServiceName,
		Started: s.started, Link: lb, ClientState: &cs, MPSeq: seq,
	}
	if opened(saved, ppp.ProtocolIPCP) {
		// The link keeps IPCP's result after it closed; the record
		// names only what is in place.
		rec.LocalIPv4, rec.PeerIPv4, rec.DNS = info.IP.Local, info.IP.Remote, c.peerDNS4(info)
	}
	copy(rec.PeerMAC[:], s.ps.ACMAC)
	copy(rec.LocalMAC[:], s.att.MAC)
	for _, v := range s.att.VLANs {
		rec.Iface.VLANs = append(rec.Iface.VLANs, state.VLAN{TPID: uint16(tpid(v.TPID)), ID: v.ID})
	}
	if ifi, err := net.InterfaceByIndex(s.att.Ifindex); err == nil {
		rec.Iface.Parent = ifi.Name
	}
	if err := c.deps.State.Put(rec, 0); err != nil {
		s.log.Warn("state store", zap.Error(err))
		return
	}
	if flush {
		c.deps.State.Flush()
	}
	s.journaled, s.mpSeq, s.ncpChanged = b, seq, false
}

// mpMoved reports whether seq, the sending sequence number now, is far
// enough past the recorded one to write the record again
// (mp.Format.RecordDue: 1/16 of the sequence space, the AC's rule too).
func (s *session) mpMoved(seq uint32) bool {
	return s.mp != nil && s.mp.RecordDue(s.mpSeq, seq)
}

// sync rewrites the record of an installed session if it changed.
func (s *session) sync() {
	if s.installed && !s.done {
		s.journal(s.lk.Info(), false)
	}
}

// unjournal deletes the session's record: it ended, or its last network
// protocol closed.
func (s *session) unjournal() {
	if s.record == 0 || s.c.deps.State == nil {
		return
	}
	if err := s.c.deps.State.Delete(s.record); err != nil {
		s.log.Warn("state store", zap.Error(err))
	}
	s.record, s.journaled, s.mpSeq, s.started = 0, nil, 0, time.Time{}
}

// peerDNS4 is IPCP's DNS servers the client uses (use-peer-dns).
func (c *Client) peerDNS4(info link.Info) []netip.Addr {
	if !c.cfg.UsePeerDNS {
		return nil
	}
	var dns []netip.Addr
	for _, a := range []netip.Addr{info.IP.DNS1, info.IP.DNS2} {
		if a.IsValid() && !a.IsUnspecified() {
			dns = append(dns, a)
		}
	}
	return dns
}
