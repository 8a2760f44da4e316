package dataplane

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/pppoe-xdp/pppoe-xdp/control/fib6cache"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

var (
	acLocal6 = netip.MustParseAddr("2001:db8::1")         // on pppoe0
	core6    = netip.MustParseAddr("2001:db8:ffff::10")   // the core's
	link6    = netip.MustParsePrefix("2001:db8:1:1::/64") // session 0's link /64
	pd6      = netip.MustParsePrefix("2001:db8:2100::/56")
	link6QQ  = netip.MustParsePrefix("2001:db8:1:3::/64") // the QinQ session's
	pd6QQ    = netip.MustParsePrefix("2001:db8:2300::/48")
)

// ping6Result is what came back for one echo request.
type ping6Result struct {
	reply bool
	err   ipv6.ICMPType // an ICMPv6 error instead (0: none)
	from  net.Addr
	mtu   uint32 // Packet Too Big's MTU
}

// ping6 sends one ICMPv6 echo request of size data bytes from src to dst
// with the given hop limit, from inside n, and reports the answer (the
// machines have no ping binary).
func ping6(t *testing.T, n *netns.NS, src, dst netip.Addr, size, hop int) ping6Result {
	t.Helper()
	var c *icmp.PacketConn
	must(t, n.Do(t, func() (err error) {
		c, err = icmp.ListenPacket("ip6:ipv6-icmp", src.String())
		return err
	}))
	defer c.Close()
	if hop > 0 {
		must(t, c.IPv6PacketConn().SetHopLimit(hop))
	}
	id := int(time.Now().UnixNano() & 0xffff)
	m := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: 1, Data: bytes.Repeat([]byte{0x6a}, size)}}
	b, err := m.Marshal(nil)
	must(t, err)
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		t.Fatalf("ping6 %v -> %v: %v", src, dst, err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			return ping6Result{}
		}
		r, err := icmp.ParseMessage(58, buf[:k])
		if err != nil {
			continue
		}
		switch body := r.Body.(type) {
		case *icmp.Echo:
			if r.Type == ipv6.ICMPTypeEchoReply && body.ID == id && from.String() == dst.String() {
				return ping6Result{reply: true, from: from}
			}
		case *icmp.PacketTooBig:
			return ping6Result{err: ipv6.ICMPTypePacketTooBig, from: from, mtu: uint32(body.MTU)}
		case *icmp.TimeExceeded:
			return ping6Result{err: ipv6.ICMPTypeTimeExceeded, from: from}
		case *icmp.DstUnreach:
			return ping6Result{err: ipv6.ICMPTypeDestinationUnreachable, from: from}
		}
	}
}

