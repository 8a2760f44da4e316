package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// fakeJournal is the state store as the client writes it.
type fakeJournal struct {
	mu      sync.Mutex
	recs    map[uint64]state.Session
	flushes int
}

func newFakeJournal() *fakeJournal { return &fakeJournal{recs: map[uint64]state.Session{}} }

func (j *fakeJournal) Put(rec state.Session, _ uint16) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs[rec.Handle] = rec
	return nil
}

func (j *fakeJournal) Delete(h uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.recs, h)
	return nil
}

func (j *fakeJournal) Flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushes++
}

func (j *fakeJournal) records() []state.Session {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Collect(maps.Values(j.recs))
}

// AdoptNetdev implements NetdevTakeover: a netdev the last process left
// with a session.
func (d *fakeDP) AdoptNetdev(name string, _ int) (Netdev, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	nd, ok := d.netdevs[name]
	if !ok || nd.closed || nd.session == nil {
		return nil, fmt.Errorf("no netdev %s with a session", name)
	}
	if d.mp {
		return fakeMPNetdev{nd}, nil
	}
	return nd, nil
}

// RemoveNetdev implements NetdevTakeover.
func (d *fakeDP) RemoveNetdev(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if nd, ok := d.netdevs[name]; ok {
		nd.session, nd.closed = nil, true
	}
	return nil
}

// host is one pppoed process's view of the machine: what outlives the
// process (netdevs, routes, resolv.conf, state records) and its socket.
type host struct {
	ifs    *fakeInterfaces
	dp     *fakeDP
	routes *fakeRoutes
	dns    *ResolvConf
	path   string
	j      *fakeJournal
	ids    *psession.IDs
}

func newHost(t *testing.T, h *hub) *host {
	path := t.TempDir() + "/resolv.conf"
	return &host{ifs: newFakeInterfaces(t, h, clientMAC), dp: newFakeDP(), routes: newFakeRoutes(), dns: NewResolvConf(path),
		path: path, j: newFakeJournal(), ids: psession.NewIDs(1000)}
}

func (o *host) deps() Deps {
	return Deps{Interfaces: o.ifs, DataPlane: o.dp, Routes: o.routes, DNS: o.dns, Timing: fastTiming, State: o.j,
		IDs: o.ids}
}

