package client

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// v6 is a client session's IPv6 while IPv6CP is open (RFC 5072): Router
// Solicitations until an RA comes (RFC 4861 §6.3.7), the address SLAAC
// forms from the RA's /64 and our Interface-Identifier (RFC 4862) with the
// default route and the RDNSS servers (RFC 8106), and the /ipv6
// dhcp-client's DHCPv6 client (RFC 8415) with the dynamic pool of its
// delegated prefix. Its packets are the session's PPP protocol 0x0057
// frames, received with the control frames (afpacket passes IPv6 to
// multicast and link-local destinations) and sent as the session's, not
// through the netdev; its timers are the session's (Next, Wake).
type v6 struct {
	local, remote ipv6.InterfaceID
	rs            *ra.Solicitor

	addr       Address   // SLAAC's, Local invalid when none
	addrUntil  time.Time // its valid lifetime's end
	router     *Route    // the default route through the AC, with add-default-route
	routerTill time.Time
	dns        []netip.Addr // RDNSS, with use-peer-dns
	dnsUntil   time.Time

	dhcp    *dhcp6.Client // nil without an /ipv6 dhcp-client
	lease   dhcp6.Lease   // the bound lease, Obtained zero when none
	pdRoute *Route        // the dhcp-client's default route
}

// ipv6Up starts Router Discovery and the DHCPv6 client: IPv6CP opened.
func (s *session) ipv6Up(info link.Info, now time.Time) {
	if s.v6 != nil {
		s.ipv6Down() // renegotiated: the identifiers may differ
	}
	c := s.c
	if h, ok := c.deps.Routes.(IPv6Host); ok {
		if err := h.PrepareIPv6(s.nd.Ifindex()); err != nil {
			s.log.Warn("preparing the netdev for IPv6", zap.Error(err))
		}
	}
	v := &v6{local: ipv6.InterfaceID(info.IPv6.Local), remote: ipv6.InterfaceID(info.IPv6.Remote)}
	v.rs = ra.NewSolicitor(v.local, nil)
	v.rs.Start(now)
	if v.dhcp = s.newDHCPClient(v.local); v.dhcp != nil {
		v.dhcp.Start(now)
	}
	s.v6 = v
	c.update(func(st *Status) {
		st.LocalIPv6, st.RemoteIPv6 = ipv6.LinkLocal(v.local), ipv6.LinkLocal(v.remote)
	})
	s.publishDHCP()
	s.log.Info("IPv6 up", zap.Stringer("local", ipv6.LinkLocal(v.local)), zap.Stringer("remote", ipv6.LinkLocal(v.remote)))
}

// newDHCPClient is the session's /ipv6 dhcp-client, not started; nil
// without one.
func (s *session) newDHCPClient(local ipv6.InterfaceID) *dhcp6.Client {
	c := s.c
	d := c.dhcp
	if d == nil || d.Disabled {
		return nil
	}
	dc, err := dhcp6.NewClient(dhcp6.ClientConfig{
		// DUID-LL (RFC 8415 §11.4): the Ethernet interface's address
		// is permanent, so the server sees one client across
		// sessions and restarts.
		DUID:           &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: s.att.MAC},
		LocalID:        local,
		IAID:           iaid(c.cfg.Name),
		RequestPrefix:  d.Request.Has("prefix"),
		RequestAddress: d.Request.Has("address"),
		PrefixHint:     netip.Prefix(d.PrefixHint).Bits(),
		RapidCommit:    d.RapidCommit,
	}, s.log)
	if err != nil {
		s.log.Warn("/ipv6 dhcp-client", zap.Error(err))
		return nil
	}
	return dc
}

// iaid names the client's IA_PD and IA_NA (RFC 8415 §12): the same for a
// client across sessions and restarts, so the server renews what it gave.
func iaid(name string) [4]byte {
	h := fnv.New32a()
	h.Write([]byte(name))
	var id [4]byte
	copy(id[:], h.Sum(nil))
	return id
}

// ipv6Release gives the delegated prefix back before the session closes
// (RFC 8415 §18.2.7): the Release leaves while IPv6CP is still open, ahead
// of the LCP Terminate-Request.
func (s *session) ipv6Release(now time.Time) {
	v := s.v6
	if v == nil || v.dhcp == nil {
		return
	}
	out, err := v.dhcp.Release(now)
	if err != nil {
		s.log.Warn("dhcpv6 release", zap.Error(err))
	}
	s.sendIPv6(out)
	s.dropLease()
	s.publishDHCP()
}

