package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	xipv6 "golang.org/x/net/ipv6"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// The IPv6 and multilink sides of adoption (issue 13): the control state
// a session needs beyond its link (its RAs' /64, its DHCPv6 bindings, its
// multilink) survives a kill -9 of the AC, and an IPv6-only session is
// adopted at all. The subscribers are test/peer clients, so the test
// speaks RS and DHCPv6 itself and sees every answer.

// adoptV6Server is dualStackServer: the link /64s from link6, the
// delegated /56 from pd6, which holds exactly one.
const adoptV6Server = dualStackServer

// subscriber6 is a peer client with IPv6 and what the test needs of it:
// a reader that answers ICMPv6 echoes to any address (its SLAAC address,
// a host in its delegated prefix) and hands the rest (RAs, DHCPv6) to
// ctl.
type subscriber6 struct {
	c   *peer.Client
	mac net.HardwareAddr
	iid ipv6.InterfaceID
	ctl chan []byte
}

func dial6(t *testing.T, mux *peer.Mux, mac net.HardwareAddr, user, pass string, noIPv4 bool) *subscriber6 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := peer.Dial(ctx, mux, peer.Config{MAC: mac, ServiceName: "isp", User: user, Password: pass,
		Methods: []auth.Method{auth.PAP}, IPv6: true, NoIPv4: noIPv4})
	must(t, err)
	t.Cleanup(c.Close)
	var info = waitIPv6CP(t, ctx, c)
	s := &subscriber6{c: c, mac: mac, iid: ipv6.InterfaceID(info), ctl: make(chan []byte, 64)}
	go s.read()
	return s
}

