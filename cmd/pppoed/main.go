// Command pppoed is the pppoe-xdp daemon: PPPoE access concentrator and
// client with an eBPF data plane, configured with RouterOS commands.
//
// This file holds flags, configuration and signals only; the workers live in
// control/daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/daemon"
	"github.com/pppoe-xdp/pppoe-xdp/control/linkwatch"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe0"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/restart"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

const usage = `Usage: pppoed [flags]

pppoed runs the PPPoE servers (/interface pppoe-server server) and clients
(/interface pppoe-client) of one RouterOS-style configuration file, with the
data plane in eBPF. The file is a RouterOS command script, in one-line form
(/ip pool add name=p ranges=...) or /export form. A bad file, or one
without a single command, is rejected whole at start (exit status 1) and on
reload (the running configuration is kept, with a warning). The file is read
once it has not changed for 100 ms.

SIGHUP, or "pppoectl /system reload", re-reads the file and applies the
difference; sessions whose configuration did not change stay up. One reload
runs at a time. A server whose interface does not exist is kept, flagged I
(invalid) in print, and served once the interface appears.
Changes made with pppoectl apply to the running configuration only: unlike
RouterOS, they are NOT written back to the file ("pppoectl /export" prints
the running configuration, to save it yourself).

An enabled server puts the data plane (XDP and TC) on its physical
interface (the parent of /interface vlan names) and gives the --pppoe0
device the profiles' local-address and routes to the pools, so the kernel
routes subscriber traffic into the sessions.

Interfaces may come and go while pppoed runs: a server's interface that
goes ends its sessions and is served again when an interface of that name
is back; a client waits for its interface and dials again; an uplink gets
the fast path again. An --uplink absent at start is attached when it
appears.

SIGINT/SIGTERM stop pppoed: every session ends with a PADT, pppoe0's and
the clients' addresses and routes and the client netdevs go; the pinned
BPF maps and attachments stay (see maps/), emptied of sessions.

SIGUSR2, or "pppoectl /system restart", is a planned restart or upgrade:
pppoed exits at once with status 75 and no PADT, leaving the sessions
installed in the pinned maps (they keep forwarding) and recorded in
--state-dir; the unit's RestartKillSignal=SIGUSR2 makes "systemctl
restart pppoed" do this. The next start reconciles what it finds: a
session it can restore is adopted, any other is swept (PADT with its
stored MACs and session id, map entries removed, address freed, one log
line each). The access concentrator's sessions are adopted; a client's
are swept and it dials again.

Flags:
`

