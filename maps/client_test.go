package maps

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"golang.org/x/sys/unix"
)

var (
	peerAC    = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x99} // the remote AC
	ourMAC    = net.HardwareAddr{0x02, 0xc1, 0, 0, 0, 0x77} // our Ethernet side
	clientIP  = netip.MustParseAddr("10.9.0.2")             // IPCP gave us
	farServer = netip.MustParseAddr("192.0.2.80")           // somewhere behind the AC
)

type clientEnv struct {
	*env
	devs  []*Device
	sess  []ClientSession
	index []Index
}

// newClientEnv adds three client netdevs (untagged, one tag, QinQ 802.1ad)
// on acc0 to env, attached but down.
func newClientEnv(t *testing.T) *clientEnv {
	e := &clientEnv{env: newEnv(t)}
	e.sess = []ClientSession{
		{Ifindex: e.acc, SessionID: 0x0201, ACMAC: peerAC, LocalMAC: ourMAC, Local: clientIP, MTU: 1492, MSS: 1452},
		{Ifindex: e.acc, OuterVLAN: 7, SessionID: 0x0202, ACMAC: peerAC, LocalMAC: ourMAC, Local: clientIP, MTU: 1492, MSS: 1452},
		{Ifindex: e.acc, OuterVLAN: 10, InnerVLAN: 30, OuterTPID: TPID8021AD, SessionID: 0x0203, ACMAC: peerAC, LocalMAC: ourMAC, Local: clientIP, MTU: 1480, MSS: 1440},
	}
	err := e.ns.Do(t, func() error {
		for _, name := range []string{"pppoe-out0", "pppoe-out1", "pppoe-out-qinq1"} {
			dev, err := CreateClientDevice(name, 1492)
			if err != nil {
				return err
			}
			if err := e.dp.AttachClientDevice(dev); err != nil {
				return err
			}
			e.devs = append(e.devs, dev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *clientEnv) install(t *testing.T) {
	t.Helper()
	e.index = nil
	for i, c := range e.sess {
		idx, err := e.dp.InstallClient(e.devs[i], c)
		if err != nil {
			t.Fatal(err)
		}
		e.index = append(e.index, idx)
	}
}

func (c ClientSession) vlans() []ethernet.VLAN {
	return Session{Key: Key{OuterVLAN: c.OuterVLAN, InnerVLAN: c.InnerVLAN}, OuterTPID: c.OuterTPID}.vlans()
}

// fromAC is a frame the AC sends us in the session.
func (c ClientSession) fromAC(t testing.TB, proto ppp.Protocol, ip []byte) []byte {
	return pppoeFrame(t, c.LocalMAC, c.ACMAC, c.vlans(), c.SessionID, proto, ip)
}

// toAC is what tc_client_out must send the AC.
func (c ClientSession) toAC(t testing.TB, proto ppp.Protocol, ip []byte) []byte {
	return pppoeFrame(t, c.ACMAC, c.LocalMAC, c.vlans(), c.SessionID, proto, ip)
}

// v6To is an IPv6 header with no payload to prefix::last.
func v6To(prefix uint16, last byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60                                               // version 6
	b[6], b[7] = 58, 255                                      // next header ICMPv6, hop limit
	b[24], b[25], b[39] = byte(prefix>>8), byte(prefix), last // destination
	return b
}

func TestClientDown(t *testing.T) {
	e := newClientEnv(t)
	dev := e.devs[0]
	ip := ipv4{src: clientIP, dst: farServer, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(16)}.marshal()
	// What the kernel routes into the NOARP netdev: addressed to itself.
	in := ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv4, ip)
	fromAC := e.sess[0].fromAC(t, ppp.ProtocolIPv4, ip)
	e.run(t, []progCase{
		{name: "demand 1", prog: "tc_client_out", in: in, verdict: tcShot, counters: count1(ReasonClientDemand), ctx: skbCtx(dev.PeerIndex)},
		{name: "demand 2", prog: "tc_client_out", in: in, verdict: tcShot, counters: count1(ReasonClientDemand), ctx: skbCtx(dev.PeerIndex)},
		{name: "AC frame unknown in XDP", prog: "xdp_access_in", in: fromAC, verdict: xdpPass, counters: count1(ReasonUnknownSession)},
		{name: "AC frame left alone in TC", prog: "tc_access_in", in: fromAC, verdict: tcOK},
		{name: "IPv6 router solicitation is no demand", prog: "tc_client_out", in: ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv6, v6To(0xff02, 2)),
			verdict: tcShot, ctx: skbCtx(dev.PeerIndex)},
		{name: "IPv6 to fe80::1 is no demand", prog: "tc_client_out", in: ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv6, v6To(0xfe80, 1)),
			verdict: tcShot, ctx: skbCtx(dev.PeerIndex)},
		{name: "IPv6 to 2001:db8::1 is demand", prog: "tc_client_out", in: ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv6, v6To(0x2001, 1)),
			verdict: tcShot, counters: count1(ReasonClientDemand), ctx: skbCtx(dev.PeerIndex)},
	})
	if n, err := e.dp.ClientDemand(dev); err != nil || n != 3 {
		t.Errorf("ClientDemand = %d, %v; want 3", n, err)
	}
	if n, err := e.dp.ClientDemand(e.devs[1]); err != nil || n != 0 {
		t.Errorf("ClientDemand of an idle device = %d, %v; want 0", n, err)
	}
	if err := e.dp.RemoveClient(dev); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveClient while down: %v, want ErrNotFound", err)
	}
	if _, err := e.dp.ClientIndex(dev); !errors.Is(err, ErrNotFound) {
		t.Errorf("ClientIndex while down: %v, want ErrNotFound", err)
	}

	// Up, then down again: demand counts on from where it was.
	e.install(t)
	if _, err := e.dp.InstallClient(dev, e.sess[0]); !errors.Is(err, ErrExists) {
		t.Errorf("second InstallClient: %v, want ErrExists", err)
	}
	if err := e.dp.RemoveClient(dev); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{
		{name: "demand after remove", prog: "tc_client_out", in: in, verdict: tcShot, counters: count1(ReasonClientDemand), ctx: skbCtx(dev.PeerIndex)},
		{name: "AC frame unknown after remove", prog: "xdp_access_in", in: fromAC, verdict: xdpPass, counters: count1(ReasonUnknownSession)},
	})
	if n, _ := e.dp.ClientDemand(dev); n != 4 {
		t.Errorf("ClientDemand = %d, want 4", n)
	}
	// The freed index and key are reusable.
	if _, err := e.dp.InstallClient(dev, e.sess[0]); err != nil {
		t.Errorf("reinstall: %v", err)
	}
	if err := e.ns.Do(t, func() error { return e.dp.DetachClientDevice(dev) }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.ClientDemand(dev); !errors.Is(err, ErrNotFound) {
		t.Errorf("ClientDemand after detach: %v, want ErrNotFound", err)
	}
	if _, err := e.dp.InstallClient(dev, e.sess[0]); err == nil {
		t.Error("InstallClient on a detached device succeeded")
	}
}

