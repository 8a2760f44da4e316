package dataplane

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// mpEnd is one end of a multilink session's user-space half, run by the
// session's own code (session.MPLink, maps.MPDiverts, maps.Injector) with
// the test standing in for the session's goroutine: MP frames from the
// access socket into the MPLink and the Injector; packets the data plane
// diverts for being over the MTU through the MPLink onto the socket.
type mpEnd struct {
	conn      *afpacket.Conn
	inj       *maps.Injector
	div       *maps.MPDiverts
	ml        *session.MPLink
	sid       uint16
	wg        sync.WaitGroup
	mu        sync.Mutex
	injected  int
	fragsSent int
	errs      []error
}

func newMPEnd(t *testing.T, n *netns.NS, dp *maps.Datapath, idx maps.Index, eth string, dev *maps.Device, sid uint16, local, peer net.HardwareAddr, ml lcp.Multilink, mtu int) *mpEnd {
	e := &mpEnd{sid: sid}
	must(t, n.Do(t, func() error {
		ifi, err := net.InterfaceByName(eth)
		if err != nil {
			return err
		}
		if e.conn, err = afpacket.Listen(ifi); err != nil {
			return err
		}
		e.inj, err = maps.OpenInjector(dev)
		return err
	}))
	e.ml = session.NewMPLink(ml, uint16(mtu), uint16(mtu), func(f ppp.Frame) error {
		payload, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		b, err := pppoe.MarshalFrame(peer, local, nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: sid, Payload: payload})
		if err == nil {
			err = e.conn.WriteFrame(b)
		}
		if err == nil {
			e.mu.Lock()
			e.fragsSent++
			e.mu.Unlock()
		}
		return err
	})
	var err error
	e.div, err = dp.StartMPDiverts(1<<18, nil)
	must(t, err)
	e.div.Register(idx, func(proto uint16, pkt []byte) {
		if err := e.ml.Send(ppp.Protocol(proto), pkt); err != nil {
			e.fail(err)
		}
	})
	e.wg.Add(1)
	go e.receive()
	t.Cleanup(func() {
		e.conn.Close()
		e.div.Close()
		e.wg.Wait()
		e.inj.Close()
	})
	return e
}

func (e *mpEnd) fail(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *mpEnd) receive() {
	defer e.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := e.conn.ReadFrame(buf)
		if err != nil {
			return // closed
		}
		_, p, err := pppoe.ParseFrame(buf[:n])
		if err != nil || p.Code != pppoe.CodeSession || p.SessionID != e.sid {
			continue
		}
		var f ppp.Frame
		if err := f.UnmarshalBinary(p.Payload); err != nil || f.Protocol != ppp.ProtocolMP {
			continue
		}
		for _, pk := range e.ml.Receive(f.Information, time.Now()) {
			if err := e.inj.Inject(uint16(pk.Protocol), pk.Information); err != nil {
				e.fail(err)
				continue
			}
			e.mu.Lock()
			e.injected++
			e.mu.Unlock()
		}
	}
}

func (e *mpEnd) stats() (injected, sent int, errs []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.injected, e.fragsSent, append([]error(nil), e.errs...)
}

func snmp(t *testing.T, n *netns.NS, proto, field string) uint64 { return n.SNMP(t, proto, field) }

// mpUp reinstalls session s with MP both ends, as the sessions will
// install it: the data plane flags, the clamp from the MRRU, the route and
// devices carrying the MRRU; and starts the user-space half at each end.
func mpUp(t *testing.T, tp *topo, s *sub, ml lcp.Multilink, mss uint16) (acEnd, subEnd *mpEnd) {
	t.Helper()
	must(t, tp.acDP.Remove(s.key))
	acIdx, err := tp.acDP.Install(maps.Session{Key: s.key, ACMAC: tp.accMAC, IPv4: s.addr, MTU: 1480, MSS: mss, MP: maps.MP{On: true}})
	must(t, err)
	tp.ac.Run(t, "ip", "route", "replace", s.addr.String()+"/32", "dev", "pppoe0", "mtu", strconv.Itoa(int(ml.SendMRRU)))
	_, p0MAC := linkOf(t, tp.ac, "pppoe0")
	p0Peer, _ := linkOf(t, tp.ac, "pppoe0-p")
	p0 := &maps.Device{Name: "pppoe0", Index: tp.pppoe0, MAC: p0MAC, PeerIndex: p0Peer}
	must(t, tp.ac.Do(t, func() error { return maps.SetDeviceMTU(p0, 1614) }))
	var subIdx maps.Index
	must(t, tp.sub.Do(t, func() error {
		if err := tp.subDP.RemoveClient(s.dev); err != nil {
			return err
		}
		c := s.clientSess
		c.MTU, c.MSS, c.MP = 1480, mss, maps.MP{On: true}
		var err error
		if subIdx, err = tp.subDP.InstallClient(s.dev, c); err != nil {
			return err
		}
		return maps.SetDeviceMTU(s.dev, int(ml.SendMRRU))
	}))
	acEnd = newMPEnd(t, tp.ac, tp.acDP, acIdx, "acc0", p0, s.sid, tp.accMAC, tp.subMAC, ml, 1480)
	subEnd = newMPEnd(t, tp.sub, tp.subDP, subIdx, "eth0", s.dev, s.sid, tp.subMAC, tp.accMAC, ml, 1480)
	return acEnd, subEnd
}