type flags struct {
	config, bpffs, socket, metrics   string
	stateDir                         string
	logLevel, logFormat, resolvConf  string
	uplinks, pppoe0, xdpMode, tcMode string
	padiLimit, macLimit              string
	rxSpread                         string
	capacity                         uint
	maxStarting, maxStartingPerHost  int
	setupTimeout                     time.Duration
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	var f flags
	fs := flag.NewFlagSet("pppoed", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&f.config, "config", "/etc/pppoe-xdp/pppoed.rsc", "configuration `file` (RouterOS command script)")
	fs.StringVar(&f.bpffs, "bpffs", maps.DefaultPinPath, "`directory` for pinned BPF maps and links (bpffs is mounted if needed); one per daemon")
	fs.StringVar(&f.socket, "socket", api.DefaultSocket, "control socket `path` for pppoectl; one per daemon")
	fs.StringVar(&f.stateDir, "state-dir", state.DefaultDir, "`directory` of the state store (state.db: sessions, AC-Cookie key, id allocators) a restarted pppoed goes on from; one per daemon")
	fs.StringVar(&f.metrics, "metrics", "127.0.0.1:9815", "Prometheus listen `address` (/metrics); empty disables")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "json", "log `format`: json or console")
	fs.StringVar(&f.resolvConf, "resolv-conf", "/run/pppoe-xdp/resolv.conf", "`file` where clients with use-peer-dns=yes write the peer's DNS servers")
	fs.StringVar(&f.uplinks, "uplink", "", "comma-separated uplink `interfaces` the downstream XDP fast path attaches to")
	fs.StringVar(&f.pppoe0, "pppoe0", "pppoe0", "`name` of the virtual device standing for all sessions")
	fs.StringVar(&f.xdpMode, "xdp-mode", "native", "XDP attach `mode`: native or generic")
	fs.StringVar(&f.tcMode, "tc-mode", "auto", "TC attach `mode`: auto (tcx where the kernel has it, else clsact) or clsact")
	fs.StringVar(&f.rxSpread, "rx-spread", "", "`CPUs` (e.g. 0-3,6) the access interfaces hand session traffic to, by a hash of session and flow, where a NIC puts all PPPoE on one receive queue; empty: handled where it arrives")
	fs.UintVar(&f.capacity, "capacity", maps.DefaultMaxSessions, "`sessions` (server and client) the BPF maps hold; sizes their memory, fixed while they stay pinned")
	fs.StringVar(&f.padiLimit, "padi-limit", pppoe.FormatRate(pppoe.DefaultLimits.PADIRate, pppoe.DefaultLimits.PADIBurst),
		"PADIs a `rate[/burst]` per second from all hosts, as accel-ppp's padi-limit (once for new hosts, once more for retransmissions); 0: no limit")
	fs.StringVar(&f.macLimit, "discovery-mac-limit", pppoe.FormatRate(pppoe.DefaultLimits.MACRate, pppoe.DefaultLimits.MACBurst),
		"PADIs and PADRs a `rate[/burst]` per second from one host (interface, VLANs, MAC); 0: no limit")
	fs.IntVar(&f.maxStarting, "max-starting", server.DefaultMaxStarting, "half-open server `sessions` (PADS sent, IPCP not open) of all servers together; more PADRs get AC-System-Error; 0: no limit")
	fs.IntVar(&f.maxStartingPerHost, "max-starting-per-host", server.DefaultMaxStartingPerHost, "half-open server `sessions` of one client (MAC on an interface and VLAN); 0: no limit")
	fs.DurationVar(&f.setupTimeout, "setup-timeout", session.DefaultSetupTimeout, "`time` from PADR to IPCP open after which a server session ends (setup-timeout)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "pppoed: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pppoed:", err)
		return 2
	}
	defer log.Sync()
	if err := serve(f, log); err != nil {
		log.Error("pppoed failed", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // one line per session event, never sampled away
	return cfg.Build()
}

func serve(f flags, log *zap.Logger) error {
	if f.xdpMode != "native" && f.xdpMode != "generic" {
		return fmt.Errorf("--xdp-mode %q: want native or generic", f.xdpMode)
	}
	if f.maxStarting < 0 || f.maxStartingPerHost < 0 || f.setupTimeout <= 0 {
		return fmt.Errorf("--max-starting %d, --max-starting-per-host %d, --setup-timeout %v: want limits ≥ 0 (0: none) and a positive timeout",
			f.maxStarting, f.maxStartingPerHost, f.setupTimeout)
	}
	if f.capacity < 1 || f.capacity > 1<<24 {
		return fmt.Errorf("--capacity %d: want 1 to %d sessions", f.capacity, 1<<24)
	}
	if f.tcMode != "auto" && f.tcMode != "clsact" {
		return fmt.Errorf("--tc-mode %q: want auto or clsact", f.tcMode)
	}
	limits, err := discoveryLimits(f.padiLimit, f.macLimit)
	if err != nil {
		return err
	}
	var spread []int
	if f.rxSpread != "" {
		if spread, err = maps.ParseCPUSet(f.rxSpread); err != nil {
			return fmt.Errorf("--rx-spread: %w", err)
		}
	}
	// Parsed and validated before anything starts.
	cfg, err := daemon.LoadFile(f.config)
	if err != nil {
		return err
	}

	store, err := state.Open(f.stateDir, state.Options{Log: func(msg string) { log.Warn(msg) }})
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	defer store.Close()
	last, fresh, err := store.TakeExit()
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	if !fresh {
		log.Info("previous run", zap.String("ended", string(last.Kind)), zap.Time("at", last.At), zap.Int("pid", last.PID))
	}
	// Session records are written off the session loops (state.Writer);
	// a planned restart and a stop flush it before they exit.
	writer := state.NewWriter(store, state.WriterOptions{Log: func(err error) { log.Warn("state store", zap.Error(err)) }})
	defer writer.Close()
	disc, err := discoveryState(store)
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}

	dp, err := maps.Open(maps.Options{PinPath: f.bpffs, Logger: log, GenericXDP: f.xdpMode == "generic", Clsact: f.tcMode == "clsact", MaxSessions: uint32(f.capacity), RxSpread: spread})
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	defer dp.Close()
	// The limits go to the data plane, which drops floods before they
	// cost a copy to user space; the discovery servers get no Limiter of
	// their own (pppoe.Limiter says why).
	if err := dp.SetDiscoveryLimits(limits); err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	if f.xdpMode == "generic" {
		log.Warn("--xdp-mode=generic: XDP runs after the kernel has built an skb, the slow way")
	}
	dev, err := setupPPPoE0(dp, f.pppoe0)
	if err != nil {
		return err
	}
	var uplinkNames []string
	for _, name := range strings.FieldsFunc(f.uplinks, func(r rune) bool { return r == ',' }) {
		uplinkNames = append(uplinkNames, strings.TrimSpace(name))
	}
	uplinks := daemon.NewUplinks(uplinkNames, dp, log)

	host, err := pppoe0.New(dev.Index, log)
	if err != nil {
		return fmt.Errorf("--pppoe0 %s: %w", f.pppoe0, err)
	}
	defer host.Close()

	rec := &reconcile{store: store, dp: dp, log: log}
	aaaLocal, err := aaa.New(config.New().LocalAAA(), log)
	if err != nil {
		return fmt.Errorf("aaa: %w", err)
	}
	// /ppp aaa: the local secrets, and RADIUS when use-radius=yes; the
	// backend follows the configuration through the server's Apply and
	// accounts the sessions as their observer.
	// Multilink (mrru): one reader of the packets the data plane diverts
	// for being over an MP session's MTU serves servers and clients; the
	// packets servers' sessions reassemble enter the kernel on pppoe0.
	div, err := dp.StartMPDiverts(mpDivertBuffer, log)
	if err != nil {
		return err
	}
	defer div.Close()
	inj, err := maps.OpenInjector(dev)
	if err != nil {
		return fmt.Errorf("--pppoe0 %s: %w", f.pppoe0, err)
	}
	defer inj.Close()
	var ac *daemon.AccessConcentrator
	aaaBackend := radiusaaa.NewBackend(aaaLocal, radiusaaa.BackendOptions{
		Sessions: lateRadiusSessions{&ac},
		State:    writer,
		Resuming: last.Kind != state.ExitStop && !fresh,
		Logger:   log,
	})
	rec.after = aaaBackend.EndUnadopted
	defer func() {
		// After d.Run has ended every session: their Stops are queued,
		// Accounting-Off goes after them (RFC 2866 §5.1).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := aaaBackend.Close(ctx); err != nil {
			log.Warn("radius accounting not all delivered at stop", zap.Error(err))
		}
	}()
	var d *daemon.Daemon // for the setup latency histogram; set before Start
	ac = daemon.NewAccessConcentrator(server.Options{
		AAA:       aaaBackend,
		Observers: []session.Observer{aaaBackend},
		DataPlane: host.DataPlane(server.NewMPDataPlane(dp, div, inj, func(mtu int) error {
			return host.CarryMTU(mtu, func(mtu int) error { return maps.SetDeviceMTU(dev, mtu) })
		})),
		SetupLatency:       func(l time.Duration) { d.Metrics().ObserveSetup(l) },
		CookieKey:          disc.cookieKey,
		SessionIDs:         disc.sessionIDs,
		IDs:                disc.handles,
		State:              writer,
		MaxStarting:        noLimit(f.maxStarting),
		MaxStartingPerHost: noLimit(f.maxStartingPerHost),
		SetupTimeout:       f.setupTimeout,
		// The maps outlive the previous run (restarted, upgraded or
		// crashed): each session in them or in the store is adopted by
		// the server, its ports open but not yet read, or swept.
		Resume: func(srv *server.Server) error { return rec.run(srv) },
		Log:    log,
	}, accessSystem{dp: dp, Host: host})

	var ifs *daemon.Interfaces // needs d for VLAN names; set before anything scans
	clients := client.NewManager(client.Deps{
		Interfaces: lateInterfaces{&ifs},
		DataPlane:  clientDataPlane{dp: dp, div: div, log: log},
		Routes:     client.NetlinkRoutes{},
		DNS:        client.NewResolvConf(f.resolvConf),
	}, log)
	d = daemon.New(daemon.Options{
		ConfigPath: f.config,
		Servers:    ac,
		Clients:    daemon.ClientManager{Manager: clients},
		Scan: func(ctx context.Context, iface string, dur time.Duration) ([]client.Offer, error) {
			return client.Scan(ctx, ifs, iface, dur)
		},
		DataPlane: dataPlaneCounters(dp),
		Restart:   restartSoon,
		Log:       log,
	})
	ifs = daemon.NewInterfaces(d)
	defer ifs.Close()
	// Followed before anything is opened, so that no interface coming or
	// going from here on is missed.
	links := &daemon.LinkParts{Servers: ac, Interfaces: ifs, ClientsRetry: clients.InterfaceAppeared,
		Uplinks: uplinks, Detach: dp.DetachInterface, Log: log}
	watcher, err := linkwatch.Start(linkwatch.Options{Log: log}, links.HandleLink)
	if err != nil {
		return err
	}
	defer watcher.Close()
	uplinks.Start()
	if err := d.Start(cfg); err != nil {
		var ae *daemon.AppliedError
		if !errors.As(err, &ae) {
			return fmt.Errorf("start: %w", err)
		}
		log.Warn("start", zap.Error(err))
	}
	// A start that made no server (none configured) sweeps what is left.
	if err := rec.run(nil); err != nil {
		return err
	}

	ctl, err := api.Listen(f.socket)
	if err != nil {
		return err
	}
	var mln net.Listener
	if f.metrics != "" {
		if mln, err = net.Listen("tcp", f.metrics); err != nil {
			ctl.Close()
			return fmt.Errorf("--metrics: %w", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		<-usr2
		plannedRestart(store, writer, log)
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if changes, err := d.Reload(ctx); err == nil {
					log.Info("reloaded", zap.String("file", f.config), zap.Int("changes", len(changes)))
				}
			}
		}
	}()
	log.Info("pppoed started", zap.String("config", f.config), zap.String("socket", f.socket),
		zap.String("bpffs", dp.PinPath()), zap.String("metrics", f.metrics))
	err = d.Run(ctx, ctl, mln)
	writer.Flush()
	if rerr := store.RecordExit(state.Exit{Kind: state.ExitStop, At: time.Now().UTC(), PID: os.Getpid()}); rerr != nil {
		log.Warn("state store", zap.Error(rerr))
	}
	log.Info("pppoed stopped")
	return err
}

