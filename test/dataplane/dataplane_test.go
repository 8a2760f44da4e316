package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe0"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

var (
	acLocal  = netip.MustParseAddr("100.64.0.1") // on pppoe0
	coreAddr = netip.MustParseAddr("198.51.100.2")
)

// sub is one subscriber session, both ends of it.
type sub struct {
	name       string // client netdev
	vlans      []uint16
	tpid       uint16
	sid        uint16
	addr       netip.Addr // subscriber's address
	target     netip.Addr // a core address routed through this session only
	mss        uint16     // the AC's clamp
	dev        *maps.Device
	key        maps.Key
	serverIdx  maps.Index
	clientIdx  maps.Index
	clientSess maps.ClientSession
}

type topo struct {
	sub, ac, core  *netns.NS
	subDP, acDP    *maps.Datapath
	subEth, acc0   int
	up0, pppoe0    int
	subMAC, accMAC net.HardwareAddr
	sessions       []*sub
}

func requireRoot(t *testing.T) {
	t.Helper()
	netns.RequireRoot(t)
}

func openDP(t *testing.T, name string, o topoOpts, generic bool) *maps.Datapath {
	pin := filepath.Join(maps.DefaultPinPath+"-test", name)
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 1024, Clsact: o.clsact, GenericXDP: generic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dp.Unpin(); err != nil {
			t.Error(err)
		}
		dp.Close()
	})
	return dp
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func linkOf(t *testing.T, n *netns.NS, name string) (idx int, mac net.HardwareAddr) {
	must(t, n.Do(t, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		idx, mac = l.Attrs().Index, l.Attrs().HardwareAddr
		return nil
	}))
	return idx, mac
}

// newTopo builds subscriber ─eth0/acc0─ AC ─up0/cor0─ core, with three
// sessions installed on both ends. The core's cor0 is a plain veth, which
// cannot take XDP frames (no XDP program, no GRO), so the AC's upstream
// fast path leaves its packets to the kernel; the subscriber's eth0 runs
// the client's XDP program, so the AC's acc0 can take XDP frames and the
// downstream fast path redirects to it.
func newTopo(t *testing.T) *topo { return newTopoWith(t, topoOpts{}) }

// topoOpts varies newTopo.
type topoOpts struct {
	clsact     bool // TC programs attached through clsact (the pre-tcx fallback)
	subGeneric bool // the subscriber's data path in generic XDP: acc0 cannot take XDP frames
}

