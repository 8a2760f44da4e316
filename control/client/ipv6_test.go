package client

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// acIPv6 is the test AC's IPv6: IPv6CP, then control/ipv6/ra's advertiser
// and control/ipv6/dhcp6's server per session, as a server session runs
// them (control/session/ipv6.go), with lifetimes short enough to see a
// Renew.
type acIPv6 struct {
	link       netip.Prefix // each session's /64
	dns        []netip.Addr // RDNSS and DHCPv6 DNS
	delegate   netip.Prefix // the one delegated prefix
	valid, t1  time.Duration
	routerLife time.Duration // 0: the advertiser's default
	ids        []ipv6cp.InterfaceID

	// Seen, under the AC's mu: DHCPv6 message types from clients.
	seen []dhcpv6.MessageType
}

// acV6 is one session's IPv6 on the AC.
type acV6 struct {
	ra   *ra.Advertiser
	dhcp *dhcp6.Server
}

// interfaceID is the AC's IPv6CP identifiers in turn (the first asked
// for, the rest suggestions), or nil for random ones.
func (a *acIPv6) interfaceID() func() ipv6cp.InterfaceID {
	if a == nil || len(a.ids) == 0 {
		return nil
	}
	i := 0
	return func() ipv6cp.InterfaceID {
		id := a.ids[min(i, len(a.ids)-1)]
		i++
		return id
	}
}

// eventIPv6 starts and stops a session's RA and DHCPv6; ac.mu held.
func (ac *testAC) eventIPv6(k acKey, s *acSession, ev link.Event) {
	switch ev := ev.(type) {
	case link.NetworkUp:
		if ev.Protocol != ppp.ProtocolIPv6CP || ac.v6 == nil {
			return
		}
		local := ipv6.InterfaceID(ev.Info.IPv6.Local)
		params := ra.DefaultParams()
		if ac.v6.routerLife != 0 {
			params.RouterLifetime = ac.v6.routerLife
		}
		adv, err := ra.NewAdvertiser(ra.Config{LocalID: local, Prefix: ac.v6.link, DNS: ac.v6.dns, Other: true, Params: &params})
		if err != nil {
			ac.t.Errorf("AC advertiser: %v", err)
			return
		}
		srv, err := dhcp6.NewServer(dhcp6.ServerConfig{
			ServerID: &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: ac.srv.Config().MAC},
			LocalID:  local, FixedPrefix: ac.v6.delegate, Link: ac.v6.link, DNS: ac.v6.dns, RapidCommit: true,
			ValidLifetime: ac.v6.valid, PreferredLifetime: ac.v6.valid, T1: ac.v6.t1, T2: 2 * ac.v6.t1,
		}, nil)
		if err != nil {
			ac.t.Errorf("AC DHCPv6 server: %v", err)
			return
		}
		adv.Start(time.Now())
		s.v6 = &acV6{ra: adv, dhcp: srv}
	case link.NetworkDown:
		if ev.Protocol == ppp.ProtocolIPv6CP {
			s.v6 = nil
		}
	case link.Down:
		s.v6 = nil
	}
}

// receiveIPv6 answers RS and DHCPv6 from a client; ac.mu held.
func (ac *testAC) receiveIPv6(k acKey, s *acSession, b []byte, now time.Time) {
	if s.v6 == nil {
		return
	}
	p, err := ipv6.Parse(b)
	if err != nil {
		return
	}
	switch p.NextHeader {
	case ipv6.ProtoICMPv6:
		_ = s.v6.ra.Receive(now, b)
	case ipv6.ProtoUDP:
		if u, err := ipv6.ParseUDP(p); err == nil && len(u.Payload) > 0 {
			ac.v6.seen = append(ac.v6.seen, dhcpv6.MessageType(u.Payload[0]))
		}
		res, err := s.v6.dhcp.Handle(now, b)
		if err == nil && res.Reply != nil {
			ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: res.Reply})
		}
	}
}

// tickIPv6 sends the RAs due; ac.mu held.
func (ac *testAC) tickIPv6(k acKey, s *acSession, now time.Time) {
	if s.v6 == nil {
		return
	}
	if t, ok := s.v6.ra.Next(); ok && !now.Before(t) {
		ras, _ := s.v6.ra.Step(now)
		for _, b := range ras {
			ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: b})
		}
	}
	if t, ok := s.v6.dhcp.Next(); ok && !now.Before(t) {
		s.v6.dhcp.Step(now)
	}
}

func (ac *testAC) dhcpSeen() []dhcpv6.MessageType {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return slices.Clone(ac.v6.seen)
}

