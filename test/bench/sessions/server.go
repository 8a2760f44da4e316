package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// benchConfig is the RouterOS reference's Quick Example with a pool big
// enough for the run and a keepalive that stays quiet during it.
func benchConfig(iface string) string {
	return `
/ip pool add name=pppoe-pool ranges=10.0.0.2-10.0.255.254
/ppp profile add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=` + iface +
		` service-name=pppoeservice keepalive-timeout=120 authentication=pap,chap
`
}

// serve is the child: the data plane attached as the daemon does it,
// control/server on iface, and a line protocol on stdin/stdout:
// "ready", "stat" (rss_kB cpu_ns sessions entries leases), "quit".
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
		func() error { return maps.AddRoute(dev.Index, netip.MustParsePrefix("10.0.0.0/16")) },
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
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		return err
	}
	var backend aaa.Backend = local
	var observers []session.Observer
	var rb *radiusaaa.Backend
	if aaaMode == "radius" {
		rb = radiusaaa.NewBackend(local, radiusaaa.BackendOptions{})
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
		switch in.Text() {
		case "ready":
			fmt.Println("ready")
		case "stat":
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			var live int64
			for _, n := range srv.Counters().States {
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
