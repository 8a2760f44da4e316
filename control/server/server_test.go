package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

const base = `
/ip pool add name=subs ranges=10.0.0.10-10.0.0.60
/ppp profile add name=p local-address=10.0.0.1 remote-address=subs
/ppp secret add name=alice password=wonderland profile=p
/interface vlan add name=vlan100 vlan-id=100 interface=ether1
/interface vlan add name=s200 vlan-id=200 interface=ether1 use-service-tag=yes
/interface vlan add name=q7 vlan-id=7 interface=s200
/system identity set name=ac1
`

var acMAC = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 1}

type rig struct {
	t   testing.TB
	hub *hub
	srv *Server
	dp  *fakeDP
	aaa *aaa.Local
}

func newRig(t testing.TB, servers string) *rig {
	t.Helper()
	return newRigWith(t, servers, nil)
}

// newRigWith is newRig with opt changing the server's options first.
func newRigWith(t testing.TB, servers string, opt func(*Options)) *rig {
	t.Helper()
	cfg, err := config.Load(base + servers)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, hub: &hub{}, dp: newFakeDP(), aaa: local}
	opts := Options{
		AAA:       local,
		DataPlane: r.dp,
		Open: func(name string) (Port, error) {
			if name != "ether1" {
				return Port{}, errors.New("no such interface")
			}
			return Port{Conn: r.hub.endpoint(), Ifindex: 5, MAC: acMAC}, nil
		},
	}
	if opt != nil {
		opt(&opts)
	}
	r.srv, err = New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *rig) apply(servers string) error {
	cfg, err := config.Load(base + servers)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.srv.Apply(cfg)
}

// client plays a subscriber: rp-pppoe-like discovery, then a PPP peer link.
type client struct {
	ep    *endpoint
	mac   net.HardwareAddr
	vlans []ethernet.VLAN
	sess  pppoe.Session
	peer  *link.Link
	up    chan link.Info
	padt  chan struct{}
	done  chan struct{}
	stop  chan struct{}
	// running: start was called (by the test's goroutine).
	running bool
}

func mac(n byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, n} }

// dial discovers a session and starts the client's PPP loop.
func (r *rig) dial(m net.HardwareAddr, vlans []ethernet.VLAN, service string) (*client, error) {
	return r.dialPayload(m, vlans, service, 0, 0)
}

// dialPayload dials asking for PPP-Max-Payload maxPayload (RFC 4638), 0 for
// none, with a peer link that asks for MRU mru (0: link's default).
func (r *rig) dialPayload(m net.HardwareAddr, vlans []ethernet.VLAN, service string, maxPayload, mru uint16) (*client, error) {
	c, err := r.discover(m, vlans, service, maxPayload, mru)
	if err == nil {
		c.start()
	}
	return c, err
}

// discoverTimeout bounds a test client's discovery.
var discoverTimeout = 400 * time.Millisecond

// discover runs discovery only; start runs the client's PPP.
func (r *rig) discover(m net.HardwareAddr, vlans []ethernet.VLAN, service string, maxPayload, mru uint16) (*client, error) {
	c := &client{ep: r.hub.endpoint(), mac: m, vlans: vlans, up: make(chan link.Info, 1), padt: make(chan struct{}), done: make(chan struct{}), stop: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), discoverTimeout)
	defer cancel()
	s, err := pppoe.Discover(ctx, c.ep, pppoe.ClientConfig{MAC: m, VLANs: vlans, ServiceName: service, MaxPayload: maxPayload, Timeout: 40 * time.Millisecond, MaxTimeout: 80 * time.Millisecond})
	if err != nil {
		c.ep.Close()
		return nil, err
	}
	c.sess = s
	c.peer, err = link.New(link.Config{Role: link.Peer, User: "alice", Password: "wonderland",
		MaxMRU: mru, MaxMTU: mru, MaxPayload: s.MaxPayload})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.close)
	return c, nil
}