var (
	acID     = ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 0x01}
	acSugg   = ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 0x99}
	v6Link   = netip.MustParsePrefix("2001:db8:1:2::/64")
	v6DNS    = netip.MustParseAddr("2001:db8::53")
	v6Prefix = netip.MustParsePrefix("2001:db8:200::/56")
)

// v6AC is an AC with IPv4 and IPv6 whose first IPv6CP identifier is
// acID: a client asking for the same is Nak'd with acSugg (RFC 5072 §4.1).
func v6AC(t *testing.T, e *env) *testAC {
	return newTestAC(t, e.hub, acOptions{name: "ac", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		dns: [2]string{"192.0.2.53"}, secrets: map[string]string{"u": "p"},
		ipv6: &acIPv6{link: v6Link, dns: []netip.Addr{v6DNS}, delegate: v6Prefix, valid: 4 * time.Second,
			t1: time.Second, ids: []ipv6cp.InterfaceID{acID, acSugg}}})
}

// loadDualStack parses a pppoe-client and its /ipv6 dhcp-client.
func loadDualStack(t *testing.T, script string) (config.Client, *config.DHCPv6Client) {
	t.Helper()
	c, err := config.Load(script)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var d *config.DHCPv6Client
	if c.DHCPv6Clients.Len() > 0 {
		x := c.DHCPv6Clients.At(0)
		d = &x
	}
	return c.Clients.At(0), d
}