func newTopoWith(t *testing.T, o topoOpts) *topo {
	requireRoot(t)
	tp := &topo{sub: netns.New(t), ac: netns.New(t), core: netns.New(t)}
	tp.subEth, tp.acc0 = netns.Veth(t, tp.sub, "eth0", tp.ac, "acc0")
	tp.up0, _ = netns.Veth(t, tp.ac, "up0", tp.core, "cor0")
	_, tp.subMAC = linkOf(t, tp.sub, "eth0")
	_, tp.accMAC = linkOf(t, tp.ac, "acc0")
	tp.subDP = openDP(t, tp.sub.Name, o, o.subGeneric)
	tp.acDP = openDP(t, tp.ac.Name, o, false)

	// Core: the far end, routing the pools back to the AC.
	tp.core.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "cor0")
	tp.core.Run(t, "ip", "route", "add", "100.64.0.0/16", "via", "198.51.100.1")
	tp.core.TxChecksumOff(t, "cor0")

	// AC: uplink, pppoe0, programs.
	tp.ac.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	tp.ac.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
	must(t, tp.ac.Do(t, func() error {
		dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", 1492)
		if err != nil {
			return err
		}
		tp.pppoe0 = dev.Index
		if err := maps.AddAddress(dev.Index, netip.PrefixFrom(acLocal, 32)); err != nil {
			return err
		}
		if err := maps.AddRoute(dev.Index, netip.MustParsePrefix("100.64.1.0/24")); err != nil {
			return err
		}
		if err := tp.acDP.SetPPPoE0(dev.Index, dev.MAC); err != nil {
			return err
		}
		if err := tp.acDP.AttachAccess(tp.acc0); err != nil {
			return err
		}
		if err := tp.acDP.AttachUplink(tp.up0); err != nil {
			return err
		}
		return tp.acDP.AttachPPPoE0(dev.Index)
	}))
	// Subscriber: the client data path on eth0.
	must(t, tp.sub.Do(t, func() error { return tp.subDP.AttachAccess(tp.subEth) }))

	tp.sessions = []*sub{
		{name: "pppoe-out0", sid: 0x0101, addr: netip.MustParseAddr("100.64.1.1"), target: netip.MustParseAddr("198.51.100.10"), mss: 1400},
		{name: "pppoe-out1", vlans: []uint16{100}, sid: 0x0102, addr: netip.MustParseAddr("100.64.1.2"), target: netip.MustParseAddr("198.51.100.11"), mss: 1452},
		{name: "pppoe-out2", vlans: []uint16{10, 20}, tpid: maps.TPID8021AD, sid: 0x0103, addr: netip.MustParseAddr("100.64.1.3"), target: netip.MustParseAddr("198.51.100.12"), mss: 1452},
	}
	for _, s := range tp.sessions {
		tp.core.Run(t, "ip", "addr", "add", s.target.String()+"/32", "dev", "cor0")
		var outer, inner uint16
		if len(s.vlans) > 0 {
			outer = s.vlans[0]
		}
		if len(s.vlans) > 1 {
			inner = s.vlans[1]
		}
		s.key = maps.Key{Ifindex: tp.acc0, OuterVLAN: outer, InnerVLAN: inner, SessionID: s.sid, ClientMAC: tp.subMAC}
		idx, err := tp.acDP.Install(maps.Session{Key: s.key, OuterTPID: s.tpid, ACMAC: tp.accMAC, IPv4: s.addr, MTU: 1492, MSS: s.mss})
		must(t, err)
		s.serverIdx = idx
		s.clientSess = maps.ClientSession{Ifindex: tp.subEth, OuterVLAN: outer, InnerVLAN: inner, OuterTPID: s.tpid,
			SessionID: s.sid, ACMAC: tp.accMAC, LocalMAC: tp.subMAC, Local: s.addr, MTU: 1492, MSS: 1452}
		must(t, tp.sub.Do(t, func() error {
			dev, err := maps.CreateClientDevice(s.name, 1492)
			if err != nil {
				return err
			}
			s.dev = dev
			if err := tp.subDP.AttachClientDevice(dev); err != nil {
				return err
			}
			s.clientIdx, err = tp.subDP.InstallClient(dev, s.clientSess)
			return err
		}))
		// As pppd would: local/32 with the AC as peer, and a route.
		tp.sub.Run(t, "ip", "addr", "add", s.addr.String(), "peer", acLocal.String()+"/32", "dev", s.name)
		tp.sub.Run(t, "ip", "route", "add", s.target.String()+"/32", "dev", s.name, "src", s.addr.String())
	}
	// Traffic to the AC itself leaves through pppoe-out0.
	tp.sub.Run(t, "ip", "route", "replace", acLocal.String()+"/32", "dev", "pppoe-out0", "src", "100.64.1.1")
	return tp
}