// crash takes o's process off the wire at once, as kill -9 does, and
// returns the next process's view: the netdevs, routes, resolv.conf
// and records as the killed one left them.
func (o *host) crash(t *testing.T, h *hub) *host {
	o.ifs.mu.Lock()
	o.ifs.mux.conn.(*endpoint).cut.Store(true)
	o.ifs.mu.Unlock()
	n := newHost(t, h)
	// The store reserves each run handles above the last run's.
	n.ids = psession.NewIDs(o.ids.Next() + 1000)
	o.dp.mu.Lock()
	n.dp.next = o.dp.next
	for name, nd := range o.dp.netdevs {
		c := *nd
		c.dp = n.dp
		// Multilink's diverted packets went to the killed process.
		c.divert, c.divertTo = false, nil
		n.dp.netdevs[name] = &c
	}
	o.dp.mu.Unlock()
	as, rs := o.routes.snapshot()
	for _, a := range as {
		n.routes.addrs[a] = true
	}
	for _, r := range rs {
		n.routes.routes[r] = true
	}
	if b, err := os.ReadFile(o.path); err == nil {
		if err := os.WriteFile(n.path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range o.j.records() {
		n.j.recs[r.Handle] = r
	}
	return n
}

const adoptClient = "/interface pppoe-client add name=out1 interface=ether1 user=u password=p use-peer-dns=yes add-default-route=yes keepalive-timeout=1 disabled=no"

func adoptAC(t *testing.T, h *hub) *testAC {
	return newTestAC(t, h, acOptions{name: "ac1", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		dns: [2]string{"192.0.2.53", ""}, secrets: map[string]string{"u": "p"}})
}

func loadConfig(t *testing.T, script string) *config.Config {
	t.Helper()
	c, err := config.Load(script)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restarted starts o's process as pppoed does after a restart: the
// manager resumes, is offered rec's session on o's netdev, is told the
// offers are over, then gets cfg.
func restarted(t *testing.T, o *host, cfg *config.Config, rec state.Session) *Manager {
	t.Helper()
	nd, _ := o.dp.get("out1")
	m := NewManager(o.deps(), nil)
	t.Cleanup(func() { m.Close() })
	m.Resume(cfg)
	if err := m.Offer(rec, nd.ifindex); err != nil {
		t.Fatalf("Offer: %v", err)
	}
	m.Reconciled()
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

// echo has the AC send an LCP Echo-Request on each of its sessions.
func (ac *testAC) echo() {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	now := time.Now()
	for k, s := range ac.sessions {
		ac.output(k, s, s.lk.EchoRequest(now))
	}
}

// TestAdoptAfterCrash: a client's pppoed is killed with its session up;
// the next one, with the same configuration, takes the session over from
// its record: no discovery and no PADT, the same PPPoE session and
// addresses, nothing installed, added or removed on the netdev, resolv.conf
// not written; the AC's Echo-Requests are answered with the magic number
// of the first run, and the client's keepalive goes on.
func TestAdoptAfterCrash(t *testing.T) {
	h := &hub{}
	ac := adoptAC(t, h)
	cfg := loadConfig(t, adoptClient)
	first := newHost(t, h)
	m1 := NewManager(first.deps(), nil)
	t.Cleanup(func() { m1.Close() })
	if err := m1.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { st, _ := m1.Monitor("out1"); return st.Status == StateConnected })
	before, _ := m1.Monitor("out1")
	recs := first.j.records()
	if len(recs) != 1 || first.j.flushes == 0 {
		t.Fatalf("records %+v (flushed %d times), want one, flushed before the install", recs, first.j.flushes)
	}
	rec := recs[0]
	var saved link.Saved
	if err := saved.Decode(rec.Link); err != nil {
		t.Fatal(err)
	}
	if rec.Role != state.RoleClient || rec.Client != "out1" || rec.SessionID != before.SessionID ||
		rec.LocalIPv4 != before.LocalAddress || rec.MagicLocal != saved.Info.LocalMagic || rec.MagicLocal == 0 ||
		rec.ClientState == nil || rec.ClientState.Config == "" || !slices.Equal(rec.DNS, before.DNSServers) {
		t.Errorf("record %+v does not describe the session %+v", rec, before)
	}

	second := first.crash(t, h)
	m1.Close() // the first process's own view; nothing of it reaches the wire
	resolv, err := os.Stat(second.path)
	if err != nil {
		t.Fatal(err)
	}
	addrs, routes := second.routes.snapshot()
	nd, _ := second.dp.get("out1")

	m2 := NewManager(second.deps(), nil)
	t.Cleanup(func() { m2.Close() })
	m2.Resume(cfg)
	if err := m2.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if st, _ := m2.Monitor("out1"); st.Status != StateDisconnected {
		t.Errorf("client %v before its session was offered, want it waiting", st.Status)
	}
	if err := m2.Offer(rec, nd.ifindex); err != nil {
		t.Fatalf("Offer: %v", err)
	}
	m2.Reconciled()
	waitFor(t, "adopted", func() bool { st, _ := m2.Monitor("out1"); return st.Status == StateConnected })
	after, _ := m2.Monitor("out1")
	if after.SessionID != before.SessionID || after.LocalAddress != before.LocalAddress || !macEqual(after.ACMAC, before.ACMAC) ||
		!slices.Equal(after.DNSServers, before.DNSServers) || after.Uptime < before.Uptime {
		t.Errorf("adopted %+v, was %+v", after, before)
	}
	// Keepalive: the client probes after 1 s of silence; the AC's own
	// probes get the first run's magic number back.
	ac.echo()
	time.Sleep(2500 * time.Millisecond)
	ac.echo()
	waitFor(t, "echo replies", func() bool { return ac.count(func(ac *testAC) int { return len(ac.echoReps) }) >= 2 })
	ac.mu.Lock()
	reps := slices.Clone(ac.echoReps)
	padrs, padts, echoReqs := ac.padrs, ac.padtsIn, ac.echoReqs
	ac.mu.Unlock()
	for _, m := range reps {
		if m != rec.MagicLocal {
			t.Errorf("Echo-Reply with magic %#x, want the first run's %#x", m, rec.MagicLocal)
		}
	}
	if padrs != 1 || padts != 0 || echoReqs == 0 {
		t.Errorf("AC saw %d PADRs, %d PADTs, %d Echo-Requests; want the first PADR only, no PADT, probes", padrs, padts, echoReqs)
	}
	if st, _ := m2.Monitor("out1"); st.Status != StateConnected {
		t.Errorf("adopted session %v after 2.5 s, want it kept alive", st.Status)
	}
	if nd2, _ := second.dp.get("out1"); nd2.installs != nd.installs || nd2.ifindex != nd.ifindex || nd2.session == nil {
		t.Errorf("netdev %+v after the adoption, was %+v: want it as it was", nd2, nd)
	}
	if a, r := second.routes.snapshot(); !sameSet(a, addrs) || !sameSet(r, routes) {
		t.Errorf("addresses %v routes %v after, %v %v before", a, r, addrs, routes)
	}
	if now, err := os.Stat(second.path); err != nil || !os.SameFile(now, resolv) || !now.ModTime().Equal(resolv.ModTime()) {
		t.Errorf("resolv.conf written again by the adoption (%v)", err)
	}
	// A stop now ends the session as ever, and its record with it.
	m2.Close()
	waitFor(t, "the AC's session ended", func() bool { return ac.count(func(ac *testAC) int { return len(ac.sessions) }) == 0 })
	if n := ac.count(func(ac *testAC) int { return ac.terms }); n == 0 {
		t.Error("no Terminate-Request at the stop")
	}
	if r := second.j.records(); len(r) != 0 {
		t.Errorf("records after the stop: %+v", r)
	}
}

func sameSet[T comparable](a, b []T) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x T) bool { return !slices.Contains(b, x) })
}