// reconcile runs restart.Reconcile once, with the access concentrator as
// the Adopter when there is one.
type reconcile struct {
	store *state.Store
	dp    *maps.Datapath
	log   *zap.Logger
	done  bool
	after func() // once the sessions are adopted or swept
}

func (r *reconcile) run(srv *server.Server) error {
	if r.done {
		return nil
	}
	r.done = true
	padt := &restart.Sender{}
	defer padt.Close()
	opts := restart.Options{Store: r.store, DataPlane: r.dp, SendPADT: padt.Send, Log: r.log}
	if srv != nil {
		opts.Adopter = srv
	}
	start := time.Now()
	res, err := restart.Reconcile(opts)
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	if r.after != nil {
		r.after()
	}
	if res.Adopted+res.Swept > 0 {
		r.log.Info("sessions of the previous run", zap.Int("adopted", res.Adopted), zap.Int("swept", res.Swept),
			zap.Int("padt_failed", res.PADTFailed), zap.Duration("took", time.Since(start)))
	}
	return nil
}

// exitRestart is pppoed's exit status after a planned restart: the unit
// counts it as success (SuccessExitStatus) and starts pppoed again
// whatever Restart= says (RestartForceExitStatus), so "pppoectl /system
// restart" works under systemd as "systemctl restart" does. 75 is
// EX_TEMPFAIL.
const exitRestart = 75