// TestIPv6EndToEnd sends IPv6 through sessions both ways: ICMPv6 and TCP
// between the subscriber (from its link /64 and from a host address in its
// delegated prefix) and the core, and with the AC itself. The prefixes are
// installed directly through maps.Datapath: the session engine does not
// negotiate IPv6CP, send Router Advertisements or serve DHCPv6-PD yet, so
// nothing else would put them there. GRO on cor0 lets up0 take XDP
// frames, so the upstream fast path runs (TestFastPathFollowsFarEnd).
func TestIPv6EndToEnd(t *testing.T) {
	tp := newTopo(t)
	// The upstream route cache, kept by its watcher as pppoed keeps it.
	h, err := vnetns.GetFromName(tp.ac.Name)
	must(t, err)
	defer h.Close()
	fib6, err := fib6cache.Start(fib6cache.Options{Namespace: &h}, tp.acDP)
	must(t, err)
	defer fib6.Close()
	netns.RequireTool(t, "tshark")
	tp.core.GRO(t, "cor0", true)
	waitRedirects(t, tp.acDP, tp.up0, true)

	tp.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	tp.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:fe::1/64", "dev", "up0", "nodad")
	tp.ac.Run(t, "ip", "-6", "addr", "add", acLocal6.String()+"/128", "dev", "pppoe0", "nodad")
	// The subscriber prefixes route into pppoe0, as the IPv4 pools do.
	tp.ac.Run(t, "ip", "-6", "route", "add", "2001:db8:1::/48", "dev", "pppoe0")
	tp.ac.Run(t, "ip", "-6", "route", "add", "2001:db8:2000::/36", "dev", "pppoe0")
	tp.ac.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:fe::2")
	tp.core.Run(t, "ip", "-6", "addr", "add", "2001:db8:fe::2/64", "dev", "cor0", "nodad")
	tp.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/128", "dev", "cor0", "nodad")
	tp.core.Run(t, "ip", "-6", "addr", "add", "2001:db8:ffff::12/128", "dev", "cor0", "nodad")
	tp.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:fe::1")

	s0, s1, s2 := tp.sessions[0], tp.sessions[1], tp.sessions[2]
	for _, x := range []struct {
		s        *sub
		link, pd netip.Prefix
	}{{s0, link6, pd6}, {s2, link6QQ, pd6QQ}} {
		must(t, tp.acDP.SetIPv6LinkPrefix(x.s.key, x.link))
		must(t, tp.acDP.AddIPv6Prefix(x.s.key, x.pd))
	}
	// The subscriber: a SLAAC-style address in the link /64 and a host
	// address from the delegated prefix, as a CPE would put on its LAN.
	addr0, host0 := netip.MustParseAddr("2001:db8:1:1::2"), netip.MustParseAddr("2001:db8:2100:5::1")
	addr2 := netip.MustParseAddr("2001:db8:1:3::2")
	core6QQ := netip.MustParseAddr("2001:db8:ffff::12") // routed through session 2
	spoof := netip.MustParseAddr("2001:db8:1:3::99")    // session 2's /64, sent through session 1
	for _, a := range []struct {
		s    *sub
		addr netip.Addr
	}{{s0, addr0}, {s0, host0}, {s2, addr2}, {s1, spoof}} {
		tp.sub.Run(t, "ip", "-6", "addr", "add", a.addr.String()+"/128", "dev", a.s.name, "nodad")
	}
	tp.sub.Run(t, "ip", "-6", "route", "add", core6.String(), "dev", s0.name, "src", addr0.String())
	tp.sub.Run(t, "ip", "-6", "route", "add", acLocal6.String(), "dev", s0.name, "src", addr0.String())
	tp.sub.Run(t, "ip", "-6", "route", "add", core6QQ.String(), "dev", s2.name, "src", addr2.String())
	// Session 1 has no IPv6 prefix: its route only serves the spoof probe.
	tp.sub.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "dev", s1.name)

	capSub := tp.sub.StartCapture(t, "eth0")
	capCore := tp.core.StartCapture(t, "cor0")
	// The first packet to the core waits for the AC's neighbour
	// resolution (the kernel's path): unmeasured.
	if r := ping6(t, tp.sub, addr0, core6, 56, 0); !r.reply {
		t.Fatalf("first ping6 to the core: %+v from %v", r, r.from)
	}
	d := counterDelta(t, tp, func() {
		for _, p := range []struct{ src, dst netip.Addr }{{addr0, core6}, {host0, core6}} {
			if r := ping6(t, tp.sub, p.src, p.dst, 56, 0); !r.reply {
				t.Errorf("ping6 %v -> %v: %+v", p.src, p.dst, r)
			}
		}
		for _, p := range []struct{ src, dst netip.Addr }{{core6, addr0}, {core6, host0}, {core6QQ, addr2}} {
			if r := ping6(t, tp.core, p.src, p.dst, 1000, 0); !r.reply {
				t.Errorf("ping6 core -> %v: %+v", p.dst, r)
			}
		}
	})
	for _, r := range []maps.Reason{maps.ReasonFastUp, maps.ReasonFastDown} {
		if d[r] == 0 {
			t.Errorf("counter %v did not move: %v", r, d)
		}
	}
	if n, err := tp.acDP.FIB6CacheEntries(); err != nil || n == 0 || !fib6.Enabled() {
		t.Errorf("upstream route cache: %d entries (%v), enabled %v: the fast path did not use it", n, err, fib6.Enabled())
	}
	for _, r := range []maps.Reason{maps.ReasonSlowUp, maps.ReasonSlowDown, maps.ReasonSpoofed, maps.ReasonMalformed, maps.ReasonPassNoXDPXmit} {
		if d[r] != 0 {
			t.Errorf("counter %v moved by %d on the fast path", r, d[r])
		}
	}

	// With the AC itself: slow path both ways (tc_access_in into pppoe0,
	// the kernel answers through tc_pppoe0_out).
	d = counterDelta(t, tp, func() {
		if r := ping6(t, tp.sub, addr0, acLocal6, 56, 0); !r.reply {
			t.Errorf("ping6 the AC: %+v", r)
		}
	})
	if d[maps.ReasonSlowUp] == 0 || d[maps.ReasonSlowDown] == 0 {
		t.Errorf("ping6 the AC: slow path counters %v", d)
	}
	// TCP both ways; the AC clamps MSS to its IPv4 clamp less 20.
	netns.TCPExchange(t, tp.sub, tp.core, addr0, core6, 300_000)

	// Hop limit 1: ICMPv6 Time Exceeded from the AC's kernel.
	if r := ping6(t, tp.sub, addr0, core6, 56, 1); r.err != ipv6.ICMPTypeTimeExceeded {
		t.Errorf("hop limit 1: %+v, want Time Exceeded", r)
	}
	// Larger than the session's MTU (1492) from the core: ICMPv6 Packet
	// Too Big from the AC (pppoe0's MTU), then the core's next try, sized
	// by it, arrives.
	if r := ping6(t, tp.core, core6, addr0, 1498-48, 0); r.err != ipv6.ICMPTypePacketTooBig || r.mtu != 1492 {
		t.Errorf("1498 bytes to the subscriber: %+v, want Packet Too Big, MTU 1492", r)
	}
	if r := ping6(t, tp.core, core6, addr0, 1498-48, 0); !r.reply {
		t.Errorf("1498 bytes again after Packet Too Big: %+v", r)
	}
	// A source of another session's prefix, or none: dropped at the AC.
	d = counterDelta(t, tp, func() {
		// Not core6 itself: its /128 route leads into session 0.
		if r := ping6(t, tp.sub, spoof, netip.MustParseAddr("2001:db8:ffff::99"), 56, 0); r.reply {
			t.Errorf("spoofed ping6 answered: %+v", r)
		}
	})
	if d[maps.ReasonSpoofed] != 1 {
		t.Errorf("spoofed: counters %v", d)
	}
	// The wire: PPP 0x0057 on the access link, the hop limit decremented
	// once, the MSS clamped in both SYNs, nothing above the session MTU.
	rows := capSub.Fields(t, "pppoes && ipv6", "ppp.protocol", "ipv6.src", "ipv6.hlim", "tcp.flags.syn", "tcp.options.mss_val", "ipv6.plen")
	if len(rows) == 0 {
		t.Fatal("no IPv6 in PPPoE captured on the access link")
	}
	synAck := false
	for _, r := range rows {
		if r[0] != "0x0057" {
			t.Errorf("IPv6 frame with PPP protocol %s", r[0])
		}
		if strings.HasPrefix(r[1], "2001:db8:ffff:") && r[2] != "63" && r[2] != "254" {
			t.Errorf("frame from the core with hop limit %s, want 63 (or 254 for ND-style 255)", r[2])
		}
		if r[3] == "1" && strings.HasPrefix(r[1], "2001:db8:ffff:") {
			synAck = true
			if r[4] != "1380" {
				t.Errorf("SYN-ACK from the core with MSS %s, want 1380 (1400 - 20)", r[4])
			}
		}
	}
	if !synAck {
		t.Error("no SYN-ACK from the core on the access link")
	}
	rows = capCore.Fields(t, "ipv6.src == "+addr0.String()+" && tcp.flags.syn == 1", "tcp.options.mss_val", "ipv6.hlim")
	if len(rows) == 0 {
		t.Error("no SYN from the subscriber at the core")
	}
	for _, r := range rows {
		if r[0] != "1380" || r[1] != "63" {
			t.Errorf("subscriber SYN at the core: MSS %s hop limit %s, want 1380, 63", r[0], r[1])
		}
	}

	// Per-session counters agree between the ends, but for the MLD reports
	// the subscriber's kernel sends for its addresses' solicited-node
	// groups: multicast, so the AC leaves them to the control plane and
	// counts them as no data (as it does LCP).
	for _, s := range []*sub{s0, s2} {
		sst, err := tp.acDP.Stats(s.serverIdx)
		must(t, err)
		cst, err := tp.subDP.Stats(s.clientIdx)
		must(t, err)
		var mcast, mcastBytes uint64
		for _, r := range capSub.Fields(t, fmt.Sprintf("pppoe.session_id == %#04x && eth.src == %s && ipv6.dst == ff00::/8", s.sid, tp.subMAC), "ipv6.plen") {
			n, _ := strconv.Atoi(r[0])
			mcast, mcastBytes = mcast+1, mcastBytes+uint64(n)+40
		}
		if sst.PacketsUp == 0 || sst.PacketsUp != cst.PacketsDown-mcast || sst.BytesUp != cst.BytesDown-mcastBytes ||
			sst.PacketsDown != cst.PacketsUp || sst.BytesDown != cst.BytesUp {
			t.Errorf("%s: AC stats %+v, client stats %+v, %d multicast frames: up and down must mirror", s.name, sst, cst, mcast)
		}
	}

	// Removing the session removes its prefixes: the core's packets to it
	// are no subscriber's.
	must(t, tp.acDP.Remove(s2.key))
	if l, pds, err := tp.acDP.IPv6Prefixes(s2.key); err == nil {
		t.Errorf("prefixes of a removed session: %v %v", l, pds)
	}
	d = counterDelta(t, tp, func() {
		if r := ping6(t, tp.core, core6QQ, addr2, 56, 0); r.reply {
			t.Errorf("removed session still answers: %+v", r)
		}
	})
	if d[maps.ReasonFastDown] != 0 {
		t.Errorf("fast path to a removed session: %v", d)
	}
}
