package client

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// quickExample is the reference's "Quick Example": the AC side (pool
// 10.0.0.2-10.0.0.5, local-address 10.0.0.1, secret MT-User/StrongPass,
// service pppoeservice) and the client line, verbatim.
const quickExampleClient = `/interface pppoe-client add interface=ether2 password=StrongPass service-name=pppoeservice name=PPPoE-Out disabled=no user=MT-User`

func quickExampleAC(t *testing.T, h *hub) *testAC {
	return newTestAC(t, h, acOptions{
		name: "MikroTik", mac: acMAC, services: []string{"pppoeservice"},
		local: "10.0.0.1", pool: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"},
		secrets: map[string]string{"MT-User": "StrongPass"},
	})
}

func TestQuickExampleConnects(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	c, stop := e.start(t, cfg)
	waitFor(t, "connected", connected(c))

	st := c.Monitor()
	want := Status{Name: "PPPoE-Out", Status: StateConnected, ActiveLinks: 1, ServiceName: "pppoeservice",
		ACName: "MikroTik", MTU: 1460, MRU: 1460,
		LocalAddress: netip.MustParseAddr("10.0.0.2"), RemoteAddress: netip.MustParseAddr("10.0.0.1")}
	if !macEqual(st.ACMAC, acMAC) {
		t.Errorf("ac-mac %s, want %s", st.ACMAC, acMAC)
	}
	if st.SessionID == 0 || st.SessionID == 0xffff {
		t.Errorf("session id %#x", st.SessionID)
	}
	got := st
	got.ACMAC, got.Uptime, got.SessionID = nil, 0, 0
	if !statusEqual(got, want) {
		t.Errorf("monitor:\n got %+v\nwant %+v", got, want)
	}

	nd, ok := e.dp.get("PPPoE-Out")
	if !ok || nd.session == nil {
		t.Fatalf("netdev PPPoE-Out has no session installed: %+v", nd)
	}
	if nd.mtu != 1460 {
		t.Errorf("netdev created with mtu %d, want max-mtu 1460", nd.mtu)
	}
	s := *nd.session
	if s.Ifindex != 2 || !macEqual(s.LocalMAC, clientMAC) || !macEqual(s.ACMAC, acMAC) || s.SessionID != st.SessionID ||
		s.Local != want.LocalAddress || s.Remote != want.RemoteAddress || s.MTU != 1460 || s.MRU != 1460 || s.MSS != 1420 {
		t.Errorf("installed session %+v", s)
	}
	addrs, routes := e.routes.snapshot()
	wantAddr := Address{Ifindex: nd.ifindex, Local: want.LocalAddress, Peer: want.RemoteAddress}
	if len(addrs) != 1 || addrs[0] != wantAddr {
		t.Errorf("addresses %v, want [%v]", addrs, wantAddr)
	}
	if len(routes) != 0 {
		t.Errorf("routes %v with add-default-route=no", routes)
	}
	if _, err := os.Stat(e.dnsPath); !os.IsNotExist(err) {
		t.Errorf("resolv.conf written with use-peer-dns=no: %v", err)
	}

	stop()
	nd, _ = e.dp.get("PPPoE-Out")
	if !nd.closed || nd.session != nil {
		t.Errorf("after stop: netdev closed=%v session=%v", nd.closed, nd.session)
	}
	addrs, routes = e.routes.snapshot()
	if len(addrs)+len(routes) != 0 {
		t.Errorf("after stop: addresses %v routes %v", addrs, routes)
	}
	waitFor(t, "AC session gone", func() bool { return ac.count(func(ac *testAC) int { return len(ac.sessions) }) == 0 })
	if n := ac.count(func(ac *testAC) int { return ac.terms }); n == 0 {
		t.Errorf("AC got no LCP Terminate-Request")
	}
	if st := c.Monitor(); st.Status != StateDisconnected || st.LastDisconnect != "administratively disabled" {
		t.Errorf("after stop: %+v", st)
	}
	wantStates := []State{StateDialing, StateVerifying, StateConnected, StateDisconnected}
	if h := e.history(); !slices.Equal(h, wantStates) {
		t.Errorf("status went %q, want %q", h, wantStates)
	}
}

