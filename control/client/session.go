package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// session is the life of one PPPoE session after discovery: the PPP link
// as the peer, the data plane while IPCP or IPv6CP is up, the keepalive.
// It is the client's Role of the session engine (control/session.Engine),
// which also drives the access concentrator's sessions.
type session struct {
	c   *Client
	att Attachment
	nd  Netdev
	ps  pppoe.Session
	lk  *link.Link
	eng psession.Engine
	log *zap.Logger

	done          bool   // the link is down
	reason        string // why, first cause wins
	padtFromAC    bool
	closeBy       time.Time // when an administrative close gives up waiting
	closing       bool
	everConnected bool

	// installed: the data plane carries the session, from the first
	// network protocol opened to the last closed. connected: IPCP is
	// open, with addr and routes in place.
	installed bool
	connected bool
	addr      Address
	routes    []Route
	dns       bool         // servers written to Deps.DNS
	dns4      []netip.Addr // IPCP's, with use-peer-dns
	lastRx    time.Time    // last frame or data packet from the AC
	lastStats Stats
	nextProbe time.Time

	// mp is multilink's user-space half while LCP has MP up; mpDrops
	// what earlier ones dropped.
	mp      *psession.MPLink
	mpDrops uint64
	mpOn    bool // the installed session runs MP (Divert registered)

	v6 *v6 // while IPv6CP is open (ipv6.go)

	// The state record (adopt.go): adopted until Start for a session
	// taken over from a previous run; record is the record's handle while
	// there is one, journaled its ClientState and mpSeq its multilink
	// sequence number as last written, ncpChanged set when a network
	// protocol opened or closed since, started when the session came up.
	adopted    bool
	record     uint64
	journaled  []byte
	mpSeq      uint32
	ncpChanged bool
	started    time.Time
}

// runSession runs the PPP link over ps until it goes down or ctx ends, and
// tears everything down. It reports whether a network protocol came up
// and why the session ended.
func (c *Client) runSession(ctx context.Context, att Attachment, nd Netdev, ps pppoe.Session) (bool, string) {
	lc, queue := c.linkConfig(att, nd, ps)
	lk, err := link.New(lc)
	if err != nil {
		c.sendPADT(att, ps, "")
		return false, "link: " + err.Error()
	}
	s := &session{c: c, att: att, nd: nd, ps: ps, lk: lk, eng: newEngine(lk, queue),
		log: c.log.With(zap.Uint16("session_id", ps.SessionID), zap.Stringer("ac_mac", ps.ACMAC), zap.String("user", c.cfg.User))}
	return s.run(ctx)
}

func newEngine(lk *link.Link, queue int) psession.Engine {
	return psession.NewEngine(lk, time.Now, queue)
}

// linkConfig is the PPP link of a session over ps, and how many frames
// its queue holds.
func (c *Client) linkConfig(att Attachment, nd Netdev, ps pppoe.Session) (link.Config, int) {
	var ml lcp.MultilinkPolicy
	if _, ok := nd.(MPNetdev); ok {
		// mrru (validated by config): 0 is disabled, MRRU rejected.
		// A netdev that cannot reassemble or fragment never offers it.
		ml.MRRU = uint16(c.cfg.MRRU)
		if ml.MRRU != 0 {
			ml.Endpoint = psession.MACEndpoint(att.MAC)
		}
	}
	lc := link.Config{
		Role:       link.Peer,
		MaxMRU:     uint16(c.maxMRU()),
		MaxMTU:     uint16(c.maxMTU()),
		MaxPayload: ps.MaxPayload,
		Methods:    c.methods,
		User:       c.cfg.User,
		Password:   c.cfg.Password,
		RequestDNS: c.cfg.UsePeerDNS,
		// IPv6CP beside IPCP (RFC 5072), as RouterOS with its ipv6
		// package: an AC without IPv6 rejects it and IPv4 goes on.
		IPv6:        func() bool { return true },
		InterfaceID: c.interfaceID,
		Multilink:   ml,
		Restart:     c.timing.Restart,
	}
	queue := frameQueue
	if ml.MRRU != 0 {
		// MP fragments of the AC's data go through the queue.
		queue = mpFrameQueue
	}
	return lc, queue
}