// restartSoon is "/system restart": the planned restart SIGUSR2 starts,
// a moment later so that the command's answer (sent once it returns)
// reaches pppoectl before the process exits.
func restartSoon() error {
	time.AfterFunc(200*time.Millisecond, func() { _ = syscall.Kill(os.Getpid(), syscall.SIGUSR2) })
	return nil
}

// plannedRestart ends the process with its sessions left where the next
// run finds them: installed in the pinned maps (forwarding on) and
// recorded in the store, every record queued in the file (Flush). Nothing is
// stopped, closed or removed; that is the point: it is a kill -9 that
// leaves a note saying it was meant.
func plannedRestart(store *state.Store, writer *state.Writer, log *zap.Logger) {
	writer.Flush()
	if err := store.RecordExit(state.Exit{Kind: state.ExitRestart, At: time.Now().UTC(), PID: os.Getpid()}); err != nil {
		log.Warn("state store", zap.Error(err))
	}
	log.Info("pppoed exiting for a restart: sessions stay installed", zap.Int("status", exitRestart))
	_ = log.Sync()
	os.Exit(exitRestart)
}

// handleBlock is how many session handles a run reserves in the state
// store at start (state.Store.ReserveHandles).
const handleBlock = 1 << 20

// discovery is the state discovery goes on from after a restart.
type discovery struct {
	cookieKey  []byte            // a PADO's AC-Cookie of the last run is still good
	sessionIDs *pppoe.SessionIDs // goes on after the last run's cursor
	handles    *session.IDs      // above every handle of the last runs
}