// waitIPv6CP waits for the client's IPv6CP and returns its interface id.
func waitIPv6CP(t *testing.T, ctx context.Context, c *peer.Client) [8]byte {
	t.Helper()
	for {
		info, err := c.WaitUp(ctx)
		must(t, err)
		if info.IPv6.Local != [8]byte{} {
			return info.IPv6.Local
		}
		select {
		case <-ctx.Done():
			t.Fatal("IPv6CP did not open at the subscriber")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *subscriber6) read() {
	for {
		b, err := s.c.RecvIPv6(context.Background())
		if err != nil {
			return
		}
		p, err := ipv6.Parse(b)
		if err == nil && p.NextHeader == ipv6.ProtoICMPv6 && len(p.Payload) > 0 && p.Payload[0] == byte(xipv6.ICMPTypeEchoRequest) {
			if m, err := icmp.ParseMessage(58, p.Payload); err == nil {
				r := icmp.Message{Type: xipv6.ICMPTypeEchoReply, Body: m.Body}
				if body, err := r.Marshal(icmp.IPv6PseudoHeader(p.Dst.AsSlice(), p.Src.AsSlice())); err == nil {
					if out, err := (ipv6.Packet{NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: p.Dst, Dst: p.Src, Payload: body}).Marshal(); err == nil {
						_ = s.c.SendIPv6(out)
					}
				}
			}
			continue
		}
		select {
		case s.ctl <- b:
		default: // nobody is asking: an unsolicited RA
		}
	}
}

// linkLocal is the subscriber's fe80:: address.
func (s *subscriber6) linkLocal() netip.Addr { return ipv6.LinkLocal(s.iid) }

// drain forgets what came before a question.
func (s *subscriber6) drain() {
	for {
		select {
		case <-s.ctl:
		default:
			return
		}
	}
}

// solicit sends an RS and returns the /64 of the RA that answers it;
// invalid if none came within wait.
func (s *subscriber6) solicit(t *testing.T, wait time.Duration) netip.Prefix {
	t.Helper()
	s.drain()
	rs, err := ra.MarshalSolicitation(s.linkLocal())
	must(t, err)
	must(t, s.c.SendIPv6(rs))
	deadline := time.After(wait)
	for {
		select {
		case b := <-s.ctl:
			ad, err := ra.ParseAdvertisement(b)
			if err != nil {
				continue
			}
			for _, o := range ad.Message.Options {
				if pi, ok := o.(*ndp.PrefixInformation); ok {
					return netip.PrefixFrom(pi.Prefix, int(pi.PrefixLength))
				}
			}
		case <-deadline:
			return netip.Prefix{}
		}
	}
}

// lease runs a DHCPv6 client for a delegated prefix until it is bound
// or wait passes; ok false then.
func (s *subscriber6) lease(t *testing.T, wait time.Duration) (dhcp6.Lease, bool) {
	t.Helper()
	s.drain()
	c, err := dhcp6.NewClient(dhcp6.ClientConfig{
		DUID:          &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: s.mac},
		LocalID:       s.iid,
		IAID:          [4]byte{0, 0, 0, 1},
		RequestPrefix: true,
	}, nil)
	must(t, err)
	c.Start(time.Now())
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if l, ok := c.Lease(); ok {
			return l, true
		}
		if next, ok := c.Next(); ok && !next.After(time.Now()) {
			out, _, err := c.Step(time.Now())
			must(t, err)
			if out != nil {
				must(t, s.c.SendIPv6(out))
			}
			continue
		}
		select {
		case b := <-s.ctl:
			if out, _, err := c.Handle(time.Now(), b); err == nil && out != nil {
				must(t, s.c.SendIPv6(out))
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	return dhcp6.Lease{}, false
}

// renew sends a Renew (RFC 8415 §18.2.4) for l, as the client would at
// T1, and returns the prefixes of the Reply's IA_PD with a valid lifetime
// and its status code (Success when it carries none).
func (s *subscriber6) renew(t *testing.T, l dhcp6.Lease) ([]netip.Prefix, iana.StatusCode) {
	t.Helper()
	s.drain()
	m, err := dhcpv6.NewMessage()
	must(t, err)
	m.MessageType = dhcpv6.MessageTypeRenew
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: s.mac}))
	m.AddOption(dhcpv6.OptServerID(l.Server))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	ia := &dhcpv6.OptIAPD{IaId: [4]byte{0, 0, 0, 1}}
	ia.Options.Add(&dhcpv6.OptIAPrefix{Prefix: &net.IPNet{IP: l.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(l.Prefix.Bits(), 128)}})
	m.AddOption(ia)
	pkt, err := ipv6.MarshalUDP(s.linkLocal(), netip.MustParseAddr("ff02::1:2"), 1,
		ipv6.UDP{SrcPort: dhcp6.ClientPort, DstPort: dhcp6.ServerPort, Payload: m.ToBytes()})
	must(t, err)
	must(t, s.c.SendIPv6(pkt))
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b := <-s.ctl:
			p, err := ipv6.Parse(b)
			if err != nil || p.NextHeader != ipv6.ProtoUDP {
				continue
			}
			u, err := ipv6.ParseUDP(p)
			if err != nil || u.DstPort != dhcp6.ClientPort {
				continue
			}
			r, err := dhcpv6.MessageFromBytes(u.Payload)
			if err != nil || r.MessageType != dhcpv6.MessageTypeReply || r.TransactionID != m.TransactionID {
				continue
			}
			var got []netip.Prefix
			code := iana.StatusSuccess
			for _, pd := range r.Options.IAPD() {
				if st := pd.Options.Status(); st != nil {
					code = st.StatusCode
				}
				for _, pr := range pd.Options.Prefixes() {
					if pr.ValidLifetime > 0 && pr.Prefix != nil {
						ones, _ := pr.Prefix.Mask.Size()
						a, _ := netip.AddrFromSlice(pr.Prefix.IP)
						got = append(got, netip.PrefixFrom(a.Unmap(), ones))
					}
				}
			}
			return got, code
		case <-deadline:
			t.Fatal("no Reply to the Renew")
		}
	}
}

// ipv6Core gives the core and the AC IPv6 on the uplink, the AC
// forwarding, as TestDualStack does.
func (l *lab) ipv6Core(t *testing.T) {
	t.Helper()
	l.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "up0", "nodad")
	l.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/64", "dev", "cor0", "nodad")
	l.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:ffff::1")
}