func statusEqual(a, b Status) bool {
	return a.Name == b.Name && a.Status == b.Status && a.ActiveLinks == b.ActiveLinks && a.Encoding == b.Encoding &&
		a.ServiceName == b.ServiceName && a.ACName == b.ACName && macEqual(a.ACMAC, b.ACMAC) && a.MTU == b.MTU &&
		a.MRU == b.MRU && a.LocalAddress == b.LocalAddress && a.RemoteAddress == b.RemoteAddress &&
		slices.Equal(a.DNSServers, b.DNSServers) && a.SessionID == b.SessionID && a.LastDisconnect == b.LastDisconnect
}

// The older reference example: pool 10.1.1.62-10.1.1.72, client
// "pppoe-user-mike" asking for service "internet", with a default route and
// peer DNS.
func TestDefaultRouteAndPeerDNS(t *testing.T) {
	e := newEnv(t)
	newTestAC(t, e.hub, acOptions{
		name: "ac1", mac: acMAC, services: []string{"internet"}, local: "10.1.1.1",
		pool: []string{"10.1.1.62", "10.1.1.63"}, dns: [2]string{"192.0.2.53", "192.0.2.54"},
		secrets: map[string]string{"user": "passwd"},
	})
	cfg := loadClient(t, `/interface pppoe-client add name=pppoe-user-mike user=user password=passwd interface=wlan1 service-name=internet disabled=no add-default-route=yes default-route-distance=5 use-peer-dns=yes`)
	cfg.Interface = "ether1" // the fake attaches ether1/ether2 only
	c, stop := e.start(t, cfg)
	waitFor(t, "connected", connected(c))

	nd, _ := e.dp.get("pppoe-user-mike")
	_, routes := e.routes.snapshot()
	wantRoute := Route{Ifindex: nd.ifindex, Dst: netip.MustParsePrefix("0.0.0.0/0"), Metric: 5}
	if len(routes) != 1 || routes[0] != wantRoute {
		t.Errorf("routes %v, want [%v]", routes, wantRoute)
	}
	b, err := os.ReadFile(e.dnsPath)
	if want := "nameserver 192.0.2.53\nnameserver 192.0.2.54\n"; err != nil || string(b) != want {
		t.Errorf("resolv.conf %q (%v), want %q", b, err, want)
	}
	st := c.Monitor()
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")}; !slices.Equal(st.DNSServers, want) {
		t.Errorf("monitor dns %v, want %v", st.DNSServers, want)
	}
	if st.LocalAddress != netip.MustParseAddr("10.1.1.62") {
		t.Errorf("local-address %s, want the pool's first 10.1.1.62", st.LocalAddress)
	}

	stop()
	if _, routes := e.routes.snapshot(); len(routes) != 0 {
		t.Errorf("routes after stop: %v", routes)
	}
	if _, err := os.Stat(e.dnsPath); !os.IsNotExist(err) {
		t.Errorf("resolv.conf still there after disconnect: %v", err)
	}
}

func TestKeepaliveDownThenReconnect(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	cfg.KeepaliveTimeout = configSeconds(100 * time.Millisecond)
	c, _ := e.start(t, cfg)
	waitFor(t, "connected", connected(c))
	first := c.Monitor().SessionID

	ac.silent.Store(true)
	start := time.Now()
	waitFor(t, "keepalive down", func() bool { return c.Monitor().Status != StateConnected })
	// The AC's last frame may be up to one keepalive-timeout older than
	// start (an idle link probes only after keepalive-timeout of silence),
	// so down comes at least 2×keepalive-timeout−keepalive-timeout after.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("link declared down after %s, before 2×keepalive-timeout of silence", d)
	}
	// The Echo-Requests were sent before the link was declared down, but
	// under load the test AC may not have read them yet.
	waitFor(t, "Echo-Requests sent every EchoInterval while the AC was silent", func() bool {
		return ac.count(func(ac *testAC) int { return ac.echoReqs }) >= 2
	})
	waitFor(t, "reason", func() bool { return strings.HasPrefix(c.Monitor().LastDisconnect, "keepalive timeout") })
	if nd, _ := e.dp.get("PPPoE-Out"); nd.session != nil {
		t.Errorf("session still installed after keepalive timeout")
	}

	ac.silent.Store(false)
	waitFor(t, "reconnected", connected(c))
	if st := c.Monitor(); st.SessionID == first {
		// The AC's old session is still there (it was silent, not
		// dead), so a new PADR must have got a new id.
		t.Errorf("reconnected with the old session id %#x", first)
	}
}

