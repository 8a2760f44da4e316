package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

const script = `
/ip pool add name=subs ranges=10.0.0.10-10.0.0.11
/ppp profile add name=p local-address=10.0.0.1 remote-address=subs dns-server=192.0.2.53
/ppp profile add name=nomss local-address=10.0.0.1 remote-address=subs change-tcp-mss=no
/ppp secret add name=alice password=wonderland profile=p
/ppp secret add name=bob password=builder profile=nomss
`

// fakeDP records what the session asks of the data plane.
type fakeDP struct {
	mu        sync.Mutex
	installed map[int]Entry
	next      int
	removes   int
	stats     map[int]Stats // by handle: the real data plane counts per install
	fail      error
	statsFail bool
	onInstall func() // called before an entry goes in
}

func newFakeDP() *fakeDP { return &fakeDP{installed: map[int]Entry{}, stats: map[int]Stats{}} }

func (d *fakeDP) Install(e Entry) (Handle, error) {
	if d.onInstall != nil {
		d.onInstall()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return nil, d.fail
	}
	d.next++
	d.installed[d.next] = e
	return d.next, nil
}

func (d *fakeDP) Update(h Handle, e Entry) (Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.installed[h.(int)]; !ok {
		return nil, errors.New("no such entry")
	}
	d.installed[h.(int)] = e
	return h, nil
}

func (d *fakeDP) Remove(h Handle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.installed[h.(int)]; !ok {
		return errors.New("no such entry")
	}
	delete(d.installed, h.(int))
	d.removes++
	return nil
}

func (d *fakeDP) Stats(h Handle) (Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.installed[h.(int)]; !ok {
		return Stats{}, errors.New("no such entry")
	}
	if d.statsFail {
		return Stats{}, errors.New("map read failed")
	}
	return d.stats[h.(int)], nil
}

func (d *fakeDP) entries() []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	var es []Entry
	for _, e := range d.installed {
		es = append(es, e)
	}
	return es
}

// setStats sets the counters of the newest install.
func (d *fakeDP) setStats(st Stats) {
	d.mu.Lock()
	d.stats[d.next] = st
	d.mu.Unlock()
}

func (d *fakeDP) setStatsFail(fail bool) {
	d.mu.Lock()
	d.statsFail = fail
	d.mu.Unlock()
}

// rig is a session driven step by step, with the test playing the client
// through a link.Link in the Peer role.
type rig struct {
	t        *testing.T
	s        *Session
	peer     *link.Link
	dp       *fakeDP
	aaa      *aaa.Local
	logs     *observer.ObservedLogs
	mu       sync.Mutex
	out      []ppp.Frame // from the session to the client, not yet delivered
	sent     []ppp.Frame // every frame the session sent, in order
	padts    []string
	echoes   int // LCP Echo-Requests the session sent
	peerDown bool
	now      time.Time
}

var (
	acMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xac}
	client = pppoe.Circuit{Ifindex: 3, NumVLANs: 2, MAC: [6]byte{0x02, 0, 0, 0, 0, 0x01},
		VLANs: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 100}, {TPID: ethernet.EtherTypeVLAN, ID: 7}}}
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type rigOpt func(*Config, *link.Config)

func newRig(t *testing.T, user, password string, opts ...rigOpt) *rig {
	t.Helper()
	cfg, err := config.Load(script)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	r := &rig{t: t, dp: newFakeDP(), aaa: local, logs: logs, now: t0}
	sc := Config{
		Settings: &Settings{
			Link: link.Config{
				Methods: []auth.Method{auth.MSCHAPv2, auth.CHAP, auth.PAP},
				Magic:   func() uint32 { return 0x11111111 },
			},
			AAA:              local,
			DataPlane:        r.dp,
			KeepaliveTimeout: 10 * time.Second,
			Now:              func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now },
			Log:              zap.New(core),
		},
		ID:        0x1a,
		Circuit:   client,
		SessionID: 0x1234,
		ACMAC:     acMAC,
		Interface: "vlan7",
		Service:   "internet",
		Opened:    t0.Add(-50 * time.Millisecond),
		Send: func(f ppp.Frame) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if f.Protocol == ppp.ProtocolLCP && len(f.Information) > 0 && ppp.Code(f.Information[0]) == ppp.EchoRequest {
				r.echoes++
			}
			c := ppp.Frame{Protocol: f.Protocol, Information: append([]byte(nil), f.Information...)}
			r.out = append(r.out, c)
			r.sent = append(r.sent, c)
			return nil
		},
		SendPADT: func(msg string) error { r.mu.Lock(); defer r.mu.Unlock(); r.padts = append(r.padts, msg); return nil },
	}
	pc := link.Config{Role: link.Peer, User: user, Password: password, RequestDNS: true, Magic: func() uint32 { return 0x22222222 }}
	for _, o := range opts {
		o(&sc, &pc)
	}
	r.s, err = New(sc)
	if err != nil {
		t.Fatal(err)
	}
	r.peer, err = link.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// takeOut returns and clears what the session sent.