// startV6 runs a client whose first IPv6CP identifier collides with the
// AC's.
func (e *env) startV6(t *testing.T, cfg config.Client, d *config.DHCPv6Client, pools *PrefixPools) (*Client, func()) {
	t.Helper()
	deps := e.deps()
	deps.Pools = pools
	c, err := New(cfg, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d != nil {
		c.SetDHCPv6(*d)
	}
	// First the AC's own identifier, then others for the suggestion
	// our end makes when the AC asks for it too.
	n := byte(0)
	c.interfaceID = func() ipv6cp.InterfaceID {
		n++
		if n == 1 {
			return acID
		}
		return ipv6cp.InterfaceID{0x0a, 0, 0, 0, 0, 0, 0, n}
	}
	e.trace(c)
	return c, run(t, c).stop
}

// TestClientIPv6 runs the client against an AC speaking IPv6CP, RA and
// DHCPv6-PD: the identifier the AC suggests is taken; SLAAC puts the /64's
// address on the netdev with the default route at default-route-distance;
// RDNSS joins IPCP's DNS server in resolv.conf; the delegated prefix
// becomes the dynamic pool with the dhcp-client's own default route; the
// lease is renewed at T1; stopping sends a Release and undoes it all.
func TestClientIPv6(t *testing.T) {
	e := newEnv(t)
	ac := v6AC(t, e)
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes default-route-distance=5 use-peer-dns=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd pool-prefix-length=60 add-default-route=yes default-route-distance=7
`)
	pools := NewPrefixPools()
	c, stop := e.startV6(t, cfg, d, pools)
	defer func() {
		if t.Failed() {
			t.Logf("monitor %+v", c.Monitor())
		}
	}()
	waitFor(t, "SLAAC and the delegated prefix", func() bool {
		st := c.Monitor()
		return st.IPv6Address.IsValid() && st.DHCPv6Status == "bound" && len(st.IPv6DNS) > 0
	})
	st := c.Monitor()
	// The identifiers: ours the AC's suggestion after its Nak.
	// (Both ends saw the collision: the AC took our suggestion as we took
	// its, so its identifier is no longer acID.)
	if st.LocalIPv6 != ipv6.LinkLocal(ipv6.InterfaceID(acSugg)) || !st.RemoteIPv6.IsLinkLocalUnicast() || st.RemoteIPv6 == st.LocalIPv6 ||
		st.RemoteIPv6 == ipv6.LinkLocal(ipv6.InterfaceID{}) {
		t.Errorf("IPv6CP: local %v remote %v, want our id %x (the AC's suggestion) and another for the AC", st.LocalIPv6, st.RemoteIPv6, acSugg)
	}
	wantAddr, _ := ipv6.WithInterfaceID(v6Link, ipv6.InterfaceID(acSugg))
	if st.IPv6Address != netip.PrefixFrom(wantAddr, 64) {
		t.Errorf("monitor ipv6-address %v, want %v/64", st.IPv6Address, wantAddr)
	}
	nd, _ := e.dp.get("pppoe-out1")
	addrs, routes := e.routes.snapshot()
	if !slices.Contains(addrs, Address{Ifindex: nd.ifindex, Local: wantAddr, Bits: 64}) {
		t.Errorf("addresses %v, want %v/64 on the netdev", addrs, wantAddr)
	}
	def6 := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	for _, want := range []Route{{Ifindex: nd.ifindex, Dst: def6, Metric: 5}, {Ifindex: nd.ifindex, Dst: def6, Metric: 7}} {
		if !slices.Contains(routes, want) {
			t.Errorf("routes %v lack %+v", routes, want)
		}
	}
	resolv, _ := os.ReadFile(e.dnsPath)
	if string(resolv) != "nameserver 192.0.2.53\nnameserver 2001:db8::53\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	ps := pools.List()
	if len(ps) != 1 || ps[0].Name != "isp-pd" || ps[0].Prefix != v6Prefix || ps[0].PrefixLength != 60 || ps[0].Owner != "pppoe-out1" {
		t.Errorf("dynamic pools %+v, want isp-pd %v split in /60s", ps, v6Prefix)
	}
	row, ok := c.DHCPv6()
	if !ok || row.Prefix != v6Prefix || row.Status != "bound" || row.Expires.IsZero() || row.PoolName != "isp-pd" {
		t.Errorf("dhcp-client row %+v", row)
	}
	var b strings.Builder
	if err := st.Render(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"  local-ipv6: " + st.LocalIPv6.String(), "ipv6-address: " + st.IPv6Address.String(),
		"    ipv6-dns: 2001:db8::53", "dhcpv6-status: bound", "dhcpv6-prefix: 2001:db8:200::/56"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("monitor lacks %q:\n%s", w, b.String())
		}
	}

	// T1 is a second: a Renew, answered, and the lease goes on.
	waitFor(t, "a Renew", func() bool { return slices.Contains(ac.dhcpSeen(), dhcpv6.MessageTypeRenew) })
	waitFor(t, "the renewed lease", func() bool { r, _ := c.DHCPv6(); return r.Status == "bound" && r.Expires.After(row.Expires) })

	stop()
	if !slices.Contains(ac.dhcpSeen(), dhcpv6.MessageTypeRelease) {
		t.Errorf("DHCPv6 from the client %v: no Release", ac.dhcpSeen())
	}
	addrs, routes = e.routes.snapshot()
	if len(addrs) != 0 || len(routes) != 0 {
		t.Errorf("after stop: addresses %v routes %v", addrs, routes)
	}
	if ps := pools.List(); len(ps) != 0 {
		t.Errorf("after stop: pools %+v", ps)
	}
	if _, err := os.Stat(e.dnsPath); !os.IsNotExist(err) {
		t.Errorf("resolv.conf stays after stop: %v", err)
	}
}

// TestClientIPv6Rejected: an AC without IPv6 rejects IPv6CP; IPv4 comes up
// as before and nothing of IPv6 is set up.
func TestClientIPv6Rejected(t *testing.T) {
	e := newEnv(t)
	newTestAC(t, e.hub, acOptions{name: "ac", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"}, secrets: map[string]string{"u": "p"}})
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd
`)
	c, _ := e.startV6(t, cfg, d, NewPrefixPools())
	waitFor(t, "connected", connected(c))
	time.Sleep(200 * time.Millisecond) // IPv6CP's Protocol-Reject has long been answered
	st := c.Monitor()
	if st.LocalIPv6.IsValid() || st.IPv6Address.IsValid() || st.DHCPv6Status != "" {
		t.Errorf("IPv6 state without IPv6CP: %+v", st)
	}
	_, routes := e.routes.snapshot()
	for _, r := range routes {
		if r.Dst.Addr().Is6() {
			t.Errorf("IPv6 route %+v without IPv6CP", r)
		}
	}
	if row, ok := c.DHCPv6(); !ok || row.Status != "stopped" {
		t.Errorf("dhcp-client row %+v, want stopped", row)
	}
}

