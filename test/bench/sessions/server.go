package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
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
func serve(iface, pin string, n int) error {
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
	cfg, err := config.Load(benchConfig(iface))
	if err != nil {
		return err
	}
	local, err := aaa.New(cfg, nil)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Options{
		AAA:       local,
		DataPlane: server.NewDataPlane(dp),
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

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
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
		case "quit":
			fmt.Println("bye")
			return nil
		default:
			fmt.Println("error unknown command")
		}
	}
	return in.Err()
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
