package session

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// v6 is a server session's IPv6 while IPv6CP is open (RFC 5072): Router
// Advertisements for the link /64 (RFC 4861, 4862), a DHCPv6 server for
// prefix delegation (RFC 8415), and what of it the data plane holds.
// Timers are the session's: Next and Wake, no goroutine.
type v6 struct {
	ra *ra.Advertiser
	// ndIface is the link's /ipv6 nd interface name, <pppoe-USER>;
	// ndGen the ND table's generation ra's parameters come from.
	ndIface   string
	ndGen     uint64
	dhcp      *dhcp6.Server
	prefixes  Prefixes
	installed Handle // the entry the prefixes hang off; nil when not in the data plane
	// expiry is dhcp.LatestExpiry as the observers were last told: a
	// Renew moves it on (IPv6Bindings).
	expiry time.Time
}

// ipv6Up starts RA and DHCPv6 for the prefixes AAA gave (IPv6CP has
// opened: the frame that opens it has not left yet, so the first RA goes
// from the next wake, at once).
func (s *Session) ipv6Up(info link.Info, now time.Time) {
	if s.v6 != nil {
		s.ipv6Down(now, false) // renegotiated: the interface identifiers may differ
	}
	v, err := s.newV6(info)
	if err != nil {
		s.log.Warn("IPv6", zap.Error(err))
		return
	}
	s.v6 = v
	v.ra.Start(now)
	first := false
	if h, ok := s.dataPlaneHandle(); ok {
		s.ipv6Install(h)
	} else {
		// The first network protocol open (IPCP is not, and may never
		// be: an IPv6-only peer): the session comes up without IPv4.
		var ok bool
		if first, ok = s.installEntry(s.entryFor(info, netip.Addr{}), info, now); !ok {
			return
		}
	}
	s.setPrefixes()
	s.mu.Lock()
	e := s.entry
	s.mu.Unlock()
	s.log.Debug("network up", zap.Stringer("protocol", ppp.ProtocolIPv6CP), zap.Stringer("prefix", s.answer.IPv6Link))
	s.observe(now, NetworkUp{Protocol: ppp.ProtocolIPv6CP, Entry: e, Info: info, Setup: now.Sub(s.cfg.Opened), IPv6: s.v6.copyPrefixes(), SessionUp: first})
}

// serverDUID is the DUID the session's DHCPv6 server answers with.
func (s *Session) serverDUID() dhcpv6.DUID {
	if s.cfg.ServerDUID != nil {
		return s.cfg.ServerDUID
	}
	return &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: s.cfg.ACMAC}
}

// newV6 is the session's IPv6 for what the link negotiated (info.IPv6:
// our interface identifier) and AAA gave (s.answer): a Router Advertiser
// for the link /64 and a DHCPv6 server, neither started, no prefix yet.
func (s *Session) newV6(info link.Info) (*v6, error) {
	a := s.answer
	local := ipv6.InterfaceID(info.IPv6.Local)
	iface := ra.PPPoEInterface(info.User)
	gen := s.cfg.ND.Gen()
	params, advertising := s.cfg.ND.Lookup(iface)
	if !advertising {
		params = ra.DefaultParams() // what an entry that comes later replaces
	}
	adv, err := ra.NewAdvertiser(ra.Config{
		LocalID: local,
		Prefix:  a.IPv6Link,
		MTU:     uint32(info.MTU),
		DNS:     a.IPv6DNS,
		// O: DHCPv6 has the DNS servers and the delegated prefixes.
		Other:  a.IPv6Delegate != nil || a.IPv6Delegated.IsValid() || len(a.IPv6DNS) > 0,
		Params: &params,
	})
	if err != nil {
		return nil, fmt.Errorf("router advertisements: %w", err)
	}
	if !advertising {
		// No enabled /ipv6 nd entry applies: a link that is not
		// advertising (RFC 4861 §6.2.2), until one does.
		_ = adv.SetParams(time.Time{}, params, false)
	}
	var delegate dhcp6.PrefixAllocator
	if a.IPv6Delegate != nil {
		delegate = a.IPv6Delegate
	}
	srv, err := dhcp6.NewServer(dhcp6.ServerConfig{
		ServerID:    s.serverDUID(),
		LocalID:     local,
		Delegate:    delegate,
		FixedPrefix: a.IPv6Delegated,
		Link:        a.IPv6Link,
		DNS:         a.IPv6DNS,
		RapidCommit: true,
		// Preferred as valid, T1 and T2 at 0.5 and 0.8 of it (NewServer).
		ValidLifetime: a.DHCPv6LeaseTime,
	}, s.logger())
	if err != nil {
		return nil, fmt.Errorf("DHCPv6 server: %w", err)
	}
	return &v6{ra: adv, ndIface: iface, ndGen: gen, dhcp: srv, prefixes: Prefixes{Link: a.IPv6Link}}, nil
}