// TestMultilinkIPv6 is TestMultilink for IPv6: over the same MP session
// (link MTU 1480, MRRU 1614), 1500-byte IPv6 echoes cross whole both
// ways with no Packet Too Big: down as fragments the AC's user space
// makes (the prefix's route carries the MRRU), up as the client's, and
// the AC's data plane forwards the whole packets it reassembles.
func TestMultilinkIPv6(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[0]
	ml := lcp.NegotiatedMultilink([]lcp.Option{lcp.MRRU(1614)}, []lcp.Option{lcp.MRRU(1614)})
	acEnd, subEnd := mpUp(t, tp, s, ml, ml.ClampUnit(1480)-40)

	tp.ac.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	tp.ac.Run(t, "ip", "-6", "addr", "add", "2001:db8:fe::1/64", "dev", "up0", "nodad")
	tp.ac.Run(t, "ip", "-6", "route", "add", link6.String(), "dev", "pppoe0", "mtu", "1614")
	tp.core.Run(t, "ip", "-6", "addr", "add", "2001:db8:fe::2/64", "dev", "cor0", "nodad")
	tp.core.Run(t, "ip", "-6", "addr", "add", core6.String()+"/128", "dev", "cor0", "nodad")
	tp.core.Run(t, "ip", "-6", "route", "add", "2001:db8::/32", "via", "2001:db8:fe::1")
	tp.ac.Run(t, "ip", "-6", "route", "add", "2001:db8:ffff::/48", "via", "2001:db8:fe::2")
	must(t, tp.acDP.SetIPv6LinkPrefix(s.key, link6))
	addr := netip.MustParseAddr("2001:db8:1:1::2")
	tp.sub.Run(t, "ip", "-6", "addr", "add", addr.String()+"/128", "dev", s.name, "nodad")
	tp.sub.Run(t, "ip", "-6", "route", "add", core6.String(), "dev", s.name, "src", addr.String())

	// The first packet waits for neighbour resolution: unmeasured.
	ping6(t, tp.sub, addr, core6, 56, 0)
	before, err := tp.acDP.Counters()
	must(t, err)
	for _, p := range []struct {
		name     string
		n        *netns.NS
		src, dst netip.Addr
	}{{"core → subscriber", tp.core, core6, addr}, {"subscriber → core", tp.sub, addr, core6}} {
		// 1452 octets of echo data: a 1500-octet IPv6 packet.
		if r := ping6(t, p.n, p.src, p.dst, 1452, 0); !r.reply {
			t.Errorf("1500-octet IPv6 echo %s over MP: %+v from %v", p.name, r, r.from)
		}
	}
	after, err := tp.acDP.Counters()
	must(t, err)
	for _, r := range []maps.Reason{maps.ReasonMPDivert, maps.ReasonMPPass} {
		if after[r] == before[r] {
			t.Errorf("AC %v did not move: the packets did not take the MP path", r)
		}
	}
	for name, e := range map[string]*mpEnd{"AC": acEnd, "subscriber": subEnd} {
		injected, sent, errs := e.stats()
		if len(errs) > 0 || injected == 0 || sent == 0 {
			t.Errorf("%s: injected %d, sent %d, errors %v", name, injected, sent, errs)
		}
	}
}