func TestInstallClientInvalid(t *testing.T) {
	e := newClientEnv(t)
	ok := e.sess[0]
	for name, mod := range map[string]func(c *ClientSession){
		"short AC MAC":        func(c *ClientSession) { c.ACMAC = c.ACMAC[:5] },
		"no local MAC":        func(c *ClientSession) { c.LocalMAC = nil },
		"MTU 67":              func(c *ClientSession) { c.MTU = 67 },
		"VLAN 4096":           func(c *ClientSession) { c.OuterVLAN = 4096 },
		"inner without outer": func(c *ClientSession) { c.InnerVLAN = 5 },
		"TPID 0x9100":         func(c *ClientSession) { c.OuterVLAN, c.OuterTPID = 5, 0x9100 },
		"IPv6 local":          func(c *ClientSession) { c.Local = netip.MustParseAddr("2001:db8::1") },
		"no ifindex":          func(c *ClientSession) { c.Ifindex = 0 },
	} {
		c := ok
		mod(&c)
		if _, err := e.dp.InstallClient(e.devs[0], c); err == nil {
			t.Errorf("%s: installed", name)
		}
	}
	if e.dp.Len() != 3 { // newEnv's three server sessions
		t.Errorf("Len = %d after failed installs, want 3", e.dp.Len())
	}
	// A client session whose key is a server session's is refused.
	clash := ok
	clash.SessionID, clash.ACMAC = e.untagged.SessionID, e.untagged.ClientMAC
	if _, err := e.dp.InstallClient(e.devs[0], clash); !errors.Is(err, ErrExists) {
		t.Errorf("clash with a server session: %v, want ErrExists", err)
	}
	if _, err := e.dp.InstallClient(e.devs[0], ok); err != nil {
		t.Errorf("after a failed install: %v", err)
	}
}