func (r *rig) takeOut() []ppp.Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.out
	r.out = nil
	return out
}

// exchange runs frames both ways until neither side has anything to say.
// The peer's frames pass through the session's receive step.
func (r *rig) exchange(peerOut link.Output) {
	r.t.Helper()
	pending := peerOut.Send
	r.notePeer(peerOut)
	for i := 0; i < 100; i++ {
		for _, f := range pending {
			r.s.receive(f, r.now)
		}
		pending = nil
		for _, f := range r.takeOut() {
			out := r.peer.Receive(f, r.now)
			r.notePeer(out)
			pending = append(pending, out.Send...)
		}
		if len(pending) == 0 {
			return
		}
	}
	r.t.Fatal("exchange does not settle")
}

func (r *rig) notePeer(out link.Output) {
	for _, ev := range out.Events {
		if _, ok := ev.(link.Down); ok {
			r.peerDown = true
		}
	}
}

// up starts the session and negotiates to the end.
func (r *rig) up() {
	r.t.Helper()
	r.s.start(r.now)
	r.exchange(r.peer.Up(r.now))
}

// at moves the clock to t0+d and runs the session's due timers.
func (r *rig) at(d time.Duration) {
	r.mu.Lock()
	r.now = t0.Add(d)
	r.mu.Unlock()
	r.s.wake(r.now)
	r.exchange(link.Output{})
}

func (r *rig) downLine() []observer.LoggedEntry {
	return r.logs.FilterMessage("session down").All()
}

// checkDown asserts the teardown: one "session down" line with reason,
// data plane empty, address back in the pool, PADT as expected.
func (r *rig) checkDown(want Reason, padt bool) {
	r.t.Helper()
	select {
	case <-r.s.Done():
	default:
		r.t.Fatalf("session not done, state %v", r.s.State())
	}
	if r.s.Reason() != want {
		r.t.Errorf("reason %v, want %v", r.s.Reason(), want)
	}
	if es := r.dp.entries(); len(es) != 0 {
		r.t.Errorf("data plane still holds %+v", es)
	}
	if used := r.aaa.PoolUsed("subs"); used != 0 {
		r.t.Errorf("pool still has %d addresses out", used)
	}
	if r.aaa.Counters().Leases != 0 {
		r.t.Errorf("lease not released: %+v", r.aaa.Counters())
	}
	r.mu.Lock()
	padts := r.padts
	r.mu.Unlock()
	if padt && (len(padts) != 1 || padts[0] != want.String()) {
		r.t.Errorf("PADTs %q, want one with %q", padts, want)
	}
	if !padt && len(padts) != 0 {
		r.t.Errorf("PADTs %q, want none", padts)
	}
	lines := r.downLine()
	if len(lines) != 1 {
		r.t.Fatalf("%d session down lines", len(lines))
	}
	f := lines[0].ContextMap()
	if lines[0].Level != zapcore.InfoLevel || f["reason"] != want.String() || fmt.Sprint(f["session_id"]) != "4660" ||
		f["mac"] != "02:00:00:00:00:01" || f["iface"] != "vlan7" {
		r.t.Errorf("session down line %v %v", lines[0].Level, f)
	}
	if _, ok := f["duration"]; !ok {
		r.t.Error("session down line without duration")
	}
}

