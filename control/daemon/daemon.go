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
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
)

// Options are what the daemon is built from. Nil components are absent: their
// menus answer with an error, their metrics are zero.
type Options struct {
	// ConfigPath is the RouterOS script Reload reads ("" = none).
	ConfigPath string
	Servers    Servers
	Clients    Clients
	Scan       Scanner
	// DataPlane reads the BPF per-reason counters at scrape time.
	DataPlane func() (map[string]uint64, error)
	// MonitorInterval is how often monitor refreshes (1s if 0).
	MonitorInterval time.Duration
	Log             *zap.Logger // nil logs nothing
}

// Daemon is a running pppoed.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	metrics *metrics.Metrics

	mu      sync.Mutex // serializes configuration changes
	running *config.Config
}

// LoadFile reads and validates a config file. On error nothing is returned:
// a bad file is rejected whole, with its line, property and reason.
func LoadFile(path string) (*config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := config.Load(string(b))
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
	d := &Daemon{opts: opts, log: opts.Log, running: config.New()}
	d.metrics = metrics.New(d.snapshot)
	return d
}

// Metrics is the daemon's registry; components report setup latency to it.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Config returns a copy of the running configuration.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running.Clone()
}

// Start applies the first configuration to the components.
func (d *Daemon) Start(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.commitLocked(cfg, "start")
}

// Reload re-reads the config file, validates it and applies the difference
// to the running configuration. A bad file changes nothing: the error is
// returned (and logged as a warning), and the daemon carries on.
func (d *Daemon) Reload() ([]config.Change, error) {
	if d.opts.ConfigPath == "" {
		return nil, errors.New("reload: no config file (--config)")
	}
	cfg, err := LoadFile(d.opts.ConfigPath)
	if err != nil {
		d.log.Warn("reload rejected, running configuration kept", zap.Error(err))
		return nil, fmt.Errorf("reload: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	changes := config.Diff(d.running, cfg)
	return changes, d.commitLocked(cfg, "reload")
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
	return d.commitLocked(cfg, "cli")
}

// commitLocked makes cfg the running configuration and hands it to the
// components if anything changed. The configuration is kept even when a
// component fails (an interface that does not exist yet, say), as RouterOS
// keeps an item that is not running; the failure is reported.
func (d *Daemon) commitLocked(cfg *config.Config, source string) error {
	changes := config.Diff(d.running, cfg)
	if source != "start" && len(changes) == 0 {
		return nil
	}
	for _, c := range changes {
		d.log.Info("config change", zap.String("source", source), zap.Stringer("change", c))
	}
	d.running = cfg
	var errs []error
	if d.opts.Servers != nil {
		if err := d.opts.Servers.Apply(cfg.Clone()); err != nil {
			errs = append(errs, fmt.Errorf("pppoe-server: %w", err))
		}
	}
	if d.opts.Clients != nil {
		if err := d.opts.Clients.Apply(cfg.Clone()); err != nil {
			errs = append(errs, fmt.Errorf("pppoe-client: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("configuration applied with errors", zap.String("source", source), zap.Error(err))
		return fmt.Errorf("configuration applied, but %w", err)
	}
	return nil
}

// Run serves the control socket (and metrics, if metricsLn is not nil) until
// ctx ends, then shuts the components down: sessions end with PADT, client
// routes and addresses go. Start must have been called.
func (d *Daemon) Run(ctx context.Context, control, metricsLn net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return (&api.Server{Handler: d, Log: d.log}).Serve(gctx, control)
	})
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
		for _, a := range srv.Sessions() {
			s.SessionsByState[a.State]++
		}
		c := srv.Counters()
		s.Discovery, s.AuthFailures, s.PoolExhausted = c.Discovery, c.AuthFailures, c.PoolExhausted
		s.HalfOpen, s.Established = c.HalfOpen, c.Established
		s.Refused, s.LateDuplicates, s.Ended = c.Refused, c.LateDuplicates, c.Ended
		s.Traffic = c.Traffic
	}
	if d.opts.DataPlane != nil {
		s.DataPlane, s.DataPlaneErr = d.opts.DataPlane()
	}
	return s
}