func (v *v6) copyPrefixes() Prefixes {
	return Prefixes{Link: v.prefixes.Link, Delegated: slices.Clone(v.prefixes.Delegated)}
}

// ipv6DataPlane is the data plane's IPv6 side, nil when it forwards no
// IPv6 (the control plane still answers RS and DHCPv6).
func (s *Session) ipv6DataPlane() IPv6DataPlane {
	dp, _ := s.cfg.DataPlane.(IPv6DataPlane)
	return dp
}

// ipv6Install puts the session's IPv6 prefixes on its data-plane entry h
// (installed by whichever network protocol opened first). A prefix the
// data plane refuses (another session holds it) is logged and left out:
// the session's IPv4 and its other prefixes go on.
func (s *Session) ipv6Install(h Handle) {
	dp := s.ipv6DataPlane()
	if s.v6 == nil || dp == nil {
		return
	}
	s.v6.installed = h
	if p := s.v6.prefixes.Link; p.IsValid() {
		if err := dp.SetIPv6LinkPrefix(h, p); err != nil {
			s.log.Warn("data plane IPv6 link prefix", zap.Stringer("prefix", p), zap.Error(err))
		}
	}
	for _, p := range s.v6.prefixes.Delegated {
		if err := dp.AddIPv6Prefix(h, p); err != nil {
			s.log.Warn("data plane delegated prefix", zap.Stringer("prefix", p), zap.Error(err))
		}
	}
}

// receiveIPv6 takes an IPv6 datagram the data plane passed up (link-local
// and multicast: RS, DHCPv6): RS to the advertiser, UDP 547 to the DHCPv6
// server. Anything else, and anything malformed, is dropped without a
// word (nothing is logged per packet).
func (s *Session) receiveIPv6(b []byte, now time.Time) {
	p, err := ipv6.Parse(b)
	if err != nil {
		return
	}
	switch p.NextHeader {
	case ipv6.ProtoICMPv6:
		s.refreshND(now) // the answer says what the configuration says now
		_ = s.v6.ra.Receive(now, b)
	case ipv6.ProtoUDP:
		u, err := ipv6.ParseUDP(p)
		if err != nil || u.DstPort != dhcp6.ServerPort {
			return
		}
		res, err := s.v6.dhcp.Handle(now, b)
		if err != nil {
			return
		}
		s.dhcpResult(res, now)
	}
}

// dhcpResult sends a DHCPv6 reply and routes what was bound, unroutes
// what was unbound. A prefix is routed before the Reply that hands it out
// leaves, so the client's first packet from it is forwarded.
func (s *Session) dhcpResult(res dhcp6.Result, now time.Time) {
	v := s.v6
	dp := s.ipv6DataPlane()
	changed := false
	for _, p := range res.Unbound {
		if i := slices.Index(v.prefixes.Delegated, p); i >= 0 {
			v.prefixes.Delegated = slices.Delete(v.prefixes.Delegated, i, i+1)
			changed = true
			if v.installed != nil && dp != nil {
				if err := dp.RemoveIPv6Prefix(v.installed, p); err != nil {
					s.log.Warn("data plane remove delegated prefix", zap.Stringer("prefix", p), zap.Error(err))
				}
			}
		}
	}
	for _, p := range res.Bound {
		if slices.Contains(v.prefixes.Delegated, p) {
			continue
		}
		v.prefixes.Delegated = append(v.prefixes.Delegated, p)
		changed = true
		if v.installed != nil && dp != nil {
			if err := dp.AddIPv6Prefix(v.installed, p); err != nil {
				s.log.Warn("data plane delegated prefix", zap.Stringer("prefix", p), zap.Error(err))
			}
		}
	}
	if res.Reply != nil {
		s.send(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: res.Reply})
	}
	renewed := false
	if t := v.dhcp.LatestExpiry(); !t.Equal(v.expiry) {
		v.expiry, renewed = t, true
	}
	switch {
	case changed:
		s.setPrefixes()
		s.log.Debug("delegated prefixes", zap.Stringers("prefixes", v.prefixes.Delegated))
		s.observe(now, IPv6Prefixes{Prefixes: v.copyPrefixes()})
	case renewed:
		s.observe(now, IPv6Bindings{})
	}
}