// TestOfferRefused: a session whose client is gone, disabled or
// configured otherwise, or whose record cannot be restored, is refused
// (restart then sweeps it); a client gone loses its netdev. A change the
// session does not depend on (keepalive-timeout) does not refuse it.
func TestOfferRefused(t *testing.T) {
	good := state.Session{Role: state.RoleClient, Client: "out1", Handle: 7, SessionID: 3}
	for _, c := range []struct {
		name, script string
		rec          func(*state.Session, string)
		want         string
	}{
		{"gone", "/interface pppoe-client add name=out2 interface=ether1 user=u password=p", nil, "gone or disabled"},
		{"disabled", strings.Replace(adoptClient, "disabled=no", "disabled=yes", 1), nil, "gone or disabled"},
		{"user changed", strings.Replace(adoptClient, "user=u", "user=v", 1), nil, "configured otherwise"},
		{"interface changed", strings.Replace(adoptClient, "interface=ether1", "interface=ether2", 1), nil, "configured otherwise"},
		{"default route changed", strings.Replace(adoptClient, "add-default-route=yes", "add-default-route=no", 1), nil, "configured otherwise"},
		{"server record", adoptClient, func(r *state.Session, _ string) { r.Role = state.RoleServer }, "not a pppoe-client's"},
		{"keepalive changed", strings.Replace(adoptClient, "keepalive-timeout=1", "keepalive-timeout=5", 1), nil, ""},
		{"no link", adoptClient, func(r *state.Session, d string) { r.ClientState = &state.ClientState{Config: d}; r.Link = nil }, "without a link"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := newHost(t, &hub{})
			if _, err := o.dp.Netdev("out1", 1480); err != nil {
				t.Fatal(err)
			}
			m := NewManager(o.deps(), nil)
			m.Resume(loadConfig(t, c.script))
			orig := loadConfig(t, adoptClient)
			rec := good
			rec.ClientState = &state.ClientState{Config: sessionDigest(orig.Clients.At(0), nil, orig.ClientRateLimit(orig.Clients.At(0)))}
			if c.rec != nil {
				c.rec(&rec, rec.ClientState.Config)
			}
			if rec.Link == nil && c.want != "without a link" {
				rec.Link = []byte("{}")
			}
			err := m.Offer(rec, 101)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Offer = %v, want the session adopted", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Offer = %v, want an error saying %q", err, c.want)
			}
			nd, _ := o.dp.get("out1")
			if gone := strings.Contains(c.want, "gone"); nd.closed != gone {
				t.Errorf("netdev removed %v, want %v", nd.closed, gone)
			}
		})
	}
}