func TestEndToEnd(t *testing.T) {
	tp := newTopo(t)
	netns.RequireTool(t, "tshark")
	capSub := tp.sub.StartCapture(t, "eth0")
	capCore := tp.core.StartCapture(t, "cor0")
	before, err := tp.acDP.Counters()
	must(t, err)

	// The AC redirects to acc0 (eth0 has the client's XDP program) but
	// not to up0 (cor0 has neither XDP nor GRO).
	if ok, err := tp.acDP.XDPRedirects(tp.acc0); err != nil || !ok {
		t.Errorf("acc0 is no XDP redirect target (%v)", err)
	}
	if ok, err := tp.acDP.XDPRedirects(tp.up0); err != nil || ok {
		t.Errorf("up0 is an XDP redirect target (%v)", err)
	}

	// ICMP echo through each session (VLAN 0, 1, 2), to the core (the
	// kernel forwards up, the fast path down) and to the AC itself (slow
	// path both ways: TC decap with the outer tag in skb metadata, pppoe0,
	// tc_pppoe0_out).
	for _, s := range tp.sessions {
		if got := tp.sub.Ping(t, s.addr, s.target, 3, 56); got != 3 {
			t.Errorf("%s: ping core: %d/3 replies", s.name, got)
		}
	}
	if got := tp.sub.Ping(t, tp.sessions[0].addr, acLocal, 3, 56); got != 3 {
		t.Errorf("ping AC: %d/3 replies", got)
	}
	// From the core's side too.
	if got := tp.core.Ping(t, tp.sessions[2].target, tp.sessions[2].addr, 2, 1000); got != 2 {
		t.Errorf("core ping subscriber: %d/2 replies", got)
	}

	// UDP both ways, subscriber (QinQ) <-> core.
	udpEcho(t, tp, tp.sessions[2])
	// TCP both ways, subscriber (untagged, AC clamps MSS to 1400) <-> core.
	netns.TCPExchange(t, tp.sub, tp.core, tp.sessions[0].addr, tp.sessions[0].target, 300_000)
	// TCP with the AC itself: its segments leave through pppoe0, so GSO
	// must be off there or they'd be encapsulated as one huge frame.
	netns.TCPExchange(t, tp.sub, tp.ac, tp.sessions[0].addr, acLocal, 300_000)
	// Traceroute-like: TTL 1 from the subscriber gets ICMP Time Exceeded
	// from the AC (kernel, through pppoe0's encap).
	timeExceeded(t, tp, tp.sessions[1])

	after, err := tp.acDP.Counters()
	must(t, err)
	d := func(r maps.Reason) uint64 { return after[r] - before[r] }
	for _, r := range []maps.Reason{maps.ReasonPassNoXDPXmit, maps.ReasonFastDown, maps.ReasonSlowUp, maps.ReasonSlowDown,
		maps.ReasonMSSClamped, maps.ReasonTTLExceeded} {
		if d(r) == 0 {
			t.Errorf("AC counter %v did not move", r)
		}
	}
	// unknown_dest too: pppoe0 has no IPv6 link-local address
	// (addr_gen_mode none), so no router solicitation or MLD report of its
	// own reaches tc_pppoe0_out. fast_up: up0 cannot take XDP frames.
	for _, r := range []maps.Reason{maps.ReasonGSO, maps.ReasonMTUExceeded, maps.ReasonMalformed, maps.ReasonError,
		maps.ReasonSpoofed, maps.ReasonUnknownSession, maps.ReasonUnknownDest, maps.ReasonFastUp} {
		if d(r) != 0 {
			t.Errorf("AC counter %v moved by %d", r, d(r))
		}
	}
	// Per-session counters agree between the two ends: what one sent the
	// other received (the control frames are none: no LCP here).
	for _, s := range tp.sessions {
		sst, err := tp.acDP.Stats(s.serverIdx)
		must(t, err)
		cst, err := tp.subDP.Stats(s.clientIdx)
		must(t, err)
		if sst.PacketsUp == 0 || sst.PacketsUp != cst.PacketsDown || sst.BytesUp != cst.BytesDown ||
			sst.PacketsDown != cst.PacketsUp || sst.BytesDown != cst.BytesUp {
			t.Errorf("%s: AC stats %+v, client stats %+v: up and down must mirror", s.name, sst, cst)
		}
	}

	checkWire(t, tp, capSub, capCore)
	checkBpftool(t, tp)
}

