package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// fakeServers keeps sessions per server (interface/service-name) and, like
// the real access concentrator, drops on Apply only the sessions of servers
// that were removed or changed.
type fakeServers struct {
	mu       sync.Mutex
	cfg      *config.Config
	applied  int
	closed   bool
	sessions []Active
	server   map[string]string // session ID -> server key
	removed  []string
	invalid  map[string]error
	retries  int
	fail     error // Apply refuses every configuration with it
	// listed counts Sessions calls: a metrics scrape makes none (its
	// cost must not grow with the sessions).
	listed int
	// queueDrops is what QueueDrops answers (the HTB classes' drops by
	// session), queueErr its failure.
	queueDrops map[string]uint64
	queueErr   error
}

func (f *fakeServers) Apply(cfg *config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	old := f.cfg
	if old == nil {
		old = config.New()
	}
	gone := map[string]bool{}
	for _, c := range config.Diff(old, cfg) {
		if c.Menu == "/interface pppoe-server server" && c.Kind != config.Added {
			gone[c.Key] = true
		}
	}
	var keep []Active
	for _, s := range f.sessions {
		if !gone[f.server[s.ID]] {
			keep = append(keep, s)
		}
	}
	f.sessions, f.cfg = keep, cfg
	f.applied++
	return nil
}

func (f *fakeServers) add(server string, a Active) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == nil {
		f.server = map[string]string{}
	}
	f.server[a.ID] = server
	f.sessions = append(f.sessions, a)
}

func (f *fakeServers) Sessions() []Active {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	return append([]Active(nil), f.sessions...)
}

func (f *fakeServers) Remove(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.sessions {
		if s.ID == id {
			f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
			f.removed = append(f.removed, id)
			return nil
		}
	}
	return errors.New("gone")
}

func (f *fakeServers) QueueDrops() (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queueDrops, f.queueErr
}

func (f *fakeServers) Counters() ServerCounters {
	f.mu.Lock()
	states := map[string]int{}
	for _, s := range f.sessions {
		states[s.State]++
	}
	f.mu.Unlock()
	return ServerCounters{
		States:            states,
		Discovery:         pppoe.Counters{PADIReceived: 42, PADRDuplicates: 2},
		AuthFailures:      map[string]uint64{"chap": 3},
		PoolExhausted:     1,
		Traffic:           map[string]metrics.Traffic{"ether3": {PacketsUp: 7, BytesUp: 700, PacketsDown: 9, BytesDown: 900}},
		MPReassemblyDrops: map[string]uint64{"lost": 5},
	}
}

func (f *fakeServers) Invalid() map[string]error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.invalid
}

func (f *fakeServers) Retry() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retries++
	return nil
}

func (f *fakeServers) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.sessions = true, nil
	return nil
}

type fakeClients struct {
	mu      sync.Mutex
	polls   int
	closed  bool
	applied []string
	fail    error // Apply refuses every configuration with it
}

func (f *fakeClients) Apply(cfg *config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applied = nil
	for _, c := range cfg.Clients.All() {
		f.applied = append(f.applied, c.Name)
	}
	return nil
}

func (f *fakeClients) Monitor(name string) (ClientStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == "broken" {
		return nil, client.ErrNoClient
	}
	f.polls++
	return client.Status{Name: name, Status: "connected", Uptime: time.Duration(f.polls) * time.Second,
		MTU: 1480, LocalAddress: netip.MustParseAddr("10.0.0.9")}, nil
}

func (f *fakeClients) Close() error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

type scanCall struct {
	iface string
	d     time.Duration
}

const baseConfig = `# pools, profiles and secrets as in the reference
/ip pool
add name=pool1 ranges=10.0.0.2-10.0.0.200
/ppp profile
add name=prof1 local-address=10.0.0.1 remote-address=pool1
/ppp secret
add name=u1 password=p1 profile=prof1
add name=u2 password=p2 profile=prof1 disabled=yes
/interface pppoe-server server
add service-name=s1 interface=veth1 disabled=no
add service-name=s2 interface=veth2 disabled=no
/interface pppoe-client add name=pppoe-out1 interface=veth3 user=u1 password=p1 \
    disabled=no
/system identity set name=ac1
`

