package sqlippool

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// Secret is the shared secret of every NAS (Options.Clients, by default
// 127.0.0.1, where the test's RADIUS clients send from).
const Secret = "fleet-secret"

// debianQueries is Debian's sqlippool query set for PostgreSQL (package
// freeradius-config). The lab uses it as shipped but for one line:
// skip_locked = "SKIP LOCKED", which the file's own comment recommends for
// PostgreSQL ≥ 9.5: concurrent allocations then each take a different
// free row instead of queueing on the lock of the oldest one. (Without it
// TestTwoNASNeverShare passes too, at about twice the time, 2026-12-02.)
const debianQueries = "/etc/freeradius/3.0/mods-config/sql/ippool/postgresql/queries.conf"

// debianSchema creates the radippool table.
const debianSchema = "/etc/freeradius/3.0/mods-config/sql/ippool/postgresql/schema.sql"

// pdTable is the delegated prefixes' table: Debian's schema under another
// name (its INET column holds a prefix as well as an address).
const pdTable = "radippool_pd"

// Options shape a Lab.
type Options struct {
	// Pool is the addresses of the SQL pool "fleet" (Pool-Name).
	Pool []netip.Addr
	// PDPool is the prefixes of the delegated-prefix pool "fleet"
	// (table radippool_pd): an Access-Accept carries one as
	// Delegated-IPv6-Prefix while one is free.
	PDPool []netip.Prefix
	// Lease is sqlippool's lease_duration: how long an address stays
	// taken without an Interim-Update (the stale-lease expiry that frees
	// the addresses of an AC that died without sending its Stops). At
	// least 1s: PostgreSQL keeps the expiry in whole seconds.
	Lease time.Duration
	// Netns runs FreeRADIUS in that named namespace (the fleet lab's
	// core); Listen is the address it listens on there and Clients the
	// network its NASes send from. Defaults: the test's own namespace,
	// 127.0.0.1 and 127.0.0.1/32. AuthPort and AcctPort default to free
	// ports on 127.0.0.1.
	Netns, Listen, Clients string
	AuthPort, AcctPort     int
}

// Lab is PostgreSQL with the radippool table and FreeRADIUS with sqlippool
// on it (test/freeradius's server, on this package's configuration).
type Lab struct {
	PG     *Postgres
	RADIUS *freeradius.Server // its Dir holds the configuration
	listen netip.Addr
}

// Users is the users file: one subscriber, PAP (the pool does not care
// how a subscriber authenticated).
const Users = `sub	Cleartext-Password := "subpass"
`

