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
	"github.com/pppoe-xdp/pppoe-xdp/control/fib6cache"
	"github.com/pppoe-xdp/pppoe-xdp/control/host"
	"github.com/pppoe-xdp/pppoe-xdp/control/linkwatch"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
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
line each). The access concentrator's and the clients' sessions are
adopted; a client configured otherwise since ends its session and dials
again.

Flags:
`

type flags struct {
	config, bpffs, socket, metrics   string
	stateDir                         string
	logLevel, logFormat, resolvConf  string
	uplinks, pppoe0, xdpMode, tcMode string
	padiLimit, macLimit              string
	rxSpread, shaper                 string
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
	fs.StringVar(&f.shaper, "shaper", "auto", "how shaped downloads (queue-type=fq-codel-default) are shaped: auto (edt where the kernel has fq, else htb), edt or htb")
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
	shaper, err := maps.ParseShaper(f.shaper)
	if err != nil {
		return fmt.Errorf("--shaper: %w", err)
	}
	if f.capacity < 1 || f.capacity > 1<<24 {
		return fmt.Errorf("--capacity %d: want 1 to %d sessions", f.capacity, 1<<24)
	}
	if f.tcMode != "auto" && f.tcMode != "clsact" {
		return fmt.Errorf("--tc-mode %q: want auto or clsact", f.tcMode)
	}
	limits, err := pppoe.ParseLimits(f.padiLimit, f.macLimit)
	if err != nil {
		return fmt.Errorf("--%w", err)
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
	disc, err := restart.LoadDiscovery(store)
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}

	dp, err := maps.Open(maps.Options{PinPath: f.bpffs, Logger: log, GenericXDP: f.xdpMode == "generic", Clsact: f.tcMode == "clsact", MaxSessions: uint32(f.capacity), RxSpread: spread, Shaper: shaper})
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	defer dp.Close()
	fib6, err := fib6cache.Start(fib6cache.Options{Log: log}, dp)
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	defer fib6.Close()
	// The limits go to the data plane, which drops floods before they
	// cost a copy to user space; the discovery servers get no Limiter of
	// their own (pppoe.Limiter says why).
	if err := dp.SetDiscoveryLimits(maps.DiscoveryLimits{MACRate: uint32(limits.MACRate), MACBurst: uint32(limits.MACBurst),
		PADIRate: uint32(limits.PADIRate), PADIBurst: uint32(limits.PADIBurst)}); err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	if f.xdpMode == "generic" {
		log.Warn("--xdp-mode=generic: XDP runs after the kernel has built an skb, the slow way")
	}
	p0, err := host.OpenPPPoE0(dp, f.pppoe0, log)
	if err != nil {
		return fmt.Errorf("--pppoe0: %w", err)
	}
	defer p0.Close()
	var uplinkNames []string
	for _, name := range strings.FieldsFunc(f.uplinks, func(r rune) bool { return r == ',' }) {
		uplinkNames = append(uplinkNames, strings.TrimSpace(name))
	}
	uplinks := daemon.NewUplinks(uplinkNames, dp, log)

	rec := &restart.Once{Store: store, DataPlane: dp, Log: log}
	aaaLocal, err := aaa.New(config.New().LocalAAA(), log)
	if err != nil {
		return fmt.Errorf("aaa: %w", err)
	}
	// /ppp aaa: the local secrets, and RADIUS when use-radius=yes; the
	// backend follows the configuration through the server's Apply and
	// accounts the sessions as their observer.
	var ac *daemon.AccessConcentrator
	aaaBackend := radiusaaa.NewBackend(aaaLocal, radiusaaa.BackendOptions{
		Sessions: daemon.LateRadiusSessions{AC: &ac},
		State:    writer,
		Resuming: last.Kind != state.ExitStop && !fresh,
		Logger:   log,
	})
	rec.After = aaaBackend.EndUnadopted
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
		AAA:                aaaBackend,
		Observers:          []session.Observer{aaaBackend},
		DataPlane:          p0.DataPlane(),
		SetupLatency:       func(l time.Duration) { d.Metrics().ObserveSetup(l) },
		CookieKey:          disc.CookieKey,
		ServerDUID:         disc.ServerDUID,
		SessionIDs:         disc.SessionIDs,
		IDs:                disc.Handles,
		State:              writer,
		MaxStarting:        noLimit(f.maxStarting),
		MaxStartingPerHost: noLimit(f.maxStartingPerHost),
		SetupTimeout:       f.setupTimeout,
		// The maps outlive the previous run (restarted, upgraded or
		// crashed): each session in them or in the store is adopted by
		// the server, its ports open but not yet read, or swept.
		Resume: func(srv *server.Server) error { return rec.Reconcile(srv) },
		Log:    log,
	}, p0)

	ifs := daemon.NewInterfaces()
	defer ifs.Close()
	clients := client.NewManager(client.Deps{
		Interfaces: ifs,
		DataPlane:  host.NewClientDataPlane(dp, p0.Diverts, log),
		Routes:     client.NetlinkRoutes{},
		DNS:        client.NewResolvConf(f.resolvConf),
		State:      writer,
		IDs:        disc.Handles,
	}, log)
	// The clients dial once the previous run's client sessions were
	// offered to them (adopted or swept) by the reconciliation.
	clients.Resume(cfg)
	rec.Clients = host.ClientAdoption{Manager: clients}
	d = daemon.New(daemon.Options{
		ConfigPath: f.config,
		Servers:    ac,
		Clients:    daemon.ClientManager{Manager: clients},
		Interfaces: ifs,
		DataPlane:  dp.NamedCounters,
		Radius:     aaaBackend.RadiusCounters,
		Restart:    restartSoon,
		Log:        log,
	})
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
	if err := rec.Reconcile(nil); err != nil {
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
		os.Exit(restart.Planned(store, writer, log))
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

// restartSoon is "/system restart": the planned restart SIGUSR2 starts,
// a moment later so that the command's answer (sent once it returns)
// reaches pppoectl before the process exits.
func restartSoon() error {
	time.AfterFunc(200*time.Millisecond, func() { _ = syscall.Kill(os.Getpid(), syscall.SIGUSR2) })
	return nil
}

// noLimit maps a flag's "0: no limit" to server.Options' negative.
func noLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
