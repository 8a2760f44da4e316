// Package freeradius runs a real FreeRADIUS (Debian's freeradius 3.2) for
// tests, on the configuration the README gives operators: its
// radiusd.conf and users blocks are read from README.md and changed only
// where a test must (directories, client and listen addresses, ports), so
// the example the README shows is the one the tests prove.
package freeradius

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// Secret is the client secret of the README's example, which the tests
// keep.
const Secret = "change-me-to-a-long-random-secret"

// Options change what a test needs beyond the README's example.
type Options struct {
	// Users is appended to the README's users file.
	Users string
	// Threaded runs FreeRADIUS with its thread pool, as in production
	// (freeradius -f), for measurements; the default is debug mode
	// (-X: single-threaded, every packet decoded in Log).
	Threaded bool
	// Client is the address requests come from (default 127.0.0.1).
	Client string
	// Listen is the address FreeRADIUS listens on (default 127.0.0.1),
	// AuthPort and AcctPort its ports (default: free ones on 127.0.0.1).
	Listen             string
	AuthPort, AcctPort int
	// Netns, when set, runs FreeRADIUS in that named network namespace
	// (ip netns exec), as the bench does beside the AC.
	Netns string
	// Config, when set, returns the whole radiusd.conf for s (its Dir
	// and ports) instead of the README's: test/sqlippool's fleet server.
	// Client, Listen and Users are then unused. Files are written
	// beside it (name → content).
	Config func(s *Server) string
	Files  map[string]string
}

// Server is one FreeRADIUS process on 127.0.0.1.
type Server struct {
	t                  testing.TB // nil when Launched
	opts               Options
	Dir                string
	AuthPort, AcctPort int
	cmd                *exec.Cmd
	out                *lockedBuffer
	exited             chan struct{}
}

// Config returns the README's radiusd.conf and users file.
func Config(t testing.TB) (conf, users string) {
	t.Helper()
	conf, users, err := readme()
	if err != nil {
		t.Fatal(err)
	}
	return conf, users
}

func readme() (conf, users string, err error) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		return "", "", err
	}
	if conf, err = block(string(b), "# /etc/freeradius/pppoe-xdp/radiusd.conf\n"); err != nil {
		return "", "", err
	}
	users, err = block(string(b), "# /etc/freeradius/pppoe-xdp/users\n")
	return conf, users, err
}

// block returns the fenced code block of readme that begins with first.
func block(readme, first string) (string, error) {
	_, rest, ok := strings.Cut(readme, "```\n"+first)
	if !ok {
		return "", fmt.Errorf("README.md has no code block starting %q", first)
	}
	body, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		return "", fmt.Errorf("README.md: block %q not closed", first)
	}
	return first + body, nil
}