// frameQueue is how many PPP frames from the AC wait for the session's
// steps; more are dropped (the AC retransmits control packets).
const frameQueue = 64

// mpFrameQueue is the queue of a client that may run multilink, whose
// MP fragments of data go through it: about a TCP window's worth.
const mpFrameQueue = 512

func (s *session) run(ctx context.Context) (bool, string) {
	stopReader := s.reader()
	s.eng.Run(ctx, s)
	stopReader()
	s.ipv6Down()
	s.teardown()
	s.uninstall()
	s.unjournal()
	if !s.padtFromAC {
		s.c.sendPADT(s.att, s.ps, s.reason)
	}
	s.eng.Finish()
	if s.everConnected {
		s.log.Info("disconnected", zap.String("reason", s.reason))
	} else {
		s.log.Info("session failed", zap.String("reason", s.reason))
	}
	return s.everConnected, s.reason
}

// Start implements psession.Role: the link comes up, or, adopted, goes
// on.
func (s *session) Start(now time.Time) {
	if s.adopted {
		s.resumeAt(now)
		return
	}
	s.eng.Carry(s, s.lk.Up(now), now)
}

// Receive implements psession.Role: a PPP frame of this session.
func (s *session) Receive(f ppp.Frame, now time.Time) {
	defer s.sync()
	s.lastRx = now
	if f.Protocol == ppp.ProtocolIPv6 {
		// RA and DHCPv6 (afpacket passes only IPv6 to multicast and
		// link-local destinations); data never comes here.
		if s.v6 != nil {
			s.receiveIPv6(f.Information, now)
		}
		return
	}
	if f.Protocol == ppp.ProtocolMP && s.mp != nil {
		s.multilink(s.mp.Receive(f.Information, now), now)
		return
	}
	s.eng.Carry(s, s.lk.Receive(f, now), now)
}

// multilink acts on the packets MP reassembly completed: IPv4 and IPv6
// into the netdev (the AC's traffic comes from anywhere: no source check, as the
// data plane does none downstream), control protocols sent inside MP
// (NCPs) to the link.
func (s *session) multilink(frames []ppp.Frame, now time.Time) {
	m := s.mp
	for _, f := range frames {
		if s.done || s.mp != m {
			return
		}
		if !psession.IsData(f.Protocol) {
			s.eng.Carry(s, s.lk.Receive(f, now), now)
			continue
		}
		// IPv6 too: the data plane gives the netdev every IPv6 packet of a
		// client session (bpf/dataplane.c), and so does reassembly.
		mnd, ok := s.nd.(MPNetdev)
		if !s.installed || !ok {
			m.Refused()
			continue
		}
		if err := mnd.Inject(f.Protocol, f.Information); err != nil {
			m.Refused()
			s.log.Debug("multilink inject", zap.Error(err))
		}
	}
	s.c.update(func(st *Status) { st.ReassemblyDrops = s.mpDrops + m.Drops() })
}

// startMP starts or stops multilink's user-space half as LCP opens or
// leaves Opened (RFC 1990 §5.1).
func (s *session) startMP(ev link.PhaseChanged) {
	switch {
	case ev.From == link.PhaseEstablish && (ev.To == link.PhaseAuthenticate || ev.To == link.PhaseNetwork):
		info := s.lk.Info()
		if info.Multilink.Active() {
			s.mp = psession.NewMPLink(info.Multilink, info.MRU, info.MTU, s.send)
		}
	case ev.To == link.PhaseEstablish || ev.To == link.PhaseTerminate || ev.To == link.PhaseDead:
		if s.mp != nil {
			s.mpDrops += s.mp.Drops()
			s.mp = nil
		}
	}
}

// Stop implements psession.Role: the daemon (ctx) closes the link and
// waits for the Terminate-Ack up to CloseTimeout; a PADT or a lost
// interface ends it at once.
func (s *session) Stop(r psession.StopRequest, now time.Time) {
	switch r.Reason {
	case psession.ReasonShutdown:
		if s.closing {
			return
		}
		s.closing = true
		s.closeBy = now.Add(s.c.timing.CloseTimeout)
		s.setReason("administratively disabled")
		s.ipv6Release(now)
		s.eng.Carry(s, s.lk.Close("administratively disabled", now), now)
	case psession.ReasonPADT:
		// RFC 2516 §5.5: no further traffic may use the session, not
		// even a Terminate-Request.
		s.padtFromAC = true
		s.down(r.Detail)
	default:
		s.down(r.Detail)
	}
}