// ipv6Next is when the advertiser or the DHCPv6 server must run next.
func (s *Session) ipv6Next() time.Time {
	if s.v6 == nil {
		return time.Time{}
	}
	var n time.Time
	if t, ok := s.v6.ra.Next(); ok {
		n = t
	}
	if t, ok := s.v6.dhcp.Next(); ok {
		n = earliest(n, t)
	}
	return n
}

// ipv6Wake sends the RAs due and ends expired DHCPv6 bindings.
func (s *Session) ipv6Wake(now time.Time) {
	if s.v6 == nil {
		return
	}
	if t, ok := s.v6.ra.Next(); ok && !now.Before(t) {
		s.refreshND(now)
		ras, err := s.v6.ra.Step(now)
		if err != nil {
			s.log.Warn("router advertisement", zap.Error(err))
		}
		for _, b := range ras {
			s.send(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: b})
		}
	}
	if t, ok := s.v6.dhcp.Next(); ok && !now.Before(t) {
		s.dhcpResult(s.v6.dhcp.Step(now), now)
	}
}

// refreshND gives the advertiser the /ipv6 nd parameters in force if
// they changed since it last had them: a configuration change reaches a
// live session at its next RA (periodic, or the answer to an RS) without
// the server visiting every session. An entry the advertiser refuses
// (Validate checked it: only if the session's MTU makes it wrong) leaves
// the old parameters, with a Warn line once per change.
func (s *Session) refreshND(now time.Time) {
	v := s.v6
	gen := s.cfg.ND.Gen()
	if gen == v.ndGen {
		return
	}
	v.ndGen = gen
	p, ok := s.cfg.ND.Lookup(v.ndIface)
	if cur, was := v.ra.Params(); was == ok && (!ok || cur == p) {
		return
	}
	if err := v.ra.SetParams(now, p, ok); err != nil {
		s.log.Warn("router advertisement parameters", zap.String("iface", v.ndIface), zap.Error(err))
	}
}

// ipv6Down ends the session's IPv6 (IPv6CP closed, or the session ends):
// a last RA with Router Lifetime 0 (RFC 4861 §6.2.5) if final, every
// DHCPv6 binding ended and its prefix returned to its pool, the prefixes
// taken out of the data plane. IPv4 is not touched.
func (s *Session) ipv6Down(now time.Time, final bool) {
	v := s.v6
	if v == nil {
		return
	}
	if b, err := v.ra.Stop(); err == nil && b != nil && final && s.link.Phase() == link.PhaseNetwork {
		s.send(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: b})
	}
	v.dhcp.Close() // returns pool prefixes to the pool; the routes go below
	dp := s.ipv6DataPlane()
	if v.installed != nil && dp != nil {
		for _, p := range v.prefixes.Delegated {
			if err := dp.RemoveIPv6Prefix(v.installed, p); err != nil {
				s.log.Warn("data plane remove delegated prefix", zap.Stringer("prefix", p), zap.Error(err))
			}
		}
		if v.prefixes.Link.IsValid() {
			if err := dp.SetIPv6LinkPrefix(v.installed, netip.Prefix{}); err != nil {
				s.log.Warn("data plane remove IPv6 link prefix", zap.Error(err))
			}
		}
	}
	s.v6 = nil
	s.setPrefixes()
}

// setPrefixes publishes the IPv6 prefixes for Snapshot.
func (s *Session) setPrefixes() {
	var p Prefixes
	if s.v6 != nil {
		p = s.v6.copyPrefixes()
	}
	s.mu.Lock()
	s.prefixes = p
	s.mu.Unlock()
}

// IPv6 returns the session's IPv6 prefixes while IPv6CP is open.
func (s *Session) IPv6() Prefixes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Prefixes{Link: s.prefixes.Link, Delegated: slices.Clone(s.prefixes.Delegated)}
}