// radiusdConf is radiusd.conf: %[1]s the directory, %[2]d and %[3]d the
// auth and acct ports, %[4]s the PostgreSQL socket directory, %[5]d the
// lease in seconds, %[6]s the listening address, %[7]s the NASes'
// network.
//
// Every reply carries a Message-Authenticator (pppoe-xdp drops unsigned
// Access-Accepts, BlastRADIUS). post-auth allocates from the pool named
// by Pool-Name and turns the Accept into a Reject when no address was
// free: a subscriber without an address is no use to anyone. The lease is
// keyed by NAS-IP-Address (Debian's queries) and pool_key, here
// NAS-Identifier/Acct-Session-Id: unique across the fleet even where two
// ACs share a NAS-IP-Address, and per session where one subscriber's
// PPPoE session ids repeat (NAS-Port, sqlippool's default key, is the
// PPPoE session id, unique per client MAC only).
const radiusdConf = `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = %[1]s
sbindir = /usr/sbin
logdir = %[1]s
raddbdir = %[1]s
radacctdir = %[1]s
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
client fleet {
	ipaddr = %[7]s
	secret = ` + Secret + `
	require_message_authenticator = yes
}
thread pool {
	start_servers = 4
	max_servers = 16
	min_spare_servers = 2
	max_spare_servers = 8
	max_requests_per_server = 0
}
modules {
	# Debian's mods-available/always: the rcodes as modules.
	always reject {
		rcode = reject
	}
	always ok {
		rcode = ok
	}
	pap {
		normalise = yes
	}
	files {
		filename = %[1]s/users
	}
	sql {
		driver = "rlm_sql_postgresql"
		dialect = "postgresql"
		server = "%[4]s"
		port = 5432
		login = "postgres"
		password = ""
		radius_db = "radius"
		read_clients = no
		sql_user_name = "%%{User-Name}"
		pool {
			start = 4
			min = 4
			max = 16
			spare = 4
			uses = 0
			retry_delay = 1
			lifetime = 0
			idle_timeout = 0
		}
	}
	sqlippool {
		sql_module_instance = "sql"
		dialect = "postgresql"
		pool_name = "Pool-Name"
		ippool_table = "radippool"
		lease_duration = %[5]d
		attribute_name = Framed-IP-Address
		req_attribute_name = Framed-IP-Address
		pool_key = "%%{NAS-Identifier}/%%{Acct-Session-Id}"
		messages {
			exists = "Existing IP: %%{reply:Framed-IP-Address} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			success = "Allocated IP: %%{reply:Framed-IP-Address} from %%{control:Pool-Name} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			clear = "Released IP %%{request:Framed-IP-Address} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			failed = "IP Allocation FAILED from %%{control:Pool-Name} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			nopool = "No Pool-Name defined (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
		}
		$INCLUDE %[1]s/ippool-queries.conf
	}
	# The delegated prefixes: a second instance on a table of its own
	# (radippool_pd, Debian's schema), as the module's documentation
	# requires of each attribute; Debian's queries, keyed the same way,
	# with Delegated-IPv6-Prefix where the first has Framed-IP-Address,
	# but for two. The lease follows the session, not its DHCPv6
	# binding: a CPE that releases the prefix (RFC 8415 §18.2.7) may ask
	# again and get it again from the AC, so Interim-Update keeps and
	# Stop frees the session's lease (pool_key) whether or not the record
	# still names the prefix. Debian's match on it too, and the AC's
	# Stop after a Release names none. (The first of two items of a name
	# wins: these, before the $INCLUDE.)
	sqlippool pdpool {
		sql_module_instance = "sql"
		dialect = "postgresql"
		pool_name = "Pool-Name"
		ippool_table = "radippool_pd"
		lease_duration = %[5]d
		attribute_name = Delegated-IPv6-Prefix
		req_attribute_name = Delegated-IPv6-Prefix
		pool_key = "%%{NAS-Identifier}/%%{Acct-Session-Id}"
		messages {
			exists = "Existing prefix: %%{reply:Delegated-IPv6-Prefix} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			success = "Allocated prefix: %%{reply:Delegated-IPv6-Prefix} from %%{control:Pool-Name} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			clear = "Released prefix %%{request:Delegated-IPv6-Prefix} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			failed = "Prefix allocation FAILED from %%{control:Pool-Name} (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
			nopool = "No Pool-Name defined (nas %%{NAS-Identifier} session %%{Acct-Session-Id} user %%{User-Name})"
		}
		stop_clear = "UPDATE ${ippool_table} SET expiry_time = 'now'::timestamp(0) - '1 second'::interval \
			WHERE nasipaddress = '%%{%%{Nas-IP-Address}:-%%{Nas-IPv6-Address}}' AND pool_key = '${pool_key}' \
			AND username = '%%{SQL-User-Name}' AND callingstationid = '%%{Calling-Station-Id}'"
		alive_update = "UPDATE ${ippool_table} SET expiry_time = 'now'::timestamp(0) + '${lease_duration} seconds'::interval \
			WHERE nasipaddress = '%%{%%{Nas-IP-Address}:-%%{Nas-IPv6-Address}}' AND pool_key = '${pool_key}' \
			AND username = '%%{SQL-User-Name}' AND callingstationid = '%%{Calling-Station-Id}'"
		$INCLUDE %[1]s/ippool-queries.conf
	}
}
server default {
	listen {
		type = auth
		ipaddr = %[6]s
		port = %[2]d
	}
	listen {
		type = acct
		ipaddr = %[6]s
		port = %[3]d
	}
	authorize {
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	accounting {
		sqlippool
		# An Interim-Update of a session without a prefix updates no
		# row, which sqlippool returns as notfound, and an accounting
		# section that ends notfound sends no Accounting-Response: the
		# NAS would retry it for ever.
		pdpool {
			notfound = 1
		}
		ok
	}
	post-auth {
		update control {
			Pool-Name := "fleet"
		}
		sqlippool
		if (!&reply:Framed-IP-Address) {
			reject
		}
		# A prefix when one is free; without one the subscriber still
		# has IPv4 (the AC then delegates none).
		pdpool
		update reply {
			Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				Reply-Message := "no address free in the pool"
				Message-Authenticator := 0x00
			}
		}
	}
}
`