// Poked implements psession.Role; nothing is left for the client.
func (s *session) Poked(time.Time) {}

// Wake implements psession.Role: the link's timer, the keepalive, the
// administrative close's patience.
func (s *session) Wake(now time.Time) {
	defer s.sync()
	s.eng.TickLink(s, now)
	if s.mp != nil && !s.done {
		if t := s.mp.Deadline(); !t.IsZero() && !now.Before(t) {
			s.multilink(s.mp.Expire(now), now)
		}
	}
	if !s.nextProbe.IsZero() && !now.Before(s.nextProbe) {
		s.keepalive(now)
	}
	if !s.done {
		s.ipv6Wake(now)
	}
	if !s.closeBy.IsZero() && !now.Before(s.closeBy) {
		s.down("administratively disabled (no Terminate-Ack)")
	}
}

// Next implements psession.Role.
func (s *session) Next() time.Time {
	var mpAt time.Time
	if s.mp != nil {
		mpAt = s.mp.Deadline()
	}
	return earliest(s.nextProbe, s.closeBy, mpAt, s.ipv6Next())
}

// Ended implements psession.Role.
func (s *session) Ended() bool { return s.done }

func earliest(ts ...time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}

// reader reads the attachment's frames into the session engine until
// stopped. The connection outlives the session (the next discovery uses
// it), so it is stopped with a read deadline, not closed.
func (s *session) reader() func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := s.att.Conn.ReadFrame(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					select {
					case <-stop:
						return
					default:
						continue
					}
				}
				s.eng.Stop(psession.StopRequest{Reason: psession.ReasonInterfaceGone, Detail: "interface: " + err.Error()})
				return
			}
			s.handle(buf[:n])
		}
	}()
	return func() {
		close(stop)
		s.att.Conn.SetReadDeadline(time.Unix(1, 0))
		wg.Wait()
		s.att.Conn.SetReadDeadline(time.Time{})
	}
}

// handle takes one frame from the interface: a PADT or a PPP frame of this
// session; anything else (other sessions, other clients) is ignored.
func (s *session) handle(b []byte) {
	f, p, err := pppoe.ParseFrame(b)
	if err != nil || !bytes.Equal(f.Source, s.ps.ACMAC) || !bytes.Equal(f.Destination, s.att.MAC) ||
		!sameVLANs(f.VLANs, s.att.VLANs) || p.SessionID != s.ps.SessionID {
		return
	}
	switch p.Code {
	case pppoe.CodePADT:
		reason := "PADT from AC"
		if g, ok := pppoe.FindTag[pppoe.GenericError](p.Tags); ok && g != "" {
			reason += ": " + string(g)
		}
		s.eng.Stop(psession.StopRequest{Reason: psession.ReasonPADT, Detail: reason})
	case pppoe.CodeSession:
		var pf ppp.Frame
		if err := pf.UnmarshalBinary(p.Payload); err != nil {
			s.log.Debug("malformed PPP frame", zap.Error(err))
			return
		}
		s.eng.Deliver(pf)
	}
}

func sameVLANs(a, b []ethernet.VLAN) bool {
	return slices.EqualFunc(a, b, func(x, y ethernet.VLAN) bool {
		return x.ID == y.ID && tpid(x.TPID) == tpid(y.TPID)
	})
}

func tpid(t ethernet.EtherType) ethernet.EtherType {
	if t == 0 {
		return ethernet.EtherTypeVLAN
	}
	return t
}

// Send implements psession.Role.
func (s *session) Send(f ppp.Frame) {
	if err := s.send(f); err != nil {
		s.log.Warn("sending PPP frame", zap.Stringer("protocol", f.Protocol), zap.Error(err))
	}
}