// TestClsact runs traffic through every TC program attached the pre-tcx
// way: the slow path both ways at the AC (ping and TCP with the AC itself:
// tc_access_in, tc_pppoe0_out) and the client's encap and decap
// (tc_client_out, tc_access_in); then Detach removes the filters.
func TestClsact(t *testing.T) {
	tp := newTopoWith(t, topoOpts{clsact: true})
	for _, c := range []struct {
		ns  *netns.NS
		dev string
	}{{tp.ac, "acc0"}, {tp.ac, "pppoe0-p"}, {tp.sub, "eth0"}, {tp.sub, "pppoe-out0"}} {
		dev := c.dev
		if dev == "pppoe-out0" { // tc_client_out is on the netdev's peer
			must(t, c.ns.Do(t, func() error {
				l, err := netlink.LinkByIndex(tp.sessions[0].dev.PeerIndex)
				if err == nil {
					dev = l.Attrs().Name
				}
				return err
			}))
		}
		if out := c.ns.Run(t, "tc", "filter", "show", "dev", dev, "ingress"); !strings.Contains(out, "direct-action") {
			t.Errorf("%s: no cls_bpf filter on clsact ingress:\n%s", dev, out)
		}
		if out := c.ns.Run(t, "bpftool", "net", "show", "dev", dev); strings.Contains(out, "tcx/") {
			t.Errorf("%s: tcx attachment despite Clsact:\n%s", dev, out)
		}
	}
	before, err := tp.acDP.Counters()
	must(t, err)
	s := tp.sessions[1] // one VLAN tag: in skb metadata at TC ingress
	if got := tp.sub.Ping(t, s.addr, s.target, 3, 56); got != 3 {
		t.Errorf("ping core: %d/3 replies", got)
	}
	if got := tp.sub.Ping(t, tp.sessions[0].addr, acLocal, 3, 56); got != 3 {
		t.Errorf("ping AC: %d/3 replies", got)
	}
	netns.TCPExchange(t, tp.sub, tp.ac, tp.sessions[0].addr, acLocal, 100_000)
	after, err := tp.acDP.Counters()
	must(t, err)
	for _, r := range []maps.Reason{maps.ReasonSlowUp, maps.ReasonSlowDown, maps.ReasonPassNoXDPXmit, maps.ReasonFastDown} {
		if after[r] == before[r] {
			t.Errorf("AC counter %v did not move", r)
		}
	}
	must(t, tp.ac.Do(t, func() error { return tp.acDP.Detach(tp.acc0) }))
	if out := tp.ac.Run(t, "tc", "filter", "show", "dev", "acc0", "ingress"); strings.Contains(out, "direct-action") {
		t.Errorf("acc0: filter left after Detach:\n%s", out)
	}
}