// crashAndAdopt kills the AC with SIGKILL and starts another on the same
// state directory; it fails the test unless that one adopted want
// sessions and swept none.
func crashAndAdopt(t *testing.T, l *lab, ac *daemon, config, stateDir string, want int) *daemon {
	t.Helper()
	// The state writer commits a record well under a millisecond after
	// the change on an idle machine; under a whole test run on the shared
	// one it took longer than the pings after a DHCPv6 binding, and a
	// kill -9 in that window loses the record (README, the state store):
	// not what these tests are about. No observable says when the writer
	// is done, so give it a while.
	time.Sleep(2 * time.Second)
	must(t, ac.cmd.Process.Kill())
	<-ac.done
	ac2 := startDaemon(t, l.ac, "ac", config, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	if log := ac2.log.String(); !strings.Contains(log, fmt.Sprintf(`"adopted": %d`, want)) || strings.Contains(log, "session swept at start") {
		t.Errorf("the new AC did not adopt the session:\n%s", log)
	}
	return ac2
}

// TestAdoptDualStack: a dual-stack session with a delegated /56 and a
// host numbered from it survives a kill -9 of the AC: the new AC adopts
// it; ICMPv6 from the core reaches the SLAAC address and the host in the
// delegated prefix before and after; an RS is answered with the same
// /64; a DHCPv6 Renew is answered with the same prefix (no NoBinding);
// and the pool still holds it: a second subscriber gets no prefix from
// pd6, which holds only that one.
func TestAdoptDualStack(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	l.ipv6Core(t)
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", adoptV6Server, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	var mux *peer.Mux
	must(t, l.cl.Do(t, func() (err error) { mux, err = peer.Listen("ether2"); return err }))
	defer mux.Close()

	one := dial6(t, mux, net.HardwareAddr{0x02, 0xd5, 0, 0, 0, 1}, "one", "p1", false)
	link := one.solicit(t, 5*time.Second)
	if !link.IsValid() || !netip.MustParsePrefix("2001:db8:100::/56").Contains(link.Addr()) {
		t.Fatalf("RA prefix %v, want a /64 of link6", link)
	}
	lease, ok := one.lease(t, 10*time.Second)
	if !ok || lease.Prefix != netip.MustParsePrefix("2001:db8:200::/56") {
		t.Fatalf("delegated %v (bound %v), want pd6's /56", lease.Prefix, ok)
	}
	slaac, err := ipv6.WithInterfaceID(link, one.iid)
	must(t, err)
	host := netip.MustParseAddr("2001:db8:200:1::2")
	for _, dst := range []netip.Addr{slaac, host} {
		if got := l.core.Ping(t, core6, dst, 3, 56); got != 3 {
			t.Errorf("core → %v before the crash: %d/3", dst, got)
		}
	}

	ac2 := crashAndAdopt(t, l, ac, adoptV6Server, stateDir, 1)
	for _, dst := range []netip.Addr{slaac, host} {
		if got := l.core.Ping(t, core6, dst, 3, 56); got != 3 {
			t.Errorf("core → %v after adoption: %d/3", dst, got)
		}
	}
	if got := one.solicit(t, 5*time.Second); got != link {
		t.Errorf("RS after adoption answered with %v, want %v", got, link)
	}
	if got, code := one.renew(t, lease); code != iana.StatusSuccess || len(got) != 1 || got[0] != lease.Prefix {
		t.Errorf("Renew after adoption: prefixes %v status %v, want %v renewed", got, code, lease.Prefix)
	}
	// pd6 holds one /56, the adopted session's: a second subscriber
	// gets none.
	two := dial6(t, mux, net.HardwareAddr{0x02, 0xd5, 0, 0, 0, 2}, "two", "p2", false)
	if l2, ok := two.lease(t, 5*time.Second); ok {
		t.Errorf("second subscriber delegated %v: pd6 lost the adopted session's prefix", l2.Prefix)
	}
	if got := two.solicit(t, 5*time.Second); !got.IsValid() || got == link {
		t.Errorf("second subscriber's /64 %v, the adopted session has %v", got, link)
	}
	if rows := ac2.active(); len(rows) != 2 {
		t.Errorf("active after: %v", rows)
	}
}

// TestAdoptIPv6Only: a session whose subscriber runs no IPv4 (IPCP
// Protocol-Rejected) is recorded and adopted after a kill -9: no PADT
// reaches the subscriber, ICMPv6 from the core reaches its SLAAC address
// after adoption, and an RS is answered with the same /64.
func TestAdoptIPv6Only(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	l.ipv6Core(t)
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", adoptV6Server, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	var mux *peer.Mux
	must(t, l.cl.Do(t, func() (err error) { mux, err = peer.Listen("ether2"); return err }))
	defer mux.Close()

	one := dial6(t, mux, net.HardwareAddr{0x02, 0xd6, 0, 0, 0, 1}, "one", "p1", true)
	link := one.solicit(t, 5*time.Second)
	if !link.IsValid() {
		t.Fatal("no RA")
	}
	slaac, err := ipv6.WithInterfaceID(link, one.iid)
	must(t, err)
	if rows := ac.active(); len(rows) != 1 || rows[0]["address"] != "" {
		t.Fatalf("active: %v, want one session without IPv4", rows)
	}
	if got := l.core.Ping(t, core6, slaac, 3, 56); got != 3 {
		t.Errorf("core → %v before the crash: %d/3", slaac, got)
	}
	before := ac.active()[0]

	ac2 := crashAndAdopt(t, l, ac, adoptV6Server, stateDir, 1)
	if got := l.core.Ping(t, core6, slaac, 3, 56); got != 3 {
		t.Errorf("core → %v after adoption: %d/3", slaac, got)
	}
	if got := one.solicit(t, 5*time.Second); got != link {
		t.Errorf("RS after adoption answered with %v, want %v", got, link)
	}
	if one.c.GotPADT() {
		t.Error("the subscriber got a PADT")
	}
	after := ac2.active()
	if len(after) != 1 || after[0][".id"] != before[".id"] || after[0]["session-id"] != before["session-id"] {
		t.Errorf("active after %v, before %v", after, before)
	}
}

// TestAdoptMultilink: a session with MP up (mrru 1614 on a 1480 link)
// is adopted with its multilink after a kill -9: 1500-byte IPv4 with DF
// crosses it whole both ways afterwards (the AC fragments what it
// diverts and reassembles what the client fragments) and /ppp active
// still shows the peer's MRRU.
func TestAdoptMultilink(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	stateDir := t.TempDir()
	conf := fmt.Sprintf(mpServer, "1614")
	ac := startDaemon(t, l.ac, "ac", conf, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	cl := startDaemon(t, l.cl, "client", fmt.Sprintf(mpClient, "1614"), l.pins)
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	sub := netip.MustParseAddr("10.0.0.2")
	if got := l.core.Ping(t, coreAddr, sub, 3, 1472); got != 3 {
		t.Fatalf("1500-byte DF ping core → client over MP before the crash: %d/3", got)
	}

	ac2 := crashAndAdopt(t, l, ac, conf, stateDir, 1)
	acM0 := ac2.metrics()
	if got := l.core.Ping(t, coreAddr, sub, 3, 1472); got != 3 {
		t.Errorf("1500-byte DF ping core → client over MP after adoption: %d/3", got)
	}
	if got := l.cl.Ping(t, sub, coreAddr, 3, 1472); got != 3 {
		t.Errorf("1500-byte DF ping client → core over MP after adoption: %d/3", got)
	}
	k := `pppoe_dataplane_packets_total{reason="mp_divert"}`
	if acM := ac2.metrics(); acM[k] <= acM0[k] {
		t.Errorf("%s %v → %v: the adopted session's big packets did not take the MP path", k, acM0[k], acM[k])
	}
	rows := ac2.active()
	if len(rows) != 1 || rows[0]["mrru"] != "1614" {
		t.Errorf("active after adoption: %v, want mrru 1614", rows)
	}
	if st := cl.monitor("PPPoE-Out")["status"]; st != "connected" {
		t.Errorf("client %q after adoption", st)
	}
}