// TestMultilink is the outcome RouterOS promises for mrru, with the MP
// half that user space runs done here as the session will do it: over a
// session whose link MTU is 1480 with MRRU 1614 at both ends, a 1500-byte
// IPv4 packet with DF set crosses whole in both directions, with no ICMP
// and no IP fragmentation, and TCP with a full 1460-byte MSS works. The
// same session without MP answers the same ping with Fragmentation Needed.
func TestMultilink(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[0] // untagged
	ml := lcp.NegotiatedMultilink([]lcp.Option{lcp.MRRU(1614)}, []lcp.Option{lcp.MRRU(1614)})
	mss := ml.ClampUnit(1480) - 40

	// Without MP: link MTU 1480, the route to the session carries it.
	must(t, tp.acDP.Remove(s.key))
	_, err := tp.acDP.Install(maps.Session{Key: s.key, ACMAC: tp.accMAC, IPv4: s.addr, MTU: 1480, MSS: 1440})
	must(t, err)
	tp.ac.Run(t, "ip", "route", "add", s.addr.String()+"/32", "dev", "pppoe0", "mtu", "1480")
	unreach0 := snmp(t, tp.ac, "Icmp:", "OutDestUnreachs")
	if got := tp.core.Ping(t, s.target, s.addr, 1, 1472); got != 0 {
		t.Fatalf("1500-byte DF ping over a 1480 link without MP answered")
	}
	if snmp(t, tp.ac, "Icmp:", "OutDestUnreachs") == unreach0 {
		t.Fatal("without MP the AC sent no Fragmentation Needed")
	}
	// The core learned PMTU 1480 from it; forget it, as a host would
	// after the exception expires.
	tp.core.Run(t, "ip", "route", "flush", "cache")

	acEnd, subEnd := mpUp(t, tp, s, ml, mss)

	acBefore, err := tp.acDP.Counters()
	must(t, err)
	subBefore, err := tp.subDP.Counters()
	must(t, err)
	fragsBefore := snmp(t, tp.ac, "Ip:", "FragCreates") + snmp(t, tp.sub, "Ip:", "FragCreates") + snmp(t, tp.core, "Ip:", "FragCreates")
	unreachBefore := snmp(t, tp.ac, "Icmp:", "OutDestUnreachs") + snmp(t, tp.sub, "Icmp:", "OutDestUnreachs")

	// Core → subscriber and back: the request goes down as fragments the
	// AC's user space makes, the 1500-byte reply up as the client's.
	if got := tp.core.Ping(t, s.target, s.addr, 3, 1472); got != 3 {
		t.Errorf("1500-byte DF ping core → subscriber over MP: %d/3 replies", got)
	}
	// Subscriber → core.
	if got := tp.sub.Ping(t, s.addr, s.target, 3, 1472); got != 3 {
		t.Errorf("1500-byte DF ping subscriber → core over MP: %d/3 replies", got)
	}
	// TCP with full-size segments both ways.
	netns.TCPExchange(t, tp.core, tp.sub, s.target, s.addr, 200_000)

	acAfter, err := tp.acDP.Counters()
	must(t, err)
	subAfter, err := tp.subDP.Counters()
	must(t, err)
	if frags := snmp(t, tp.ac, "Ip:", "FragCreates") + snmp(t, tp.sub, "Ip:", "FragCreates") + snmp(t, tp.core, "Ip:", "FragCreates"); frags != fragsBefore {
		t.Errorf("IP fragments made: %d", frags-fragsBefore)
	}
	if u := snmp(t, tp.ac, "Icmp:", "OutDestUnreachs") + snmp(t, tp.sub, "Icmp:", "OutDestUnreachs"); u != unreachBefore {
		t.Errorf("ICMP Destination Unreachable sent: %d", u-unreachBefore)
	}
	for name, d := range map[string]uint64{
		"AC mp_divert":         acAfter[maps.ReasonMPDivert] - acBefore[maps.ReasonMPDivert],
		"AC mp_pass":           acAfter[maps.ReasonMPPass] - acBefore[maps.ReasonMPPass],
		"subscriber mp_divert": subAfter[maps.ReasonMPDivert] - subBefore[maps.ReasonMPDivert],
		"subscriber mp_pass":   subAfter[maps.ReasonMPPass] - subBefore[maps.ReasonMPPass],
	} {
		if d == 0 {
			t.Errorf("%s did not move: the packets did not take the MP path", name)
		}
	}
	for _, r := range []maps.Reason{maps.ReasonMTUExceeded, maps.ReasonError} {
		if d := acAfter[r] - acBefore[r] + subAfter[r] - subBefore[r]; d != 0 {
			t.Errorf("%v moved by %d", r, d)
		}
	}
	for name, e := range map[string]*mpEnd{"AC": acEnd, "subscriber": subEnd} {
		injected, sent, errs := e.stats()
		st := e.ml.Stats()
		t.Logf("%s: %d packets reassembled and injected, %d fragments sent; reassembler %+v", name, injected, sent, st)
		if len(errs) > 0 || injected == 0 || sent == 0 || st.Lost+st.Overflow != 0 {
			t.Errorf("%s: injected %d, sent %d, lost %d, errors %v", name, injected, sent, st.Lost+st.Overflow, errs)
		}
	}
}
