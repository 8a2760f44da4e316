// Package daemon is pppoed's glue: it holds the running configuration, feeds
// it to the access concentrator and the clients, executes the operator's
// commands from the control socket, reloads the config file, and reports
// metrics. Components plug in through the small interfaces in backend.go, so
// the whole of it runs in tests with fakes.
//
// Live changes made through the control socket change the running
// configuration only; as decided for pppoe-xdp (unlike RouterOS) they are not
// written back to the config file, so a reload or restart returns to the file.
// "/export" shows the running configuration.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// Options are what the daemon is built from. Nil components are absent: their
// menus answer with an error, their metrics are zero.
type Options struct {
	// ConfigPath is the RouterOS script Reload reads ("" = none).
	ConfigPath string
	Servers    Servers
	Clients    Clients
	// Interfaces, if set, resolve /interface vlan names against this
	// daemon's configuration; Scan defaults to client.Scan over them.
	Interfaces *Interfaces
	Scan       Scanner
	// DataPlane reads the BPF per-reason counters at scrape time.
	DataPlane func() (map[string]uint64, error)
	// Radius reads the RADIUS counters at scrape time (nil: none).
	Radius func() *radius.Counters
	// MonitorInterval is how often monitor refreshes (1s if 0).
	MonitorInterval time.Duration
	// RetryInterval is how often Run asks the servers to open the
	// interfaces they are missing (2s if 0, never if negative).
	RetryInterval time.Duration
	// Restart, if set, is "/system restart": the daemon exits as for a
	// planned restart, leaving its sessions installed for the next run.
	Restart func() error
	Log     *zap.Logger // nil logs nothing
}

// DefaultRetryInterval is how often a server whose interface does not
// exist checks whether it has appeared.
const DefaultRetryInterval = 2 * time.Second

// Daemon is a running pppoed.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	metrics *metrics.Metrics
	// load reads the config file for Reload (LoadFileContext).
	load func(ctx context.Context, path string) (*config.Config, error)

	reloading chan struct{} // holds a token while a reload runs

	mu      sync.Mutex // serializes configuration changes
	running *config.Config
}

// AppliedError is an error after which the configuration is running all
// the same: a component took it but could not carry all of it out on the
// host (pppoe0's routes, say). Any other error from a component's Apply
// means it changed nothing.
type AppliedError struct{ Err error }

func (e *AppliedError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *AppliedError) Unwrap() error { return e.Err }

// ErrEmptyConfig refuses a file without a single command: applied, it
// would remove every server, secret and client and end every session, and
// such a file is far more often one caught while being written, or the
// wrong one, than the intent.
var ErrEmptyConfig = errors.New("the file has no commands: applying it would remove the whole configuration " +
	"and end every session; to empty the configuration, load a file whose commands leave nothing " +
	"(see README, \"Emptying the configuration\")")

// LoadFile reads and validates a config file. On error nothing is returned:
// a bad file is rejected whole, with its line, property and reason; so is
// one without commands (ErrEmptyConfig).
func LoadFile(path string) (*config.Config, error) {
	return LoadFileContext(context.Background(), path)
}