// checkWire looks at the bytes: PPPoE session ids and PPP protocol on the
// access link, TTL decremented by the AC, MSS clamped in both SYNs, no
// frame above the session MTU.
func checkWire(t *testing.T, tp *topo, capSub, capCore *netns.Capture) {
	rows := capSub.Fields(t, "pppoes", "pppoe.session_id", "ppp.protocol", "ieee8021ad.id", "vlan.id", "ip.src", "ip.ttl", "tcp.options.mss_val", "tcp.flags.syn", "frame.len", "ip.len")
	if len(rows) == 0 {
		t.Fatal("no PPPoE session frames captured on the access link")
	}
	seen := map[string]bool{}
	for _, r := range rows {
		sid, proto, vlan, src, ttl, mss, syn, iplen := r[0], r[1], strings.Trim(r[2]+","+r[3], ","), r[4], r[5], r[6], r[7], r[9]
		seen[sid+"/"+vlan] = true
		if proto != "0x0021" {
			t.Errorf("frame with PPP protocol %s, want 0x0021", proto)
		}
		if n, _ := strconv.Atoi(iplen); n > 1492 {
			t.Errorf("IP packet of %d bytes in a session with MTU 1492", n)
		}
		// From the core, the AC decremented TTL 64 once (fast path down).
		if strings.HasPrefix(src, "198.51.100.") && ttl != "63" {
			t.Errorf("frame from %s with TTL %s, want 63", src, ttl)
		}
		if syn == "1" && strings.HasPrefix(src, "198.51.100.") && sid == "0x0101" && mss != "1400" {
			t.Errorf("SYN-ACK from the core with MSS %s, want the AC's clamp 1400", mss)
		}
	}
	for _, want := range []string{"0x0101/", "0x0102/100", "0x0103/10,20"} {
		if !seen[want] {
			t.Errorf("no frame of session/VLANs %s; saw %v", want, seen)
		}
	}
	rows = capCore.Fields(t, "ip.src == 100.64.1.1 && tcp.flags.syn == 1", "tcp.options.mss_val", "ip.ttl")
	if len(rows) == 0 {
		t.Error("no SYN from the subscriber at the core")
	}
	for _, r := range rows {
		if r[0] != "1400" || r[1] != "63" {
			t.Errorf("subscriber SYN at the core: MSS %s TTL %s, want 1400, 63", r[0], r[1])
		}
	}
}

// checkBpftool reads the pinned maps as an operator would.
func checkBpftool(t *testing.T, tp *topo) {
	netns.RequireTool(t, "bpftool")
	s := tp.sessions[1]
	idx := uint32(s.serverIdx)
	out, err := exec.Command("bpftool", "map", "lookup", "pinned", filepath.Join(tp.acDP.PinPath(), "session_info"),
		"key", strconv.Itoa(int(idx&0xff)), strconv.Itoa(int(idx>>8&0xff)), strconv.Itoa(int(idx>>16&0xff)), strconv.Itoa(int(idx>>24))).CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool: %v: %s", err, out)
	}
	flat := strings.Join(strings.Fields(string(out)), "")
	for _, want := range []string{`"ipv4":[100,64,1,2]`, `"session_id":258`, `"outer_vlan":100`, `"mtu":1492`} {
		if !strings.Contains(flat, want) {
			t.Errorf("bpftool session_info lacks %s:\n%s", want, out)
		}
	}
	out, err = exec.Command("bpftool", "map", "dump", "pinned", filepath.Join(tp.acDP.PinPath(), "sessions")).CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool: %v: %s", err, out)
	}
	if flat := strings.Join(strings.Fields(string(out)), ""); !strings.Contains(flat, `"session_id":259`) || !strings.Contains(flat, `"peer_mac":[`) ||
		!strings.Contains(flat, fmt.Sprintf(`"index":%d`, idx)) {
		t.Errorf("bpftool sessions dump:\n%s", out)
	}
	// CPU 0's counters of the session: slot idx (bpf/README.md).
	out, err = exec.Command("bpftool", "map", "lookup", "pinned", filepath.Join(tp.acDP.PinPath(), "session_stats"),
		"key", strconv.Itoa(int(idx&0xff)), strconv.Itoa(int(idx>>8&0xff)), strconv.Itoa(int(idx>>16&0xff)), strconv.Itoa(int(idx>>24))).CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool: %v: %s", err, out)
	}
	for _, want := range []string{`"packets_up":`, `"bytes_down":`, `"last_seen_ns":`} {
		if !strings.Contains(strings.Join(strings.Fields(string(out)), ""), want) {
			t.Errorf("bpftool session_stats lacks %s:\n%s", want, out)
		}
	}
}