// TestClientIPv6Malformed: RAs and DHCPv6 replies cut at every byte, and
// with a byte flipped, change nothing: the client stays connected with
// its address, route and lease.
func TestClientIPv6Malformed(t *testing.T) {
	e := newEnv(t)
	ac := v6AC(t, e)
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd
`)
	c, _ := e.startV6(t, cfg, d, NewPrefixPools())
	waitFor(t, "SLAAC and the delegated prefix", func() bool {
		st := c.Monitor()
		return st.IPv6Address.IsValid() && st.DHCPv6Status == "bound"
	})
	before := c.Monitor()
	addrs, routes := e.routes.snapshot()

	// Valid RAs from the AC, each with a /64 of its own: the n-th marks
	// the end of the n-th batch of damaged ones.
	raFor := func(n int) []byte {
		adv, err := ra.NewAdvertiser(ra.Config{LocalID: ipv6.InterfaceID(acID), Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, byte(n)}), 64)})
		if err != nil {
			t.Fatal(err)
		}
		adv.Start(time.Now())
		ras, err := adv.Step(time.Now().Add(time.Hour))
		if err != nil || len(ras) == 0 {
			t.Fatalf("RA: %v", err)
		}
		return ras[0]
	}
	good := raFor(0)
	var bad [][]byte
	for i := range good {
		bad = append(bad, good[:i])
		if i >= 1 && i <= 3 {
			continue // traffic class and flow label: nothing checks them
		}
		flipped := slices.Clone(good)
		flipped[i] ^= 0x40
		bad = append(bad, flipped)
	}
	// A DHCPv6 Reply for no transaction of ours, whole and cut short.
	reply := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: dhcpv6.TransactionID{1, 2, 3}}
	reply.AddOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: acMAC}))
	udp, err := ipv6.MarshalUDP(ipv6.LinkLocal(ipv6.InterfaceID(acID)), before.LocalIPv6, 255,
		ipv6.UDP{SrcPort: dhcp6.ServerPort, DstPort: dhcp6.ClientPort, Payload: reply.ToBytes()})
	if err != nil {
		t.Fatal(err)
	}
	bad = append(bad, udp, udp[:ipv6.HeaderLen+4], udp[:len(udp)-1])
	// Batches well under the session's frame queue (frameQueue), which
	// drops what overflows it.
	for n, batch := range slices.Collect(slices.Chunk(bad, 16)) {
		mark := raFor(n + 1)
		ac.mu.Lock()
		for k, s := range ac.sessions {
			for _, b := range batch {
				ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: b})
			}
			ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: mark})
		}
		ac.mu.Unlock()
		want := byte(n + 1)
		waitFor(t, "the batch's closing RA", func() bool {
			a := c.Monitor().IPv6Address.Addr().As16()
			return a[5] == 9 && a[7] == want
		})
	}
	after := c.Monitor()
	if after.Status != StateConnected || after.DHCPv6Status != "bound" || after.DHCPv6Prefix != before.DHCPv6Prefix {
		t.Errorf("after malformed IPv6: %+v, was %+v", after, before)
	}
	a2, r2 := e.routes.snapshot()
	if len(a2) != len(addrs) || len(r2) != len(routes) {
		t.Errorf("addresses %v routes %v, were %v %v", a2, r2, addrs, routes)
	}
}

// TestClientIPv6CPClosedKeepsIPv4: the AC terminating IPv6CP takes the
// client's IPv6 away (address, routes, pool, RDNSS, monitor lines) and
// leaves IPv4 connected with its DNS server.
func TestClientIPv6CPClosedKeepsIPv4(t *testing.T) {
	e := newEnv(t)
	ac := v6AC(t, e)
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes use-peer-dns=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd add-default-route=yes default-route-distance=7
`)
	pools := NewPrefixPools()
	c, _ := e.startV6(t, cfg, d, pools)
	waitFor(t, "SLAAC and the delegated prefix", func() bool {
		st := c.Monitor()
		return st.IPv6Address.IsValid() && st.DHCPv6Status == "bound" && len(st.IPv6DNS) > 0
	})
	term, err := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 77}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ac.mu.Lock()
	for k, s := range ac.sessions {
		ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: term})
	}
	ac.mu.Unlock()
	waitFor(t, "IPv6 down", func() bool { return !c.Monitor().LocalIPv6.IsValid() })
	st := c.Monitor()
	if st.Status != StateConnected || st.LocalAddress != netip.MustParseAddr("10.0.0.2") || st.IPv6Address.IsValid() ||
		st.DHCPv6Status != "" || st.DHCPv6Prefix.IsValid() || len(st.IPv6DNS) != 0 {
		t.Errorf("after IPv6CP closed: %+v", st)
	}
	addrs, routes := e.routes.snapshot()
	for _, a := range addrs {
		if a.Local.Is6() {
			t.Errorf("IPv6 address %v stays", a)
		}
	}
	if len(routes) != 1 || !routes[0].Dst.Addr().Is4() {
		t.Errorf("routes %v, want IPv4's default route alone", routes)
	}
	if ps := pools.List(); len(ps) != 0 {
		t.Errorf("pools %+v stay", ps)
	}
	if row, _ := c.DHCPv6(); row.Status != "stopped" || row.Prefix.IsValid() {
		t.Errorf("dhcp-client row %+v", row)
	}
	if resolv, _ := os.ReadFile(e.dnsPath); string(resolv) != "nameserver 192.0.2.53\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
}