func TestUpInstallsEntry(t *testing.T) {
	rows := []struct {
		user, password string
		allow          []auth.Method
		mss            uint16
		mtu            uint16
	}{
		{"alice", "wonderland", nil, 1420, 1460}, // peer MaxMRU 1460 default → MTU 1460, MSS 1460−40
		{"alice", "wonderland", []auth.Method{auth.PAP}, 1420, 1460},
		{"bob", "builder", []auth.Method{auth.CHAP}, 0, 1460}, // change-tcp-mss=no
	}
	for _, row := range rows {
		t.Run(row.user, func(t *testing.T) {
			var ups []time.Duration
			r := newRig(t, row.user, row.password, func(c *Config, p *link.Config) {
				p.Methods = row.allow
				c.Hooks.Up = func(d time.Duration) { ups = append(ups, d) }
			})
			r.up()
			if r.s.State() != StateUp {
				t.Fatalf("state %v", r.s.State())
			}
			es := r.dp.entries()
			want := Entry{Circuit: client, SessionID: 0x1234, ACMAC: acMAC, IPv4: netip.MustParseAddr("10.0.0.10"), MTU: row.mtu, MSS: row.mss}
			if len(es) != 1 || es[0].Circuit != want.Circuit || es[0].SessionID != want.SessionID || es[0].ACMAC.String() != want.ACMAC.String() ||
				es[0].IPv4 != want.IPv4 || es[0].MTU != want.MTU || es[0].MSS != want.MSS {
				t.Fatalf("installed %+v, want %+v", es, want)
			}
			if got := r.peer.Info().IP.Local; got != want.IPv4 {
				t.Errorf("client got address %v", got)
			}
			if len(ups) != 1 || ups[0] != 50*time.Millisecond {
				t.Errorf("up hook latencies %v", ups)
			}
			up := r.logs.FilterMessage("session up").All()
			if len(up) != 1 || up[0].ContextMap()["user"] != row.user || up[0].ContextMap()["address"] != "10.0.0.10" {
				t.Errorf("session up lines %v", up)
			}
			snap := r.s.Snapshot()
			if snap.Name != row.user || snap.Address != want.IPv4 || snap.CallerID != "02:00:00:00:00:01" || snap.SessionID != 0x1234 ||
				snap.Service != "pppoe" || snap.ServiceName != "internet" || snap.Uptime != 50*time.Millisecond || snap.State != StateUp {
				t.Errorf("snapshot %+v", snap)
			}
		})
	}
}

func TestTeardownPaths(t *testing.T) {
	rows := []struct {
		name    string
		end     func(r *rig)
		reason  Reason
		padt    bool
		lcpTerm bool // the session sent an LCP Terminate-Request first
	}{
		{"client PADT", func(r *rig) { r.s.finish(ReasonPADT, "", r.now) }, ReasonPADT, false, false},
		{"admin remove", func(r *rig) { r.s.finish(ReasonAdmin, "", r.now) }, ReasonAdmin, true, true},
		{"replaced", func(r *rig) { r.s.finish(ReasonReplaced, "", r.now) }, ReasonReplaced, true, true},
		{"shutdown", func(r *rig) { r.s.finish(ReasonShutdown, "", r.now) }, ReasonShutdown, true, true},
		// Nothing reaches a client behind a deleted interface: no PADT,
		// no Terminate, but the entry and the address go all the same.
		{"interface gone", func(r *rig) { r.s.finish(ReasonInterfaceGone, "", r.now) }, ReasonInterfaceGone, false, false},
		{"client LCP terminate", func(r *rig) {
			r.exchange(r.peer.Close("bye", r.now))
			// The RFC 1661 Stopping state waits a restart period before Down.
			for i := 1; i <= 10 && r.s.Reason() == ReasonNone; i++ {
				r.at(time.Duration(i) * 3 * time.Second)
			}
		}, ReasonPeerTerminate, true, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := newRig(t, "alice", "wonderland")
			r.up()
			if len(r.dp.entries()) != 1 || r.aaa.PoolUsed("subs") != 1 {
				t.Fatal("not up")
			}
			r.takeOut()
			row.end(r)
			sent := r.takeOut()
			term := false
			for _, f := range sent {
				if f.Protocol == ppp.ProtocolLCP && ppp.Code(f.Information[0]) == ppp.TerminateRequest {
					term = true
				}
			}
			if term != row.lcpTerm {
				t.Errorf("LCP Terminate-Request sent: %v, want %v (%d frames)", term, row.lcpTerm, len(sent))
			}
			r.checkDown(row.reason, row.padt)
			// Nothing happens after the end: a second stop, a late frame, a timer.
			r.s.finish(ReasonAdmin, "", r.now)
			r.s.receive(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: []byte{9, 1, 0, 8, 0, 0, 0, 0}}, r.now)
			r.s.wake(r.now.Add(time.Hour))
			r.checkDown(row.reason, row.padt)
			if r.dp.removes != 1 {
				t.Errorf("%d data plane removes", r.dp.removes)
			}
		})
	}
}