func udpEcho(t *testing.T, tp *topo, s *sub) {
	var srv net.PacketConn
	must(t, tp.core.Do(t, func() (err error) {
		srv, err = net.ListenPacket("udp4", s.target.String()+":0")
		return err
	}))
	defer srv.Close()
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFrom(b)
			if err != nil {
				return
			}
			srv.WriteTo(b[:n], from)
		}
	}()
	var c net.Conn
	must(t, tp.sub.Do(t, func() (err error) {
		c, err = net.Dial("udp4", srv.LocalAddr().String())
		return err
	}))
	defer c.Close()
	ok := 0
	for i := 0; i < 5; i++ {
		msg := []byte(fmt.Sprintf("datagram %d", i))
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 100)
		n, err := c.Read(b)
		if err == nil && bytes.Equal(b[:n], msg) {
			ok++
		}
	}
	if ok != 5 {
		t.Errorf("UDP echo through %s: %d/5", s.name, ok)
	}
}

func timeExceeded(t *testing.T, tp *topo, s *sub) {
	var raw *icmp.PacketConn
	var u net.PacketConn
	must(t, tp.sub.Do(t, func() (err error) {
		if raw, err = icmp.ListenPacket("ip4:icmp", s.addr.String()); err != nil {
			return err
		}
		u, err = net.ListenPacket("udp4", s.addr.String()+":0")
		return err
	}))
	defer raw.Close()
	defer u.Close()
	must(t, ipv4.NewPacketConn(u).SetTTL(1))
	if _, err := u.WriteTo([]byte("probe"), &net.UDPAddr{IP: s.target.AsSlice(), Port: 33434}); err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 1500)
	for {
		n, from, err := raw.ReadFrom(b)
		if err != nil {
			t.Errorf("no ICMP Time Exceeded for a TTL 1 probe: %v", err)
			return
		}
		m, err := icmp.ParseMessage(1, b[:n])
		if err == nil && m.Type == ipv4.ICMPTypeTimeExceeded {
			if from.String() != acLocal.String() {
				t.Errorf("Time Exceeded from %v, want the AC's %v", from, acLocal)
			}
			return
		}
	}
}

// TestRemove: after maps.Remove nothing is forwarded, and the frames show
// as unknown_session.
func TestRemove(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[1]
	if got := tp.sub.Ping(t, s.addr, s.target, 1, 56); got != 1 {
		t.Fatalf("ping before remove: %d/1", got)
	}
	before, err := tp.acDP.Counters()
	must(t, err)
	must(t, tp.acDP.Remove(s.key))
	if got := tp.sub.Ping(t, s.addr, s.target, 2, 56); got != 0 {
		t.Errorf("ping after remove: %d/2 replies, want none", got)
	}
	if got := tp.core.Ping(t, s.target, s.addr, 1, 56); got != 0 {
		t.Errorf("core ping after remove: %d/1 replies, want none", got)
	}
	after, err := tp.acDP.Counters()
	must(t, err)
	if d := after[maps.ReasonUnknownSession] - before[maps.ReasonUnknownSession]; d < 2 {
		t.Errorf("unknown_session moved by %d, want >= 2", d)
	}
	if d := after[maps.ReasonFastUp] - before[maps.ReasonFastUp]; d != 0 {
		t.Errorf("fast_up moved by %d after remove", d)
	}
	// The other sessions are untouched.
	if got := tp.sub.Ping(t, tp.sessions[0].addr, tp.sessions[0].target, 1, 56); got != 1 {
		t.Errorf("other session after remove: %d/1", got)
	}
	if _, _, err := tp.acDP.Lookup(s.key); !errors.Is(err, maps.ErrNotFound) {
		t.Errorf("Lookup after remove: %v", err)
	}
}

