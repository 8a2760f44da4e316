package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
)

// hostLinks are the host's interfaces as the access concentrator opens
// them; they can appear while the daemon runs.
type hostLinks struct {
	mu      sync.Mutex
	present map[string]int // name → ifindex
}

func (h *hostLinks) open(name string) (server.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	idx, ok := h.present[name]
	if !ok {
		return server.Port{}, fmt.Errorf("access interface: route ip+net: no such network interface")
	}
	return server.Port{Conn: &blockConn{closed: make(chan struct{})}, Ifindex: idx, MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(idx)}}, nil
}

func (h *hostLinks) appear(name string, idx int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.present[name] = idx
}

// acDaemon is a daemon with the real access concentrator (server, AAA)
// over hostLinks, running quickExample on ether3.
func acDaemon(t testing.TB, links *hostLinks) *Daemon {
	t.Helper()
	l, err := aaa.New(config.New().LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ac := NewAccessConcentrator(server.Options{AAA: l, DataPlane: nopDataPlane{}, Open: links.open}, &fakeSystem{})
	d := New(Options{Servers: ac})
	t.Cleanup(func() { d.Close() })
	cfg, err := config.Load(quickExample)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(cfg); err != nil {
		t.Fatal(err)
	}
	return d
}

func execOK(t *testing.T, d *Daemon, script string, asJSON bool) string {
	t.Helper()
	var b strings.Builder
	if err := d.Exec(context.Background(), api.Request{Script: script, JSON: asJSON}, &b); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return b.String()
}

// TestServerOnMissingInterface is issue 11 item 6 as the operator sees it:
// a server on an interface that does not exist is accepted and printed
// with RouterOS's I flag; no later, unrelated command fails because of it;
// once the interface appears the server runs.
func TestServerOnMissingInterface(t *testing.T) {
	links := &hostLinks{present: map[string]int{"ether3": 3}}
	d := acDaemon(t, links)
	execOK(t, d, "/interface pppoe-server server add interface=ether9 service-name=later default-profile=for-pppoe disabled=no", false)

	out := execOK(t, d, "/interface pppoe-server server print", false)
	lines := strings.Split(out, "\n")
	if lines[0] != "Flags: X - disabled, I - invalid" || !strings.HasPrefix(lines[2], " 0   pppoeservice ether3") ||
		!strings.HasPrefix(lines[3], " 1 I later        ether9") {
		t.Errorf("print:\n%s", out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(execOK(t, d, "/interface pppoe-server server print", true)), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["invalid"] != false || rows[1]["invalid"] != true {
		t.Errorf("JSON rows %v", rows)
	}

	// Unrelated changes apply, and so does one to the invalid server.
	execOK(t, d, "/ppp secret add name=u2 password=p2 profile=for-pppoe", false)
	execOK(t, d, "/ppp profile add name=p2 local-address=10.9.9.1", false)
	execOK(t, d, "/interface pppoe-server server set [find interface=ether9] max-sessions=10", false)
	if c := d.Config(); c.Secrets.Len() != 2 || c.Profiles.Len() != 3 {
		t.Errorf("running configuration %s", config.Export(c))
	}

	links.appear("ether9", 9)
	d.RetryInterfaces()
	if out := execOK(t, d, "/interface pppoe-server server print", false); strings.Contains(out, " 1 I") {
		t.Errorf("still invalid after the interface appeared:\n%s", out)
	}
}

// Run asks the servers to retry their missing interfaces every
// RetryInterval.
func TestRunRetriesInterfaces(t *testing.T) {
	srv := &fakeServers{}
	d := New(Options{Servers: srv, RetryInterval: 5 * time.Millisecond})
	if err := d.Start(config.New()); err != nil {
		t.Fatal(err)
	}
	ln, err := api.Listen(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := srv.retries
		srv.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d retries in 5 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A configuration a component refuses changes nothing: it is not recorded
// as running, the components that took it go back, and the next command
// does not fail because of it.
func TestCommitAllOrNothing(t *testing.T) {
	h := newHarness(t, baseConfig)
	before := h.d.Config()
	h.srv.fail = errors.New("no such thing")
	_, err := h.exec("/ppp secret add name=u9 password=x profile=prof1", false)
	if err == nil || !strings.Contains(err.Error(), "pppoe-server: no such thing (nothing changed)") {
		t.Fatalf("refused change: %v", err)
	}
	if !config.Equal(h.d.Config(), before) {
		t.Fatal("a refused configuration became the running one")
	}
	h.srv.fail = nil
	if _, err := h.exec("/ppp profile add name=p9", false); err != nil {
		t.Fatalf("the next command failed: %v", err)
	}
	if _, ok := h.d.Config().Secrets.Get("u9"); ok {
		t.Error("the refused secret came back")
	}

	// The clients refuse: the servers go back to the running configuration.
	before = h.d.Config()
	h.cl.fail = errors.New("cannot")
	if _, err := h.exec("/ppp secret add name=u8 password=x profile=prof1", false); err == nil {
		t.Fatal("refused by the clients, yet applied")
	}
	if !config.Equal(h.srv.cfg, before) || !config.Equal(h.d.Config(), before) {
		t.Errorf("servers have %s\nwant the running\n%s", config.Export(h.srv.cfg), config.Export(before))
	}
}

// A file without commands is not reloaded: it would end every session. A
// file whose commands leave nothing is.
func TestReloadEmpty(t *testing.T) {
	h := newHarness(t, baseConfig)
	before := h.d.Config()
	for _, empty := range []string{"", "\n\n", "# nothing yet\n", "/ppp secret\n"} {
		os.WriteFile(h.file, []byte(empty), 0o644)
		_, err := h.d.Reload(context.Background())
		if !errors.Is(err, ErrEmptyConfig) {
			t.Errorf("reload of %q: %v, want ErrEmptyConfig", empty, err)
		}
		if !config.Equal(h.d.Config(), before) || len(h.srv.Sessions()) != 2 {
			t.Fatalf("reload of %q changed the running configuration", empty)
		}
	}
	os.WriteFile(h.file, []byte("/interface pppoe-server server remove [find]\n"), 0o644)
	if _, err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !config.Equal(h.d.Config(), config.New()) {
		t.Errorf("emptied on purpose, yet running\n%s", config.Export(h.d.Config()))
	}
}

// A file caught while it is written is read once it is whole.
func TestReloadReadsWholeFile(t *testing.T) {
	defer func(s time.Duration) { settle = s }(settle)
	settle = 500 * time.Millisecond // far longer than the writer's pause, whatever the load
	path := filepath.Join(t.TempDir(), "pppoed.rsc")
	full := baseConfig + "/ppp secret add name=last password=x profile=prof1\n"
	half := len(full) / 2
	if err := os.WriteFile(path, []byte(full[:half]), 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var cfg *config.Config
	go func() {
		var err error
		cfg, err = LoadFileContext(context.Background(), path)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(full[half:])
	f.Close()
	if err := <-got; err != nil {
		t.Fatalf("load: %v", err)
	}
	if _, ok := cfg.Secrets.Get("last"); !ok {
		t.Errorf("loaded the first half only:\n%s", config.Export(cfg))
	}
}

// blockingLoad is a config file that takes until release (or the caller's
// end) to load.
type blockingLoad struct {
	entered chan context.Context
	release chan struct{}
	cfg     *config.Config
}

func (b *blockingLoad) load(ctx context.Context, path string) (*config.Config, error) {
	b.entered <- ctx
	select {
	case <-b.release:
		return b.cfg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// One reload at a time: a second waits for the first, and gives up when
// its caller does.
func TestReloadOneAtATime(t *testing.T) {
	h := newHarness(t, baseConfig)
	bl := &blockingLoad{entered: make(chan context.Context, 2), release: make(chan struct{}), cfg: h.d.Config()}
	h.d.load = bl.load
	first := make(chan error, 1)
	go func() { _, err := h.d.Reload(context.Background()); first <- err }()
	<-bl.entered

	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { _, err := h.d.Reload(ctx); second <- err }()
	select {
	case <-bl.entered:
		t.Fatal("a second reload ran alongside the first")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting reload: %v, want context.Canceled", err)
	}
	close(bl.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.Reload(context.Background()); err != nil { // the slot is free
		t.Fatal(err)
	}
}

// A reload ends, having changed nothing, when the pppoectl that asked for
// it goes away.
func TestReloadCancelledWithClient(t *testing.T) {
	h := newHarness(t, baseConfig)
	bl := &blockingLoad{entered: make(chan context.Context, 1), release: make(chan struct{})}
	h.d.load = bl.load
	applied := h.srv.applied
	sock := filepath.Join(t.TempDir(), "pppoed.sock")
	ln, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go h.d.Run(ctx, ln, nil)

	client, leave := context.WithCancel(ctx)
	go api.Do(client, sock, api.Request{Script: "/system reload"}, io.Discard)
	loading := <-bl.entered
	leave()
	select {
	case <-loading.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the reload went on after its client left")
	}
	if h.srv.applied != applied {
		t.Error("a cancelled reload applied something")
	}
}

// A load gives up when its context ends, on a real file too.
func TestLoadFileCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.rsc")
	var b strings.Builder
	b.WriteString("/ppp secret\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "add name=u%d password=p\n", i)
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	os.Chtimes(path, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadFileContext(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadFileContext = %v, want context.Canceled", err)
	}
}