// LoadFileContext is LoadFile that gives up when ctx ends. The file is
// read whole and only once it has stopped changing (see readStable), so a
// file being written is never applied half-way.
func LoadFileContext(ctx context.Context, path string) (*config.Config, error) {
	b, err := readStable(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cmds, err := config.ParseContext(ctx, string(b))
	if err == nil && !slices.ContainsFunc(cmds, func(c config.Command) bool { return c.Verb != "" }) {
		err = ErrEmptyConfig
	}
	var cfg *config.Config
	if err == nil {
		cfg, err = config.New().ApplyContext(ctx, cmds)
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// New returns a daemon whose running configuration starts empty (the
// defaults of a fresh install); Start applies the first one.
func New(opts Options) *Daemon {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.MonitorInterval <= 0 {
		opts.MonitorInterval = time.Second
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if ifs := opts.Interfaces; ifs != nil && opts.Scan == nil {
		opts.Scan = func(ctx context.Context, iface string, dur time.Duration) ([]client.Offer, error) {
			return client.Scan(ctx, ifs, iface, dur)
		}
	}
	d := &Daemon{opts: opts, log: opts.Log, running: config.New(), load: LoadFileContext, reloading: make(chan struct{}, 1)}
	d.metrics = metrics.New(d.snapshot)
	if opts.Interfaces != nil {
		opts.Interfaces.d = d
	}
	return d
}

// Metrics is the daemon's registry; components report setup latency to it.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Config returns the running configuration (configurations are values:
// nothing changes it).
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running.Clone()
}

// Start applies the first configuration to the components. An error that
// is not an *AppliedError means nothing of it runs.
func (d *Daemon) Start(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.commitLocked(cfg, "start")
	return err
}

// Reload re-reads the config file, validates it and applies the difference
// to the running configuration. A bad file changes nothing: the error is
// returned (and logged as a warning), and the daemon carries on. So does a
// file without commands (ErrEmptyConfig).
//
// One reload runs at a time: another waits for it. Either gives up, having
// changed nothing, when ctx ends before it commits: the operator's pppoectl
// went away, say.
func (d *Daemon) Reload(ctx context.Context) ([]config.Change, error) {
	if d.opts.ConfigPath == "" {
		return nil, errors.New("reload: no config file (--config)")
	}
	select {
	case d.reloading <- struct{}{}:
		defer func() { <-d.reloading }()
	case <-ctx.Done():
		return nil, fmt.Errorf("reload: %w", ctx.Err())
	}
	cfg, err := d.load(ctx, d.opts.ConfigPath)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("reload rejected, running configuration kept", zap.Error(err))
		}
		return nil, fmt.Errorf("reload: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	return d.commitLocked(cfg, "reload")
}

// apply runs configuration commands against the running configuration,
// all or nothing, through the same path as a reload.
func (d *Daemon) apply(cmds []config.Command) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := d.running.Apply(cmds)
	if err != nil {
		return err
	}
	_, err = d.commitLocked(cfg, "cli")
	return err
}

// commitLocked hands cfg to the components if anything changed and makes it
// the running configuration, all or nothing: if a component refuses it,
// those that took it go back to the running one, which stays, and the error
// says which component refused what. An *AppliedError from a component
// keeps cfg and is returned as such. It returns what changed.
func (d *Daemon) commitLocked(cfg *config.Config, source string) ([]config.Change, error) {
	changes := config.Diff(d.running, cfg)
	if source != "start" && len(changes) == 0 {
		return nil, nil
	}
	type component struct {
		name  string
		apply func(*config.Config) error
	}
	var cs []component
	if d.opts.Servers != nil {
		cs = append(cs, component{"pppoe-server", d.opts.Servers.Apply})
	}
	if d.opts.Clients != nil {
		cs = append(cs, component{"pppoe-client", d.opts.Clients.Apply})
	}
	var warns []error
	for i, c := range cs {
		err := c.apply(cfg)
		var ae *AppliedError
		if err == nil || errors.As(err, &ae) {
			if err != nil {
				warns = append(warns, fmt.Errorf("%s: %w", c.name, err))
			}
			continue
		}
		for _, done := range cs[:i] {
			if rerr := done.apply(d.running); rerr != nil {
				d.log.Error("configuration rollback failed", zap.String("component", done.name), zap.Error(rerr))
			}
		}
		d.log.Warn("configuration refused, running configuration kept", zap.String("source", source), zap.Error(err))
		return nil, fmt.Errorf("%s: %w (nothing changed)", c.name, err)
	}
	for _, c := range changes {
		d.log.Info("config change", zap.String("source", source), zap.Stringer("change", c))
	}
	d.running = cfg
	if err := errors.Join(warns...); err != nil {
		d.log.Warn("configuration applied with errors", zap.String("source", source), zap.Error(err))
		return changes, &AppliedError{Err: fmt.Errorf("configuration applied, but %w", err)}
	}
	return changes, nil
}

// RetryInterfaces asks the servers to open the interfaces they are
// missing (see Servers.Retry). Run calls it every RetryInterval; a watcher
// of link events can call it when an interface appears.
func (d *Daemon) RetryInterfaces() {
	if d.opts.Servers == nil {
		return
	}
	for _, name := range d.opts.Servers.Retry() {
		d.log.Info("server interface appeared", zap.String("iface", name))
	}
}

// invalid returns the print flag function of menu: the servers that
// cannot run (RouterOS's I), nil for other menus.
func (d *Daemon) invalid(menu string) func(key string) bool {
	if menu != menuServer || d.opts.Servers == nil {
		return nil
	}
	inv := d.opts.Servers.Invalid()
	return func(key string) bool { return inv[key] != nil }
}

// Run serves the control socket (and metrics, if metricsLn is not nil) until
// ctx ends, then shuts the components down: sessions end with PADT, client
// routes and addresses go. Start must have been called.
func (d *Daemon) Run(ctx context.Context, control, metricsLn net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return (&api.Server{Handler: d, Log: d.log}).Serve(gctx, control)
	})
	if d.opts.RetryInterval > 0 {
		g.Go(func() error {
			t := time.NewTicker(d.opts.RetryInterval)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
					d.RetryInterfaces()
				}
			}
		})
	}
	if metricsLn != nil {
		g.Go(func() error { return d.metrics.Serve(gctx, metricsLn) })
	}
	err := g.Wait()
	if cerr := d.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// Close ends every session and client connection.
func (d *Daemon) Close() error {
	var errs []error
	if d.opts.Servers != nil {
		if err := d.opts.Servers.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pppoe-server: close: %w", err))
		}
	}
	if d.opts.Clients != nil {
		if err := d.opts.Clients.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pppoe-client: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// snapshot gathers the metrics at scrape time.
func (d *Daemon) snapshot() metrics.Snapshot {
	s := metrics.Snapshot{SessionsByState: map[string]int{}}
	if srv := d.opts.Servers; srv != nil {
		c := srv.Counters()
		for state, n := range c.States {
			s.SessionsByState[state] += n
		}
		s.Discovery, s.AuthFailures, s.PoolExhausted = c.Discovery, c.AuthFailures, c.PoolExhausted
		s.HalfOpen, s.Established = c.HalfOpen, c.Established
		s.Refused, s.LateDuplicates, s.Ended = c.Refused, c.LateDuplicates, c.Ended
		s.QueueDrops = c.QueueDrops
		s.Traffic, s.MPReassemblyDrops = c.Traffic, c.MPReassemblyDrops
	}
	if d.opts.DataPlane != nil {
		s.DataPlane, s.DataPlaneErr = d.opts.DataPlane()
	}
	if d.opts.Radius != nil {
		s.Radius = d.opts.Radius()
	}
	return s
}