// TestAdoptFails: a session offered that cannot be taken over when its
// client starts (its netdev lost its session) is ended properly: PADT
// to the AC from the record, its record deleted, its DNS withdrawn, and
// the client dials again.
func TestAdoptFails(t *testing.T) {
	h := &hub{}
	ac := adoptAC(t, h)
	cfg := loadConfig(t, adoptClient)
	first := newHost(t, h)
	m1 := NewManager(first.deps(), nil)
	t.Cleanup(func() { m1.Close() })
	if err := m1.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { st, _ := m1.Monitor("out1"); return st.Status == StateConnected })
	rec := first.j.records()[0]
	second := first.crash(t, h)
	m1.Close()
	// The data plane lost the session meanwhile.
	second.dp.netdevs["out1"].session = nil

	m2 := restarted(t, second, cfg, rec)
	waitFor(t, "connected again", func() bool {
		st, _ := m2.Monitor("out1")
		return st.Status == StateConnected && ac.count(func(ac *testAC) int { return ac.padrs }) == 2
	})
	if n := ac.count(func(ac *testAC) int { return ac.padtsIn }); n != 1 {
		t.Errorf("%d PADTs for the session not adopted, want 1", n)
	}
	for _, r := range second.j.records() {
		if r.Handle == rec.Handle {
			t.Errorf("record of the session not adopted kept: %+v", r)
		}
	}
}

