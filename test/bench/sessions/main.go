// Command sessions is `make bench-sessions`: many emulated PPPoE
// subscribers (distinct MACs, each a full PADI → PADO → PADR → PADS → LCP →
// PAP/CHAP → IPCP exchange, run by the fleet of fleet.go) from this
// process over one veth, against the real access concentrator
// (control/server with the BPF data plane attached and every session
// installed in the maps) running in a child process in another network
// namespace.
//
// It prints the session setup rate, the time to bring up N sessions, the
// AC's resident memory per session, the teardown rate (client PADTs until
// the AC has no session, no maps entry and no lease left), and the CPU each
// side used, so a client-side bottleneck would show. It never asserts.
//
// With -flood it is `make bench-flood` instead (flood.go): one legitimate
// subscriber after another dials while a PADI flood from random MACs, then
// a PADR flood from one MAC, hits the AC, with the discovery limits off,
// in the Go discovery server and in XDP in turn.
//
// It needs root (namespaces, BPF).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

var profDir string

// cpuProfile: profile the AC's CPU over the first setup phase and over
// the teardown, into profileDir.
var cpuProfile bool

// Figures the issue compares against.
const (
	goalRate = 5000 // sessions/s on this 2-core machine, load generator included (issue 18)
	// goalRadiusRate is the same through FreeRADIUS on the box (issue 14).
	goalRadiusRate = 2000
)

func main() {
	role := flag.String("role", "bench", "bench, or server (the child)")
	n := flag.Int("n", 100000, "sessions to bring up (memory is read at 10,000 and at n)")
	flag.StringVar(&profDir, "pprof", "", "directory for the AC's heap and goroutine profiles at idle, at 10,000 sessions, after teardown and after -settle (default: a new one under $TMPDIR); GODEBUG=memprofilerate=64 samples the heap finely, at a cost to the setup rate")
	flag.BoolVar(&cpuProfile, "cpuprofile", false, "also profile the AC's CPU over the first setup phase and over the teardown (into the -pprof directory, cpu.pb.gz and cpu-teardown.pb.gz), and the emulated clients' over the first setup phase (clients.pb.gz)")
	flag.DurationVar(&settle, "settle", defaultSettle, "after the teardown, wait this long and read the AC's memory and heap profile again (0: do not); the default outlasts the discovery server's duplicate-PADR memory")
	flag.IntVar(&rounds, "rounds", 1, "set up and tear down the n sessions this many times, reading the AC's memory after each teardown (and -settle)")
	conc := flag.Int("concurrency", 64, "dials (and PADTs) in flight at once; above ~100 the AC's AF_PACKET socket buffer overflows")
	method := flag.String("auth", "pap", "pap or chap")
	aaaMode := flag.String("aaa", "local", "local (/ppp secret) or radius (a FreeRADIUS beside the AC, the README's configuration)")
	pin := flag.String("pin", "", "bpffs pin directory (server)")
	iface := flag.String("iface", "acc0", "access interface (server)")
	floodMode := flag.Bool("flood", false, "the flood bench: a subscriber dials during PADI and PADR floods")
	rate := flag.Int("rate", 20000, "flood: frames a second")
	dials := flag.Int("dials", 10, "flood: legitimate dials per phase")
	warmup := flag.Duration("warmup", time.Second, "flood: how long the flood runs before the first dial")
	pace := flag.Duration("pace", 100*time.Microsecond, "flood: the frames go out in batches this far apart (a smoother flood leaves fewer gaps for a subscriber's PADI)")
	flag.StringVar(&stateMode, "state", "none", "the AC's state store (control/state): none, file (as pppoed: records written, not synced) or sync (every commit synced); with -aaa radius the RADIUS backend keeps its accounting in it too, as pppoed's does")
	modes := flag.String("modes", "off,go,xdp", "flood: where the limits apply, in turn (off: nowhere)")
	kinds := flag.String("floods", "padi,padr", "flood: padi (random MACs), padr (one MAC)")
	padiLimit := flag.String("padi-limit", pppoe.FormatRate(pppoe.DefaultLimits.PADIRate, pppoe.DefaultLimits.PADIBurst), "flood: as pppoed's --padi-limit")
	macLimit := flag.String("mac-limit", pppoe.FormatRate(pppoe.DefaultLimits.MACRate, pppoe.DefaultLimits.MACBurst), "flood: as pppoed's --discovery-mac-limit")
	flag.Parse()
	var err error
	switch {
	case *role == "server":
		err = serve(*iface, *pin, *n, *aaaMode)
	case *floodMode:
		err = floodBench(floodOpts{rate: *rate, dials: *dials, warmup: *warmup, pace: *pace, modes: strings.Split(*modes, ","),
			padiLimit: *padiLimit, macLimit: *macLimit, floodKinds: strings.Split(*kinds, ",")})
	default:
		err = bench(*n, *conc, *method, *aaaMode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-sessions:", err)
		os.Exit(1)
	}
}

// run runs a command, returning its output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// child is the AC process, driven by one-line commands on its stdin.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (c *child) ask(q string) (string, error) {
	if _, err := fmt.Fprintln(c.in, q); err != nil {
		return "", err
	}
	if !c.out.Scan() {
		return "", fmt.Errorf("server child: no answer to %q: %v", q, c.out.Err())
	}
	line := c.out.Text()
	if strings.HasPrefix(line, "error ") {
		return "", fmt.Errorf("server child: %s", line)
	}
	return line, nil
}