func TestAuthFailure(t *testing.T) {
	var failed []auth.Method
	r := newRig(t, "alice", "not the password", func(c *Config, p *link.Config) {
		c.Hooks.AuthFailed = func(m auth.Method) { failed = append(failed, m) }
	})
	r.up()
	for i := 1; i <= 20 && r.s.Reason() == ReasonNone; i++ {
		r.at(time.Duration(i) * 3 * time.Second)
	}
	r.checkDown(ReasonAuthFailed, true)
	if len(r.dp.entries()) != 0 || r.dp.next != 0 {
		t.Error("data plane touched for a refused session")
	}
	if len(failed) != 1 || failed[0] != auth.MSCHAPv2 {
		t.Errorf("auth failed hook %v", failed)
	}
	f := r.downLine()[0].ContextMap()
	if f["user"] != "alice" {
		t.Errorf("down line user %v", f["user"])
	}
	for _, e := range r.logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "not the password") {
				t.Errorf("log %q field %s leaks the password", e.Message, k)
			}
		}
	}
}

func TestPoolExhausted(t *testing.T) {
	// Two addresses in the pool: hold both, the third session fails.
	r := newRig(t, "alice", "wonderland")
	held := []*aaa.Lease{r.aaa.Begin(aaa.ServicePPPoE), r.aaa.Begin(aaa.ServicePPPoE)}
	for _, le := range held {
		if res, err := le.Verify(context.Background(), link.AuthRequest{Method: auth.PAP, User: "alice", Password: "wonderland"}); err != nil || !res.OK {
			t.Fatal(res, err)
		}
		if _, err := le.Addresses("alice"); err != nil {
			t.Fatal(err)
		}
	}
	r.up()
	for i := 1; i <= 20 && r.s.Reason() == ReasonNone; i++ {
		r.at(time.Duration(i) * 3 * time.Second)
	}
	if r.s.Reason() != ReasonNoAddress {
		t.Fatalf("reason %v", r.s.Reason())
	}
	if d := r.downLine()[0].ContextMap()["detail"]; !strings.Contains(d.(string), "no address available") {
		t.Errorf("detail %q", d)
	}
	if r.aaa.Counters().PoolExhausted != 1 {
		t.Errorf("counters %+v", r.aaa.Counters())
	}
	for _, le := range held {
		le.Release()
	}
	r.checkDown(ReasonNoAddress, true)
}

func TestDataPlaneRefuses(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.dp.fail = errors.New("map full")
	r.up()
	r.checkDown(ReasonDataPlane, true)
}

