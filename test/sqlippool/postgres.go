// Package sqlippool starts, for tests, the shared address pool of a fleet
// of access concentrators: Debian's PostgreSQL with FreeRADIUS's radippool
// table, and Debian's FreeRADIUS whose sqlippool module hands out
// Framed-IP-Address from it on Access-Accept, keeps a lease alive on
// Interim-Update and releases it on Accounting-Stop, so that no address
// is given to two subscribers across the fleet (issue 19).
//
// Everything lives in temp dirs of the test and is removed with it:
// PostgreSQL is a cluster of its own (initdb as the postgres user, no TCP,
// its Unix socket in its data directory), never the system's; FreeRADIUS
// reads a configuration written from scratch, as control/radius's tests
// do, and includes only Debian's sqlippool queries for PostgreSQL. Both
// need root (the test runs as root; PostgreSQL runs as the postgres user
// Debian's package creates).
package sqlippool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgPort names the socket file (.s.PGSQL.<port>) only: there is no TCP.
const pgPort = 5432

// Postgres is one PostgreSQL cluster in a temp dir.
type Postgres struct {
	// Dir is the data directory and the Unix socket's directory, the
	// libpq host.
	Dir  string
	bin  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// pgBin returns the newest installed PostgreSQL's bin directory
// (/usr/lib/postgresql/<major>/bin, where Debian puts initdb and postgres).
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", errors.New("PostgreSQL missing (Debian package postgresql): `make test` installs it, or scripts/deps.sh test")
	}
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return a < b
	})
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// StartPostgres initialises a cluster in a temp dir as the postgres user
// and starts it; it is stopped and removed when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := LaunchPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log := p.Log() // Close removes it
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("postgres log:\n%s", log)
		}
	})
	return p
}

// LaunchPostgres is StartPostgres for a command (make demo-fleet's
// labtool): Close stops the cluster and removes it.
func LaunchPostgres() (*Postgres, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root: PostgreSQL is started as the postgres user")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("no postgres user (Debian package postgresql creates it): %w", err)
	}
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not t.TempDir: its parent is root's and 0700, which the postgres
	// user could not enter. A short path, too: the socket's path must fit
	// in 107 bytes.
	dir, err := os.MkdirTemp("", "pgippool-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, bin: bin, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, log: filepath.Join(dir, "server.log")}
	if err := p.launch(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) launch() error {
	if err := os.Chown(p.Dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		return err
	}
	// trust: the only way in is the socket in a directory only the
	// postgres user (and root) can enter.
	if out, err := p.command("initdb", "-D", filepath.Join(p.Dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// fsync and friends off: a test's database needs no durability, and
	// the machine's disks are shared with other suites.
	p.cmd = p.command("postgres", "-D", filepath.Join(p.Dir, "data"), "-k", p.Dir, "-p", strconv.Itoa(pgPort),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50")
	logf, err := os.Create(p.log)
	if err != nil {
		return err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		p.cmd = nil
		return fmt.Errorf("postgres: %w", err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited at start:\n%s", p.Log())
		default:
		}
		if _, err := p.Exec("postgres", "SELECT 1"); err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("postgres not ready after a minute:\n%s", p.Log())
		}
	}
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.Dir
	return cmd
}

// Close stops the server with a fast shutdown (SIGINT: abort
// transactions, then exit) and removes its directory.
func (p *Postgres) Close() error {
	defer os.RemoveAll(p.Dir)
	if p.cmd == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("postgres did not stop within 20s of SIGINT")
	}
}

// Log returns the server's log.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// PSQL is the shell command that opens psql on database db as the
// postgres user (runuser, util-linux), for a person at the lab.
func (p *Postgres) PSQL(db string) string {
	return fmt.Sprintf("runuser -u postgres -- %s -X -h %s -p %d -U postgres -d %s", filepath.Join(p.bin, "psql"), p.Dir, pgPort, db)
}

// Exec runs SQL (one or more statements) in database db through psql and
// returns its unaligned, tuples-only output: one row a line, columns
// separated by |.
func (p *Postgres) Exec(db, sql string) (string, error) {
	cmd := p.command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", p.Dir, "-p", strconv.Itoa(pgPort), "-U", "postgres", "-d", db)
	cmd.Stdin = strings.NewReader(sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("psql: %w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// MustExec is Exec failing the test on error.
func (p *Postgres) MustExec(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.Exec(db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