// ints parses the space-separated numbers of an answer.
func ints(s string) []int64 {
	var v []int64
	for _, f := range strings.Fields(s) {
		x, _ := strconv.ParseInt(f, 10, 64)
		v = append(v, x)
	}
	return v
}

// cpu is user+system CPU time of this process.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bench(n, conc int, method, aaaMode string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, BPF)")
	}
	var m auth.Method
	switch method {
	case "pap":
		m = auth.PAP
	case "chap":
		m = auth.CHAP
	default:
		return fmt.Errorf("-auth %q: want pap or chap", method)
	}
	if aaaMode != "local" && aaaMode != "radius" {
		return fmt.Errorf("-aaa %q: want local or radius", aaaMode)
	}
	goal := goalRate
	if aaaMode == "radius" {
		goal = goalRadiusRate
	}
	env, err := newBenchEnv(n, aaaMode, false)
	if err != nil {
		return err
	}
	defer env.close()
	ch := env.child
	fl := newFleet(env.conn, n, conc, m)
	defer fl.close()

	base, err := ch.ask("stat")
	if err != nil {
		return err
	}
	b := ints(base) // rss_kB cpu_ns sessions entries leases

	fmt.Printf("bench-sessions: %d emulated subscribers (%s), %d dials in flight, %d CPUs, AC in a child process\n",
		n, method, conc, runtime.NumCPU())
	if aaaMode == "radius" {
		fmt.Println("aaa:       RADIUS: every subscriber through a FreeRADIUS (threaded, the README's configuration) in the AC's namespace on the same CPUs, accounting on")
	}
	idle, err := ch.mem(false)
	if err != nil {
		return err
	}
	fmt.Printf("idle:      AC resident %d kB, Go heap in use %s (live %s, %d objects), stacks %s, %d goroutines\n",
		idle.rssKB, mib(idle.heapInuse), mib(idle.heapAlloc), idle.heapObjects, mib(idle.stackInuse), idle.goroutines)
	// The baseline of what the AC still holds after the teardown:
	// go tool pprof -diff_base idle/heap.pb.gz settled/heap.pb.gz.
	if _, err := ch.ask("pprof " + filepath.Join(profileDir(), "idle")); err != nil {
		return err
	}
	var radiusCPU0 time.Duration
	if env.radius != nil {
		radiusCPU0 = env.radius.CPU()
	}
	// Sessions come up in phases, to 10,000 and then to n, with a pause at
	// each end to read the AC's memory (and at 10,000 its profiles).
	marks := []int{n}
	if n > checkpoint {
		marks = []int{checkpoint, n}
	}
	var up []int64
	var setupTotal, clientCPU time.Duration
	b0 := b[1]
	from := 0
	for _, to := range marks {
		// The AC's CPU profile covers the first phase's setups (0 to
		// 10,000): what each setup costs it, before memory is large.
		profiling := cpuProfile && from == 0
		var clientProf *os.File
		if profiling {
			if _, err := ch.ask("cpuprofile " + filepath.Join(profileDir(), "cpu.pb.gz")); err != nil {
				return err
			}
			// The emulated clients share the CPUs with the AC: what
			// they spend is what the AC cannot have.
			if clientProf, err = os.Create(filepath.Join(profileDir(), "clients.pb.gz")); err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(clientProf); err != nil {
				clientProf.Close()
				return err
			}
		}
		cpu0, t0 := cpu(), time.Now()
		var rad0 time.Duration
		if env.radius != nil {
			rad0 = env.radius.CPU()
		}
		fl.dial(from, to)
		setup := time.Since(t0)
		nfailed, _, _ := fl.outcome()
		setupTotal += setup
		phaseCPU := cpu() - cpu0
		clientCPU += phaseCPU

		// The AC installs after its IPCP Opened; wait for the last entries.
		if up, err = ch.statUntil(10*time.Second, 20*time.Millisecond, func(st []int64) bool { return st[3] >= int64(to-nfailed) }); err != nil {
			return err
		}
		if profiling {
			pprof.StopCPUProfile()
			clientProf.Close()
			if _, err := ch.ask("cpuprofile-stop"); err != nil {
				return err
			}
			fmt.Printf("profiles:  AC CPU over sessions 0 to %d in %s (go tool pprof -top %s), the emulated clients' in %s\n", to, filepath.Join(profileDir(), "cpu.pb.gz"), filepath.Join(profileDir(), "cpu.pb.gz"), filepath.Join(profileDir(), "clients.pb.gz"))
		}
		ok := int64(to - nfailed)
		rate := float64(to-from) / setup.Seconds()
		serverCPU := time.Duration(up[1] - b[1])
		b[1] = up[1]
		fmt.Printf("setup:     sessions %d to %d up in %v, %.0f sessions/s (goal >= %d/s: %.2fx); %d failed so far\n",
			from, to, setup.Round(time.Millisecond), rate, goal, rate/float64(goal), nfailed)
		fmt.Printf("           AC: %d sessions, %d maps entries, %d leases; cpu: AC %.2f cores, emulated clients %.2f cores\n",
			up[2], up[3], up[4], serverCPU.Seconds()/setup.Seconds(), phaseCPU.Seconds()/setup.Seconds())
		var radCPU time.Duration
		if env.radius != nil {
			radCPU = env.radius.CPU() - rad0
		}
		printPerSetup(to-from, serverCPU, phaseCPU, radCPU, goal)
		if to == n && from > 0 {
			fmt.Printf("           sustained 0 to %d: %.0f sessions/s over %v of dialling\n", to, float64(ok)/setupTotal.Seconds(), setupTotal.Round(time.Millisecond))
		}
		// Per session of the AC's, which would be fewer than the
		// clients' if sessions had ended there meanwhile.
		if up[2] != ok {
			ended, err := ch.ask("ended")
			if err != nil {
				return err
			}
			fmt.Printf("           the AC holds %d sessions, the clients %d; ended at the AC: %s\n", up[2], ok, ended)
		}
		if ms, err := ch.mem(false); err != nil {
			return err
		} else {
			ms.print(fmt.Sprintf("at %d", up[2]), idle, up[2])
		}
		if to == checkpoint && n > checkpoint || len(marks) == 1 {
			dir := profileDir()
			if _, err := ch.ask("pprof " + dir); err != nil {
				return err
			}
			fmt.Printf("profiles:  AC heap and goroutines at %d sessions in %s (go tool pprof -sample_index=inuse_space %s/heap.pb.gz), its CPU while setting up the first %d in %s/cpu.pb.gz\n", ok, dir, dir, min(n, checkpoint), dir)
		}
		from = to
	}
	nfailed, firstErr, _ := fl.outcome()
	ok := int64(n - nfailed)
	if e := firstErr; e != nil {
		fmt.Printf("           first failure: %v\n", e)
	}
	fmt.Printf("cpu:       while dialling, AC %v, emulated clients %v (on %d CPUs they share the limit)\n",
		time.Duration(up[1]-b0).Round(time.Millisecond), clientCPU.Round(time.Millisecond), runtime.NumCPU())
	if env.radius != nil {
		rc := env.radius.CPU() - radiusCPU0
		fmt.Printf("           FreeRADIUS %v (%.2f cores) while dialling\n", rc.Round(time.Millisecond), rc.Seconds()/setupTotal.Seconds())
	}

	// Teardown: the clients send PADT (RFC 2516 §5.5) until the AC holds
	// nothing.
	if cpuProfile {
		if _, err := ch.ask("cpuprofile " + filepath.Join(profileDir(), "cpu-teardown.pb.gz")); err != nil {
			return err
		}
	}
	cpu0, t0 := cpu(), time.Now()
	down, err := tearDown(ch, fl, conc)
	if err != nil {
		return err
	}
	td := time.Since(t0)
	if cpuProfile {
		if _, err := ch.ask("cpuprofile-stop"); err != nil {
			return err
		}
		fmt.Printf("profiles:  AC CPU over the teardown in %s\n", filepath.Join(profileDir(), "cpu-teardown.pb.gz"))
	}
	if aaaMode == "radius" {
		// Every session's Start and Stop delivered: the accounting kept up.
		var acct []int64
		t1 := time.Now()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			s, err := ch.ask("acct")
			if err != nil {
				return err
			}
			acct = ints(s)
			if acct[0] == 0 || time.Now().After(deadline) {
				break
			}
		}
		drained := time.Since(t1).Round(time.Millisecond)
		defer fmt.Printf("accounting: %d records delivered (Accounting-On, a Start and a Stop per session), %d still queued %v after the last session ended\n",
			acct[1], acct[0], drained)
	}
	fmt.Printf("teardown:  %d sessions down in %v, %.0f sessions/s (client PADT until no session, maps entry or lease is left)\n",
		ok, td.Round(time.Millisecond), float64(ok)/td.Seconds())
	acDown, clDown := time.Duration(down[1]-up[1]), cpu()-cpu0
	fmt.Printf("           left: %d sessions, %d maps entries, %d leases; AC cpu %v (%.3f ms a session), clients cpu %v\n",
		down[2], down[3], down[4], acDown.Round(time.Millisecond), acDown.Seconds()*1000/float64(max(ok, 1)), clDown.Round(time.Millisecond))
	_, _, dropped := fl.outcome()
	fmt.Printf("           frames for no emulated client dialling or up (after its PADT, say): %d\n", dropped)
	after, err := ch.mem(false)
	if err != nil {
		return err
	}
	after.print("after teardown", idle, 0)
	if dir := profileDir(); dir != "" {
		if _, err := ch.ask("pprof " + filepath.Join(dir, "after-teardown")); err != nil {
			return err
		}
		fmt.Printf("profiles:  AC heap and goroutines after teardown in %s\n", filepath.Join(dir, "after-teardown"))
	}
	freed, err := ch.mem(true)
	if err != nil {
		return err
	}
	freed.print("after teardown, free pages returned to the kernel", idle, 0)
	if settle > 0 {
		// What the AC keeps only for a while after the last PADT is not
		// a leak: read again once it has let that go.
		time.Sleep(settle)
		settled, err := ch.mem(true)
		if err != nil {
			return err
		}
		why := "every PADS the discovery server remembers for a duplicate PADR expired"
		if settle < 2*pppoe.DefaultDuplicateWindow {
			why = "less than two duplicate-PADR windows: remembered PADSs may be held still"
		}
		settled.print(fmt.Sprintf("%v after teardown (%s), free pages returned", settle, why), idle, 0)
		dir := filepath.Join(profileDir(), "settled")
		if _, err := ch.ask("pprof " + dir); err != nil {
			return err
		}
		fmt.Printf("profiles:  AC heap %v after teardown in %s (against idle: go tool pprof -sample_index=inuse_space -diff_base %s -top %s)\n",
			settle, dir, filepath.Join(profileDir(), "idle", "heap.pb.gz"), filepath.Join(dir, "heap.pb.gz"))
	}
	// More churn: what the AC keeps after a teardown must not add up.
	for r := 2; r <= rounds; r++ {
		t0 := time.Now()
		fl.dial(0, n)
		setup := time.Since(t0)
		nfailed, _, _ := fl.outcome()
		if _, err := ch.statUntil(10*time.Second, 20*time.Millisecond, func(st []int64) bool { return st[3] >= int64(n-nfailed) }); err != nil {
			return err
		}
		t1 := time.Now()
		down, err := tearDown(ch, fl, conc)
		if err != nil {
			return err
		}
		fmt.Printf("round %d:   %d sessions up in %v, down in %v (%d failed in all rounds); left: %d sessions, %d maps entries, %d leases\n",
			r, n, setup.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), nfailed, down[2], down[3], down[4])
		time.Sleep(settle)
		m, err := ch.mem(true)
		if err != nil {
			return err
		}
		m.print(fmt.Sprintf("%v after round %d's teardown, free pages returned", settle, r), idle, 0)
	}
	_, err = ch.ask("quit")
	return err
}