func (c *client) start() {
	c.running = true
	go c.run()
}

func (c *client) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	if c.running {
		<-c.done
	}
	c.ep.Close()
}

func (c *client) send(out link.Output) {
	for _, f := range out.Send {
		payload, _ := f.MarshalBinary()
		b, _ := pppoe.MarshalFrame(c.sess.ACMAC, c.mac, c.vlans, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: c.sess.SessionID, Payload: payload})
		c.ep.WriteFrame(b)
	}
	for _, ev := range out.Events {
		if nu, ok := ev.(link.NetworkUp); ok {
			c.up <- nu.Info
		}
	}
}

func (c *client) run() {
	defer close(c.done)
	c.send(c.peer.Up(time.Now()))
	buf := make([]byte, 2048)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		c.ep.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := c.ep.ReadFrame(buf)
		if err != nil {
			c.send(c.peer.Tick(time.Now()))
			continue
		}
		f, p, err := pppoe.ParseFrame(buf[:n])
		if err != nil || f.Destination.String() != c.mac.String() || p.SessionID != c.sess.SessionID {
			continue
		}
		if p.Code == pppoe.CodePADT {
			close(c.padt)
			return
		}
		var pf ppp.Frame
		if pf.UnmarshalBinary(p.Payload) == nil {
			c.send(c.peer.Receive(pf, time.Now()))
		}
	}
}

func (c *client) waitUp(t *testing.T) link.Info {
	t.Helper()
	select {
	case info := <-c.up:
		return info
	case <-time.After(3 * time.Second):
		t.Fatal("client not up")
	}
	return link.Info{}
}

func (c *client) waitPADT(t *testing.T) {
	t.Helper()
	select {
	case <-c.padt:
	case <-time.After(3 * time.Second):
		t.Fatal("no PADT")
	}
}

// eventually polls cond for up to 3 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSessionUpAndRemove(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	c, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	info := c.waitUp(t)
	if info.IP.Local != netip.MustParseAddr("10.0.0.10") {
		t.Errorf("client address %v", info.IP.Local)
	}
	// The session installs itself before the frame that opens IPCP leaves,
	// and counts itself up just after: the client can be up first.
	eventually(t, "install", func() bool { return r.dp.len() == 1 && r.srv.Counters().Setups == 1 })
	ss := r.srv.Sessions()
	if len(ss) != 1 || ss[0].Name != "alice" || ss[0].SessionID != c.sess.SessionID || ss[0].CallerID != "02:00:00:00:00:01" ||
		ss[0].Interface != "ether1" || ss[0].ServiceName != "internet" || ss[0].State != session.StateUp {
		t.Fatalf("sessions %+v", ss)
	}
	if c.sess.ACName != "ac1" || c.sess.ServiceName != "internet" {
		t.Errorf("discovery %+v", c.sess)
	}
	cn := r.srv.Counters()
	if cn.States[session.StateUp] != 1 || cn.Setups != 1 || cn.Discovery.PADSSent != 1 {
		t.Errorf("counters %+v", cn)
	}
	if n := r.srv.Remove(ss[0].ID); n != 1 {
		t.Fatalf("Remove = %d", n)
	}
	if n := r.srv.Remove(ss[0].ID); n != 0 {
		t.Fatalf("Remove of an ended session = %d", n)
	}
	c.waitPADT(t)
	if r.dp.len() != 0 || r.aaa.PoolUsed("subs") != 0 || len(r.srv.Sessions()) != 0 {
		t.Errorf("after remove: dp %d pool %d sessions %d", r.dp.len(), r.aaa.PoolUsed("subs"), len(r.srv.Sessions()))
	}
	eventually(t, "counters", func() bool {
		cn := r.srv.Counters()
		return cn.Ended[session.ReasonAdmin] == 1 && cn.States[session.StateUp] == 0
	})
}