// Start starts PostgreSQL with the radippool table holding opts.Pool, and
// FreeRADIUS with sqlippool on it; both end with the test.
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	if opts.AuthPort == 0 || opts.AcctPort == 0 {
		ports := freeradius.FreePorts(t, 2)
		opts.AuthPort, opts.AcctPort = ports[0], ports[1]
	}
	pg := StartPostgres(t)
	fo, err := prepare(pg, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return &Lab{PG: pg, RADIUS: freeradius.Start(t, fo), listen: netip.MustParseAddr(opts.Listen)}
}

// Launch is Start for a command (make demo-fleet's labtool): FreeRADIUS's
// configuration goes in dir, the ports must be given; Close stops both.
func Launch(dir string, opts Options) (*Lab, error) {
	pg, err := LaunchPostgres()
	if err != nil {
		return nil, err
	}
	fo, err := prepare(pg, &opts)
	if err != nil {
		pg.Close()
		return nil, err
	}
	s, err := freeradius.Launch(dir, fo)
	if err != nil {
		pg.Close()
		return nil, err
	}
	return &Lab{PG: pg, RADIUS: s, listen: netip.MustParseAddr(opts.Listen)}, nil
}

// Close stops FreeRADIUS and PostgreSQL of a Launched lab.
func (l *Lab) Close() error {
	l.RADIUS.Close()
	return l.PG.Close()
}

// prepare fills opts' defaults, creates the radius database with the
// pool in pg, and returns FreeRADIUS's options for it.
func prepare(pg *Postgres, opts *Options) (freeradius.Options, error) {
	if _, err := exec.LookPath("freeradius"); err != nil {
		return freeradius.Options{}, errors.New("freeradius missing (Debian package freeradius): `make test` installs it, or scripts/deps.sh test")
	}
	if _, err := os.Stat("/usr/lib/freeradius/rlm_sql_postgresql.so"); err != nil {
		return freeradius.Options{}, errors.New("FreeRADIUS's PostgreSQL driver missing (Debian package freeradius-postgresql): `make test` installs it, or scripts/deps.sh test")
	}
	if opts.Lease < time.Second {
		opts.Lease = time.Hour
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1"
	}
	if opts.Clients == "" {
		opts.Clients = "127.0.0.1/32"
	}
	if _, err := netip.ParseAddr(opts.Listen); err != nil {
		return freeradius.Options{}, fmt.Errorf("sqlippool: listen: %w", err)
	}
	schema, err := os.ReadFile(debianSchema)
	if err != nil {
		return freeradius.Options{}, fmt.Errorf("sqlippool schema (Debian package freeradius-config): %w", err)
	}
	if _, err := pg.Exec("postgres", "CREATE DATABASE radius"); err != nil {
		return freeradius.Options{}, err
	}
	if _, err := pg.Exec("radius", string(schema)); err != nil {
		return freeradius.Options{}, err
	}
	if !strings.Contains(string(schema), "CREATE TABLE radippool (") {
		return freeradius.Options{}, fmt.Errorf("%s creates no radippool table to copy as %s: Debian's file changed", debianSchema, pdTable)
	}
	if _, err := pg.Exec("radius", strings.ReplaceAll(string(schema), "radippool", pdTable)); err != nil {
		return freeradius.Options{}, err
	}
	var rows, pdRows []string
	for _, a := range opts.Pool {
		rows = append(rows, fmt.Sprintf("('fleet', '%s', 'epoch')", a))
	}
	for _, p := range opts.PDPool {
		if !p.Addr().Is6() || p != p.Masked() {
			return freeradius.Options{}, fmt.Errorf("sqlippool: delegated prefix %v: not an IPv6 network", p)
		}
		pdRows = append(pdRows, fmt.Sprintf("('fleet', '%s', 'epoch')", p))
	}
	for table, rows := range map[string][]string{"radippool": rows, pdTable: pdRows} {
		if len(rows) == 0 {
			continue
		}
		// Free from the start: the table's default expiry is NOW(),
		// rounded to the second, which sqlippool (expiry_time < now)
		// would take as a lease for up to a second.
		if _, err := pg.Exec("radius", "INSERT INTO "+table+" (pool_name, framedipaddress, expiry_time) VALUES "+strings.Join(rows, ",")+";"); err != nil {
			return freeradius.Options{}, err
		}
	}
	queries, err := os.ReadFile(debianQueries)
	if err != nil {
		return freeradius.Options{}, fmt.Errorf("sqlippool queries (Debian package freeradius-config): %w", err)
	}
	const off, on = "\nskip_locked = \"\"\n", "\nskip_locked = \"SKIP LOCKED\"\n"
	if !strings.Contains(string(queries), off) {
		return freeradius.Options{}, fmt.Errorf("%s has no %q line to change: Debian's file changed", debianQueries, strings.TrimSpace(off))
	}
	o := *opts
	return freeradius.Options{
		Netns: o.Netns, AuthPort: o.AuthPort, AcctPort: o.AcctPort,
		Config: func(s *freeradius.Server) string {
			return fmt.Sprintf(radiusdConf, s.Dir, s.AuthPort, s.AcctPort, pg.Dir, int(o.Lease/time.Second), o.Listen, o.Clients)
		},
		Files: map[string]string{
			"ippool-queries.conf": strings.Replace(string(queries), off, on, 1),
			"users":               Users,
		},
	}, nil
}