// settle is how long after the teardown the AC's memory is read again.
var settle = defaultSettle

// rounds is how many times the n sessions are set up and torn down.
var rounds = 1

// defaultSettle outlasts what the AC keeps for a while after a session
// has gone: the discovery server's remembered PADSs, kept for up to two
// duplicate windows (pppoe.Server.remember).
const defaultSettle = 2*pppoe.DefaultDuplicateWindow + time.Second

// tearDown hangs up every subscriber that is up, conc at a time, each
// batch once the AC has ended the previous one (a PADT is never
// retransmitted, so a burst the AC's socket drops would leave sessions to
// the keepalive), and returns the AC's last stat: done when it holds
// nothing, or after 5 s.
func tearDown(ch *child, fl *fleet, conc int) ([]int64, error) {
	live := fl.live()
	for len(live) > 0 {
		batch := live[:min(conc, len(live))]
		live = live[len(batch):]
		for _, s := range batch {
			if err := fl.hangUp(s); err != nil {
				return nil, fmt.Errorf("PADT: %w", err)
			}
		}
		if _, err := ch.statUntil(2*time.Second, time.Millisecond, func(st []int64) bool { return st[3] <= int64(len(live)) }); err != nil {
			return nil, err
		}
	}
	return ch.statUntil(5*time.Second, 5*time.Millisecond, func(st []int64) bool { return st[2] == 0 && st[3] == 0 && st[4] == 0 })
}

