package server_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// ipv6Server is quickExample's server with IPv6 on: each session's link
// /64 from an /ipv6 pool (RouterOS remote-ipv6-prefix-pool).
const ipv6Server = `
/ipv6 pool add name=links prefix=2001:db8:100::/48 prefix-length=64
/ppp profile set for-pppoe remote-ipv6-prefix-pool=links
` + quickServer

var (
	linksNet  = netip.MustParsePrefix("2001:db8:100::/48")
	core6     = netip.MustParseAddr("2001:db8:ffff::2")
	acUplink6 = netip.MustParseAddr("2001:db8:ffff::1")
)

// withIPv6Routing gives the rig's AC and core IPv6 as a deployment has it:
// forwarding on, addresses on the uplink, the link prefixes routed to
// the AC by the core and into pppoe0 by the AC, static neighbours both
// ways so the first packets take the fast paths.
func (r *rig) withIPv6Routing(t *testing.T) {
	t.Helper()
	r.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	// nodad: usable at once (DAD would hold the address a second).
	r.ac.Run(t, "ip", "-6", "addr", "add", acUplink6.String()+"/64", "dev", "up0", "nodad")
	r.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/64", "dev", "cor0", "nodad")
	r.core.Run(t, "ip", "-6", "route", "add", linksNet.String(), "via", acUplink6.String())
	r.ac.Run(t, "ip", "-6", "route", "add", linksNet.String(), "dev", "pppoe0")
	upMAC, corMAC := r.hwaddr(r.ac, "up0"), r.hwaddr(r.core, "cor0")
	r.ac.Run(t, "ip", "-6", "neigh", "replace", core6.String(), "lladdr", corMAC.String(), "dev", "up0", "nud", "permanent")
	r.core.Run(t, "ip", "-6", "neigh", "replace", acUplink6.String(), "lladdr", upMAC.String(), "dev", "cor0", "nud", "permanent")
}

// dialIPv6 brings a session up for cfg and returns it with the
// subscriber's SLAAC address: its link /64 (from the maps, where the
// session put it) and the interface identifier IPv6CP gave it.
func (r *rig) dialIPv6(t *testing.T, cfg peer.Config) (*peer.Client, netip.Addr) {
	t.Helper()
	c := r.dial(cfg)
	info, err := c.WaitUp(context.Background())
	must(t, err)
	var link netip.Prefix
	eventually(t, 5*time.Second, "the session's link /64 in the maps", func() bool {
		link, _, err = r.dp.IPv6Prefixes(r.key(c))
		return err == nil && link.IsValid()
	})
	eventually(t, 5*time.Second, "IPv6CP opened at the subscriber", func() bool {
		info, err = c.WaitUp(context.Background())
		return err == nil && info.IPv6.Local != [8]byte{}
	})
	me, err := ipv6.WithInterfaceID(link, ipv6.InterfaceID(info.IPv6.Local))
	must(t, err)
	return c, me
}

// udp6Both sends UDP over IPv6 from the subscriber at me to the core and
// from the core to it, each until one arrives.
func udp6Both(t *testing.T, r *rig, c *peer.Client, me netip.Addr) {
	t.Helper()
	var conn *net.UDPConn
	must(t, r.core.Do(t, func() (err error) {
		conn, err = net.ListenUDP("udp6", &net.UDPAddr{IP: core6.AsSlice(), Port: 4006})
		return err
	}))
	defer conn.Close()
	up, err := ipv6.MarshalUDP(me, core6, 64, ipv6.UDP{SrcPort: 5006, DstPort: 4006, Payload: []byte("up6")})
	must(t, err)
	buf := make([]byte, 2048)
	for i := 0; ; i++ {
		must(t, c.SendIPv6(up))
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := conn.ReadFromUDP(buf)
		if err == nil {
			if string(buf[:n]) != "up6" || from.AddrPort() != netip.AddrPortFrom(me, 5006) {
				t.Errorf("core got %q from %v", buf[:n], from)
			}
			break
		}
		if i == 10 {
			t.Fatal("no UDP datagram from the subscriber reached the core")
		}
	}
	for i := 0; ; i++ {
		_, err := conn.WriteToUDPAddrPort([]byte("down6"), netip.AddrPortFrom(me, 6006))
		must(t, err)
		if recvUDP6(c, me, 6006, "down6") {
			break
		}
		if i == 10 {
			t.Fatal("no UDP datagram from the core reached the subscriber")
		}
	}
}

// recvUDP6 waits a little for the UDP datagram want to port at me,
// skipping the Router Advertisements the AC sends meanwhile.
func recvUDP6(c *peer.Client, me netip.Addr, port uint16, want string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for {
		b, err := c.RecvIPv6(ctx)
		if err != nil {
			return false
		}
		p, err := ipv6.Parse(b)
		if err != nil || p.Dst != me || p.Src != core6 || p.NextHeader != ipv6.ProtoUDP {
			continue
		}
		if u, err := ipv6.ParseUDP(p); err == nil && u.DstPort == port && string(u.Payload) == want {
			return true
		}
	}
}