// Server is the lab's FreeRADIUS for control/radius's Client.
func (l *Lab) Server() radius.Server {
	return radius.Server{Address: l.listen, Secret: Secret,
		AuthPort: uint16(l.RADIUS.AuthPort), AcctPort: uint16(l.RADIUS.AcctPort), Timeout: 2 * time.Second}
}

// Lease is a row of radippool whose lease has not expired.
type Lease struct {
	Addr     netip.Addr
	NAS      string // nasipaddress
	PoolKey  string // NAS-Identifier/Acct-Session-Id
	User     string
	Calling  string // callingstationid
	Expiring time.Duration
}

// Delegation is a row of radippool_pd whose lease has not expired.
type Delegation struct {
	Prefix   netip.Prefix
	NAS      string // nasipaddress
	PoolKey  string // NAS-Identifier/Acct-Session-Id
	User     string
	Calling  string // callingstationid
	Expiring time.Duration
}

// Leases returns the pool's live leases (expiry in the future), by
// address.
func (l *Lab) Leases(t testing.TB) []Lease {
	t.Helper()
	var ls []Lease
	for _, f := range l.live(t, "radippool") {
		le := f.lease
		le.Addr = netip.MustParsePrefix(f.addr).Addr()
		ls = append(ls, le)
	}
	return ls
}

// Delegations returns the delegated-prefix pool's live leases, by prefix.
func (l *Lab) Delegations(t testing.TB) []Delegation {
	t.Helper()
	var ds []Delegation
	for _, f := range l.live(t, pdTable) {
		le := f.lease
		ds = append(ds, Delegation{Prefix: netip.MustParsePrefix(f.addr), NAS: le.NAS, PoolKey: le.PoolKey, User: le.User,
			Calling: le.Calling, Expiring: le.Expiring})
	}
	return ds
}

type row struct {
	addr  string // framedipaddress::text: an inet with its mask length
	lease Lease
}

// live reads the rows of table whose expiry is in the future.
func (l *Lab) live(t testing.TB, table string) []row {
	t.Helper()
	out := l.PG.MustExec(t, "radius", `SELECT framedipaddress::text, nasipaddress, pool_key, username, callingstationid,
	EXTRACT(EPOCH FROM expiry_time - 'now'::timestamp(0))::int
	FROM `+table+` WHERE expiry_time > 'now'::timestamp(0) ORDER BY `+table+`.framedipaddress`) // the inet, not the text
	var rs []row
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 6 {
			t.Fatalf("%s row %q", table, line)
		}
		var secs int
		fmt.Sscan(f[5], &secs)
		rs = append(rs, row{addr: f[0], lease: Lease{NAS: f[1], PoolKey: f[2], User: f[3], Calling: f[4],
			Expiring: time.Duration(secs) * time.Second}})
	}
	return rs
}