func (s *session) send(f ppp.Frame) error {
	payload, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := pppoe.MarshalFrame(s.ps.ACMAC, s.att.MAC, s.att.VLANs,
		&pppoe.Packet{Code: pppoe.CodeSession, SessionID: s.ps.SessionID, Payload: payload})
	if err != nil {
		return err
	}
	return s.att.Conn.WriteFrame(b)
}

// Act implements psession.Role: what the link's events mean to a client.
func (s *session) Act(ev link.Event, now time.Time) {
	switch ev := ev.(type) {
	case link.PhaseChanged:
		s.log.Debug("phase", zap.Stringer("from", ev.From), zap.Stringer("to", ev.To))
		s.startMP(ev)
		if ev.To == link.PhaseAuthenticate && !s.installed {
			s.c.setState(StateVerifying)
		}
	case link.AuthSucceeded:
		s.log.Debug("authenticated", zap.Stringer("method", ev.Method))
		s.c.setState(StateVerifying)
	case link.AuthFailed:
		s.setReason(fmt.Sprintf("authentication failed (%s): %s", ev.Method, ev.Reason))
	case link.NetworkUp:
		s.ncpChanged = true
		if ev.Protocol == ppp.ProtocolIPv6CP {
			// Recorded before anything is installed, as IPCP's opening
			// does: an IPv6-only session is adopted too.
			s.journal(ev.Info, true)
			if err := s.install(ev.Info, link.IPConfig{}); err != nil {
				s.unjournal()
				// IPv6CP alone up without a data plane carries nothing.
				s.setReason("data plane: " + err.Error())
				s.eng.Carry(s, s.lk.Close("data plane failed", now), now)
				return
			}
			s.connectedWith(ev.Info, nil)
			s.ipv6Up(ev.Info, now)
			return
		}
		if ev.Protocol != ppp.ProtocolIPCP {
			return
		}
		if err := s.up(ev.Info); err != nil {
			s.unjournal()
			s.setReason("data plane: " + err.Error())
			s.eng.Carry(s, s.lk.Close("data plane failed", now), now)
		}
	case link.NetworkDown:
		s.ncpChanged = true // the record loses it (sync)
		if ev.Protocol == ppp.ProtocolIPv6CP {
			s.ipv6Down() // IPv4 stays (RFC 1661 §3.6: NCPs are independent)
			if !s.connected {
				s.networkGone()
			}
			return
		}
		if ev.Protocol != ppp.ProtocolIPCP {
			return
		}
		s.teardown()
		if s.v6 == nil {
			s.networkGone()
		} // else IPv6 goes on alone (RFC 1661 §3.6), as on the AC
	case link.ProtocolRejected:
		s.log.Debug("protocol rejected by the AC", zap.Stringer("protocol", ev.Protocol))
	case link.EchoReply:
		// lastRx was set when the frame arrived.
	case link.Down:
		s.down(ev.Reason)
	}
}

func (s *session) setReason(r string) {
	if s.reason == "" {
		s.reason = r
	}
}

func (s *session) down(reason string) {
	s.setReason(reason)
	s.done = true
}

// install puts the session into the data plane as the first network
// protocol opens, IPCP or IPv6CP, as a server session does
// (control/session installEntry): the entry carries what LCP agreed, so
// whichever opens first installs it, and it stays while either is open.
// ip is IPCP's addresses, zero when IPv6CP opens first: the client
// entry's IPv4 is informational (maps.ClientSession.Local), so IPCP
// opening later leaves the entry as it is. The keepalive starts with the
// entry.
func (s *session) install(info link.Info, ip link.IPConfig) error {
	if s.installed {
		return nil
	}
	var ml lcp.Multilink
	if s.mp != nil {
		ml = s.mp.ML
	}
	// With MP up the clamp follows the MRRU: packets up to it cross whole.
	mss := uint16(0)
	if clamp := ml.ClampUnit(info.MTU); clamp > 40 {
		mss = clamp - 40
	}
	mp := psession.MPOf(ml)
	if err := s.nd.Install(Session{
		Ifindex: s.att.Ifindex, VLANs: s.att.VLANs, LocalMAC: s.att.MAC,
		ACMAC: s.ps.ACMAC, SessionID: s.ps.SessionID,
		Local: ip.Local, Remote: ip.Remote,
		MTU: info.MTU, MRU: info.MRU, MSS: mss, MP: mp,
		RateLimit: s.c.limit,
	}); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if s.mp != nil && mp.On {
		s.divert(s.nd.(MPNetdev))
	}
	s.installed, s.everConnected = true, true
	now := time.Now()
	s.lastRx = now
	s.lastStats, _ = s.nd.Stats()
	s.scheduleProbe(now)
	return nil
}