// TestIPv6OnlySubscriber: a subscriber that runs IPv6CP and rejects IPCP
// (pppd's noip +ipv6) gets a session that is up on IPv6 alone: no IPv4 in
// its entry, its link /64 routed, UDP both ways on the XDP fast paths,
// its counters (what accounting reads) counting that traffic, and any
// IPv4 it sends refused.
func TestIPv6OnlySubscriber(t *testing.T) {
	r := newRig(t, ipv6Server, withFastFarEnds())
	r.withIPv6Routing(t)
	cfg := r.peerConfig()
	cfg.IPv6, cfg.NoIPv4 = true, true
	c, me := r.dialIPv6(t, cfg)
	s, idx := r.entry(t, c)
	if s.IPv4.IsValid() {
		t.Fatalf("maps entry %+v: want no IPv4", s)
	}
	before, err := r.dp.Counters()
	must(t, err)
	st0, err := r.dp.Stats(idx)
	must(t, err)

	udp6Both(t, r, c, me)

	after, err := r.dp.Counters()
	must(t, err)
	if after[maps.ReasonFastUp] == before[maps.ReasonFastUp] || after[maps.ReasonFastDown] == before[maps.ReasonFastDown] {
		t.Errorf("data plane counters %v: want the XDP fast path both ways", after)
	}
	st, err := r.dp.Stats(idx)
	must(t, err)
	if st.PacketsUp <= st0.PacketsUp || st.PacketsDown <= st0.PacketsDown {
		t.Errorf("session counters before %+v after %+v: the IPv6 traffic not counted", st0, st)
	}
	ss := r.srv.Sessions()
	if len(ss) != 1 || ss[0].State != session.StateUp || ss[0].Address.IsValid() || ss[0].Stats.PacketsUp < st.PacketsUp {
		t.Fatalf("sessions %+v, maps stats %+v", ss, st)
	}

	// IPv4 from it, from the address IPCP would have given or from none,
	// is refused.
	spoofed := after[maps.ReasonSpoofed]
	for _, src := range []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.IPv4Unspecified()} {
		must(t, c.SendIPv4(peer.UDP(netip.AddrPortFrom(src, 5000), netip.AddrPortFrom(coreAddr, 4000), []byte("v4"))))
	}
	eventually(t, 2*time.Second, "IPv4 from an IPv6-only session refused", func() bool {
		n, err := r.dp.Counters()
		return err == nil && n[maps.ReasonSpoofed] >= spoofed+2
	})

	must(t, c.SendPADT())
	r.clean(t)
}

// TestIPCPTerminateKeepsIPv6: a dual-stack subscriber terminating IPCP
// keeps its session and its IPv6 (the mirror of IPv6CP's
// TestIPv6CPTerminateKeepsIPv4 in control/ppp/link): the entry loses its
// address in place, IPv6 still flows both ways, its IPv4 is refused.
func TestIPCPTerminateKeepsIPv6(t *testing.T) {
	r := newRig(t, ipv6Server, withFastFarEnds())
	r.withIPv6Routing(t)
	cfg := r.peerConfig()
	cfg.IPv6 = true
	c, me := r.dialIPv6(t, cfg)
	var v4 netip.Addr
	eventually(t, 5*time.Second, "IPCP's address in the maps", func() bool {
		s, _, err := r.dp.Lookup(r.key(c))
		v4 = s.IPv4
		return err == nil && v4.IsValid()
	})
	_, idx := r.entry(t, c)
	udp6Both(t, r, c, me)

	must(t, c.TerminateIPCP())
	eventually(t, 5*time.Second, "the entry without IPv4", func() bool {
		s, i, err := r.dp.Lookup(r.key(c))
		return err == nil && !s.IPv4.IsValid() && i == idx
	})
	// The session's own view follows the entry's rewrite (the session
	// updates it once the data plane has answered): waited for, not raced.
	var ss []session.Snapshot
	eventually(t, 5*time.Second, "the session up without an address", func() bool {
		ss = r.srv.Sessions()
		return len(ss) == 1 && ss[0].State == session.StateUp && !ss[0].Address.IsValid()
	})
	if link, _, err := r.dp.IPv6Prefixes(r.key(c)); err != nil || !link.Contains(me) {
		t.Fatalf("link prefix %v, %v after IPCP terminated", link, err)
	}
	udp6Both(t, r, c, me)

	before, err := r.dp.Counters()
	must(t, err)
	must(t, c.SendIPv4(peer.UDP(netip.AddrPortFrom(v4, 5000), netip.AddrPortFrom(coreAddr, 4000), []byte("v4"))))
	eventually(t, 2*time.Second, "IPv4 refused after IPCP closed", func() bool {
		n, err := r.dp.Counters()
		return err == nil && n[maps.ReasonSpoofed] > before[maps.ReasonSpoofed]
	})
	// The address is still the session's (its lease ends with it): the
	// pool does not hand it out meanwhile.
	if used := r.aaa.PoolUsed("pppoe-pool"); used != 1 {
		t.Fatalf("pool has %d addresses out, want the session's 1", used)
	}
	must(t, c.SendPADT())
	r.clean(t)
}