// ipv6Down ends the session's IPv6: IPv6CP closed, or the session ends.
// Address, routes, DNS servers and the dynamic pool go; IPv4 is not
// touched.
func (s *session) ipv6Down() {
	v := s.v6
	if v == nil {
		return
	}
	s.dropLease()
	s.dropSLAAC()
	s.v6 = nil
	c := s.c
	c.mu.Lock()
	c.st.LocalIPv6, c.st.RemoteIPv6 = netip.Addr{}, netip.Addr{}
	c.st.DHCPv6Status, c.st.DHCPv6Prefix = "", netip.Prefix{}
	c.dhcpSt = c.dhcpIdle()
	if c.trace != nil {
		c.trace(c.st)
	}
	c.mu.Unlock()
	s.log.Info("IPv6 down")
}

// receiveIPv6 takes an IPv6 datagram of the session: an RA, or DHCPv6 to
// our port. Anything else, and anything malformed, is dropped without a
// word (nothing is logged per packet); the netdev has its own copy.
func (s *session) receiveIPv6(b []byte, now time.Time) {
	p, err := ipv6.Parse(b)
	if err != nil {
		return
	}
	switch p.NextHeader {
	case ipv6.ProtoICMPv6:
		ad, err := ra.ParseAdvertisement(b)
		if err != nil {
			return
		}
		s.v6.rs.Received()
		s.advertised(ad, now)
	case ipv6.ProtoUDP:
		u, err := ipv6.ParseUDP(p)
		if err != nil || u.DstPort != dhcp6.ClientPort || s.v6.dhcp == nil {
			return
		}
		out, ev, err := s.v6.dhcp.Handle(now, b)
		if err != nil {
			s.log.Debug("dhcpv6 message dropped", zap.Error(err))
		}
		s.sendIPv6(out)
		s.leaseEvent(ev)
	}
}

func (s *session) sendIPv6(b []byte) {
	if b != nil {
		s.Send(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: b})
	}
}

// advertised applies an RA (RFC 4862 §5.5.3, RFC 4861 §6.3.4, RFC 8106
// §5.3.1): the address from its /64, the default route while its router
// lifetime lasts, the RDNSS servers while theirs does.
func (s *session) advertised(ad ra.Advertisement, now time.Time) {
	v, c := s.v6, s.c
	conf := ra.Autoconfigure(ad, v.local, 0)
	if len(conf.Addresses) > 0 {
		a := conf.Addresses[0]
		switch {
		case v.addr.Local == a.Addr:
			valid := ra.ValidLifetime(v.addrUntil.Sub(now), a.Valid)
			v.addrUntil = now.Add(valid)
		case a.Valid > 0:
			s.dropAddress()
			addr := Address{Ifindex: s.nd.Ifindex(), Local: a.Addr, Bits: a.Prefix.Bits()}
			if err := c.deps.Routes.AddAddress(addr); err != nil {
				s.log.Warn("adding the SLAAC address", zap.Error(err))
			} else {
				v.addr, v.addrUntil = addr, now.Add(a.Valid)
				s.log.Info("IPv6 address", zap.Stringer("address", netip.PrefixFrom(a.Addr, a.Prefix.Bits())))
			}
		}
	}
	if c.cfg.AddDefaultRoute {
		switch {
		case conf.RouterLifetime > 0 && v.router == nil:
			r := Route{Ifindex: s.nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Metric: c.cfg.DefaultRouteDistance}
			if err := c.deps.Routes.AddRoute(r); err != nil {
				s.log.Warn("adding the IPv6 default route", zap.Error(err))
			} else {
				v.router = &r
			}
			v.routerTill = now.Add(conf.RouterLifetime)
		case conf.RouterLifetime > 0:
			v.routerTill = now.Add(conf.RouterLifetime)
		default:
			s.dropRouter()
		}
	}
	if c.cfg.UsePeerDNS && len(conf.DNS) > 0 {
		old := v.dns
		if conf.DNSLifetime > 0 {
			v.dns, v.dnsUntil = slices.Clone(conf.DNS), now.Add(conf.DNSLifetime)
		} else {
			v.dns, v.dnsUntil = nil, time.Time{}
		}
		if !slices.Equal(old, v.dns) {
			s.writeDNS()
		}
	}
	s.publishSLAAC()
}

// publishSLAAC shows SLAAC's results on the monitor.
func (s *session) publishSLAAC() {
	var p netip.Prefix
	var dns []netip.Addr
	if v := s.v6; v != nil {
		if v.addr.Local.IsValid() {
			p = netip.PrefixFrom(v.addr.Local, v.addr.Bits)
		}
		dns = slices.Clone(v.dns)
	}
	s.c.update(func(st *Status) { st.IPv6Address, st.IPv6DNS = p, dns })
}