func TestTCClientOut(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	ip := func(n int) []byte {
		return ipv4{src: clientIP, dst: farServer, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(n)}.marshal()
	}
	var cases []progCase
	for i, c := range e.sess {
		dev := e.devs[i]
		in := ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv4, ip(32))
		cases = append(cases, progCase{name: "encap, " + itoa(len(c.vlans())) + " VLAN tags", prog: "tc_client_out",
			in: in, verdict: tcRedirect, out: c.toAC(t, ppp.ProtocolIPv4, ip(32)), counters: count1(ReasonClientOut), ctx: skbCtx(dev.PeerIndex)})
	}
	c, dev := e.sess[2], e.devs[2]
	ctx := skbCtx(dev.PeerIndex)
	in := func(et ethernet.EtherType, p []byte) []byte { return ethFrame(t, dev.MAC, dev.MAC, et, p) }
	syn := func(mss uint16) []byte {
		return ipv4{src: clientIP, dst: farServer, ttl: 64, proto: unix.IPPROTO_TCP, payload: tcp(clientIP, farServer, 0x02, mssOpt(mss))}.marshal()
	}
	v6 := make([]byte, 40+8) // version 6, payload length 8, next header 17
	v6[0], v6[5], v6[6] = 0x60, 8, 17
	cases = append(cases,
		progCase{name: "MSS clamp on SYN", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, syn(1460)), verdict: tcRedirect,
			out: c.toAC(t, ppp.ProtocolIPv4, syn(1440)), counters: count1(ReasonClientOut, ReasonMSSClamped), ctx: ctx},
		progCase{name: "SYN MSS already small", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, syn(1400)), verdict: tcRedirect,
			out: c.toAC(t, ppp.ProtocolIPv4, syn(1400)), counters: count1(ReasonClientOut), ctx: ctx},
		progCase{name: "IPv6 as PPP 0x0057", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv6, v6), verdict: tcRedirect,
			out: c.toAC(t, ppp.ProtocolIPv6, v6), counters: count1(ReasonClientOut), ctx: ctx},
		progCase{name: "session MTU 1480 exceeded", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, ip(1481-20)), verdict: tcShot,
			counters: count1(ReasonMTUExceeded), ctx: ctx},
		progCase{name: "session MTU 1480 exactly", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, ip(1480-20)), verdict: tcRedirect,
			out: c.toAC(t, ppp.ProtocolIPv4, ip(1480-20)), counters: count1(ReasonClientOut), ctx: ctx},
		progCase{name: "GSO skb dropped", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, ip(32)), verdict: tcShot,
			counters: count1(ReasonGSO), ctx: gsoCtx(dev.PeerIndex, 4, 8)},
		progCase{name: "ARP dropped", prog: "tc_client_out", in: in(ethernet.EtherTypeARP, make([]byte, 28)), verdict: tcShot,
			counters: count1(ReasonUnknownDest), ctx: ctx},
		progCase{name: "not a client device", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv4, ip(32)), verdict: tcShot,
			counters: count1(ReasonUnknownDest), ctx: skbCtx(e.pppoe0)},
		progCase{name: "IPv4 total length past the frame", prog: "tc_client_out", in: lyingTotLen(in(ethernet.EtherTypeIPv4, ip(32))), verdict: tcShot,
			counters: count1(ReasonMalformed), ctx: ctx},
		progCase{name: "IPv6 payload length past the frame", prog: "tc_client_out", in: in(ethernet.EtherTypeIPv6, v6[:40+7]), verdict: tcShot,
			counters: count1(ReasonMalformed), ctx: ctx},
	)
	// Frames cut inside the IP header cannot be tested: BPF_PROG_TEST_RUN
	// refuses an IPv4/IPv6 skb shorter than its fixed header (EINVAL),
	// and the stack never routes one into a netdev. Lying headers instead:
	mut := func(name string, et ethernet.EtherType, p []byte, f func(b []byte)) {
		b := in(et, p)
		f(b[14:])
		cases = append(cases, progCase{name: name, prog: "tc_client_out", in: b, verdict: tcShot,
			counters: count1(ReasonMalformed), ctx: ctx})
	}
	mut("IPv4 IHL 4", ethernet.EtherTypeIPv4, ip(8), func(b []byte) { b[0] = 0x44 })
	mut("IPv4 version 5", ethernet.EtherTypeIPv4, ip(8), func(b []byte) { b[0] = 0x55 })
	mut("IPv4 total length 19", ethernet.EtherTypeIPv4, ip(8), func(b []byte) { b[2], b[3] = 0, 19 })
	mut("IPv4 IHL past total length", ethernet.EtherTypeIPv4, ip(8), func(b []byte) { b[0] = 0x48 }) // 32 > 28
	mut("IPv6 payload length 0xffff", ethernet.EtherTypeIPv6, v6, func(b []byte) { b[4], b[5] = 0xff, 0xff })
	e.run(t, cases)
	st, err := e.dp.Stats(e.index[2])
	if err != nil {
		t.Fatal(err)
	}
	// Sent to the AC: 52, SYN 44, SYN 44, IPv6 48, 1480 bytes; two drops.
	if st.PacketsDown != 5 || st.BytesDown != 52+44+44+48+1480 || st.Drops != 2 {
		t.Errorf("stats %+v: want 5 packets, 1668 bytes down, 2 drops", st)
	}
}