// TestAwaitReconcile: a client whose Manager resumes does not dial until
// Reconciled, and stops cleanly while waiting.
func TestAwaitReconcile(t *testing.T) {
	h := &hub{}
	ac := adoptAC(t, h)
	cfg := loadConfig(t, adoptClient)
	o := newHost(t, h)
	m := NewManager(o.deps(), nil)
	m.Resume(cfg)
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := ac.count(func(ac *testAC) int { return ac.padrs }); n != 0 {
		t.Errorf("%d PADRs before Reconciled", n)
	}
	m.Reconciled()
	waitFor(t, "connected", func() bool { st, _ := m.Monitor("out1"); return st.Status == StateConnected })
	m.Close()

	m = NewManager(o.deps(), nil)
	m.Resume(cfg)
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal(errors.New("Close hung on a client waiting for Reconciled"))
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestAdoptIPv6: a dual-stack session with SLAAC and a delegated prefix
// is taken over with its IPv6 as it was: the same IPv6CP identifiers,
// SLAAC address, routes and pool, the DHCPv6 client still bound to the
// lease of the first run, renewing it at T1 with the server's identifier
// from the record, and no Solicit or Router Solicitation again.
func TestAdoptIPv6(t *testing.T) {
	h := &hub{}
	ac := newTestAC(t, h, acOptions{name: "ac", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		dns: [2]string{"192.0.2.53"}, secrets: map[string]string{"u": "p"},
		ipv6: &acIPv6{link: v6Link, dns: []netip.Addr{v6DNS}, delegate: v6Prefix, valid: 30 * time.Second, t1: 3 * time.Second}})
	cfg := loadConfig(t, adoptClient+`
/ipv6 dhcp-client add interface=out1 request=prefix pool-name=isp-pd pool-prefix-length=60 add-default-route=yes default-route-distance=7 use-peer-dns=yes
`)
	first := newHost(t, h)
	m1 := NewManager(first.deps(), nil)
	t.Cleanup(func() { m1.Close() })
	if err := m1.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "IPv6 up and recorded", func() bool {
		st, _ := m1.Monitor("out1")
		recs := first.j.records()
		return st.IPv6Address.IsValid() && st.DHCPv6Status == "bound" && len(recs) == 1 &&
			recs[0].ClientState.SLAAC.IsValid() && recs[0].ClientState.Lease != nil
	})
	before, _ := m1.Monitor("out1")
	row1 := m1.DHCPv6()
	rec := first.j.records()[0]
	second := first.crash(t, h)
	m1.Close()
	addrs, routes := second.routes.snapshot()
	seen := len(ac.dhcpSeen())

	m2 := restarted(t, second, cfg, rec)
	waitFor(t, "adopted", func() bool { st, _ := m2.Monitor("out1"); return st.Status == StateConnected })
	after, _ := m2.Monitor("out1")
	if after.LocalIPv6 != before.LocalIPv6 || after.RemoteIPv6 != before.RemoteIPv6 || after.IPv6Address != before.IPv6Address ||
		!slices.Equal(after.IPv6DNS, before.IPv6DNS) || after.DHCPv6Status != "bound" || after.DHCPv6Prefix != v6Prefix {
		t.Errorf("adopted IPv6 %+v, was %+v", after, before)
	}
	if a, r := second.routes.snapshot(); !sameSet(a, addrs) || !sameSet(r, routes) {
		t.Errorf("addresses %v routes %v after, %v %v before", a, r, addrs, routes)
	}
	if ps := m2.Pools(); len(ps) != 1 || ps[0].Prefix != v6Prefix || ps[0].Name != "isp-pd" {
		t.Errorf("dynamic pools %+v after the adoption", ps)
	}
	waitFor(t, "a Renew of the adopted lease", func() bool {
		return slices.Contains(ac.dhcpSeen()[seen:], dhcpv6.MessageTypeRenew)
	})
	waitFor(t, "the renewed lease", func() bool {
		r := m2.DHCPv6()
		return len(r) == 1 && r[0].Status == "bound" && r[0].Expires.After(row1[0].Expires)
	})
	for _, m := range ac.dhcpSeen()[seen:] {
		if m == dhcpv6.MessageTypeSolicit || m == dhcpv6.MessageTypeRequest {
			t.Errorf("DHCPv6 %v from the adopted client: it should renew what it holds", m)
		}
	}
}