func TestClientPADT(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	c, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c.waitUp(t)
	b, _ := c.sess.PADT("bye")
	c.ep.WriteFrame(b)
	eventually(t, "session gone", func() bool { return len(r.srv.Sessions()) == 0 && r.dp.len() == 0 })
	if cn := r.srv.Counters(); cn.Ended[session.ReasonPADT] != 1 {
		t.Errorf("ended %v", cn.Ended)
	}
}

// TestTraffic: the per-interface traffic counters sum the live sessions'
// data-plane counters and keep those of ended sessions, so they only go up
// (they are Prometheus counters), also while a session is replaced.
func TestTraffic(t *testing.T) {
	r := newRig(t, `
/interface pppoe-server server add service-name=internet interface=ether1 disabled=no one-session-per-host=yes
/interface pppoe-server server add service-name=v100 interface=vlan100 disabled=no`)
	dial := func(m net.HardwareAddr, vlans []ethernet.VLAN) *client {
		t.Helper()
		c, err := r.dial(m, vlans, "")
		if err != nil {
			t.Fatal(err)
		}
		c.waitUp(t)
		eventually(t, "install", func() bool {
			for _, e := range r.dp.all() {
				if e.SessionID == c.sess.SessionID && e.Circuit.MAC == [6]byte(m) {
					return true
				}
			}
			return false
		})
		return c
	}
	st := func(n uint64) session.Stats {
		return session.Stats{PacketsUp: n, BytesUp: 100 * n, PacketsDown: 2 * n, BytesDown: 200 * n}
	}
	check := func(when string, want map[string]session.Stats) {
		t.Helper()
		got := r.srv.Counters().Traffic
		for iface := range got {
			g := got[iface]
			g.LastSeen = 0
			got[iface] = g
		}
		if len(got) != len(want) {
			t.Errorf("%s: traffic %+v, want %+v", when, got, want)
			return
		}
		for iface, w := range want {
			if got[iface] != w {
				t.Errorf("%s: %s traffic %+v, want %+v", when, iface, got[iface], w)
			}
		}
	}

	a := dial(mac(1), nil)
	b := dial(mac(2), []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}})
	r.dp.setStats(t, a.sess.SessionID, st(10))
	r.dp.setStats(t, b.sess.SessionID, st(1))
	check("two sessions", map[string]session.Stats{"ether1": st(10), "vlan100": st(1)})

	// a ends: ether1 keeps its counts; a new session adds to them.
	var aID session.ID
	for _, sn := range r.srv.Sessions() {
		if sn.SessionID == a.sess.SessionID && sn.Circuit.MAC == [6]byte(mac(1)) {
			aID = sn.ID
		}
	}
	if n := r.srv.Remove(aID); n != 1 {
		t.Fatalf("Remove = %d", n)
	}
	check("a removed", map[string]session.Stats{"ether1": st(10), "vlan100": st(1)})
	c := dial(mac(3), nil)
	r.dp.setStats(t, c.sess.SessionID, st(5))
	check("c up", map[string]session.Stats{"ether1": st(15), "vlan100": st(1)})

	// c's host dials again (one-session-per-host): c leaves the session
	// table before it ends; a reader polling meanwhile never sees less.
	stop, polled := make(chan struct{}), make(chan error, 1)
	go func() {
		var last uint64
		for {
			select {
			case <-stop:
				polled <- nil
				return
			default:
			}
			n := r.srv.Counters().Traffic["ether1"].PacketsUp
			if n < last {
				polled <- fmt.Errorf("ether1 packets went down: %d → %d", last, n)
				return
			}
			last = n
		}
	}()
	dial(mac(3), nil)
	close(stop)
	if err := <-polled; err != nil {
		t.Error(err)
	}
	check("c replaced", map[string]session.Stats{"ether1": st(15), "vlan100": st(1)})
	// Ended sessions are only their counts: b and the new one stay live.
	eventually(t, "ended sessions to leave the live set", func() bool {
		r.srv.traffic.mu.Lock()
		defer r.srv.traffic.mu.Unlock()
		return len(r.srv.traffic.live) == 2
	})
}