type harness struct {
	d     *Daemon
	srv   *fakeServers
	cl    *fakeClients
	scans []scanCall
	file  string
}

func newHarness(t *testing.T, script string) *harness {
	t.Helper()
	h := &harness{srv: &fakeServers{}, cl: &fakeClients{}, file: filepath.Join(t.TempDir(), "pppoed.rsc")}
	if err := os.WriteFile(h.file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	h.d = New(Options{
		ConfigPath: h.file, Servers: h.srv, Clients: h.cl, MonitorInterval: 5 * time.Millisecond,
		Scan: func(ctx context.Context, iface string, d time.Duration) ([]client.Offer, error) {
			h.scans = append(h.scans, scanCall{iface, d})
			return []client.Offer{{Service: "s1", MACAddress: "02:00:00:00:00:01", ACName: "ac1"}}, nil
		},
		DataPlane: func() (map[string]uint64, error) {
			return map[string]uint64{"fast_up": 99, "spoofed": 1}, nil
		},
	})
	cfg, err := LoadFile(h.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.Start(cfg); err != nil {
		t.Fatal(err)
	}
	h.srv.add("veth1/s1", Active{ID: "*1A", Name: "u1", Service: "pppoe", CallerID: "02:00:00:00:00:0A",
		Address: netip.MustParseAddr("10.0.0.2"), Uptime: 3723 * time.Second, SessionID: 0x11, State: "up",
		PacketsIn: 10, BytesIn: 1000, PacketsOut: 20, BytesOut: 2000,
		RateLimit: mustRate("10M/50M 20M/100M 8M/40M 16"), ShapeTx: true, RateDropsIn: 3, RateDropsOut: 4,
		MRRU: 1614, ReassemblyDrops: 9, MPDrops: session.MPDrops{Lost: 2, Overflow: 1, Oversize: 3, Duplicates: 1, Refused: 2}})
	h.srv.add("veth2/s2", Active{ID: "*1B", Name: "u3", Service: "pppoe", CallerID: "02:00:00:00:00:0B",
		Address: netip.MustParseAddr("10.0.0.3"), Uptime: 5 * time.Second, SessionID: 0x12, State: "up"})
	// u1's download is shaped by an HTB class that dropped 5 packets
	// besides the BPF's 4.
	h.srv.queueDrops = map[string]uint64{"*1A": 5}
	return h
}

func (h *harness) exec(script string, asJSON bool) (string, error) {
	var b bytes.Buffer
	err := h.d.Exec(context.Background(), api.Request{Script: script, JSON: asJSON}, &b)
	return b.String(), err
}

// TestQueueDropsFail: /queue simple print fails when the shaper's drops
// cannot be read, rather than print a dropped that leaves them out.
func TestQueueDropsFail(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.srv.mu.Lock()
	h.srv.queueErr = errors.New("netlink: no buffer space")
	h.srv.mu.Unlock()
	if out, err := h.exec("/queue simple print", false); err == nil || !strings.Contains(err.Error(), "no buffer space") {
		t.Errorf("print = %q, %v; want the read's error", out, err)
	}
}

// TestExec covers every menu and verb the CLI offers, in order, each row
// seeing the state the rows before it left.
func TestExec(t *testing.T) {
	h := newHarness(t, baseConfig)
	tests := []struct {
		script  string
		json    bool
		want    []string // substrings of the output, in order
		wantErr string
		check   func(c *config.Config) error
	}{
		{script: "/ip pool print", want: []string{"pool1", "10.0.0.2-10.0.0.200"}},
		{script: "/ip pool print detail", want: []string{`name="pool1"`, "ranges=10.0.0.2-10.0.0.200"}},
		{script: "/ip pool add name=pool2 ranges=10.1.0.0/24", check: func(c *config.Config) error {
			if c.Pools.Len() != 2 || c.Pools.At(1).Name != "pool2" {
				return fmt.Errorf("pools %v", c.Pools)
			}
			return nil
		}},
		{script: "/ip pool print", json: true, want: []string{`"name": "pool1"`, `"name": "pool2"`}},
		{script: "/ppp profile print", want: []string{"default", "prof1"}},
		{script: "/ppp secret set [find name=u1] password=new", check: func(c *config.Config) error {
			if c.Secrets.At(0).Password != "new" {
				return fmt.Errorf("password %q", c.Secrets.At(0).Password)
			}
			return nil
		}},
		{script: "/ppp secret enable 1", check: func(c *config.Config) error {
			if c.Secrets.At(1).Disabled {
				return errors.New("u2 still disabled")
			}
			return nil
		}},
		{script: "/ppp secret disable u1", check: func(c *config.Config) error {
			if !c.Secrets.At(0).Disabled {
				return errors.New("u1 not disabled")
			}
			return nil
		}},
		{script: "/ppp secret unset [find name=u1] comment", want: nil},
		{script: "/ppp secret remove [find name=u2]", check: func(c *config.Config) error {
			if c.Secrets.Len() != 1 {
				return fmt.Errorf("secrets %v", c.Secrets)
			}
			return nil
		}},
		{script: "/interface pppoe-client print", want: []string{"pppoe-out1", "veth3"}},
		{script: "/interface pppoe-client disable pppoe-out1", check: func(c *config.Config) error {
			if !c.Clients.At(0).Disabled {
				return errors.New("client not disabled")
			}
			return nil
		}},
		{script: "/system identity set name=ac2", check: func(c *config.Config) error {
			if c.Identity.Name != "ac2" {
				return fmt.Errorf("identity %q", c.Identity.Name)
			}
			return nil
		}},
		{script: "/system identity print", want: []string{"name: ac2"}},
		{script: "/interface vlan add name=vlan100 vlan-id=100 interface=veth1", want: nil},
		{script: "/interface vlan print", json: true, want: []string{`"vlan-id": 100`}},
		{script: "/ppp export", want: []string{"/ppp profile", "add local-address=10.0.0.1 name=prof1", "/ppp secret"}},

		// /ppp active from the server's sessions.
		{script: "/ppp active print", want: []string{"NAME", "SERVICE", "CALLER-ID", "ADDRESS", "UPTIME", "SESSION-ID", "BYTES-IN",
			"u1", "pppoe", "02:00:00:00:00:0A", "10.0.0.2", "1h2m3s", "0x11", "1000", "2000", "10", "20", "u3"}},
		{script: "/ppp active print detail", want: []string{".id=*1A", `name="u1"`, "address=10.0.0.2", "uptime=1h2m3s", "session-id=0x11", "bytes-in=1000",
			"mrru=1614", "mp-reassembly-drops=9", "mp-lost=2", "mp-overflow=1", "mp-oversize=3", "mp-duplicates=1", "mp-malformed=0", "mp-refused=2"}},
		{script: "/ppp active print", json: true, want: []string{`".id":"*1A"`, `"address":"10.0.0.2"`, `"bytes-in":"1000"`, `"name":"u1"`}},
		{script: "/ppp active print show-ids", want: []string{"*1A u1", "*1B u3"}},
		{script: "/ppp active print frob", wantErr: "unsupported argument frob"},
		// /queue simple: u1's dynamic queue; u3 has no limit, so none.
		{script: "/queue simple print", want: []string{`0 D name="<pppoe-u1>" target=<pppoe-u1> parent=none priority=8/8`,
			"queue=default-small/fq-codel-default limit-at=0/0 max-limit=10M/50M", "burst-limit=20M/100M", "burst-threshold=8M/40M",
			"burst-time=16s/16s", "bytes=1000/2000", "packets=10/20", "dropped=3/9"}},
		{script: "/queue simple print", json: true, want: []string{`"dropped":"3/9"`, `"max-limit":"10M/50M"`, `"name":"\u003cpppoe-u1\u003e"`}},
		{script: "/queue simple print frob", wantErr: "unsupported argument frob"},
		{script: "/ppp active remove [find name=u3]", check: func(*config.Config) error {
			if len(h.srv.removed) != 1 || h.srv.removed[0] != "*1B" {
				return fmt.Errorf("removed %v", h.srv.removed)
			}
			return nil
		}},
		{script: "/ppp active remove *99", wantErr: "line 1: remove: no such item (*99)"},
		{script: "/ppp active remove 0,*99", wantErr: "no such item (*99)"},
		{script: "/ppp active remove 5", wantErr: "line 1: remove: no such item (5)"},
		{script: "/ppp active remove [find nope=x]", wantErr: "unknown property"},
		{script: "/ppp active remove [find name=nobody]"}, // selects nothing, as in RouterOS
		{script: "/ppp active remove", wantErr: "no item given"},
		{script: "/ppp active remove numbers=*1a", check: func(*config.Config) error {
			if len(h.srv.removed) != 2 || h.srv.removed[1] != "*1A" {
				return fmt.Errorf("removed %v", h.srv.removed)
			}
			return nil
		}},

		// Changing s1 ends its sessions in the fake, as in the real server.
		{script: "/interface pppoe-server server set [find service-name=s1] max-sessions=10", check: func(c *config.Config) error {
			if c.Servers.At(0).MaxSessions != 10 {
				return fmt.Errorf("max-sessions %d", c.Servers.At(0).MaxSessions)
			}
			return nil
		}},
		{script: "/interface pppoe-server server print", want: []string{"s1", "veth1", "s2"}},
		// Client monitor and scan.
		{script: "/interface pppoe-client monitor pppoe-out1 once", want: []string{"status: connected", "uptime:", "mtu: 1480", "local-address: 10.0.0.9"}},
		{script: "/interface pppoe-client monitor 0 once", json: true, want: []string{`"status":"connected"`}},
		{script: "/interface pppoe-client monitor nope once", wantErr: "no such item (nope)"},
		{script: "/interface pppoe-client monitor pppoe-out1 bogus", wantErr: "unsupported argument bogus"},
		{script: "/interface pppoe-client scan veth3 duration=2", want: []string{"SERVICE", "MAC-ADDRESS", "s1", "02:00:00:00:00:01", "ac1"}},
		{script: "/interface pppoe-client scan interface=vlan100", json: true, want: []string{`"ac-name":"ac1"`}},
		{script: "/interface pppoe-client scan veth3 duration=never", wantErr: "duration"},
		{script: "/interface pppoe-client scan", wantErr: "interface required"},

		// Errors carry the line, and a failed run of changes applies nothing.
		{script: "/ip pool add name=ok ranges=10.9.0.1\n/ip pool add name=bad ranges=nonsense", wantErr: "line 2: ranges:",
			check: func(c *config.Config) error {
				for _, p := range c.Pools.All() {
					if p.Name == "ok" {
						return errors.New("first line of a failed script was applied")
					}
				}
				return nil
			}},
		{script: "/ppp secret add name=x passwd=y", wantErr: "line 1: passwd:"},
		{script: "/ppp secret print\n/ppp nonsense print", wantErr: "line 2:"},
		{script: "/ppp secret print where", wantErr: "unsupported argument"},
		{script: "/ip pool add name=\"unterminated", wantErr: "line 1"},
		{script: "/ppp active frobnicate", wantErr: "line 1: /ppp active frobnicate: no such menu"},
		{script: "/ppp secret\nprint", want: []string{"u1"}}, // export form: menu line, then command
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			out, err := h.exec(tt.script, tt.json)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if tt.json && tt.wantErr == "" {
				var v any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("--json output is not JSON: %v\n%s", err, out)
				}
			}
			if tt.check != nil {
				if err := tt.check(h.d.Config()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if len(h.scans) != 2 || h.scans[0] != (scanCall{"veth3", 2 * time.Second}) || h.scans[1].iface != "vlan100" {
		t.Errorf("scans %+v", h.scans)
	}
	if h.srv.cfg.Identity.Name != "ac2" {
		t.Error("CLI changes did not reach the server")
	}
}

// A monitor without once refreshes until the caller goes away.
func TestMonitorStreams(t *testing.T) {
	h := newHarness(t, baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	w := &chunks{n: 3, full: cancel}
	err := h.d.Exec(ctx, api.Request{Script: "/interface pppoe-client monitor pppoe-out1"}, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.got) != 3 {
		t.Fatalf("%d refreshes", len(w.got))
	}
	if !strings.Contains(w.got[0], "uptime: 1s") || !strings.Contains(w.got[2], "uptime: 3s") {
		t.Errorf("refreshes did not move: %q", w.got)
	}
}

// chunks records writes and cancels after n.
type chunks struct {
	n    int
	got  []string
	full func()
}

func (c *chunks) Write(p []byte) (int, error) {
	c.got = append(c.got, string(p))
	if len(c.got) == c.n {
		c.full()
	}
	return len(p), nil
}

// Export round trip: the running configuration, fed back to a fresh daemon
// through the CLI, is reproduced exactly.
func TestExportRoundTrip(t *testing.T) {
	h := newHarness(t, baseConfig)
	if _, err := h.exec(`/ppp secret add name="we ird" password="a b\"c" comment="x y"`, false); err != nil {
		t.Fatal(err)
	}
	exp, err := h.exec("/export", false)
	if err != nil {
		t.Fatal(err)
	}
	fresh := New(Options{})
	if _, err := io.Discard.Write(nil); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Exec(context.Background(), api.Request{Script: exp}, io.Discard); err != nil {
		t.Fatalf("feeding the export back: %v\n%s", err, exp)
	}
	if !config.Equal(fresh.Config(), h.d.Config()) {
		t.Errorf("round trip differs:\n%s\nvs\n%s", config.Export(fresh.Config()), exp)
	}
}

// A bad file is rejected whole: error with line and property, nothing
// applied, components untouched; a good one applies the difference and keeps
// the sessions of unchanged servers.
func TestReload(t *testing.T) {
	h := newHarness(t, baseConfig)
	applied := h.srv.applied
	before := h.d.Config()

	bad := strings.Replace(baseConfig, "add name=u1 password=p1 profile=prof1",
		"add name=u1 password=p1 profile=prof1\nadd name=u9 password=p9 profile=nosuch", 1)
	bad = strings.Replace(bad, "ranges=10.0.0.2-10.0.0.200", "ranges=10.0.0.2-10.0.0.250", 1)
	os.WriteFile(h.file, []byte(bad), 0o644)
	out, err := h.exec("/system reload", false)
	if err == nil || !strings.Contains(err.Error(), "line 8: profile:") {
		t.Fatalf("bad reload: %v (%q)", err, out)
	}
	if !config.Equal(h.d.Config(), before) || h.srv.applied != applied {
		t.Fatal("a rejected file changed the running configuration")
	}

	// Nothing changed: nothing applied.
	os.WriteFile(h.file, []byte(baseConfig), 0o644)
	if out, err := h.exec("/system reload", false); err != nil || out != "no changes\n" {
		t.Fatalf("unchanged reload: %q, %v", out, err)
	}
	if h.srv.applied != applied {
		t.Error("an unchanged file was applied again")
	}

	// s2 changes, s1 does not: only s2's session goes.
	good := strings.Replace(baseConfig, "add service-name=s2 interface=veth2 disabled=no",
		"add service-name=s2 interface=veth2 disabled=no max-sessions=5", 1)
	os.WriteFile(h.file, []byte(good), 0o644)
	changes, err := h.d.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Key != "veth2/s2" || changes[0].Kind != config.Changed {
		t.Errorf("changes %v", changes)
	}
	ss := h.srv.Sessions()
	if len(ss) != 1 || ss[0].Name != "u1" {
		t.Errorf("sessions after reload %+v, want u1's only", ss)
	}
	if h.srv.closed {
		t.Error("reload closed the server")
	}
	if h.d.Config().Servers.At(1).MaxSessions != 5 {
		t.Error("reload not in the running configuration")
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, script, want string }{
		{"unknown property", "/ip pool add name=p ranges=10.0.0.1 colour=red\n", "line 1: colour:"},
		{"bad value", "/ppp profile\nadd name=x\nadd name=y only-one=maybe\n", "line 3: only-one:"},
		{"dangling reference", "/ppp secret add name=u profile=missing\n", "line 1: profile:"},
		{"continuation counted", "/ip pool add name=p \\\n  ranges=10.0.0.1\n/ip pool add name=p ranges=10.0.0.2\n", "line 3"},
		{"unknown menu", "/ip route add dst-address=0.0.0.0/0\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			os.WriteFile(p, []byte(tt.script), 0o644)
			cfg, err := LoadFile(p)
			if err == nil || cfg != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadFile = %v, %v; want error containing %q", cfg, err, tt.want)
			}
		})
	}
	if _, err := LoadFile(filepath.Join(dir, "absent")); err == nil {
		t.Error("missing file loaded")
	}
}

// TestRun runs the daemon on real sockets: the CLI over the control socket,
// metrics scraped over HTTP, and a clean shutdown closing the components.
func TestRun(t *testing.T) {
	h := newHarness(t, baseConfig)
	sock := filepath.Join(t.TempDir(), "pppoed.sock")
	ctl, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx, ctl, mln) }()

	var out bytes.Buffer
	if err := api.Do(ctx, sock, api.Request{Script: "/ppp active print"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "u1") {
		t.Errorf("active print over the socket: %q", out.String())
	}
	var re *api.RemoteError
	if err := api.Do(ctx, sock, api.Request{Script: "/ip pool add name=x ranges=bad"}, io.Discard); !errors.As(err, &re) ||
		!strings.Contains(re.Msg, "line 1: ranges:") {
		t.Errorf("error over the socket: %v", err)
	}

	h.d.Metrics().ObserveSetup(20 * time.Millisecond)
	h.srv.mu.Lock()
	listed := h.srv.listed
	h.srv.mu.Unlock()
	resp, err := http.Get("http://" + mln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.srv.mu.Lock()
	if h.srv.listed != listed {
		t.Errorf("a metrics scrape listed the sessions %d times: its cost grows with them", h.srv.listed-listed)
	}
	h.srv.mu.Unlock()
	for _, want := range []string{
		`pppoe_sessions{state="up"} 2`,
		`pppoe_discovery_padi_received_total 42`,
		`pppoe_discovery_padr_duplicates_total 2`,
		`pppoe_auth_failures_total{method="chap"} 3`,
		`pppoe_pool_exhausted_total 1`,
		`pppoe_dataplane_packets_total{reason="fast_up"} 99`,
		`pppoe_session_setup_seconds_count 1`,
		`pppoe_interface_packets_total{direction="up",interface="ether3"} 7`,
		`pppoe_interface_bytes_total{direction="down",interface="ether3"} 900`,
		`pppoe_mp_reassembly_drops_total{reason="lost"} 5`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if !h.srv.closed || !h.cl.closed {
		t.Error("shutdown did not close servers and clients")
	}
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 59 * time.Second: "59s", 3723 * time.Second: "1h2m3s",
		(7*86400 + 86400 + 60) * time.Second: "1w1d1m", -time.Second: "0s",
	} {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestResolveVLAN(t *testing.T) {
	cfg, err := config.Load("/interface vlan\nadd name=outer vlan-id=10 interface=eth0 use-service-tag=yes\nadd name=inner vlan-id=20 interface=outer\n")
	if err != nil {
		t.Fatal(err)
	}
	parent, tags, err := resolveVLAN(cfg, "inner")
	if err != nil || parent != "eth0" || len(tags) != 2 || tags[0].ID != 10 || tags[0].TPID != 0x88a8 ||
		tags[1].ID != 20 || tags[1].TPID != 0x8100 {
		t.Errorf("resolveVLAN(inner) = %s %+v %v", parent, tags, err)
	}
	if parent, tags, _ := resolveVLAN(cfg, "eth1"); parent != "eth1" || len(tags) != 0 {
		t.Errorf("physical interface resolved to %s %v", parent, tags)
	}
}

func mustRate(s string) ratelimit.Limit {
	l, err := ratelimit.Parse(s)
	if err != nil {
		panic(err)
	}
	return l
}