// TestSessionMTU: a session whose MTU is below pppoe0's. Without a route
// carrying that MTU the encapsulating program can only drop what is too
// big (counted); with the host route control/pppoe0 gives such a session
// the kernel fragments or sends Fragmentation Needed, and large pings get
// through.
func TestSessionMTU(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[1]
	must(t, tp.acDP.Remove(s.key))
	idx, err := tp.acDP.Install(maps.Session{Key: s.key, ACMAC: tp.accMAC, IPv4: s.addr, MTU: 1400, MSS: 1360})
	must(t, err)
	before, err := tp.acDP.Counters()
	must(t, err)
	if got := tp.core.Ping(t, s.target, s.addr, 2, 1450); got != 0 {
		t.Errorf("1478-byte ping into a 1400 MTU session without the route: %d/2 replies", got)
	}
	after, err := tp.acDP.Counters()
	must(t, err)
	st, err := tp.acDP.Stats(idx)
	must(t, err)
	if d := after[maps.ReasonMTUExceeded] - before[maps.ReasonMTUExceeded]; d == 0 || st.Drops == 0 {
		t.Errorf("without the route: mtu_exceeded moved by %d, session drops %d; want both > 0", d, st.Drops)
	}
	// The host route as pppoed makes it (control/pppoe0).
	var host *pppoe0.Host
	must(t, tp.ac.Do(t, func() (err error) {
		if host, err = pppoe0.New(tp.pppoe0, nil); err != nil {
			return err
		}
		return host.AddSession(s.addr, 1400)
	}))
	defer host.Close()
	if got := tp.core.Ping(t, s.target, s.addr, 3, 1450); got < 2 {
		t.Errorf("1478-byte ping with the route MTU: %d/3 replies, want >= 2", got)
	}
	st2, err := tp.acDP.Stats(idx)
	must(t, err)
	if st2.Drops != st.Drops {
		t.Errorf("with the route the session still dropped %d packets", st2.Drops-st.Drops)
	}
	if got := tp.core.Ping(t, s.target, s.addr, 1, 56); got != 1 {
		t.Errorf("small ping: %d/1", got)
	}
	must(t, host.RemoveSession(s.addr, 1400))
	if out := tp.ac.Run(t, "ip", "route", "show", s.addr.String()+"/32", "dev", "pppoe0"); strings.TrimSpace(out) != "" {
		t.Errorf("host route left after the session: %s", out)
	}
}

// TestRestart: a daemon restart closes the data plane and opens it again
// from the pins. In between, the pinned links keep forwarding; afterwards
// the new process's programs take over the same links and maps, sessions
// keep their index and counters, and traffic flows both ways.
func TestRestart(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[2] // QinQ
	if got := tp.sub.Ping(t, s.addr, s.target, 2, 56); got != 2 {
		t.Fatalf("ping before restart: %d/2", got)
	}
	before, err := tp.acDP.Stats(s.serverIdx)
	must(t, err)
	pin := tp.acDP.PinPath()
	must(t, tp.acDP.Close())
	if got := tp.sub.Ping(t, s.addr, s.target, 2, 56); got != 2 {
		t.Errorf("ping with no process holding the data plane: %d/2", got)
	}
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 1024})
	must(t, err)
	t.Cleanup(func() { dp.Close() })
	if _, idx, err := dp.Lookup(s.key); err != nil || idx != s.serverIdx {
		t.Fatalf("after reopen: index %d, %v; want %d", idx, err, s.serverIdx)
	}
	must(t, tp.ac.Do(t, func() error {
		if err := dp.AttachAccess(tp.acc0); err != nil {
			return err
		}
		if err := dp.AttachUplink(tp.up0); err != nil {
			return err
		}
		return dp.AttachPPPoE0(tp.pppoe0)
	}))
	if got := tp.sub.Ping(t, s.addr, s.target, 2, 56); got != 2 {
		t.Errorf("ping after restart: %d/2", got)
	}
	if got := tp.sub.Ping(t, tp.sessions[0].addr, acLocal, 2, 56); got != 2 {
		t.Errorf("ping AC after restart: %d/2", got)
	}
	after, err := dp.Stats(s.serverIdx)
	must(t, err)
	// 2 echo requests per ping before the reopen and after: 4 more up.
	if after.PacketsUp < before.PacketsUp+4 || after.PacketsDown < before.PacketsDown+4 {
		t.Errorf("counters across the restart: before %+v, after %+v", before, after)
	}
}