// TestMaxSessions: max-sessions counts established sessions; at the limit
// a PADR gets an AC-System-Error PADS.
func TestMaxSessions(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no max-sessions=2`)
	for i := byte(1); i <= 2; i++ {
		c, err := r.dial(mac(i), nil, "")
		if err != nil {
			t.Fatal(err)
		}
		c.waitUp(t)
	}
	_, err := r.dial(mac(3), nil, "")
	var pe *pppoe.PADSError
	if !errors.As(err, &pe) || pe.Tag != pppoe.TagACSystemError {
		t.Fatalf("third session: %v", err)
	}
	if cn := r.srv.Counters(); cn.Refused != 1 || cn.RefusedBy["max-sessions"] != 1 || cn.Established != 2 || cn.HalfOpen != 0 {
		t.Errorf("counters %+v", cn)
	}
	// Raising the limit admits it without touching the two sessions.
	if err := r.apply(`/interface pppoe-server server add service-name=internet interface=ether1 disabled=no max-sessions=3`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dial(mac(3), nil, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(r.srv.Sessions()); n != 3 {
		t.Errorf("%d sessions", n)
	}
}

// TestMaxSessionsReachedDuringSetup: two subscribers admitted while the
// server had room negotiate at once for its last slot; the first whose
// IPCP opens takes it, the other ends with reason max-sessions before its
// IPCP opens, never in the data plane.
func TestMaxSessionsReachedDuringSetup(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no max-sessions=1`)
	var cs []*client
	for i := byte(1); i <= 2; i++ {
		c, err := r.discover(mac(i), nil, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if cn := r.srv.Counters(); cn.HalfOpen != 2 {
		t.Fatalf("%d half-open sessions, want 2", cn.HalfOpen)
	}
	for _, c := range cs {
		c.start()
	}
	up, ended := 0, 0
	for _, c := range cs {
		select {
		case <-c.up:
			up++
		case <-c.padt:
			ended++
		case <-time.After(3 * time.Second):
			t.Fatal("a client neither came up nor got a PADT")
		}
	}
	if up != 1 || ended != 1 {
		t.Fatalf("%d up, %d ended", up, ended)
	}
	eventually(t, "one session, one entry", func() bool {
		cn := r.srv.Counters()
		return len(r.srv.Sessions()) == 1 && r.dp.len() == 1 && cn.Ended[session.ReasonMaxSessions] == 1 && cn.Established == 1 && cn.HalfOpen == 0
	})
}

func TestOneSessionPerHost(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no one-session-per-host=yes`)
	old, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	old.waitUp(t)
	other, err := r.dial(mac(2), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	other.waitUp(t)
	// The old session's PADT goes to the host's MAC before the new PADS:
	// the old client sees it, the new one ignores it (skipPADT).
	again, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	old.waitPADT(t)
	again.waitUp(t)
	ss := r.srv.Sessions()
	if len(ss) != 2 {
		t.Fatalf("sessions %+v", ss)
	}
	for _, s := range ss {
		if s.CallerID == "02:00:00:00:00:01" && s.SessionID != again.sess.SessionID {
			t.Errorf("host 1 kept session %d, want %d", s.SessionID, again.sess.SessionID)
		}
	}
	if cn := r.srv.Counters(); cn.Ended[session.ReasonReplaced] != 1 {
		t.Errorf("ended %v", cn.Ended)
	}
	checkByMAC(t, r.srv)
}

// checkByMAC checks that the by-MAC index one-session-per-host reads holds
// each session of s.sessions once, under its client's MAC, and nothing else.
func checkByMAC(t *testing.T, s *Server) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for mac, l := range s.byMAC.All() {
		for ; l != nil; l = l.sameMAC {
			n++
			if l.key.c.MAC != mac || s.sessions.Get(l.key) != l {
				t.Errorf("byMAC[%x] holds session %+v, which sessions does not", mac, l.key)
			}
		}
	}
	if n != s.sessions.Len() {
		t.Errorf("byMAC holds %d sessions, sessions %d", n, s.sessions.Len())
	}
}

func TestOneSessionPerHostConcurrent(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no one-session-per-host=yes max-sessions=3`)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.dial(mac(9), nil, ""); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 {
		t.Fatal("no setup succeeded")
	}
	eventually(t, "one session and one id for the host", func() bool { return len(r.srv.Sessions()) == 1 && r.srv.ids.Len() == 1 })
	checkByMAC(t, r.srv)
}