func TestKeepaliveSilentClient(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.up()
	r.takeOut()
	// The client goes silent: from here the test no longer answers.
	silent := func(d time.Duration) {
		r.mu.Lock()
		r.now = t0.Add(d)
		r.mu.Unlock()
		r.s.wake(r.now)
		r.takeOut()
	}
	var echoAt []time.Duration
	for ms := 0; ms <= 25000 && r.s.Reason() == ReasonNone; ms += 100 {
		before := r.echoes
		silent(time.Duration(ms) * time.Millisecond)
		if r.echoes > before {
			echoAt = append(echoAt, time.Duration(ms)*time.Millisecond)
		}
	}
	// T = 10s: echoes at 10, 11, ..., 19 s, gone at 20 s.
	var want []time.Duration
	for s := 10; s < 20; s++ {
		want = append(want, time.Duration(s)*time.Second)
	}
	if !equalDurations(echoAt, want) {
		t.Errorf("echoes at %v, want %v", echoAt, want)
	}
	r.checkDown(ReasonKeepalive, true)
	if d := r.downLine()[0].ContextMap()["duration"]; d != 20*time.Second {
		t.Errorf("duration %v", d)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeepaliveAnsweringClient(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.up()
	// The client answers every echo: it is never declared gone, and it is
	// probed every second once T has passed since its last frame.
	for s := 1; s <= 60; s++ {
		r.at(time.Duration(s) * time.Second)
	}
	if r.s.Reason() != ReasonNone {
		t.Fatalf("answering client ended: %v", r.s.Reason())
	}
	// Replies are traffic: after the first echo at 10s is answered, the
	// next probe comes T later, so 60 s see echoes at 10, 20, ..., 60.
	if r.echoes != 6 {
		t.Errorf("%d echoes in 60 s, want 6", r.echoes)
	}
}

func TestKeepaliveDataPlaneActivity(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.up()
	r.takeOut()
	// Busy upstream traffic through the data plane; no PPP frame at all.
	for ms := 0; ms <= 60000; ms += 500 {
		r.dp.setStats(Stats{PacketsUp: uint64(ms), LastSeen: time.Duration(ms) * time.Millisecond})
		r.mu.Lock()
		r.now = t0.Add(time.Duration(ms) * time.Millisecond)
		r.mu.Unlock()
		r.s.wake(r.now)
		r.takeOut()
	}
	if r.echoes != 0 || r.s.Reason() != ReasonNone {
		t.Fatalf("busy session: %d echoes, reason %v", r.echoes, r.s.Reason())
	}
	// Traffic stops at 60 s; the check at 70 s still sees the last change
	// (made at 60 s, noticed then), so echoes start at 70 s and the end comes
	// at 80 s.
	for ms := 60500; ms <= 90000 && r.s.Reason() == ReasonNone; ms += 500 {
		r.mu.Lock()
		r.now = t0.Add(time.Duration(ms) * time.Millisecond)
		r.mu.Unlock()
		r.s.wake(r.now)
		r.takeOut()
	}
	if r.echoes != 10 {
		t.Errorf("%d echoes after traffic stopped, want 10", r.echoes)
	}
	r.checkDown(ReasonKeepalive, true)
	if got := r.s.Snapshot().Stats.PacketsUp; got != 60000 {
		t.Errorf("snapshot of the ended session: %d packets up, want its final 60000", got)
	}
}

// TestStatsOverInstalls: a session's counters are the sum over its data
// plane installs (IPCP renegotiation installs anew, and the data plane
// counts per install), never go down, and keep what the data plane counted
// up to the entry's removal, read or not, and the last good read when a
// read fails. Per-interface traffic metrics sum these, so a drop would be
// a counter reset to Prometheus.
func TestStatsOverInstalls(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.up()
	check := func(when string, want Stats) {
		t.Helper()
		got := r.s.Snapshot().Stats
		got.LastSeen = 0
		if got != want {
			t.Errorf("%s: stats %+v, want %+v", when, got, want)
		}
	}
	r.dp.setStats(Stats{PacketsUp: 10, BytesUp: 1000, PacketsDown: 5, BytesDown: 500, Drops: 1})
	check("first install", Stats{PacketsUp: 10, BytesUp: 1000, PacketsDown: 5, BytesDown: 500, Drops: 1})

	// IPCP renegotiated (RFC 1661 §4.3: tld, then tlu), with no IPv6CP
	// to carry the entry: a new entry whose counters start at zero.
	info := r.s.link.Info()
	r.s.act(link.NetworkDown{Protocol: ppp.ProtocolIPCP}, r.now)
	r.s.act(link.NetworkUp{Protocol: ppp.ProtocolIPCP, Info: info}, r.now)
	if r.dp.removes != 1 || len(r.dp.entries()) != 1 {
		t.Fatalf("reinstall: %d removes, %d entries", r.dp.removes, len(r.dp.entries()))
	}
	check("reinstalled", Stats{PacketsUp: 10, BytesUp: 1000, PacketsDown: 5, BytesDown: 500, Drops: 1})
	r.dp.setStats(Stats{PacketsUp: 3, BytesUp: 300, PacketsDown: 2, BytesDown: 200})
	check("second install", Stats{PacketsUp: 13, BytesUp: 1300, PacketsDown: 7, BytesDown: 700, Drops: 1})

	// A failed read shows the last good one, not less.
	r.dp.setStatsFail(true)
	check("failed read", Stats{PacketsUp: 13, BytesUp: 1300, PacketsDown: 7, BytesDown: 700, Drops: 1})
	r.dp.setStatsFail(false)

	// Packets counted after the last snapshot, before the end, still count.
	r.dp.setStats(Stats{PacketsUp: 4, BytesUp: 400, PacketsDown: 2, BytesDown: 200})
	r.s.finish(ReasonAdmin, "", r.now)
	r.checkDown(ReasonAdmin, true)
	check("ended", Stats{PacketsUp: 14, BytesUp: 1400, PacketsDown: 7, BytesDown: 700, Drops: 1})
}

func TestKeepaliveDisabled(t *testing.T) {
	r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) { c.KeepaliveTimeout = 0 })
	r.up()
	r.takeOut()
	r.s.wake(t0.Add(time.Hour))
	if r.echoes != 0 || r.s.Reason() != ReasonNone || !r.s.next().IsZero() {
		t.Errorf("keepalive 0: echoes %d reason %v next %v", r.echoes, r.s.Reason(), r.s.next())
	}
}