// TestClientIPv6Only: an AC that offers IPv6 alone (it Protocol-Rejects
// IPCP) gets a client up on IPv6: IPv6CP opens the session as the first
// network protocol, so the data plane carries it (the entry without an
// IPv4 address), the monitor says connected, SLAAC and the delegated
// prefix are in place, and no IPv4 address or route is made.
func TestClientIPv6Only(t *testing.T) {
	e := newEnv(t)
	ac := v6AC(t, e)
	ac.rejectIPCP.Store(true)
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes use-peer-dns=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd
`)
	c, stop := e.startV6(t, cfg, d, NewPrefixPools())
	waitFor(t, "IPv6 alone up", func() bool {
		st := c.Monitor()
		return st.Status == StateConnected && st.IPv6Address.IsValid() && st.DHCPv6Status == "bound"
	})
	st := c.Monitor()
	if st.LocalAddress.IsValid() || st.RemoteAddress.IsValid() || len(st.DNSServers) != 0 || st.MTU == 0 {
		t.Errorf("monitor of an IPv6-only session: %+v", st)
	}
	nd, _ := e.dp.get("pppoe-out1")
	if nd.session == nil || nd.session.Local.IsValid() || nd.session.MTU == 0 {
		t.Fatalf("data plane: session %+v, want one installed without IPv4", nd.session)
	}
	addrs, routes := e.routes.snapshot()
	for _, a := range addrs {
		if !a.Local.Is6() {
			t.Errorf("IPv4 address %+v without IPCP", a)
		}
	}
	if len(routes) != 1 || !routes[0].Dst.Addr().Is6() {
		t.Errorf("routes %v, want SLAAC's IPv6 default route alone", routes)
	}
	if resolv, _ := os.ReadFile(e.dnsPath); string(resolv) != "nameserver 2001:db8::53\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	stop()
	if nd, _ := e.dp.get("pppoe-out1"); nd.session != nil {
		t.Errorf("data plane keeps %+v after stop", nd.session)
	}
}

// TestClientIPCPClosedKeepsIPv6: the AC terminating IPCP takes the
// client's IPv4 away (address, default route, DNS server) and leaves the
// session connected on IPv6: the data-plane entry stays (the same
// install), with SLAAC, the delegated prefix and RDNSS. The mirror of
// TestClientIPv6CPClosedKeepsIPv4, and of the AC's
// TestIPCPTerminateKeepsIPv6.
func TestClientIPCPClosedKeepsIPv6(t *testing.T) {
	e := newEnv(t)
	ac := v6AC(t, e)
	cfg, d := loadDualStack(t, `/interface pppoe-client add interface=ether1 user=u password=p add-default-route=yes use-peer-dns=yes disabled=no
/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd
`)
	c, _ := e.startV6(t, cfg, d, NewPrefixPools())
	waitFor(t, "both stacks up", func() bool {
		st := c.Monitor()
		return st.LocalAddress.IsValid() && st.IPv6Address.IsValid() && st.DHCPv6Status == "bound" && len(st.IPv6DNS) > 0
	})
	before, _ := e.dp.get("pppoe-out1")
	term, err := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 78}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// From now on the AC rejects IPCP, so the client's does not open
	// again once it has stopped: IPv4 is gone for good.
	ac.rejectIPCP.Store(true)
	ac.mu.Lock()
	for k, s := range ac.sessions {
		ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: term})
	}
	ac.mu.Unlock()
	waitFor(t, "IPv4 down", func() bool { return !c.Monitor().LocalAddress.IsValid() })
	st := c.Monitor()
	if st.Status != StateConnected || !st.IPv6Address.IsValid() || st.DHCPv6Status != "bound" || len(st.DNSServers) != 0 {
		t.Errorf("after IPCP closed: %+v", st)
	}
	nd, _ := e.dp.get("pppoe-out1")
	if nd.session == nil || nd.installs != before.installs {
		t.Errorf("data plane after IPCP closed: session %+v after %d installs, want the entry of install %d kept",
			nd.session, nd.installs, before.installs)
	}
	addrs, routes := e.routes.snapshot()
	for _, a := range addrs {
		if a.Local.Is4() {
			t.Errorf("IPv4 address %v stays", a)
		}
	}
	for _, r := range routes {
		if r.Dst.Addr().Is4() {
			t.Errorf("IPv4 route %v stays", r)
		}
	}
	if resolv, _ := os.ReadFile(e.dnsPath); string(resolv) != "nameserver 2001:db8::53\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
}