func TestVLANMatching(t *testing.T) {
	r := newRig(t, `
/interface pppoe-server server add service-name=v100 interface=vlan100 disabled=no
/interface pppoe-server server add service-name=qinq interface=q7 disabled=no`)
	tag := func(tpid ethernet.EtherType, ids ...uint16) []ethernet.VLAN {
		var vs []ethernet.VLAN
		for i, id := range ids {
			t := ethernet.EtherTypeVLAN
			if i == 0 {
				t = tpid
			}
			vs = append(vs, ethernet.VLAN{TPID: t, ID: id})
		}
		return vs
	}
	rows := []struct {
		name    string
		vlans   []ethernet.VLAN
		service string // "" = expect no answer
	}{
		{"vlan 100", tag(ethernet.EtherTypeVLAN, 100), "v100"},
		{"qinq 200.7", tag(ethernet.EtherTypeServiceVLAN, 200, 7), "qinq"},
		{"untagged", nil, ""},
		{"vlan 101", tag(ethernet.EtherTypeVLAN, 101), ""},
		{"vlan 200 alone", tag(ethernet.EtherTypeServiceVLAN, 200), ""},
		{"200.7 with a C-tag outside", tag(ethernet.EtherTypeVLAN, 200, 7), ""},
		{"100.7", tag(ethernet.EtherTypeVLAN, 100, 7), ""},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c, err := r.dial(mac(byte(10+i)), row.vlans, "")
			if row.service == "" {
				if err == nil {
					t.Fatalf("session on an unserved circuit: %+v", c.sess)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.sess.ServiceName != row.service {
				t.Errorf("service %q", c.sess.ServiceName)
			}
			c.waitUp(t)
		})
	}
	if cn := r.srv.Counters(); cn.NoServer == 0 {
		t.Error("frames on unserved VLANs not counted")
	}
	ents := r.dp.entries
	r.dp.mu.Lock()
	defer r.dp.mu.Unlock()
	got := map[uint8]bool{}
	for _, e := range ents {
		got[e.Circuit.NumVLANs] = true
	}
	if !got[1] || !got[2] || len(ents) != 2 {
		t.Errorf("installed %+v", ents)
	}
}

func TestUnknownSessionPADT(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	ep := r.hub.endpoint()
	defer ep.Close()
	frame, _ := pppoe.MarshalFrame(acMAC, mac(7), nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: 0x4242,
		Payload: []byte{0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0}}) // LCP Echo-Request id 1, magic 0
	for range 50 {
		ep.WriteFrame(frame)
	}
	padts := 0
	ep.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	for {
		n, err := ep.ReadFrame(buf)
		if err != nil {
			break
		}
		f, p, err := pppoe.ParseFrame(buf[:n])
		if err == nil && p.Code == pppoe.CodePADT && p.SessionID == 0x4242 && f.Destination.String() == mac(7).String() {
			padts++
		}
	}
	cn := r.srv.Counters()
	if padts == 0 || padts > DefaultPADTRate+2 || uint64(padts) != cn.UnknownPADT || cn.UnknownSession != 50 {
		t.Errorf("%d PADTs for 50 frames, counters %+v", padts, cn)
	}
}