func discoveryState(store *state.Store) (discovery, error) {
	var d discovery
	var err error
	if d.cookieKey, err = store.CookieKey(); err != nil {
		return d, err
	}
	cursor, err := store.SIDCursor()
	if err != nil {
		return d, err
	}
	d.sessionIDs = pppoe.NewSessionIDs()
	d.sessionIDs.SetCursor(cursor)
	first, err := store.ReserveHandles(handleBlock)
	if err != nil {
		return d, err
	}
	d.handles = session.NewIDs(session.ID(first))
	return d, nil
}

// discoveryLimits parses --padi-limit and --discovery-mac-limit.
func discoveryLimits(padi, mac string) (maps.DiscoveryLimits, error) {
	pr, pb, err := pppoe.ParseRate(padi)
	if err != nil {
		return maps.DiscoveryLimits{}, fmt.Errorf("--padi-limit: %w", err)
	}
	mr, mb, err := pppoe.ParseRate(mac)
	if err != nil {
		return maps.DiscoveryLimits{}, fmt.Errorf("--discovery-mac-limit: %w", err)
	}
	return maps.DiscoveryLimits{MACRate: uint32(mr), MACBurst: uint32(mb), PADIRate: uint32(pr), PADIBurst: uint32(pb)}, nil
}

// pppoe0MTU is the slow-path device's MTU: the largest session MTU (RFC
// 2516 §7: 1500 − 8 without RFC 4638). Sessions with a smaller one get a
// host route with theirs (control/pppoe0).
const pppoe0MTU = 1492

// mpDivertBuffer is each CPU's mp_divert perf buffer: room for about 150
// MRRU-sized (1614-byte) packets waiting to be fragmented.
const mpDivertBuffer = 1 << 18

// setupPPPoE0 creates the slow-path device, or takes over the one an
// earlier run left (sessions survive a restart), and tells the data plane.
func setupPPPoE0(dp *maps.Datapath, name string) (*maps.Device, error) {
	dev, err := maps.LookupDevice(name)
	if err != nil {
		if dev, err = maps.CreatePPPoE0(name, name+"-peer", pppoe0MTU); err != nil {
			return nil, fmt.Errorf("--pppoe0 %s: %w", name, err)
		}
	}
	if err := dp.SetPPPoE0(dev.Index, dev.MAC); err != nil {
		return nil, fmt.Errorf("--pppoe0 %s: %w", name, err)
	}
	if err := dp.AttachPPPoE0(dev.Index); err != nil {
		return nil, fmt.Errorf("--pppoe0 %s: %w", name, err)
	}
	return dev, nil
}

// lateInterfaces lets the client manager, built before the daemon, use the
// daemon's Interfaces, which need the daemon for /interface vlan names.
type lateInterfaces struct{ ifs **daemon.Interfaces }

func (l lateInterfaces) Attach(name string) (client.Attachment, error) { return (*l.ifs).Attach(name) }

// lateRadiusSessions lets the AAA backend, built before the access
// concentrator whose sessions Disconnect and CoA act on, reach them.
type lateRadiusSessions struct{ ac **daemon.AccessConcentrator }

func (l lateRadiusSessions) Remove(ids ...session.ID) int {
	return daemon.RadiusSessions{AC: *l.ac}.Remove(ids...)
}

func (l lateRadiusSessions) Change(id session.ID, ch radius.Change) error {
	return daemon.RadiusSessions{AC: *l.ac}.Change(id, ch)
}

// dataPlaneCounters reads the data plane's per-reason counters for metrics,
// keyed by reason name.
func dataPlaneCounters(dp *maps.Datapath) func() (map[string]uint64, error) {
	return func() (map[string]uint64, error) {
		c, err := dp.Counters()
		if err != nil {
			return nil, err
		}
		out := make(map[string]uint64, len(c))
		for r, n := range c {
			out[r.String()] = n
		}
		return out, nil
	}
}

// noLimit maps a flag's "0: no limit" to server.Options' negative.
func noLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
