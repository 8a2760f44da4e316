package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// benchConfig is the RouterOS reference's Quick Example with a pool big
// enough for the run and a keepalive that stays quiet during it: at a few
// hundred sessions a second on a loaded machine, 100,000 take minutes, and
// emulated clients that answer an echo late must not end sessions the
// memory reading counts.
func benchConfig(iface string) string {
	return `
/ip pool add name=pppoe-pool ranges=10.0.0.2-10.3.255.254
/ppp profile add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=` + iface +
		` service-name=pppoeservice keepalive-timeout=1h authentication=pap,chap
`
}

// serve is the child: the data plane attached as the daemon does it,
// control/server on iface, and a line protocol on stdin/stdout:
// "ready", "stat" (rss_kB cpu_ns sessions entries leases), "quit".
// stateMode is -state: which state store the AC writes its sessions to.
var stateMode = "none"

func serve(iface, pin string, n int, aaaMode string) error {
	capacity := uint32(max(1024, 2*n))
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: capacity})
	if err != nil {
		return err
	}
	defer func() { dp.Unpin(); dp.Close() }()
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", 1500)
	if err != nil {
		return err
	}
	defer maps.DeleteDevice("pppoe0")
	for _, step := range []func() error{
		func() error { return maps.AddAddress(dev.Index, netip.MustParsePrefix("10.0.0.1/32")) },
		func() error { return maps.AddRoute(dev.Index, netip.MustParsePrefix("10.0.0.0/14")) },
		func() error { return dp.SetPPPoE0(dev.Index, dev.MAC) },
		func() error { return dp.AttachPPPoE0(dev.Index) },
		func() error { return dp.AttachAccess(ifi.Index) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	script := benchConfig(iface)
	if aaaMode == "radius" {
		// The subscribers are on FreeRADIUS (in this namespace), not in
		// the local secrets.
		script = strings.Replace(script, "/ppp secret add name=MT-User password=StrongPass profile=for-pppoe service=pppoe\n", "", 1) +
			"/ppp aaa set use-radius=yes accounting=yes\n" +
			"/radius add service=ppp address=127.0.0.1 secret=" + freeradius.Secret + "\n"
	}
	cfg, err := config.Load(script)
	if err != nil {
		return err
	}
	// pppoed's logger (--log-format json, --log-level info), the lines
	// discarded: what it holds and costs per session is the AC's too.
	lc := zap.NewProductionConfig()
	lc.OutputPaths = []string{os.DevNull}
	log, err := lc.Build()
	if err != nil {
		return err
	}
	local, err := aaa.New(cfg.LocalAAA(), log)
	if err != nil {
		return err
	}
	var journal server.Journal // nil: no store (a nil *state.Store would not be)
	var writer *state.Writer
	if stateMode != "none" {
		dir, err := os.MkdirTemp("", "bench-sessions-state")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		store, err := state.Open(dir, state.Options{Sync: stateMode == "sync"})
		if err != nil {
			return err
		}
		defer store.Close()
		// As pppoed writes: queued on the session loops, written by one
		// writer.
		w := state.NewWriter(store, state.WriterOptions{})
		defer w.Close()
		journal, writer = w, w
	}
	var backend aaa.Backend = local
	var observers []session.Observer
	var rb *radiusaaa.Backend
	if aaaMode == "radius" {
		// With a store, the backend keeps each session's accounting and
		// its queued records in it, as pppoed's does.
		opts := radiusaaa.BackendOptions{}
		if writer != nil {
			opts.State = writer
		}
		rb = radiusaaa.NewBackend(local, opts)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rb.Close(ctx)
		}()
		backend, observers = rb, []session.Observer{rb}
	}
	// Off until the flood bench's "limits" command; pppoed leaves the Go
	// limiter nil and sets the data plane's.
	lim := pppoe.NewLimiter(pppoe.Limits{})
	srv, err := server.New(cfg, server.Options{
		Log:              log,
		State:            journal,
		AAA:              backend,
		Observers:        observers,
		DataPlane:        server.NewDataPlane(dp),
		DiscoveryLimiter: lim,
		Open: func(name string) (server.Port, error) {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return server.Port{}, err
			}
			c, err := afpacket.Listen(ifi)
			if err != nil {
				return server.Port{}, err
			}
			return server.Port{Conn: c, Ifindex: ifi.Index, MAC: ifi.HardwareAddr}, nil
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	// Run time of the programs, for the flood bench's XDP cost (it adds
	// two clock reads to every run). Closed with the process.
	if stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer stats.Close()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if mode, ok := strings.CutPrefix(in.Text(), "limits "); ok {
			if err := setLimits(dp, lim, mode); err != nil {
				fmt.Println("error", err)
			} else {
				fmt.Println("ok")
			}
			continue
		}
		if file, ok := strings.CutPrefix(in.Text(), "cpuprofile "); ok {
			if err := startCPUProfile(file); err != nil {
				fmt.Println("error", err)
			} else {
				fmt.Println("ok")
			}
			continue
		}
		if dir, ok := strings.CutPrefix(in.Text(), "pprof "); ok {
			if err := writeProfiles(dir); err != nil {
				fmt.Println("error", err)
			} else {
				fmt.Println("ok")
			}
			continue
		}
		switch in.Text() {
		case "mem", "mem-free":
			// After a collection, so the heap is what is live. mem-free
			// also returns every free page to the kernel at once, as the
			// runtime's scavenger does over minutes: RSS then shows what
			// a process holds, not what it has yet to give back.
			if in.Text() == "mem-free" {
				debug.FreeOSMemory()
			} else {
				runtime.GC()
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			// rss_kB heap_alloc heap_inuse stack_inuse goroutines heap_objects heap_idle heap_released
			// then the runtime's own memory: span_sys gc_sys other_sys
			fmt.Println(rssKB(), m.HeapAlloc, m.HeapInuse, m.StackInuse, runtime.NumGoroutine(), m.HeapObjects, m.HeapIdle, m.HeapReleased,
				m.MSpanSys, m.GCSys, m.OtherSys)
		case "cpuprofile-stop":
			pprof.StopCPUProfile()
			if cpuProfileFile != nil {
				cpuProfileFile.Close()
				cpuProfileFile = nil
			}
			fmt.Println("ok")
		case "ready":
			fmt.Println("ready")
		case "ended":
			// reason=count ... of the sessions that ended
			var parts []string
			for r, n := range srv.Counters().Ended {
				if n > 0 {
					parts = append(parts, fmt.Sprintf("%v=%d", r, n))
				}
			}
			fmt.Println(strings.Join(parts, " "))
		case "stat":
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			// Polled every millisecond during teardown: States, not
			// Counters, whose traffic sums read every session.
			var live int64
			for _, n := range srv.States() {
				live += n
			}
			fmt.Println(rssKB(), ru.Utime.Nano()+ru.Stime.Nano(), live, dp.Len(), local.PoolUsed("pppoe-pool"))
		case "disc":
			// xdp_passed xdp_mac_dropped xdp_global_dropped padi padr
			// go_limited pado pads pads_errors xdp_runs xdp_run_ns
			c, err := dp.Counters()
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			var runs, ns uint64
			if st, err := dp.Program("xdp_access_in").Stats(); err == nil {
				runs, ns = st.RunCount, uint64(st.Runtime)
			}
			d := srv.Counters().Discovery
			fmt.Println(c[maps.ReasonPassDiscovery], c[maps.ReasonDiscoveryMAC], c[maps.ReasonDiscoveryGlobal],
				d.PADIReceived, d.PADRReceived, d.MACLimited+d.GlobalLimited, d.PADOSent, d.PADSSent, d.PADSErrors, runs, ns)
		case "acct":
			// queued delivered
			if rb == nil {
				fmt.Println(0, 0)
			} else {
				fmt.Println(rb.Queued(), rb.Delivered())
			}
		case "quit":
			fmt.Println("bye")
			return nil
		default:
			fmt.Println("error unknown command")
		}
	}
	return in.Err()
}

// setLimits applies "off|go|xdp padi-limit mac-limit": the limits in the
// Go discovery server or in XDP, the other off, or none.
func setLimits(dp *maps.Datapath, lim *pppoe.Limiter, cmd string) error {
	f := strings.Fields(cmd)
	if len(f) != 3 {
		return fmt.Errorf("limits %q: want mode padi-limit mac-limit", cmd)
	}
	var l pppoe.Limits
	var err error
	if l.PADIRate, l.PADIBurst, err = pppoe.ParseRate(f[1]); err != nil {
		return err
	}
	if l.MACRate, l.MACBurst, err = pppoe.ParseRate(f[2]); err != nil {
		return err
	}
	goL, xdpL := pppoe.Limits{}, pppoe.Limits{}
	switch f[0] {
	case "off":
	case "go":
		goL = l
	case "xdp":
		xdpL = l
	default:
		return fmt.Errorf("limits mode %q: want off, go or xdp", f[0])
	}
	lim.SetLimits(goL)
	return dp.SetDiscoveryLimits(maps.DiscoveryLimits{MACRate: uint32(xdpL.MACRate), MACBurst: uint32(xdpL.MACBurst),
		PADIRate: uint32(xdpL.PADIRate), PADIBurst: uint32(xdpL.PADIBurst)})
}

// cpuProfileFile is the file of the CPU profile under way, if any.
var cpuProfileFile *os.File

// startCPUProfile profiles the AC's CPU into file until "cpuprofile-stop".
func startCPUProfile(file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	cpuProfileFile = f
	return nil
}

// writeProfiles writes a heap profile (after a collection) and the
// goroutines' stacks, aggregated, into dir.
func writeProfiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	runtime.GC()
	for _, p := range []struct {
		name, file string
		debug      int
	}{{"heap", "heap.pb.gz", 0}, {"goroutine", "goroutine.txt", 1}} {
		f, err := os.Create(filepath.Join(dir, p.file))
		if err != nil {
			return err
		}
		err = pprof.Lookup(p.name).WriteTo(f, p.debug)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s profile: %w", p.name, err)
		}
	}
	return nil
}

// rssKB is VmRSS from /proc/self/status.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return 0
}