func TestApplyAndClose(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=a interface=ether1 disabled=no`)
	a, err := r.dial(mac(1), nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	a.waitUp(t)
	if _, err := r.dial(mac(2), nil, "b"); err == nil {
		t.Fatal("service b answered before it exists")
	}
	// Add b: a's session is untouched.
	both := `
/interface pppoe-server server add service-name=a interface=ether1 disabled=no
/interface pppoe-server server add service-name=b interface=ether1 disabled=no`
	if err := r.apply(both); err != nil {
		t.Fatal(err)
	}
	b, err := r.dial(mac(2), nil, "b")
	if err != nil {
		t.Fatal(err)
	}
	b.waitUp(t)
	// Disable a: its session ends with a PADT, b's stays.
	if err := r.apply(`
/interface pppoe-server server add service-name=a interface=ether1 disabled=yes
/interface pppoe-server server add service-name=b interface=ether1 disabled=no`); err != nil {
		t.Fatal(err)
	}
	a.waitPADT(t)
	if ss := r.srv.Sessions(); len(ss) != 1 || ss[0].ServiceName != "b" {
		t.Fatalf("sessions %+v", ss)
	}
	if _, err := r.dial(mac(3), nil, "a"); err == nil {
		t.Error("disabled service answered")
	}
	// A bad configuration changes nothing.
	if err := r.srv.Apply(&config.Config{}); err == nil { // no built-in profile
		t.Error("invalid config applied")
	}
	if len(r.srv.Sessions()) != 1 {
		t.Error("failed apply dropped sessions")
	}
	// Close ends everything.
	r.srv.Close()
	b.waitPADT(t)
	if r.dp.len() != 0 || r.aaa.PoolUsed("subs") != 0 || len(r.srv.Sessions()) != 0 {
		t.Errorf("after close: dp %d pool %d sessions %d", r.dp.len(), r.aaa.PoolUsed("subs"), len(r.srv.Sessions()))
	}
	if cn := r.srv.Counters(); cn.Ended[session.ReasonShutdown] != 2 {
		t.Errorf("ended %v", cn.Ended)
	}
}

func TestResolve(t *testing.T) {
	cfg, err := config.Load(base + `
/interface pppoe-server server add service-name=x interface=ether1
/interface pppoe-server server add service-name=y interface=vlan100
/interface pppoe-server server add service-name=z interface=q7`)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []stack{
		{},
		{n: 1, tags: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}}},
		{n: 2, tags: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 200}, {TPID: ethernet.EtherTypeVLAN, ID: 7}}},
	}
	for i, b := range bs {
		if b.port != "ether1" || b.stack != want[i] {
			t.Errorf("%s: port %s stack %+v, want %+v", b.key.iface, b.port, b.stack, want[i])
		}
	}
}

// TestJumboMRU checks that the PPP-Max-Payload agreed in discovery (RFC 4638
// §4) reaches the session's link: without it the MRU stays at 1492.
func TestJumboMRU(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPayload uint16 // what the client asks for in PADI/PADR; its link asks MRU 1500
		wantMTU    uint16 // the data plane entry's MTU (the client's MRU)
	}{
		{"no tag: RFC 2516 limit", 0, 1492},
		{"1500 granted", 1500, 1500},
		{"more than max-mtu: capped", 1600, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 max-mtu=1500 max-mru=1500 disabled=no`)
			c, err := r.dialPayload(mac(1), nil, "", tc.maxPayload, 1500)
			if err != nil {
				t.Fatal(err)
			}
			c.waitUp(t)
			eventually(t, "install", func() bool { return r.dp.len() == 1 })
			for _, e := range r.dp.all() {
				if e.MTU != tc.wantMTU {
					t.Errorf("entry MTU %d, want %d", e.MTU, tc.wantMTU)
				}
			}
			ss := r.srv.Sessions()
			if len(ss) != 1 || ss[0].MTU != tc.wantMTU {
				t.Errorf("sessions %+v", ss)
			}
		})
	}
}
