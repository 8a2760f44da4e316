// Package freeradius runs a real FreeRADIUS (Debian's freeradius 3.2) for
// tests, on the configuration the README gives operators: its
// radiusd.conf and users blocks are read from README.md and changed only
// where a test must (directories, client and listen addresses, ports), so
// the example the README shows is the one the tests prove.
package freeradius

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
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
}

// Server is one FreeRADIUS process on 127.0.0.1.
type Server struct {
	t                  testing.TB
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
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	conf = block(t, string(b), "# /etc/freeradius/pppoe-xdp/radiusd.conf\n")
	users = block(t, string(b), "# /etc/freeradius/pppoe-xdp/users\n")
	return conf, users
}

// block returns the fenced code block of readme that begins with first.
func block(t testing.TB, readme, first string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "```\n"+first)
	if !ok {
		t.Fatalf("README.md has no code block starting %q", first)
	}
	body, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("README.md: block %q not closed", first)
	}
	return first + body
}

// replace replaces old, which must occur exactly n times, in s.
func replace(t testing.TB, s, old, new string, n int) string {
	t.Helper()
	if got := strings.Count(s, old); got != n {
		t.Fatalf("README.md's radiusd.conf: %q occurs %d times, want %d; keep the test and the README in step", old, got, n)
	}
	return strings.ReplaceAll(s, old, new)
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
	if opts.Client == "" {
		opts.Client = "127.0.0.1"
	}
	dir := t.TempDir()
	ports := FreePorts(t, 2)
	s := &Server{t: t, opts: opts, Dir: dir, AuthPort: ports[0], AcctPort: ports[1]}
	conf, users := Config(t)
	conf = replace(t, conf, "confdir = /etc/freeradius/pppoe-xdp\n", "confdir = "+dir+"\n", 1)
	conf = replace(t, conf, "logdir = /var/log/freeradius\n", "logdir = "+dir+"\n", 1)
	conf = replace(t, conf, "run_dir = /run/freeradius\n", "run_dir = "+dir+"\n", 1)
	conf = replace(t, conf, "ipaddr = 192.0.2.1\n", "ipaddr = "+opts.Client+"\n", 1)
	conf = replace(t, conf, "ipaddr = *\n", "ipaddr = 127.0.0.1\n", 2)
	conf = replace(t, conf, "port = 1812\n", fmt.Sprintf("port = %d\n", s.AuthPort), 1)
	conf = replace(t, conf, "port = 1813\n", fmt.Sprintf("port = %d\n", s.AcctPort), 1)
	if err := os.MkdirAll(filepath.Join(dir, "radacct"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"radiusd.conf": conf, "users": users + opts.Users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the process and waits until it is ready: a generous
// minute, since the tests share two CPUs with other suites.
func (s *Server) Start() {
	s.t.Helper()
	s.out = &lockedBuffer{}
	pr, pw := io.Pipe()
	args := []string{"-X", "-d", s.Dir}
	if s.opts.Threaded {
		// -f: foreground; -l stdout: the log to us instead of the
		// README's file, which is how readiness is seen.
		args = []string{"-f", "-l", "stdout", "-d", s.Dir}
	}
	cmd := exec.Command("freeradius", args...)
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("freeradius: %v", err)
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
	case <-s.exited:
		s.t.Fatalf("freeradius exited:\n%s", s.out.String())
	case <-time.After(time.Minute):
		s.t.Fatalf("freeradius not ready after a minute:\n%s", s.out.String())
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
	if s.t.Failed() {
		s.t.Logf("freeradius output:\n%s", s.out.String())
	}
}

// Log is what FreeRADIUS printed since it last started.
func (s *Server) Log() string { return s.out.String() }

// Detail returns the accounting detail files, oldest first.
func (s *Server) Detail() string {
	files, err := filepath.Glob(filepath.Join(s.Dir, "radacct", "detail-*"))
	if err != nil {
		s.t.Fatal(err)
	}
	sort.Strings(files)
	var b bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		b.Write(data)
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