// TestAdoptMultilink: a multilink session (mrru on both ends) is taken
// over as a single-link one is, and MP goes on: the data plane's
// diverted packets are fragmented again (the new process registers for
// them), with sequence numbers the AC's reassembler takes: not started
// again at 0, which it would drop as old (RFC 1990 §4.1). The record is
// written again with the sequence number the adopted session sends on.
func TestAdoptMultilink(t *testing.T) {
	h := &hub{}
	ac := newTestAC(t, h, acOptions{name: "ac1", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		dns: [2]string{"192.0.2.53", ""}, secrets: map[string]string{"u": "p"}, mrru: 1614})
	cfg := loadConfig(t, adoptClient+" mrru=1614")
	first := newHost(t, h)
	first.dp.mp = true
	m1 := NewManager(first.deps(), nil)
	t.Cleanup(func() { m1.Close() })
	if err := m1.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { st, _ := m1.Monitor("out1"); return st.Status == StateConnected })
	before, _ := m1.Monitor("out1")
	if before.MRRU != 1614 {
		t.Fatalf("monitor mrru %d, want multilink up", before.MRRU)
	}
	upload := func(d *fakeDP, n int) {
		t.Helper()
		nd, _ := d.get("out1")
		if nd.divertTo == nil {
			t.Fatal("nothing registered for the data plane's diverted packets")
		}
		for range n {
			pkt := make([]byte, 1500) // two fragments at MTU 1460
			pkt[0] = 0x45
			nd.divertTo(ppp.ProtocolIPv4, pkt)
		}
	}
	upload(first.dp, 40)
	waitFor(t, "40 packets reassembled by the AC", func() bool { return ac.count(func(ac *testAC) int { return ac.mpDelivered }) == 40 })
	rec := first.j.records()[0]
	second := first.crash(t, h)
	second.dp.mp = true
	m1.Close()

	m2 := restarted(t, second, cfg, rec)
	waitFor(t, "adopted", func() bool { st, _ := m2.Monitor("out1"); return st.Status == StateConnected })
	after, _ := m2.Monitor("out1")
	if after.SessionID != before.SessionID || after.MRRU != 1614 || after.LocalAddress != before.LocalAddress {
		t.Errorf("adopted %+v, was %+v", after, before)
	}
	upload(second.dp, 40)
	waitFor(t, "40 more packets reassembled by the AC", func() bool { return ac.count(func(ac *testAC) int { return ac.mpDelivered }) == 80 })
	if padrs, padts := ac.count(func(ac *testAC) int { return ac.padrs }), ac.count(func(ac *testAC) int { return ac.padtsIn }); padrs != 1 || padts != 0 {
		t.Errorf("AC saw %d PADRs and %d PADTs, want the first PADR only", padrs, padts)
	}
	// The jump past the recorded number is recorded in turn: a second
	// restart goes on past it.
	waitFor(t, "the record's sequence number moved on", func() bool {
		r := second.j.records()
		return len(r) == 1 && r[0].MPSeq >= rec.MPSeq+1<<22
	})
}

// TestAdoptIPv6Only: a session with IPv6CP open and IPCP not (the AC
// rejects IPCP) is recorded as IPv6CP opens and taken over: the same
// PPPoE session, IPv6CP identifiers, SLAAC address, default route and
// delegated prefix, no IPv4 address, no PADT or PADR, the DHCPv6 lease
// renewed at T1 as before; a stop then deletes its record.
func TestAdoptIPv6Only(t *testing.T) {
	h := &hub{}
	ac := newTestAC(t, h, acOptions{name: "ac", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		secrets: map[string]string{"u": "p"},
		ipv6:    &acIPv6{link: v6Link, dns: []netip.Addr{v6DNS}, delegate: v6Prefix, valid: 30 * time.Second, t1: 3 * time.Second}})
	ac.rejectIPCP.Store(true)
	cfg := loadConfig(t, adoptClient+`
/ipv6 dhcp-client add interface=out1 request=prefix pool-name=isp-pd pool-prefix-length=60 add-default-route=yes default-route-distance=7 use-peer-dns=yes
`)
	first := newHost(t, h)
	m1 := NewManager(first.deps(), nil)
	t.Cleanup(func() { m1.Close() })
	if err := m1.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "IPv6 alone up and recorded", func() bool {
		st, _ := m1.Monitor("out1")
		recs := first.j.records()
		return st.Status == StateConnected && st.IPv6Address.IsValid() && st.DHCPv6Status == "bound" && len(recs) == 1 &&
			recs[0].ClientState.SLAAC.IsValid() && recs[0].ClientState.Lease != nil
	})
	before, _ := m1.Monitor("out1")
	rec := first.j.records()[0]
	var saved link.Saved
	if err := saved.Decode(rec.Link); err != nil {
		t.Fatal(err)
	}
	if rec.LocalIPv4.IsValid() || len(saved.NCPs) != 1 || saved.NCPs[0].Protocol != ppp.ProtocolIPv6CP {
		t.Fatalf("record of an IPv6-only session: IPv4 %v, link %+v", rec.LocalIPv4, saved.NCPs)
	}
	second := first.crash(t, h)
	m1.Close()
	addrs, routes := second.routes.snapshot()
	nd, _ := second.dp.get("out1")
	seen := len(ac.dhcpSeen())

	m2 := restarted(t, second, cfg, rec)
	waitFor(t, "adopted", func() bool { st, _ := m2.Monitor("out1"); return st.Status == StateConnected })
	after, _ := m2.Monitor("out1")
	if after.SessionID != before.SessionID || after.LocalIPv6 != before.LocalIPv6 || after.RemoteIPv6 != before.RemoteIPv6 ||
		after.IPv6Address != before.IPv6Address || after.DHCPv6Status != "bound" || after.DHCPv6Prefix != v6Prefix ||
		after.LocalAddress.IsValid() || after.Uptime < before.Uptime {
		t.Errorf("adopted %+v, was %+v", after, before)
	}
	if a, r := second.routes.snapshot(); !sameSet(a, addrs) || !sameSet(r, routes) {
		t.Errorf("addresses %v routes %v after, %v %v before", a, r, addrs, routes)
	}
	if nd2, _ := second.dp.get("out1"); nd2.installs != nd.installs || nd2.session == nil {
		t.Errorf("netdev %+v after the adoption, was %+v: want it as it was", nd2, nd)
	}
	waitFor(t, "a Renew of the adopted lease", func() bool {
		return slices.Contains(ac.dhcpSeen()[seen:], dhcpv6.MessageTypeRenew)
	})
	if padrs, padts := ac.count(func(ac *testAC) int { return ac.padrs }), ac.count(func(ac *testAC) int { return ac.padtsIn }); padrs != 1 || padts != 0 {
		t.Errorf("AC saw %d PADRs and %d PADTs, want the first PADR only", padrs, padts)
	}
	m2.Close()
	if r := second.j.records(); len(r) != 0 {
		t.Errorf("records after the stop: %+v", r)
	}
}