func TestClientDecap(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	ip := func(src netip.Addr) []byte {
		return ipv4{src: src, dst: clientIP, ttl: 60, proto: unix.IPPROTO_UDP, payload: udp(24)}.marshal()
	}
	var cases []progCase
	for i, c := range e.sess {
		dev := e.devs[i]
		// Into the netdev, addressed to it; TTL untouched (we are the host).
		cases = append(cases,
			progCase{name: "XDP leaves it to TC, " + itoa(len(c.vlans())) + " VLAN tags", prog: "xdp_access_in",
				in: c.fromAC(t, ppp.ProtocolIPv4, ip(farServer)), verdict: xdpPass, counters: count1(ReasonPassSlow)},
			progCase{name: "decap, " + itoa(len(c.vlans())) + " VLAN tags", prog: "tc_access_in",
				in: c.fromAC(t, ppp.ProtocolIPv4, ip(farServer)), verdict: tcRedirect,
				out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv4, ip(farServer)), counters: count1(ReasonClientIn)})
	}
	c, dev := e.sess[1], e.devs[1]
	synack := func(mss uint16) []byte {
		return ipv4{src: farServer, dst: clientIP, ttl: 60, proto: unix.IPPROTO_TCP, payload: tcp(farServer, clientIP, 0x12, mssOpt(mss))}.marshal()
	}
	v6 := make([]byte, 40)
	v6[0] = 0x60
	cases = append(cases,
		progCase{name: "any source: no anti-spoof for clients", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv4, ip(internet)),
			verdict: tcRedirect, out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv4, ip(internet)), counters: count1(ReasonClientIn)},
		progCase{name: "MSS clamp on SYN-ACK", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv4, synack(1460)), verdict: tcRedirect,
			out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv4, synack(1452)), counters: count1(ReasonClientIn, ReasonMSSClamped)},
		progCase{name: "IPv6 decap", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv6, v6), verdict: tcRedirect,
			out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv6, v6), counters: count1(ReasonClientIn)},
		progCase{name: "padding trimmed", prog: "tc_access_in", in: append(c.fromAC(t, ppp.ProtocolIPv4, ip(farServer)), make([]byte, 6)...),
			verdict: tcRedirect, out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv4, ip(farServer)), counters: count1(ReasonClientIn)},
		progCase{name: "LCP to user space", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolLCP, []byte{9, 1, 0, 8, 0, 0, 0, 0}), verdict: tcOK},
		progCase{name: "LCP to user space (XDP)", prog: "xdp_access_in", in: c.fromAC(t, ppp.ProtocolLCP, []byte{9, 1, 0, 8, 0, 0, 0, 0}),
			verdict: xdpPass, counters: count1(ReasonPassControl)},
		progCase{name: "wrong AC MAC is no session", prog: "xdp_access_in",
			in: pppoeFrame(t, ourMAC, acMAC, c.vlans(), c.SessionID, ppp.ProtocolIPv4, ip(farServer)), verdict: xdpPass, counters: count1(ReasonUnknownSession)},
		progCase{name: "wrong TPID is no session", prog: "xdp_access_in",
			in:      pppoeFrame(t, ourMAC, peerAC, []ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 7}}, c.SessionID, ppp.ProtocolIPv4, ip(farServer)),
			verdict: xdpPass, counters: count1(ReasonUnknownSession)},
	)
	e.run(t, cases)
	st, err := e.dp.Stats(e.index[1])
	if err != nil {
		t.Fatal(err)
	}
	// From the AC: 44 (decap), 44 (any source), SYN-ACK 44, IPv6 40, 44.
	if st.PacketsUp != 5 || st.BytesUp != 44+44+44+40+44 || st.LastSeen == 0 {
		t.Errorf("stats %+v: want 5 packets, 216 bytes up, last seen set", st)
	}
	if idx, err := e.dp.ClientIndex(dev); err != nil || idx != e.index[1] {
		t.Errorf("ClientIndex = %d, %v; want %d", idx, err, e.index[1])
	}
}