// divert hands multilink the packets the data plane diverts from the
// installed session, to be fragmented (RFC 1990 §4.1).
func (s *session) divert(nd MPNetdev) {
	m := s.mp
	nd.Divert(func(proto ppp.Protocol, pkt []byte) {
		if err := m.Send(proto, pkt); err != nil {
			s.log.Debug("multilink send", zap.Error(err))
		}
	})
	s.mpOn = true
}

// connectedWith shows the session up on the monitor with what f adds (IPCP's
// addresses), in one update: whoever sees "connected" sees them too.
func (s *session) connectedWith(info link.Info, f func(st *Status)) {
	var mrru uint16
	if s.mp != nil {
		mrru = s.mp.ML.RecvMRRU
	}
	c := s.c
	c.mu.Lock()
	if c.st.Status != StateConnected {
		c.connectedAt = time.Now()
	}
	c.st.Status = StateConnected
	c.st.ActiveLinks = 1
	c.st.MTU, c.st.MRU = int(info.MTU), int(info.MRU)
	c.st.MRRU = int(mrru)
	if f != nil {
		f(&c.st)
	}
	if c.trace != nil {
		c.trace(c.st)
	}
	c.mu.Unlock()
}

// uninstall undoes install once no network protocol is open.
func (s *session) uninstall() {
	if !s.installed {
		return
	}
	s.installed = false
	s.nextProbe = time.Time{}
	if s.mpOn {
		s.nd.(MPNetdev).Divert(nil)
		s.mpOn = false
	}
	if err := s.nd.Remove(); err != nil {
		s.log.Warn("removing session from the data plane", zap.Error(err))
	}
	s.c.update(func(st *Status) { st.ActiveLinks, st.MTU, st.MRU, st.MRRU = 0, 0, 0, 0 })
}

// networkGone: the last open network protocol closed. IPCP or IPv6CP
// renegotiating in the Network phase is still on its way up; anything
// else is the link going away.
func (s *session) networkGone() {
	s.uninstall()
	s.unjournal()
	if s.lk.Phase() == link.PhaseNetwork && !s.done {
		s.c.setState(StateVerifying)
	} else {
		s.c.setState(StateDisconnected)
	}
}

// up puts IPCP's address, the default route and the DNS servers in place
// (IPCP is Opened, RFC 1332), installing the session first unless IPv6CP
// already has.
func (s *session) up(info link.Info) error {
	if s.connected {
		s.teardown()
	}
	c := s.c
	if !info.IP.Local.Is4() || !info.IP.Remote.Is4() {
		return fmt.Errorf("IPCP gave no usable addresses (local %s, remote %s)", info.IP.Local, info.IP.Remote)
	}
	// Recorded before anything is installed: a crash from here on
	// leaves a record to adopt or sweep the session by.
	s.journal(info, true)
	if err := s.install(info, info.IP); err != nil {
		return err
	}
	addr, routes := s.network(info)
	if err := c.addNet(addr, routes); err != nil {
		if s.v6 == nil {
			s.uninstall()
		}
		return err
	}
	dns := c.peerDNS4(info)
	s.dns4 = dns
	s.writeDNS()
	s.connected, s.addr, s.routes = true, addr, routes
	s.connectedWith(info, func(st *Status) {
		st.LocalAddress, st.RemoteAddress = info.IP.Local, info.IP.Remote
		st.DNSServers = dns
	})
	var mrru uint16
	if s.mp != nil {
		mrru = s.mp.ML.RecvMRRU
	}
	s.log.Info("connected", zap.Stringer("local", info.IP.Local), zap.Stringer("remote", info.IP.Remote),
		zap.Uint16("mtu", info.MTU), zap.Uint16("mru", info.MRU), zap.Stringer("method", info.Method),
		zap.String("ac_name", s.ps.ACName), zap.Uint16("mrru", mrru))
	return nil
}