// edit makes the changes a run needs to the README's radiusd.conf; each
// line changed must be there exactly as often as expected, so the README
// and the tests cannot drift apart silently.
func edit(conf, dir string, o Options) (string, error) {
	for _, r := range []struct {
		old, new string
		n        int
	}{
		{"confdir = /etc/freeradius/pppoe-xdp\n", "confdir = " + dir + "\n", 1},
		{"logdir = /var/log/freeradius\n", "logdir = " + dir + "\n", 1},
		{"run_dir = /run/freeradius\n", "run_dir = " + dir + "\n", 1},
		{"ipaddr = 192.0.2.1\n", "ipaddr = " + o.Client + "\n", 1},
		{"ipaddr = *\n", "ipaddr = " + o.Listen + "\n", 2},
		{"port = 1812\n", fmt.Sprintf("port = %d\n", o.AuthPort), 1},
		{"port = 1813\n", fmt.Sprintf("port = %d\n", o.AcctPort), 1},
	} {
		if got := strings.Count(conf, r.old); got != r.n {
			return "", fmt.Errorf("README.md's radiusd.conf: %q occurs %d times, want %d; keep test/freeradius and the README in step", r.old, got, r.n)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	return conf, nil
}

// FreePorts returns n UDP ports free on 127.0.0.1 now.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var conns []net.PacketConn
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		out = append(out, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return out
}

// Start writes the README's configuration to a temp dir and starts
// FreeRADIUS on it; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	netns.RequireTool(t, "freeradius")
	if opts.AuthPort == 0 || opts.AcctPort == 0 {
		ports := FreePorts(t, 2)
		opts.AuthPort, opts.AcctPort = ports[0], ports[1]
	}
	s, err := prepare(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Launch is Start for a command (the bench): dir is the configuration
// and log directory, the ports must be given; Close stops it.
func Launch(dir string, opts Options) (*Server, error) {
	if opts.AuthPort == 0 || opts.AcctPort == 0 {
		return nil, fmt.Errorf("freeradius: Launch needs AuthPort and AcctPort")
	}
	s, err := prepare(dir, opts)
	if err != nil {
		return nil, err
	}
	if err := s.run(); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.Log())
	}
	return s, nil
}

// Close stops a Launched server.
func (s *Server) Close() { s.Stop() }

func prepare(dir string, opts Options) (*Server, error) {
	if opts.Client == "" {
		opts.Client = "127.0.0.1"
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1"
	}
	s := &Server{opts: opts, Dir: dir, AuthPort: opts.AuthPort, AcctPort: opts.AcctPort}
	files := map[string]string{}
	for name, text := range opts.Files {
		files[name] = text
	}
	if opts.Config != nil {
		files["radiusd.conf"] = opts.Config(s)
	} else {
		conf, users, err := readme()
		if err != nil {
			return nil, err
		}
		if conf, err = edit(conf, dir, opts); err != nil {
			return nil, err
		}
		files["radiusd.conf"], files["users"] = conf, users+opts.Users
	}
	if err := os.MkdirAll(filepath.Join(dir, "radacct"), 0o700); err != nil {
		return nil, err
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start (re)starts the process of a test's server and waits until it is
// ready.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.run(); err != nil {
		s.t.Fatalf("%v:\n%s", err, s.Log())
	}
}

// run starts the process and waits until it is ready: a generous minute,
// since the tests share two CPUs with other suites.
func (s *Server) run() error {
	s.out = &lockedBuffer{}
	pr, pw := io.Pipe()
	args := []string{"-X", "-d", s.Dir}
	if s.opts.Threaded {
		// -f: foreground; -l stdout: the log to us instead of the
		// README's file, which is how readiness is seen.
		args = []string{"-f", "-l", "stdout", "-d", s.Dir}
	}
	name := "freeradius"
	if s.opts.Netns != "" {
		args = append([]string{"netns", "exec", s.opts.Netns, name}, args...)
		name = "ip"
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("freeradius: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			s.out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Ready to process requests") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	select {
	case <-ready:
		return nil
	case <-s.exited:
		s.cmd = nil
		return errors.New("freeradius exited")
	case <-time.After(time.Minute):
		s.Stop()
		return errors.New("freeradius not ready after a minute")
	}
}

// Stop ends the process (SIGTERM, then SIGKILL) and waits for it. The
// log is shown when the test failed.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	if s.t != nil && s.t.Failed() {
		s.t.Logf("freeradius output:\n%s", s.out.String())
	}
}

// CPU is the user and system time the running process has used, for
// measurements (0 when it is not running or /proc cannot tell).
func (s *Server) CPU() time.Duration {
	if s.cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces: utime
	// and stime are the 12th and 13th, in clock ticks (USER_HZ, 100).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// Log is what FreeRADIUS printed since it last started.
func (s *Server) Log() string { return s.out.String() }

// Detail returns the accounting detail files, oldest first.
func (s *Server) Detail() string {
	files, _ := filepath.Glob(filepath.Join(s.Dir, "radacct", "detail-*"))
	sort.Strings(files)
	var b bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f) // a file that vanished has nothing to say
		if err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// Records splits the detail files into records of attribute = value,
// unquoted.
func (s *Server) Records() []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(s.Detail(), "\n") {
		switch {
		case line == "":
			cur = nil
		case !strings.HasPrefix(line, "\t"):
			cur = map[string]string{}
			out = append(out, cur)
		case cur != nil:
			k, v, _ := strings.Cut(strings.TrimSpace(line), " = ")
			cur[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