func TestNewRejects(t *testing.T) {
	local, _ := aaa.New(config.New().LocalAAA(), nil)
	good := Config{ID: 1, SessionID: 1, Settings: &Settings{AAA: local, DataPlane: newFakeDP(),
		Link: link.Config{Methods: []auth.Method{auth.PAP}}},
		Send: func(ppp.Frame) error { return nil }, SendPADT: func(string) error { return nil }}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	rows := map[string]func(*Config){
		"no handle":      func(c *Config) { c.ID = 0 },
		"no lease":       func(c *Config) { c.AAA = nil },
		"no data plane":  func(c *Config) { c.DataPlane = nil },
		"no send":        func(c *Config) { c.Send = nil },
		"no padt":        func(c *Config) { c.SendPADT = nil },
		"id 0":           func(c *Config) { c.SessionID = 0 },
		"id ffff":        func(c *Config) { c.SessionID = 0xffff },
		"negative T":     func(c *Config) { c.KeepaliveTimeout = -1 },
		"negative setup": func(c *Config) { c.SetupTimeout = -1 },
		"no auth method": func(c *Config) { c.Link.Methods = nil },
		"no settings":    func(c *Config) { c.Settings = nil },
	}
	for name, mut := range rows {
		c := good
		st := *good.Settings // each row changes its own
		c.Settings = &st
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRun drives a real Run loop with a real clock: frames over channels,
// timers from the link, Stop from another goroutine, ctx cancel.
func TestRun(t *testing.T) {
	for _, stop := range []string{"stop", "cancel"} {
		t.Run(stop, func(t *testing.T) {
			r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
				c.Now = time.Now
				c.Opened = time.Time{} // now, on the real clock
				c.KeepaliveTimeout = 0
			})
			// The client side runs here, reading what Send captured.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ended := make(chan Reason, 1)
			go func() { ended <- r.s.Run(ctx) }()
			deliver := func(out link.Output) {
				for _, f := range out.Send {
					if !r.s.Deliver(f) {
						t.Error("deliver refused")
					}
				}
			}
			deliver(r.peer.Up(time.Now()))
			deadline := time.Now().Add(5 * time.Second)
			for r.s.State() != StateUp && time.Now().Before(deadline) {
				for _, f := range r.takeOut() {
					deliver(r.peer.Receive(f, time.Now()))
				}
				time.Sleep(time.Millisecond)
			}
			if r.s.State() != StateUp {
				t.Fatalf("state %v", r.s.State())
			}
			want := ReasonAdmin
			if stop == "cancel" {
				cancel()
				want = ReasonShutdown
			} else {
				r.s.Stop(ReasonAdmin)
				r.s.Stop(ReasonShutdown) // the first reason wins
			}
			select {
			case got := <-ended:
				if got != want {
					t.Errorf("Run = %v, want %v", got, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not end")
			}
			r.checkDown(want, true)
			if r.s.Deliver(ppp.Frame{Protocol: ppp.ProtocolLCP}) {
				t.Error("deliver to an ended session")
			}
		})
	}
}
