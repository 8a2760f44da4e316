// Command dataplane is the data-plane benchmark (`make bench-dataplane`).
// It builds a subscriber / AC / core topology of network namespaces and
// veths, generates frames with BPF_PROG_TEST_RUN in live-frame mode
// (pktgen is absent here) on one pinned CPU, counts what arrives at the far
// end, and prints packets per second for upstream (decap + forward) and
// downstream (encap + forward) against (a) a bare XDP redirect with no
// parsing, the ceiling on this topology, and (b) kernel IP forwarding; and
// with 1 versus 100,000 installed sessions (traffic on one hot session, and
// spread over all of them). The same again for IPv6 (dirs up6, down6),
// every session with a link /64 and a delegated /56 (ipv6.go).
//
// Every case also pays the generator's and the first veth's cost, which on
// a small machine is most of the total; a generator-only case (frames
// dropped by XDP on the first hop) measures it, so the output shows both
// the raw pps ratios and the ratios of the forwarding stage's own
// per-packet cost, 1/pps(case) - 1/pps(generator only). Cases run several
// rounds, interleaved, and the median and spread are printed. Last, a
// separate pass with bpf_stats gives each first-hop program's own run time.
//
// Subtracting the generator's cost assumes the costs add up, which holds
// only while the generator's CPU is saturated. It long was not: every
// BPF_PROG_TEST_RUN of an XDP program adds it to the kernel's XDP
// dispatcher on entry and removes it on exit, and each change waits for an
// RCU grace period (synchronize_rcu), so the generator slept most of each
// run (its CPU was 13-35% busy) and small costs hid in that slack. Now the
// generator is also attached to an idle veth (h0, down, never receives)
// for the whole bench, which keeps it in the dispatcher so test runs change
// nothing (-hold=false restores the old behaviour). To show either way
// whether costs add up, every run also measures CPU time: the busy time of
// every CPU (cpuidle residency, cross-checked against /proc/stat; see
// cpu.go) per frame that arrived, printed as cpu ns/pkt and CPU-based
// ratios next to the wall-clock ones, with each CPU's busy share.
//
// It prints; it never asserts, except that every frame of a PPPoE case
// took the fast path. Needs root.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/fib6cache"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// testXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES (linux/bpf.h).
const testXDPLiveFrames = 1 << 1

const genLen = 128 // GEN_LEN in bpf/bench.c

var (
	duration  = flag.Duration("duration", 800*time.Millisecond, "time per case per round")
	rounds    = flag.Int("rounds", 7, "rounds; each runs every case once, in a rotated order")
	sessions  = flag.Int("sessions", 100_000, "sessions installed for the scale cases")
	cpu       = flag.Int("cpu", 1, "CPU the generator (and so every veth's NAPI) runs on")
	verbose   = flag.Bool("v", false, "print frames sent/arrived and the generator thread's CPU time per run")
	dirs      = flag.String("dirs", "", "run only the rows of these directions, comma-separated (up, down, up6, down6; empty: all), with the full report: e.g. up6,down6 for the IPv6 rows")
	only      = flag.String("only", "", "run only the cases whose \"dir: name\" matches this regexp and print their pps, no ratios (for profiling one case, e.g. under perf record)")
	nice      = flag.Int("nice", -20, "nice value of the generator thread and of the CPU map threads while they run (0: leave them be): on a shared machine, the share of CPU a dedicated one would give them")
	fib6Cache = flag.Bool("fib6-cache", true, "run the upstream IPv6 route cache's watcher, as pppoed does (false: the cache stays off and every upstream IPv6 packet is looked up)")
	hold      = flag.Bool("hold", true, "keep the generator attached to an idle veth, so test runs need no XDP dispatcher update (and no RCU grace period)")
)

type ns struct{ name string }

func (n ns) run(args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %v: %s", n.name, args, err, out)
	}
	return nil
}

// do runs f on a locked thread inside the namespace.
func (n ns) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(n.name)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

type iface struct {
	ns    ns
	index int
	mac   net.HardwareAddr
}

