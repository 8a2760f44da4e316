package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// bin holds pppoed and pppoectl, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "pppoed-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/pppoe-xdp/pppoe-xdp/cmd/pppoed", "github.com/pppoe-xdp/pppoe-xdp/cmd/pppoectl")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		bin = dir
		return m.Run()
	}()
	os.Exit(code)
}

var upgrade struct {
	once sync.Once
	path string
	err  error
}

// upgradeBuild returns another build of pppoed with the same map layout,
// made once per test process: stripped (-s -w), so the executable
// differs while the compiled packages come from the build cache (a
// -trimpath build recompiled everything, half a minute under load).
func upgradeBuild(t *testing.T) string {
	t.Helper()
	upgrade.once.Do(func() {
		dir := filepath.Join(bin, "upgrade")
		out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", dir+"/", "github.com/pppoe-xdp/pppoe-xdp/cmd/pppoed").CombinedOutput()
		if err != nil {
			upgrade.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		upgrade.path = filepath.Join(dir, "pppoed")
	})
	if upgrade.err != nil {
		t.Fatal(upgrade.err)
	}
	return upgrade.path
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bpffs mounts a bpffs instance of the test's own, visible from every
// namespace the test runs commands in ("ip netns exec" remounts /sys, so
// /sys/fs/bpf would be private to each process), so that pins can be
// inspected after a daemon has stopped.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bpf")
	must(t, os.Mkdir(dir, 0o700))
	must(t, unix.Mount("bpf", dir, "bpf", 0, "mode=0700"))
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// daemon is one pppoed process in a namespace.
type daemon struct {
	t      *testing.T
	name   string
	ns     *netns.NS
	cfg    string // config file
	sock   string
	pins   string
	resolv string
	cmd    *exec.Cmd
	log    *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon writes config and runs pppoed in ns with it; pins go under
// the test's bpffs. It returns once the control socket answers.
func startDaemon(t *testing.T, ns *netns.NS, name, config, pins string, flags ...string) *daemon {
	t.Helper()
	return startBinary(t, filepath.Join(bin, "pppoed"), ns, name, config, pins, flags...)
}

// startBinary is startDaemon with another pppoed binary (an upgrade).
func startBinary(t *testing.T, pppoed string, ns *netns.NS, name, config, pins string, flags ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, name: name, ns: ns, cfg: filepath.Join(dir, name+".rsc"), sock: filepath.Join(dir, name+".sock"),
		pins: filepath.Join(pins, name), resolv: filepath.Join(dir, name+".resolv.conf"), log: &syncBuffer{}, done: make(chan struct{})}
	must(t, os.WriteFile(d.cfg, []byte(config), 0o600))
	args := append([]string{"netns", "exec", ns.Name, pppoed,
		"--config", d.cfg, "--socket", d.sock, "--bpffs", d.pins, "--resolv-conf", d.resolv,
		"--state-dir", filepath.Join(dir, name+".state"), // a flag of the test's own wins
		"--metrics", "127.0.0.1:9815", "--log-format", "console"}, flags...)
	d.cmd = exec.Command("ip", args...) // ip execs pppoed: the pid is pppoed's
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	must(t, d.cmd.Start())
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, d.log.String())
		}
	})
	// A wait for readiness, not a timed assertion: under load (a shared CI
	// box) pppoed took more than 10 s to open its socket.
	waitFor(t, 60*time.Second, name+" control socket", func() bool {
		select {
		case <-d.done:
			t.Fatalf("%s exited at start with status %d:\n%s", name, d.cmd.ProcessState.ExitCode(), d.log.String())
		default:
		}
		_, err := d.ctlErr("/system identity print")
		return err == nil
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			d.t.Errorf("%s exited with status %d", d.name, code)
		}
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("%s did not stop within 15s of SIGTERM", d.name)
	}
}

func (d *daemon) ctlErr(args ...string) (string, error) {
	var words []string
	for _, a := range args {
		words = append(words, strings.Fields(a)...)
	}
	cmd := exec.Command(filepath.Join(bin, "pppoectl"), append([]string{"--socket", d.sock}, words...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ctl runs pppoectl against d; each argument is split on blanks.
func (d *daemon) ctl(args ...string) string {
	d.t.Helper()
	out, err := d.ctlErr(args...)
	if err != nil {
		d.t.Fatalf("pppoectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// active returns /ppp active print --json.
func (d *daemon) active() []map[string]string {
	d.t.Helper()
	var rows []map[string]string
	out := d.ctl("--json /ppp active print")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		d.t.Fatalf("active print --json: %v\n%s", err, out)
	}
	return rows
}

// monitor returns "monitor NAME once" as name → value.
func (d *daemon) monitor(name string) map[string]string {
	d.t.Helper()
	out, err := d.ctlErr("/interface pppoe-client monitor", name, "once")
	m := map[string]string{}
	if err != nil {
		return m
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// metricsBody scrapes d's Prometheus endpoint from inside its namespace and
// returns the response's body, the text exposition format.
func (d *daemon) metricsBody() []byte {
	d.t.Helper()
	var resp []byte
	must(d.t, d.ns.Do(d.t, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9815", 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
		resp, err = io.ReadAll(c)
		return err
	}))
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.0 200")) {
		d.t.Fatalf("GET /metrics: %.200q", resp)
	}
	return body
}

// metrics scrapes d's Prometheus endpoint and returns the samples without
// labels folded: `name{labels}` → value.
func (d *daemon) metrics() map[string]float64 {
	d.t.Helper()
	body := d.metricsBody()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "pppoe_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	if len(out) == 0 {
		d.t.Fatalf("no pppoe_ metrics in:\n%s", body)
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// counter reads a decimal column of an active row.
func counter(t *testing.T, row map[string]string, col string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(row[col], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", col, row[col], err)
	}
	return v
}

// pinnedEntries returns how many entries a pinned map holds (bpftool).
func pinnedEntries(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "map", "dump", "pinned", path).CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool map dump pinned %s: %v\n%s", path, err, out)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("bpftool output: %v\n%s", err, out)
	}
	return len(entries)
}

var addrRE = regexp.MustCompile(`inet (\S+)`)

// addrs returns the IPv4 addresses of a device in n, "" if it is gone.
func addrs(n *netns.NS, dev string) (string, bool) {
	out, err := n.Output("ip", "-4", "addr", "show", "dev", dev)
	if err != nil {
		return "", false
	}
	var as []string
	for _, m := range addrRE.FindAllStringSubmatch(out, -1) {
		as = append(as, m[1])
	}
	return strings.Join(as, " "), true
}