// TestRemoveAll: what a daemon starting after a crash clears: every server
// and client session, their slots and addresses; client netdevs go down;
// the indices are free again.
func TestRemoveAll(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	n, err := e.dp.RemoveAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 + len(e.sess); n != want || e.dp.Len() != 0 {
		t.Fatalf("RemoveAll = %d, Len %d; want %d, 0", n, e.dp.Len(), want)
	}
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		if _, _, err := e.dp.Lookup(s.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("session %#x after RemoveAll: %v", s.SessionID, err)
		}
		if slotOf(t, e.dp, rawKey(t, s.Key)) >= 0 || addrSlotOf(t, e.dp, s.IPv4.As4()) >= 0 {
			t.Errorf("session %#x keeps a slot", s.SessionID)
		}
	}
	for _, dev := range e.devs {
		if _, err := e.dp.ClientIndex(dev); !errors.Is(err, ErrNotFound) {
			t.Errorf("client %s still up: %v", dev.Name, err)
		}
	}
	s := e.untagged
	ip := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	e.run(t, []progCase{{name: "cleared session unknown", prog: "xdp_access_in", in: s.up(t, ip), verdict: xdpPass, counters: count1(ReasonUnknownSession)}})
	// Everything can be installed again.
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		if _, err := e.dp.Install(s); err != nil {
			t.Fatal(err)
		}
	}
	e.install(t)
}

// TestClientLinkLocalToControlPlane: the AC's link-local and multicast
// IPv6 (its DHCPv6 Replies to our fe80::, its RAs to ff02::1) are the
// client control plane's, which reads them from its packet socket. Handed
// to the netdev, which holds no link-local address, they were forwarded
// by a kernel with IPv6 forwarding on back out of the netdev to the AC.
// Global IPv6 still goes to the netdev.
func TestClientLinkLocalToControlPlane(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	c, dev := e.sess[1], e.devs[1]
	global := v6To(0x2001, 2)
	e.run(t, []progCase{
		{name: "DHCPv6 Reply to fe80:: stays out of the netdev", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv6, v6To(0xfe80, 2)), verdict: tcOK},
		{name: "RA to ff02::1 stays out of the netdev", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv6, v6To(0xff02, 1)), verdict: tcOK},
		{name: "fe80:: in XDP is the control plane's", prog: "xdp_access_in", in: c.fromAC(t, ppp.ProtocolIPv6, v6To(0xfe80, 2)),
			verdict: xdpPass, counters: count1(ReasonPassControl)},
		{name: "global IPv6 into the netdev", prog: "tc_access_in", in: c.fromAC(t, ppp.ProtocolIPv6, global), verdict: tcRedirect,
			out: ethFrame(t, dev.MAC, peerAC, ethernet.EtherTypeIPv6, global), counters: count1(ReasonClientIn)},
	})
}