func TestDataTrafficCountsAsKeepalive(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	cfg.KeepaliveTimeout = configSeconds(100 * time.Millisecond)
	c, _ := e.start(t, cfg)
	waitFor(t, "connected", connected(c))
	ac.silent.Store(true)
	// Data keeps arriving through the data plane although the AC answers
	// no LCP: the link must stay up.
	stopData := make(chan struct{})
	go func() {
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopData:
				return
			case <-tk.C:
				e.dp.mu.Lock()
				e.dp.netdevs["PPPoE-Out"].stats.PacketsIn++
				e.dp.mu.Unlock()
			}
		}
	}()
	time.Sleep(400 * time.Millisecond)
	close(stopData)
	if st := c.Monitor(); st.Status != StateConnected {
		t.Errorf("link went down despite data from the AC: %+v", st)
	}
	waitFor(t, "down once data stops", func() bool { return c.Monitor().Status != StateConnected })
}

func TestPADTFromACReconnects(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	c, _ := e.start(t, loadClient(t, quickExampleClient))
	waitFor(t, "connected", connected(c))
	ac.kill("session cleared by admin")
	waitFor(t, "disconnect reported", func() bool {
		return c.Monitor().LastDisconnect == "PADT from AC: session cleared by admin"
	})
	waitFor(t, "reconnected", connected(c))
	if addrs, _ := e.routes.snapshot(); len(addrs) != 1 {
		t.Errorf("addresses after reconnect %v, want exactly the new one", addrs)
	}
}

// rp-pppoe's pppoe-server without pppd answers PADR with PADS and then
// PADT: the client must say so and retry, never claim to be connected.
func TestPADSThenPADTRetried(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	ac.padtAfterPADS.Store(true)
	c, _ := e.start(t, loadClient(t, quickExampleClient))
	waitFor(t, "three attempts", func() bool { return ac.count(func(ac *testAC) int { return ac.padrs }) >= 3 })
	h := e.history()
	if slices.Contains(h, StateConnected) || slices.Contains(h, StateVerifying) {
		t.Fatalf("status went %q with an AC that sent PADT after PADS", h)
	}
	if want := []State{StateDialing, StateDisconnected, StateDialing, StateDisconnected}; !slices.Equal(h[:4], want) {
		t.Errorf("status went %q, want dialing and disconnected in turn", h)
	}
	waitFor(t, "reason", func() bool {
		return c.Monitor().LastDisconnect == "PADT from AC: pppd could not start"
	})
	ac.padtAfterPADS.Store(false)
	waitFor(t, "connected once the AC behaves", connected(c))
}

func TestAuthenticationFailure(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	cfg.Password = "wrong"
	c, _ := e.start(t, cfg)
	waitFor(t, "failure reported", func() bool {
		return strings.HasPrefix(c.Monitor().LastDisconnect, "authentication failed")
	})
	if strings.Contains(c.Monitor().LastDisconnect, "wrong") {
		t.Errorf("password in the reason: %q", c.Monitor().LastDisconnect)
	}
	if n := ac.count(func(ac *testAC) int { return len(ac.sessions) }); n > 1 {
		t.Errorf("AC holds %d sessions: failed attempts not torn down", n)
	}
}

func TestAllowRestrictsMethods(t *testing.T) {
	// The AC offers mschap2 first; a client allowing only pap must end up
	// with PAP (link Nak fallback) and still connect.
	e := newEnv(t)
	quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient+" allow=pap")
	c, _ := e.start(t, cfg)
	waitFor(t, "connected", connected(c))
}