// network is the address and routes up puts on the netdev.
func (s *session) network(info link.Info) (Address, []Route) {
	addr := Address{Ifindex: s.nd.Ifindex(), Local: info.IP.Local, Peer: info.IP.Remote}
	var routes []Route
	if s.c.cfg.AddDefaultRoute {
		// A device route: the netdev is point to point, as RouterOS
		// shows gateway=pppoe-out1.
		routes = append(routes, Route{Ifindex: s.nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0),
			Metric: s.c.cfg.DefaultRouteDistance})
	}
	return addr, routes
}

// teardown undoes up: DNS, routes, address, and the record unless
// IPv6CP is open (the caller writes it again without IPCP). The
// data-plane entry stays while IPv6CP is open (RFC 1661 §3.6: the NCPs
// are independent); the caller takes it away when no network protocol
// is left.
func (s *session) teardown() {
	if !s.connected {
		return
	}
	s.connected = false
	c := s.c
	s.dns4 = nil
	s.writeDNS()
	if err := c.delNet(s.addr, s.routes); err != nil {
		s.log.Warn("removing address and routes", zap.Error(err))
	}
	if s.v6 == nil {
		s.unjournal()
	}
	c.update(func(st *Status) {
		st.LocalAddress, st.RemoteAddress, st.DNSServers = netip.Addr{}, netip.Addr{}, nil
	})
}

// writeDNS hands Deps.DNS every peer DNS server the session has: IPCP's
// (RFC 1877), then IPv6's (RDNSS, DHCPv6), so the resolver tries them in
// the order they came.
func (s *session) writeDNS() {
	dns := append(slices.Clone(s.dns4), s.ipv6DNS()...)
	c := s.c
	if c.deps.DNS == nil || (len(dns) == 0 && !s.dns) {
		return
	}
	if err := c.deps.DNS.SetServers(c.cfg.Name, dns); err != nil {
		s.log.Warn("writing peer DNS", zap.Error(err))
		return
	}
	s.dns = len(dns) > 0
}

// keepalive: after keepalive-timeout without a frame or a data packet from
// the AC an Echo-Request goes out every EchoInterval (RFC 1661 §5.8); after
// twice keepalive-timeout of silence the link is declared down, as
// RouterOS describes keepalive-timeout.
func (s *session) keepalive(now time.Time) {
	if st, err := s.nd.Stats(); err == nil {
		if st.PacketsIn != s.lastStats.PacketsIn || st.LastSeen != s.lastStats.LastSeen {
			s.lastRx = now
		}
		s.lastStats = st
	}
	t := time.Duration(s.c.cfg.KeepaliveTimeout)
	silence := now.Sub(s.lastRx)
	switch {
	case silence >= 2*t:
		s.down(fmt.Sprintf("keepalive timeout: nothing from the AC for %s", silence.Truncate(time.Millisecond)))
		s.nextProbe = time.Time{}
		return
	case silence >= t:
		s.eng.Carry(s, s.lk.EchoRequest(now), now)
	}
	s.scheduleProbe(now)
}

func (s *session) scheduleProbe(now time.Time) {
	t := time.Duration(s.c.cfg.KeepaliveTimeout)
	if t <= 0 {
		s.nextProbe = time.Time{}
		return
	}
	s.nextProbe = now.Add(min(s.c.timing.EchoInterval, t/2))
}

// sendPADT ends the session towards the AC (RFC 2516 §5.5).
func (c *Client) sendPADT(att Attachment, ps pppoe.Session, msg string) {
	b, err := ps.PADT(msg)
	if err == nil {
		err = att.Conn.WriteFrame(b)
	}
	if errors.Is(err, ErrClosed) {
		// The interface is gone: nothing reaches the AC any more.
		c.log.Debug("sending PADT", zap.Uint16("session_id", ps.SessionID), zap.Error(err))
	} else if err != nil {
		c.log.Warn("sending PADT", zap.Uint16("session_id", ps.SessionID), zap.Error(err))
	}
}