type topo struct {
	sub, ac, core     ns
	s0, acc0, up0, c0 iface
	hold              iface // h0: down, never receives; holds xdp_gen in the XDP dispatcher
	objs              benchObjects
	dp1, dpMany       *maps.Datapath                  // 1 session; *sessions sessions
	indices           map[*maps.Datapath][]maps.Index // each one's sessions, by install order
	// With --rx-spread (*sessions sessions each): to the CPU the generator
	// does not run on, and over every CPU.
	dpSpreadOther, dpSpreadAll *maps.Datapath
	otherCPU                   int
	pins                       []string
	subBase, coreAddr          netip.Addr // session i has subBase + i
	plainSub, plainCore        netip.Addr // kernel-forwarding baseline destinations
	fib6                       *fib6cache.Watcher
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench-dataplane: needs root")
		os.Exit(1)
	}
	t := &topo{}
	err := t.build()
	defer t.teardown()
	if err == nil {
		err = t.bench()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-dataplane:", err)
		t.teardown()
		os.Exit(1)
	}
}

func (t *topo) build() error {
	pid := os.Getpid()
	t.sub, t.ac, t.core = ns{fmt.Sprintf("pxb-sub%d", pid)}, ns{fmt.Sprintf("pxb-ac%d", pid)}, ns{fmt.Sprintf("pxb-core%d", pid)}
	for _, n := range []ns{t.sub, t.ac, t.core} {
		if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
			return fmt.Errorf("netns add: %v: %s", err, out)
		}
	}
	steps := [][]string{
		{"ip", "link", "add", "s0", "netns", t.sub.name, "type", "veth", "peer", "acc0", "netns", t.ac.name},
		{"ip", "link", "add", "up0", "netns", t.ac.name, "type", "veth", "peer", "c0", "netns", t.core.name},
		{"ip", "link", "add", "h0", "netns", t.sub.name, "type", "veth", "peer", "h1", "netns", t.sub.name},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v: %s", s, err, out)
		}
	}
	for _, x := range []struct {
		n    ns
		dev  string
		into *iface
	}{{t.sub, "s0", &t.s0}, {t.ac, "acc0", &t.acc0}, {t.ac, "up0", &t.up0}, {t.core, "c0", &t.c0}} {
		// No IPv6 link-local address, so no router solicitations or MLD
		// reports land in the sinks or the data plane's counters.
		if err := x.n.run("ip", "link", "set", x.dev, "addrgenmode", "none"); err != nil {
			return err
		}
		if err := x.n.run("ip", "link", "set", x.dev, "up"); err != nil {
			return err
		}
		if err := x.n.do(func() error {
			l, err := netlink.LinkByName(x.dev)
			if err != nil {
				return err
			}
			*x.into = iface{ns: x.n, index: l.Attrs().Index, mac: l.Attrs().HardwareAddr}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := t.sub.do(func() error {
		l, err := netlink.LinkByName("h0")
		if err != nil {
			return err
		}
		t.hold = iface{ns: t.sub, index: l.Attrs().Index, mac: l.Attrs().HardwareAddr}
		return nil
	}); err != nil {
		return err
	}
	t.subBase, t.coreAddr = netip.MustParseAddr("100.65.0.1"), netip.MustParseAddr("198.51.100.2")
	t.plainSub, t.plainCore = netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("198.51.100.3")
	cmds := [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "addr", "add", "198.51.100.1/24", "dev", "up0"},
		{"ip", "addr", "add", "10.99.0.254/24", "dev", "acc0"},
		{"ip", "neigh", "replace", t.coreAddr.String(), "lladdr", t.c0.mac.String(), "dev", "up0", "nud", "permanent"},
		{"ip", "neigh", "replace", t.plainCore.String(), "lladdr", t.c0.mac.String(), "dev", "up0", "nud", "permanent"},
		{"ip", "neigh", "replace", t.plainSub.String(), "lladdr", t.s0.mac.String(), "dev", "acc0", "nud", "permanent"},
		// No reverse-path or martian checks in the way of the generator.
		{"sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"},
		{"sysctl", "-qw", "net.ipv4.conf.acc0.rp_filter=0"},
		{"sysctl", "-qw", "net.ipv4.conf.up0.rp_filter=0"},
	}
	for _, c := range cmds {
		if err := t.ac.run(c...); err != nil {
			return err
		}
	}
	if err := t.build6Sysctls(); err != nil {
		return err
	}
	if err := t.build6(); err != nil {
		return err
	}
	if err := loadBenchObjects(&t.objs, nil); err != nil {
		return fmt.Errorf("load bench programs: %w", err)
	}
	// Two data planes with maps of the same size, so the only difference
	// between the 1-session and the many-session cases is what is in them.
	open := func(name string, spread ...int) (*maps.Datapath, error) {
		pin := fmt.Sprintf("%s-bench%d-%s", maps.DefaultPinPath, pid, name)
		dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: uint32(*sessions + 1024), RxSpread: spread})
		if err == nil {
			t.pins = append(t.pins, pin)
		}
		return dp, err
	}
	var err error
	if t.dp1, err = open("one"); err != nil {
		return err
	}
	if t.dpMany, err = open("many"); err != nil {
		return err
	}
	t.otherCPU = (*cpu + 1) % runtime.NumCPU()
	before := cpumapThreads()
	if t.dpSpreadOther, err = open("spread-other", t.otherCPU); err != nil {
		return err
	}
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	if t.dpSpreadAll, err = open("spread-all", all...); err != nil {
		return err
	}
	if *nice != 0 {
		for pid := range cpumapThreads() {
			if before[pid] {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, pid, *nice); err != nil {
				return fmt.Errorf("nice %d the CPU map thread %d: %w", *nice, pid, err)
			}
		}
	}
	err = t.ac.do(func() error {
		dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", 1492)
		if err != nil {
			return err
		}
		if err := maps.AddRoute(dev.Index, netip.MustParsePrefix("100.64.0.0/10")); err != nil {
			return err
		}
		for _, dp := range t.dps() {
			if err := dp.SetPPPoE0(dev.Index, dev.MAC); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !*fib6Cache {
		return err
	}
	// The upstream IPv6 route cache, kept by what pppoed runs.
	h, err := netns.GetFromName(t.ac.name)
	if err != nil {
		return err
	}
	defer h.Close()
	var targets []fib6cache.Target
	for _, dp := range t.dps() {
		targets = append(targets, dp)
	}
	t.fib6, err = fib6cache.Start(fib6cache.Options{Namespace: &h}, targets...)
	return err
}

// cpumapThreads are the kernel threads of every CPU map entry
// ("cpumap/CPU/map:ID"), by pid.
func cpumapThreads() map[int]bool {
	out := map[int]bool{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm")); err == nil && strings.HasPrefix(string(b), "cpumap/") {
			out[pid] = true
		}
	}
	return out
}

// dps are the data planes that are open.
func (t *topo) dps() []*maps.Datapath {
	var out []*maps.Datapath
	for _, dp := range []*maps.Datapath{t.dp1, t.dpMany, t.dpSpreadOther, t.dpSpreadAll} {
		if dp != nil {
			out = append(out, dp)
		}
	}
	return out
}

func (t *topo) teardown() {
	if t.fib6 != nil {
		t.fib6.Close()
		t.fib6 = nil
	}
	for _, dp := range t.dps() {
		_ = dp.Unpin()
		_ = dp.Close()
	}
	t.dp1, t.dpMany, t.dpSpreadOther, t.dpSpreadAll = nil, nil, nil, nil
	t.pins = nil
	t.objs.Close()
	for _, n := range []ns{t.sub, t.ac, t.core} {
		if n.name != "" {
			_ = exec.Command("ip", "netns", "del", n.name).Run()
		}
	}
	t.sub, t.ac, t.core = ns{}, ns{}, ns{}
}

// attachedXDP opens the XDP program attached to a device.
func attachedXDP(i iface) (*ebpf.Program, error) {
	var id uint32
	err := i.ns.do(func() error {
		l, err := netlink.LinkByIndex(i.index)
		if err != nil {
			return err
		}
		if l.Attrs().Xdp == nil || l.Attrs().Xdp.ProgId == 0 {
			return fmt.Errorf("%s: no XDP program", l.Attrs().Name)
		}
		id = l.Attrs().Xdp.ProgId
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ebpf.NewProgramFromID(ebpf.ProgramID(id))
}

// attachXDP attaches a program natively; the returned func detaches it.
func attachXDP(i iface, p *ebpf.Program) (func(), error) {
	var l link.Link
	err := i.ns.do(func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: p, Interface: i.index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		return nil, err
	}
	return func() { l.Close() }, nil
}