// TestRecordFollowsNCPs: a dual-stack session's record names both
// network protocols; when the AC closes IPCP and IPv6 goes on alone the
// record is written again with IPv6CP alone and no IPv4 (a restart now
// adopts an IPv6-only session), and it goes when the session ends.
func TestRecordFollowsNCPs(t *testing.T) {
	h := &hub{}
	ac := newTestAC(t, h, acOptions{name: "ac", mac: acMAC, local: "10.0.0.1", pool: []string{"10.0.0.2"},
		secrets: map[string]string{"u": "p"},
		ipv6:    &acIPv6{link: v6Link, dns: []netip.Addr{v6DNS}, delegate: v6Prefix, valid: 30 * time.Second, t1: 10 * time.Second}})
	o := newHost(t, h)
	m := NewManager(o.deps(), nil)
	t.Cleanup(func() { m.Close() })
	if err := m.ApplyConfig(loadConfig(t, adoptClient)); err != nil {
		t.Fatal(err)
	}
	ncps := func() (int, netip.Addr) {
		recs := o.j.records()
		if len(recs) != 1 {
			return len(recs), netip.Addr{}
		}
		var saved link.Saved
		if err := saved.Decode(recs[0].Link); err != nil {
			t.Fatal(err)
		}
		return len(saved.NCPs), recs[0].LocalIPv4
	}
	waitFor(t, "both stacks recorded", func() bool { n, v4 := ncps(); return n == 2 && v4.IsValid() })
	term, err := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 78}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ac.rejectIPCP.Store(true)
	ac.mu.Lock()
	for k, s := range ac.sessions {
		ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: term})
	}
	ac.mu.Unlock()
	waitFor(t, "IPv6CP alone recorded", func() bool {
		n, v4 := ncps()
		st, _ := m.Monitor("out1")
		return n == 1 && !v4.IsValid() && !st.LocalAddress.IsValid() && st.Status == StateConnected
	})
	m.Close()
	if r := o.j.records(); len(r) != 0 {
		t.Errorf("records after the stop: %+v", r)
	}
}