// statUntil asks the AC for its stat (rss_kB cpu_ns sessions entries
// leases) every poll until done holds or within has passed, and returns
// the last one.
func (c *child) statUntil(within, poll time.Duration, done func([]int64) bool) ([]int64, error) {
	for deadline := time.Now().Add(within); ; time.Sleep(poll) {
		s, err := c.ask("stat")
		if err != nil {
			return nil, err
		}
		if st := ints(s); done(st) || time.Now().After(deadline) {
			return st, nil
		}
	}
}

// printPerSetup prints the CPU each party spent per setup of a phase of n
// setups (the AC's from its getrusage, the emulated clients' from this
// process's, FreeRADIUS's from /proc), and the rates those costs allow on
// this machine's CPUs: with every party on the box, as the bench runs, and
// for the AC alone. The AC's is what the rate goal is about; when the
// other parties' share is large, the bench, not the AC, is the limit.
func printPerSetup(n int, ac, clients, radius time.Duration, goal int) {
	if n <= 0 {
		return
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
	all := per(ac) + per(clients) + per(radius)
	cpus := float64(runtime.NumCPU())
	line := fmt.Sprintf("           cpu per setup: AC %.3f ms, emulated clients %.3f ms", per(ac), per(clients))
	if radius > 0 {
		line += fmt.Sprintf(", FreeRADIUS %.3f ms", per(radius))
	}
	fmt.Println(line)
	fmt.Printf("           on %d CPUs that allows at most %.0f sessions/s with all of it on this box, %.0f/s for the AC alone (goal >= %d/s)\n",
		runtime.NumCPU(), cpus*1000/all, cpus*1000/per(ac), goal)
}

// profileDir is where the AC's profiles go.
func profileDir() string {
	if profDir != "" {
		return profDir
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("bench-sessions-%d", os.Getpid()))
}

// checkpoint is the session count of the first memory reading.
const checkpoint = 10000

// memStat is the AC's "mem" answer.
type memStat struct {
	rssKB                            int64
	heapAlloc, heapInuse, stackInuse int64
	goroutines, heapObjects          int64
	heapIdle, heapReleased           int64
	// The runtime's own: span structures, GC metadata, the rest. It
	// keeps them once its heap has grown (a span struct per span of
	// the peak heap), so they are resident after the heap is returned.
	spanSys, gcSys, otherSys int64
}

// mem asks the AC for its memory after a collection; free: and after it
// returned its free pages to the kernel.
func (c *child) mem(free bool) (memStat, error) {
	q := "mem"
	if free {
		q = "mem-free"
	}
	s, err := c.ask(q)
	if err != nil {
		return memStat{}, err
	}
	v := ints(s)
	if len(v) < 11 {
		return memStat{}, fmt.Errorf("server child: mem: %q", s)
	}
	return memStat{rssKB: v[0], heapAlloc: v[1], heapInuse: v[2], stackInuse: v[3], goroutines: v[4], heapObjects: v[5], heapIdle: v[6], heapReleased: v[7],
		spanSys: v[8], gcSys: v[9], otherSys: v[10]}, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// print prints the AC's memory against idle, per session when there are
// sessions (goal: 8 kB of RSS per session).
func (m memStat) print(when string, idle memStat, sessions int64) {
	fmt.Printf("memory %s: AC resident %d kB (%+d kB over idle), Go heap in use %s (live %s, %d objects), stacks %s, %d goroutines\n",
		when, m.rssKB, m.rssKB-idle.rssKB, mib(m.heapInuse), mib(m.heapAlloc), m.heapObjects, mib(m.stackInuse), m.goroutines)
	if sessions > 0 {
		per := func(a, b int64) float64 { return float64(a-b) / float64(sessions) }
		fmt.Printf("           per session: resident %.1f kB (goal <= 8 kB), heap in use %.1f kB, live heap %.1f kB in %.0f objects, stacks %.1f kB, %.1f goroutines\n",
			per(m.rssKB, idle.rssKB), per(m.heapInuse, idle.heapInuse)/1024, per(m.heapAlloc, idle.heapAlloc)/1024,
			per(m.heapObjects, idle.heapObjects), per(m.stackInuse, idle.stackInuse)/1024, per(m.goroutines, idle.goroutines))
		if sessions >= 100000 {
			fmt.Printf("           %d sessions in %.2f GiB resident (goal < 1 GiB for 100,000)\n", sessions, float64(m.rssKB)/(1<<20))
		}
	} else {
		fmt.Printf("           heap idle %s, of which released to the kernel %s; the runtime's own: spans %s (%+.1f), GC metadata %s (%+.1f), other %s (%+.1f)\n",
			mib(m.heapIdle), mib(m.heapReleased), mib(m.spanSys), float64(m.spanSys-idle.spanSys)/(1<<20),
			mib(m.gcSys), float64(m.gcSys-idle.gcSys)/(1<<20), mib(m.otherSys), float64(m.otherSys-idle.otherSys)/(1<<20))
	}
}

// benchEnv is the lab both benches run in: a subscriber namespace and an
// AC namespace joined by a veth, the AC in a child process, and the
// emulated subscribers' Mux on the subscriber side.
type benchEnv struct {
	subNS, acNS string
	child       *child
	mux         *peer.Mux          // the flood bench's subscribers (test/peer)
	conn        *afpacket.Conn     // the sessions bench's (fleet)
	radius      *freeradius.Server // -aaa radius
	undo        []func()
}

func (e *benchEnv) close() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
}

// newBenchEnv builds the lab for an AC with room for n sessions, with a
// peer.Mux for the subscribers when withMux, else a bare socket for a
// fleet.
func newBenchEnv(n int, aaaMode string, withMux bool) (_ *benchEnv, err error) {
	id := strconv.Itoa(os.Getpid())
	e := &benchEnv{subNS: "pxb-sub-" + id, acNS: "pxb-ac-" + id}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	for _, ns := range []string{e.subNS, e.acNS} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		e.undo = append(e.undo, func() { run("ip", "netns", "del", ns) })
	}
	if err := run("ip", "link", "add", "pxb-eth0", "netns", e.subNS, "type", "veth", "peer", "name", "acc0", "netns", e.acNS); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"ip", "-n", e.subNS, "link", "set", "lo", "up"},
		{"ip", "-n", e.acNS, "link", "set", "lo", "up"},
		{"ip", "-n", e.subNS, "link", "set", "pxb-eth0", "up"},
		{"ip", "-n", e.acNS, "link", "set", "acc0", "up"},
	} {
		if err := run(c[0], c[1:]...); err != nil {
			return nil, err
		}
	}

	// The AC in a child process, so its memory and CPU are its own.
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pin := "/sys/fs/bpf/pppoe-xdp-bench-" + id
	if aaaMode == "radius" {
		dir, err := os.MkdirTemp("", "pxb-radius-")
		if err != nil {
			return nil, err
		}
		e.undo = append(e.undo, func() { os.RemoveAll(dir) })
		fr, err := freeradius.Launch(dir, freeradius.Options{
			Threaded: true, Netns: e.acNS, AuthPort: 1812, AcctPort: 1813,
			Users: "MT-User\tCleartext-Password := \"StrongPass\"\n",
		})
		if err != nil {
			return nil, fmt.Errorf("freeradius: %w", err)
		}
		e.undo = append(e.undo, fr.Close)
		e.radius = fr
	}
	cmd := exec.Command("ip", "netns", "exec", e.acNS, self, "-role=server", "-iface=acc0", "-pin="+pin, "-n="+strconv.Itoa(n), "-aaa="+aaaMode, "-state="+stateMode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e.child = &child{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	e.undo = append(e.undo, func() { in.Close(); cmd.Wait() })
	if _, err := e.child.ask("ready"); err != nil {
		return nil, err
	}
	if !withMux {
		err = inNS(e.subNS, func() error {
			ifi, err := net.InterfaceByName("pxb-eth0")
			if err != nil {
				return err
			}
			e.conn, err = afpacket.Listen(ifi)
			return err
		})
		if err != nil {
			return nil, err
		}
		e.undo = append(e.undo, func() { e.conn.Close() })
		return e, nil
	}
	if e.mux, err = listenIn(e.subNS, "pxb-eth0"); err != nil {
		return nil, err
	}
	e.undo = append(e.undo, func() { e.mux.Close() })
	return e, nil
}

// listenIn opens the client Mux on ifname inside namespace ns.
func listenIn(ns, ifname string) (m *peer.Mux, err error) {
	err = inNS(ns, func() error {
		m, err = peer.Listen(ifname)
		return err
	})
	return m, err
}

// inNS runs f on a locked thread inside namespace ns: the sockets it opens
// stay bound there.
func inNS(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

// dialWithin brings subscriber i up or gives up after timeout.
func dialWithin(mux *peer.Mux, i int, m auth.Method, timeout time.Duration) (*peer.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := peer.Dial(ctx, mux, peer.Config{
		MAC:        func() []byte { m := benchMAC(i); return m[:] }(),
		User:       "MT-User",
		Password:   "StrongPass",
		Methods:    []auth.Method{m},
		Timeout:    time.Second,
		MaxTimeout: 4 * time.Second,
		Restart:    time.Second,
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitUp(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