func TestDialOnDemand(t *testing.T) {
	e := newEnv(t)
	ac := quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient+" dial-on-demand=yes add-default-route=yes")
	c, _ := e.start(t, cfg)
	var nd fakeNetdev
	waitFor(t, "demand route", func() bool {
		nd, _ = e.dp.get("PPPoE-Out")
		_, routes := e.routes.snapshot()
		return len(routes) == 1
	})
	addrs, routes := e.routes.snapshot()
	wantAddr := Address{Ifindex: nd.ifindex, Local: netip.MustParseAddr("10.112.112.2"), Peer: netip.MustParseAddr("10.112.112.1")}
	wantRoute := Route{Ifindex: nd.ifindex, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.112.112.1"), Metric: 1}
	if len(addrs) != 1 || addrs[0] != wantAddr || routes[0] != wantRoute {
		t.Errorf("while waiting: addresses %v routes %v, want [%v] [%v]", addrs, routes, wantAddr, wantRoute)
	}
	time.Sleep(100 * time.Millisecond)
	if n := ac.count(func(ac *testAC) int { return ac.padrs }); n != 0 || c.Monitor().Status != StateDisconnected {
		t.Fatalf("dialed without traffic: %d PADRs, status %s", n, c.Monitor().Status)
	}

	e.dp.mu.Lock()
	e.dp.netdevs["PPPoE-Out"].demand <- struct{}{}
	e.dp.mu.Unlock()
	waitFor(t, "connected on demand", connected(c))
	addrs, routes = e.routes.snapshot()
	if len(addrs) != 1 || addrs[0].Local != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("connected: addresses %v, want the IPCP one only", addrs)
	}
	if len(routes) != 1 || routes[0].Gateway.IsValid() || routes[0].Metric != 1 {
		t.Errorf("connected: routes %v, want one device default route, metric 1", routes)
	}

	// The AC ends the session: back to waiting, demand route restored,
	// no redial without traffic.
	ac.kill("")
	waitFor(t, "demand route again", func() bool {
		_, routes := e.routes.snapshot()
		return len(routes) == 1 && routes[0] == wantRoute
	})
	padrs := ac.count(func(ac *testAC) int { return ac.padrs })
	time.Sleep(100 * time.Millisecond)
	if n := ac.count(func(ac *testAC) int { return ac.padrs }); n != padrs {
		t.Errorf("redialed without traffic")
	}
}

func TestDiscoveryFailureReported(t *testing.T) {
	e := newEnv(t)
	// An AC that offers another service only: PADIs go unanswered.
	newTestAC(t, e.hub, acOptions{name: "other", mac: acMAC, services: []string{"video"}, local: "10.9.9.1"})
	cfg := loadClient(t, quickExampleClient)
	timing := fastTiming
	timing.DiscoveryLimit = 150 * time.Millisecond
	c, err := New(cfg, Deps{Interfaces: e.ifs, DataPlane: e.dp, Routes: e.routes, Timing: timing}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, c)
	waitFor(t, "failure", func() bool { return strings.HasPrefix(c.Monitor().LastDisconnect, "no answer from an AC") })
	r.stop()
}

func TestNewRejects(t *testing.T) {
	e := newEnv(t)
	good := loadClient(t, quickExampleClient)
	for _, tc := range []struct {
		name string
		mod  func(c *configClient, d *Deps)
	}{
		{"no name", func(c *configClient, d *Deps) { c.Name = "" }},
		{"no interface", func(c *configClient, d *Deps) { c.Interface = "" }},
		{"bad method", func(c *configClient, d *Deps) { c.Allow = []string{"eap"} }},
		{"distance", func(c *configClient, d *Deps) { c.DefaultRouteDistance = 256 }},
		{"no data plane", func(c *configClient, d *Deps) { d.DataPlane = nil }},
		{"no routes", func(c *configClient, d *Deps) { d.Routes = nil }},
		{"no interfaces", func(c *configClient, d *Deps) { d.Interfaces = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, d := good, e.deps()
			tc.mod(&c, &d)
			if _, err := New(c, d, nil); err == nil {
				t.Errorf("New accepted it")
			}
		})
	}
	if _, err := New(good, e.deps(), nil); err != nil {
		t.Errorf("New(good): %v", err)
	}
}