func (s *session) dropAddress() {
	v := s.v6
	if !v.addr.Local.IsValid() {
		return
	}
	if err := s.c.deps.Routes.DelAddress(v.addr); err != nil {
		s.log.Warn("removing the SLAAC address", zap.Error(err))
	}
	v.addr, v.addrUntil = Address{}, time.Time{}
}

func (s *session) dropRouter() {
	v := s.v6
	if v.router == nil {
		return
	}
	if err := s.c.deps.Routes.DelRoute(*v.router); err != nil {
		s.log.Warn("removing the IPv6 default route", zap.Error(err))
	}
	v.router, v.routerTill = nil, time.Time{}
}

// dropSLAAC undoes what RAs set up.
func (s *session) dropSLAAC() {
	v := s.v6
	s.dropRouter()
	s.dropAddress()
	if v.dns != nil {
		v.dns, v.dnsUntil = nil, time.Time{}
		s.writeDNS()
	}
	s.publishSLAAC()
}

// leaseEvent applies what a DHCPv6 step changed.
func (s *session) leaseEvent(ev dhcp6.Event) {
	v := s.v6
	switch ev {
	case dhcp6.LeaseBound:
		s.dropLease()
		if l, ok := v.dhcp.Lease(); ok {
			s.bindLease(l)
		}
	case dhcp6.LeaseExtended:
		if l, ok := v.dhcp.Lease(); ok {
			v.lease = l
			s.setPool()
		}
	case dhcp6.LeaseLost:
		s.log.Info("dhcpv6 lease lost", zap.Stringer("prefix", v.lease.Prefix))
		s.dropLease()
	}
	s.publishDHCP()
}

// bindLease puts a new lease in place: the dynamic pool of its prefix,
// the dhcp-client's default route, its DNS servers.
func (s *session) bindLease(l dhcp6.Lease) {
	v, c, d := s.v6, s.c, s.c.dhcp
	v.lease = l
	s.setPool()
	if d.AddDefaultRoute {
		r := Route{Ifindex: s.nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Metric: d.DefaultRouteDistance}
		// SLAAC's route through the same netdev with the same distance
		// is the same route: the kernel would refuse a second.
		if v.router == nil || *v.router != r {
			if err := c.deps.Routes.AddRoute(r); err != nil {
				s.log.Warn("/ipv6 dhcp-client default route", zap.Error(err))
			} else {
				v.pdRoute = &r
			}
		}
	}
	if d.UsePeerDNS && len(l.DNS) > 0 {
		s.writeDNS()
	}
	s.log.Info("dhcpv6 lease bound", zap.Stringer("prefix", l.Prefix), zap.Stringer("address", l.Address),
		zap.Duration("valid", l.Valid), zap.Duration("t1", l.T1), zap.Duration("t2", l.T2), zap.String("pool", d.PoolName))
}

// setPool makes or refreshes the lease's dynamic /ipv6 pool.
func (s *session) setPool() {
	v, c := s.v6, s.c
	if c.deps.Pools == nil || !v.lease.Prefix.IsValid() || c.dhcp.PoolName == "" {
		return
	}
	if err := c.deps.Pools.Set(DynamicPool{Name: c.dhcp.PoolName, Prefix: v.lease.Prefix,
		PrefixLength: c.dhcp.PoolPrefixLength, Expires: v.lease.Expires(), Owner: c.cfg.Name}); err != nil {
		s.log.Warn("/ipv6 dhcp-client pool", zap.Error(err))
	}
}

// dropLease undoes bindLease; the DHCPv6 client itself is left as it is.
func (s *session) dropLease() {
	v, c := s.v6, s.c
	if v.lease.Obtained.IsZero() {
		return
	}
	if v.pdRoute != nil {
		if err := c.deps.Routes.DelRoute(*v.pdRoute); err != nil {
			s.log.Warn("removing the /ipv6 dhcp-client default route", zap.Error(err))
		}
		v.pdRoute = nil
	}
	if c.deps.Pools != nil && c.dhcp != nil {
		c.deps.Pools.Remove(c.dhcp.PoolName, c.cfg.Name)
	}
	hadDNS := len(v.lease.DNS) > 0
	v.lease = dhcp6.Lease{}
	if hadDNS {
		s.writeDNS()
	}
}

