package radius

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// A real FreeRADIUS (Debian's freeradius 3.2), configured from scratch in
// a temp dir and run in the foreground on 127.0.0.1 with ports the kernel
// said were free. Nothing of /etc/freeradius is read: the configuration is
// the smallest one that serves PAP, CHAP, MS-CHAP (v1 and v2) from a users
// file and writes accounting to a detail file.

const testSecret = "s3cret-for-tests"

// radiusd is one FreeRADIUS process.
type radiusd struct {
	t                  testing.TB
	dir                string
	authPort, acctPort int
	cmd                *exec.Cmd
	out                *lockedBuffer
	exited             chan struct{}
}

// users is the users file: every test user has the same password for
// every method, and the attributes AuthResult parses.
const users = `alice	Cleartext-Password := "alice-pw"
	Framed-IP-Address = 10.9.0.5,
	Framed-IP-Netmask = 255.255.255.255,
	Framed-Pool = "pool-a",
	Framed-Route = "192.0.2.0/24 10.9.0.5 1",
	MS-Primary-DNS-Server = 192.0.2.53,
	MS-Secondary-DNS-Server = 192.0.2.54,
	Session-Timeout = 3600,
	Idle-Timeout = 600,
	Acct-Interim-Interval = 30,
	Class = "class-alice",
	Mikrotik-Rate-Limit = "10M/20M",
	Filter-Id = "unknown-to-the-client",
	Cisco-AVPair = "ignored=yes",
	Reply-Message = "welcome alice"
bob	Cleartext-Password := "bob-pw"
	Framed-IP-Address = 10.9.0.6
`

// radiusdConf is radiusd.conf; %[1]s is the directory, %[2]d and %[3]d the
// ports. Every reply, accept or reject, carries a Message-Authenticator:
// FreeRADIUS 3.2.1 signs a reply only when the reply has the attribute,
// and pppoe-xdp drops unsigned Access-Accepts and Access-Rejects
// (BlastRADIUS).
const radiusdConf = `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = %[1]s
sbindir = /usr/sbin
logdir = %[1]s
raddbdir = %[1]s
radacctdir = %[1]s/acct
name = freeradius
confdir = %[1]s
modconfdir = %[1]s
run_dir = %[1]s
db_dir = %[1]s
libdir = /usr/lib/freeradius
pidfile = %[1]s/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {
	destination = stdout
	colourise = no
	auth = yes
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
client localhost {
	ipaddr = 127.0.0.1
	secret = ` + testSecret + `
	require_message_authenticator = yes
}
modules {
	pap {
		normalise = yes
	}
	chap {
	}
	mschap {
	}
	files {
		filename = %[1]s/users
	}
	detail {
		filename = %[1]s/acct/detail
		escape_filenames = no
		permissions = 0600
		header = "%%t"
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = %[2]d
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = %[3]d
	}
	authorize {
		chap
		mschap
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	accounting {
		detail
	}
	post-auth {
		update reply {
			Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				Reply-Message := "bad credentials"
				Message-Authenticator := 0x00
			}
		}
	}
}
`

// freePorts returns n UDP ports free on 127.0.0.1 now.
func freePorts(t testing.TB, n int) []int {
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

// startRadiusd writes a configuration and starts FreeRADIUS on it.
func startRadiusd(t testing.TB) *radiusd {
	t.Helper()
	netns.RequireTool(t, "freeradius")
	dir := t.TempDir()
	ports := freePorts(t, 2)
	r := &radiusd{t: t, dir: dir, authPort: ports[0], acctPort: ports[1]}
	if err := os.MkdirAll(filepath.Join(dir, "acct"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("radiusd.conf", fmt.Sprintf(radiusdConf, dir, r.authPort, r.acctPort))
	write("users", users)
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start runs radiusd and waits until it is ready (a generous minute: the
// tests share two CPUs with other suites).
func (r *radiusd) start() {
	r.t.Helper()
	r.out = &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd := exec.Command("freeradius", "-X", "-f", "-d", r.dir)
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("freeradius: %v", err)
	}
	r.cmd = cmd
	r.exited = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			r.out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Ready to process requests") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(r.exited)
	}()
	select {
	case <-ready:
	case <-r.exited:
		r.t.Fatalf("freeradius exited:\n%s", r.out.String())
	case <-time.After(time.Minute):
		r.t.Fatalf("freeradius not ready after a minute:\n%s", r.out.String())
	}
}

// stop ends radiusd (SIGTERM, then SIGKILL) and waits for it.
func (r *radiusd) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
	if r.t.Failed() {
		r.t.Logf("freeradius output:\n%s", r.out.String())
	}
}

// detail returns the accounting detail file.
func (r *radiusd) detail() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "acct", "detail"))
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	return string(b)
}

// detailRecords splits the detail file into records of attribute = value.
func (r *radiusd) detailRecords() []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(r.detail(), "\n") {
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