// TestInterfaceAbsent: a client whose interface does not exist waits for
// it (RouterOS keeps such a client, not running) and dials as soon as
// Retry says an interface appeared, not after its backoff.
func TestInterfaceAbsent(t *testing.T) {
	e := newEnv(t)
	quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	cfg.Interface = "ether9"
	d := e.deps()
	d.Timing.ReconnectMin, d.Timing.ReconnectMax = time.Hour, time.Hour
	c, err := New(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, c)
	waitFor(t, "the attach failure reported", func() bool {
		st := c.Monitor()
		return st.Status == StateDisconnected && strings.Contains(st.LastDisconnect, "ether9")
	})
	select {
	case <-r.finished:
		t.Fatalf("Run returned while waiting for its interface: %v", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	e.ifs.add("ether9")
	c.Retry()
	waitFor(t, "connected once ether9 appeared", connected(c))
	r.stop()
}

// TestInterfaceGoneAndBack: the interface goes under a connected client
// (its socket shut down): the session ends and is removed from the data
// plane, the client waits for the interface, and reconnects when it is
// back, on its new ifindex.
func TestInterfaceGoneAndBack(t *testing.T) {
	e := newEnv(t)
	quickExampleAC(t, e.hub)
	cfg := loadClient(t, quickExampleClient)
	d := e.deps()
	d.Timing.ReconnectMin, d.Timing.ReconnectMax = time.Hour, time.Hour
	c, err := New(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, c)
	waitFor(t, "connected", connected(c))

	e.ifs.gone("ether2")
	waitFor(t, "disconnected by the interface going", func() bool {
		st := c.Monitor()
		return st.Status == StateDisconnected && strings.Contains(st.LastDisconnect, "ether2")
	})
	waitFor(t, "session out of the data plane", func() bool {
		nd, ok := e.dp.get("PPPoE-Out")
		return ok && nd.session == nil
	})
	if as, rs := e.routes.snapshot(); len(as) != 0 || len(rs) != 0 {
		t.Errorf("addresses %v and routes %v left", as, rs)
	}

	e.ifs.add("ether2")
	c.Retry()
	waitFor(t, "connected again", connected(c))
	if nd, _ := e.dp.get("PPPoE-Out"); nd.session == nil || nd.session.Ifindex != 3 {
		t.Errorf("session after the interface came back: %+v, want one on ifindex 3", nd.session)
	}
	r.stop()
}

// A PADT for another session or from another AC must not touch ours.
func TestForeignPADTIgnored(t *testing.T) {
	e := newEnv(t)
	quickExampleAC(t, e.hub)
	c, _ := e.start(t, loadClient(t, quickExampleClient))
	waitFor(t, "connected", connected(c))
	st := c.Monitor()
	other := e.hub.endpoint()
	for _, tc := range []struct {
		name string
		src  []byte
		sid  uint16
	}{
		{"other session id", acMAC, st.SessionID + 1},
		{"other AC", []byte{0x02, 0xac, 0, 0, 0, 0x99}, st.SessionID},
	} {
		s := pppoe.Session{ACMAC: tc.src, LocalMAC: clientMAC, SessionID: tc.sid}
		b, err := s.PADT("")
		if err != nil {
			t.Fatal(err)
		}
		// PADT builds the client→AC direction; swap the addresses so it
		// goes AC→client.
		copy(b[0:6], clientMAC)
		copy(b[6:12], tc.src)
		other.WriteFrame(b)
	}
	time.Sleep(50 * time.Millisecond)
	if got := c.Monitor(); got.Status != StateConnected || got.SessionID != st.SessionID {
		t.Errorf("foreign PADT changed the session: %+v", got)
	}
}