// ipv6DNS is every IPv6 DNS server the session has with use-peer-dns:
// RDNSS's, then DHCPv6's.
func (s *session) ipv6DNS() []netip.Addr {
	v := s.v6
	if v == nil {
		return nil
	}
	out := slices.Clone(v.dns)
	if d := s.c.dhcp; d != nil && d.UsePeerDNS {
		out = append(out, v.lease.DNS...)
	}
	return out
}

// ipv6Next is when Router Discovery, DHCPv6 or a lifetime needs the
// session next.
func (s *session) ipv6Next() time.Time {
	v := s.v6
	if v == nil {
		return time.Time{}
	}
	var rsAt, dhcpAt time.Time
	if t, ok := v.rs.Next(); ok {
		rsAt = t
	}
	if v.dhcp != nil {
		if t, ok := v.dhcp.Next(); ok {
			dhcpAt = t
		}
	}
	return earliest(rsAt, dhcpAt, v.addrUntil, v.routerTill, v.dnsUntil)
}

// ipv6Wake sends the RS and DHCPv6 messages due and ends what outlived
// its lifetime.
func (s *session) ipv6Wake(now time.Time) {
	v := s.v6
	if v == nil {
		return
	}
	if t, ok := v.rs.Next(); ok && !now.Before(t) {
		b, err := v.rs.Step(now)
		if err != nil {
			s.log.Warn("router solicitation", zap.Error(err))
		}
		s.sendIPv6(b)
	}
	if v.dhcp != nil {
		if t, ok := v.dhcp.Next(); ok && !now.Before(t) {
			out, ev, err := v.dhcp.Step(now)
			if err != nil {
				s.log.Warn("dhcpv6 client", zap.Error(err))
			}
			s.sendIPv6(out)
			s.leaseEvent(ev)
		}
	}
	changed := false
	if !v.addrUntil.IsZero() && !now.Before(v.addrUntil) {
		s.dropAddress()
		changed = true
	}
	if !v.routerTill.IsZero() && !now.Before(v.routerTill) {
		s.dropRouter()
	}
	if !v.dnsUntil.IsZero() && !now.Before(v.dnsUntil) {
		v.dns, v.dnsUntil = nil, time.Time{}
		s.writeDNS()
		changed = true
	}
	if changed {
		s.publishSLAAC()
	}
}

// DHCPv6Status is one row of /ipv6 dhcp-client print: the client on a
// pppoe-client's session, with RouterOS's status values.
type DHCPv6Status struct {
	Interface string
	Status    string
	Request   config.DHCPv6Request
	PoolName  string
	// Prefix is the delegated prefix and Expires when its valid lifetime
	// ends; Address the IA_NA address. Zero when none is bound.
	Prefix  netip.Prefix
	Address netip.Addr
	Expires time.Time
	// RenewAt is T1: when the client asks its server to extend the lease.
	RenewAt time.Time
	DNS     []netip.Addr
}

// dhcpIdle is the row of a dhcp-client whose session is not up. Callers
// hold c.mu.
func (c *Client) dhcpIdle() DHCPv6Status {
	if c.dhcp == nil {
		return DHCPv6Status{}
	}
	return DHCPv6Status{Interface: c.cfg.Name, Status: dhcp6.Stopped.String(),
		Request: c.dhcp.Request, PoolName: c.dhcp.PoolName}
}

// publishDHCP shows the DHCPv6 client's state to print and monitor.
func (s *session) publishDHCP() {
	v, c := s.v6, s.c
	if v == nil || v.dhcp == nil {
		return
	}
	st := DHCPv6Status{Interface: c.cfg.Name, Status: v.dhcp.State().String(),
		Request: c.dhcp.Request, PoolName: c.dhcp.PoolName}
	if l := v.lease; !l.Obtained.IsZero() {
		st.Prefix, st.Address, st.Expires = l.Prefix, l.Address, l.Expires()
		st.RenewAt = l.Obtained.Add(l.T1)
		st.DNS = slices.Clone(l.DNS)
	}
	c.mu.Lock()
	c.dhcpSt = st
	c.st.DHCPv6Status, c.st.DHCPv6Prefix = st.Status, st.Prefix
	if c.trace != nil {
		c.trace(c.st)
	}
	c.mu.Unlock()
}

// DHCPv6 returns the client's /ipv6 dhcp-client row; false when it has
// none.
func (c *Client) DHCPv6() (DHCPv6Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dhcp == nil {
		return DHCPv6Status{}, false
	}
	st := c.dhcpSt
	if st.Interface == "" {
		st = c.dhcpIdle()
	}
	st.DNS = slices.Clone(st.DNS)
	return st, true
}
