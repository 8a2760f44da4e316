package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (t *topo) bench() error {
	if *sessions < 1 || *rounds < 1 || gcd(spreadStride, *sessions) != 1 {
		return fmt.Errorf("need -sessions >= 1 not a multiple of %d, and -rounds >= 1", spreadStride)
	}
	if *cpu < 0 || *cpu >= runtime.NumCPU() {
		return fmt.Errorf("-cpu %d: this machine has CPUs 0..%d", *cpu, runtime.NumCPU()-1)
	}
	for _, i := range []iface{t.s0, t.c0} {
		detach, err := attachXDP(i, t.objs.XdpSink)
		if err != nil {
			return err
		}
		defer detach()
	}
	if *hold {
		detach, err := attachXDP(t.hold, t.objs.XdpGen)
		if err != nil {
			return fmt.Errorf("hold the generator in the XDP dispatcher: %w", err)
		}
		defer detach()
	}
	// With -only, only the data planes (and IPv6 prefixes) the selected
	// cases use are filled: installing 100,000 sessions into each takes
	// minutes, which an A/B of one case does not need.
	cs := t.cases()
	if *dirs != "" {
		keep := map[string]bool{}
		for _, d := range strings.Split(*dirs, ",") {
			keep[strings.TrimSpace(d)] = true
		}
		cs = slices.DeleteFunc(cs, func(c *benchCase) bool { return !keep[c.dir] })
		if len(cs) == 0 {
			return fmt.Errorf("-dirs %q: no such rows (up, down, up6, down6)", *dirs)
		}
	}
	need := map[*maps.Datapath]bool{t.dp1: true, t.dpMany: true, t.dpSpreadOther: true, t.dpSpreadAll: true}
	need6 := true
	if *only != "" || *dirs != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		need, need6 = map[*maps.Datapath]bool{}, false
		for _, c := range cs {
			if re.MatchString(c.dir + ": " + c.name) {
				need[c.dp] = true
				need6 = need6 || c.dir == "up6" || c.dir == "down6"
			}
		}
	}
	if need[t.dp1] {
		if _, err := t.install(t.dp1, 1); err != nil {
			return err
		}
	}
	var rate, rate6 float64
	if need[t.dpMany] {
		var err error
		if rate, err = t.install(t.dpMany, *sessions); err != nil {
			return fmt.Errorf("installing %d sessions: %w", *sessions, err)
		}
	}
	for _, dp := range []*maps.Datapath{t.dpSpreadOther, t.dpSpreadAll} {
		if !need[dp] {
			continue
		}
		if _, err := t.install(dp, *sessions); err != nil {
			return fmt.Errorf("installing %d sessions: %w", *sessions, err)
		}
	}
	if need6 && need[t.dp1] {
		if _, err := t.install6(t.dp1, 1); err != nil {
			return err
		}
	}
	if need6 && need[t.dpMany] {
		var err error
		if rate6, err = t.install6(t.dpMany, *sessions); err != nil {
			return fmt.Errorf("IPv6 prefixes of %d sessions: %w", *sessions, err)
		}
	}
	if *only != "" {
		return t.runOnly(cs)
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "bench-dataplane: %s, kernel %s, %d CPUs, load %s\n",
		start.Format(time.RFC3339), kernel(), runtime.NumCPU(), loadavg())
	fmt.Fprintf(os.Stderr, "  installed %d sessions at %.0f/s, their /64 and /56 at %.0f sessions/s\n", *sessions, rate, rate6)
	fmt.Fprintf(os.Stderr, "  %d-byte frames, %d cases x %d rounds x %v, interleaved, generator on CPU %d\n",
		genLen, len(cs), *rounds, *duration, *cpu)
	// Warm up: fault in pages, settle the CPU frequency.
	if _, err := t.run(cs[1], *duration/4, false); err != nil {
		return err
	}
	var total cpuUse // every measured run, for the clocks' consistency check
	for r := 0; r < *rounds; r++ {
		for k := range cs {
			// Rotated order, so no case always follows the same one.
			c := cs[(k+r*5)%len(cs)]
			res, err := t.run(c, *duration, false)
			if err != nil {
				return err
			}
			c.record(res)
			total.add(res.use)
		}
		fmt.Fprintf(os.Stderr, "  round %d/%d done\n", r+1, *rounds)
	}
	// Separately, because bpf_stats adds two clock reads to every run of
	// every program: what the first-hop program itself costs.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enable bpf_stats: %w", err)
	}
	for _, c := range cs {
		if _, err := t.run(c, *duration/4, true); err != nil {
			stats.Close()
			return err
		}
	}
	stats.Close()
	fmt.Fprintf(os.Stderr, "  %v, load %s\n", time.Since(start).Round(time.Second), loadavg())
	return report(os.Stdout, cs, *rounds, total)
}

// stat is a median and the relative spread (max-min)/median of samples.
type stat struct{ med, lo, hi float64 }

func statOf(xs []float64) stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{med: med, lo: s[0], hi: s[n-1]}
}

func (s stat) spread() float64 {
	if s.med == 0 {
		return 0
	}
	return (s.hi - s.lo) / s.med * 100
}

// perRound applies f to each round's samples of two cases and summarises:
// rounds are interleaved, so a round's pair was measured close in time.
func perRound(a, b *benchCase, f func(a, b float64) float64) stat {
	xs := make([]float64, len(a.pps))
	for i := range xs {
		xs[i] = f(a.pps[i], b.pps[i])
	}
	return statOf(xs)
}

// cpuRatio is perRound's ratio on CPU ns/pkt: raw, or net of the
// generator-only case's CPU cost of the same round (stage). mark is " !"
// when a stage cost was <= 0 in some round.
func cpuRatio(num, den, fixed *benchCase, stage, costRatio bool) (s stat, mark string) {
	xs := make([]float64, len(num.cpuNs))
	for i := range xs {
		cn, cd := num.cpuNs[i], den.cpuNs[i]
		if stage {
			cn -= fixed.cpuNs[i]
			cd -= fixed.cpuNs[i]
			if cn <= 0 || cd <= 0 {
				mark = " !"
			}
		}
		if costRatio {
			xs[i] = cn / cd
		} else {
			xs[i] = cd / cn
		}
	}
	return statOf(xs), mark
}

// busyCell is each CPU's median busy fraction of the runs, generator's first.
func busyCell(c *benchCase) string {
	n := len(c.busy[0])
	parts := []string{}
	for k := 0; k < n; k++ {
		i := (*cpu + k) % n
		xs := make([]float64, len(c.busy))
		for r := range xs {
			xs[r] = c.busy[r][i] * 100
		}
		parts = append(parts, fmt.Sprintf("%.0f", statOf(xs).med))
	}
	return strings.Join(parts, "/")
}

// clocks prints each CPU's busy time over all measured runs from the three
// sources, so the cpuidle figure can be held against /proc/stat's.
func clocks(out io.Writer, total cpuUse) {
	fmt.Fprintln(out, "CPU CLOCKS over all measured runs (busy = wall - idle unless said):")
	if noCPUIdle {
		fmt.Fprintln(out, "  (no cpuidle driver here: the 'cpuidle' busy figures are /proc/stat idle+iowait, 10 ms ticks)")
	}
	for i := range total.wall {
		fmt.Fprintf(out, "  CPU %d: wall %v; busy: cpuidle %v (%.1f%%), /proc/stat wall-idle %v, /proc/stat user+nice+system+irq+softirq %v (tick-sampled); steal %v\n",
			i, total.wall[i].Round(time.Millisecond), total.busy[i].Round(time.Millisecond), 100*float64(total.busy[i])/float64(total.wall[i]),
			(total.wall[i] - total.statIdle[i]).Round(10*time.Millisecond), total.statBusy[i], total.steal[i])
	}
}

// perPkt is the per-packet time of a rate, in nanoseconds.
func perPkt(pps float64) float64 { return 1e9 / pps }

func report(out io.Writer, cs []*benchCase, rounds int, total cpuUse) error {
	by := map[string]*[nKinds]*benchCase{"up": {}, "down": {}, "up6": {}, "down6": {}}
	for _, c := range cs {
		by[c.dir][c.kind] = c
	}
	fmt.Fprintln(out, "RAW: what arrives at the sink, median of the rounds; spread = (max-min)/median;")
	fmt.Fprintln(out, "     stage = ns/pkt minus the generator-only ns/pkt of the same round, median [min..max];")
	fmt.Fprintln(out, "     over bare = ns/pkt minus the bare redirect's: what parsing, lookups and rewriting add;")
	fmt.Fprintln(out, "     prog ns = mean run time of the first hop's XDP program alone (bpf_stats, a separate pass);")
	fmt.Fprintln(out, "     cpu ns/pkt = busy time of ALL CPUs during the run (cpuidle residency) / frames arrived,")
	fmt.Fprintln(out, "     median [min..max]; cpu stage = that minus the generator-only case's of the same round;")
	fmt.Fprintf(out, "     busy %% = median busy share of wall time, CPU %d (generator, its softirqs, every veth NAPI) / the other\n", *cpu)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\tpps\tspread\tns/pkt\tstage ns/pkt\tover bare ns/pkt\tprog ns\tcpu ns/pkt\tcpu stage ns/pkt\tbusy %\t")
	for _, c := range cs {
		fixed := by[c.dir][kindGenOnly]
		p := statOf(c.pps)
		diff := func(base *benchCase) string {
			s := perRound(c, base, func(a, b float64) float64 { return perPkt(a) - perPkt(b) })
			return fmt.Sprintf("%.0f [%.0f..%.0f]", s.med, s.lo, s.hi)
		}
		stage, over := "(fixed cost)", ""
		if c != fixed {
			stage = diff(fixed)
		}
		if c.kind >= kindOne {
			over = diff(by[c.dir][kindBare])
		}
		cs := statOf(c.cpuNs)
		cstage := "(fixed cost)"
		if c != fixed {
			xs := make([]float64, len(c.cpuNs))
			for i := range xs {
				xs[i] = c.cpuNs[i] - fixed.cpuNs[i]
			}
			st := statOf(xs)
			cstage = fmt.Sprintf("%.0f [%.0f..%.0f]", st.med, st.lo, st.hi)
		}
		fmt.Fprintf(w, "%s: %s\t%.0f\t%.1f%%\t%.0f\t%s\t%s\t%.0f\t%.0f [%.0f..%.0f]\t%s\t%s\t\n", c.dir, c.name, p.med, p.spread(), perPkt(p.med), stage, over, c.progNs,
			cs.med, cs.lo, cs.hi, cstage, busyCell(c))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	clocks(out, total)
	fmt.Fprintln(out)
	rows := []ratioRow{
		{name: "PPPoE 1 session / bare redirect (a)", num: kindOne, den: kindBare, goal: ">= 0.90"},
		{name: "PPPoE 1 session / kernel forwarding (b)", num: kindOne, den: kindKernel, goal: ">= 3.00"},
		{name: "PPPoE 1 session / XDP IPv4 router (c)", num: kindOne, den: kindRouter, goal: ">= 0.90 up"},
		{name: fmt.Sprintf("cost %d sessions 1 hot / 1 session", *sessions), num: kindManyHot, den: kindOne, goal: "<= 1.10", costRatio: true},
		{name: fmt.Sprintf("cost %d sessions all busy / 1 session", *sessions), num: kindManySpread, den: kindOne, goal: "(no goal)", costRatio: true},
		{name: "cost 1 limited session / 1 unlimited", num: kindOneLimited, den: kindOne, goal: "<= 1.15", costRatio: true},
		{name: "cost 1 limited, no burst / 1 unlimited", num: kindOnePlainLimited, den: kindOne, goal: "<= 1.15", costRatio: true},
		{name: fmt.Sprintf("cost %d limited, 1 hot / %d unlimited, 1 hot", *sessions, *sessions), num: kindManyHotLimited, den: kindManyHot, goal: "<= 1.15", costRatio: true},
		{name: fmt.Sprintf("cost %d limited, all busy / %d unlimited, all busy", *sessions, *sessions), num: kindManySpreadLimited, den: kindManySpread, goal: "(no goal)", costRatio: true},
		{name: fmt.Sprintf("cost %d limited sessions 1 hot / 1 limited", *sessions), num: kindManyHotLimited, den: kindOneLimited, goal: "<= 1.10", costRatio: true},
	}
	fmt.Fprintf(out, "RATIOS, median over the %d rounds of each round's ratio [min..max]\n", rounds)
	fmt.Fprintln(out, "  raw:   from pps at the sink. Every case includes the generator and the first veth,")
	fmt.Fprintln(out, "         a cost all cases share, which pulls every raw ratio towards 1.")
	fmt.Fprintln(out, "  stage: from the forwarding stage's own per-packet cost, 1/pps(case) - 1/pps(generator only):")
	fmt.Fprintln(out, "         what happens after the frame reaches the first veth's XDP hook (program, redirect")
	fmt.Fprintln(out, "         or kernel stack, second veth, sink). Throughput ratios are cost(den)/cost(num).")
	fmt.Fprintln(out, "         The goals are about the forwarding stage, so they are compared with these.")
	fmt.Fprintln(out, "         The goal for 1 vs 100,000 sessions is about sessions installed (one hot); with traffic")
	fmt.Fprintln(out, "         spread over all of them each packet also pays cache and TLB misses, shown for information.")
	fmt.Fprintln(out, "         '!' marks a ratio whose stage costs were <= 0 in some round: a difference of")
	fmt.Fprintln(out, "         two large, noisy numbers, so that ratio is not resolved at this precision.")
	fmt.Fprintln(out, "  prog:  from the first-hop XDP programs' run time alone (bpf_stats pass), less that of")
	fmt.Fprintln(out, "         xdp_pass (a bare 'return XDP_PASS': the clock reads bpf_stats adds); no redirect,")
	fmt.Fprintln(out, "         no veth; kernel forwarding has no program to compare (n/a).")
	fmt.Fprintln(out, "  cpu:   as raw and stage, from CPU ns/pkt (busy time of all CPUs / frames arrived) instead of")
	fmt.Fprintln(out, "         wall-clock pps: 'cpu' includes the generator's CPU cost, 'cpu stage' is net of the")
	fmt.Fprintln(out, "         generator-only case's. Where the generator's CPU is saturated (busy ~100%) the two")
	fmt.Fprintln(out, "         meters agree; where it is not, only the cpu columns add up per-packet costs.")
	for _, fam := range []struct {
		name string
		dirs []string
	}{{"IPv4", []string{"up", "down"}}, {"IPv6", []string{"up6", "down6"}}} {
		if err := ratioTable(out, fam.name, fam.dirs, rows, by); err != nil {
			return err
		}
	}
	return reportScale(out, cs, by)
}

type ratioRow struct {
	name      string
	num, den  kind
	goal      string
	costRatio bool // a cost ratio (lower is better) rather than a throughput ratio
}

// ratioTable prints the ratio rows of one address family whose cases
// exist (the IPv6 rows have no XDP router case).
func ratioTable(out io.Writer, family string, dirs []string, rows []ratioRow, by map[string]*[nKinds]*benchCase) error {
	// With -dirs a family may have run one direction or none.
	var ran []string
	for _, dir := range dirs {
		if by[dir][kindGenOnly] != nil {
			ran = append(ran, dir)
		}
	}
	if len(ran) == 0 {
		return nil
	}
	has := func(dir string, r ratioRow) bool {
		return by[dir][kindGenOnly] != nil && by[dir][r.num] != nil && by[dir][r.den] != nil && by[dir][kindKernel] != nil
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(out, "\n%s:\n", family)
	fmt.Fprintln(w, "ratio\traw up\traw down\tstage up\tstage down\tgoal (stage)\tprog up\tprog down\tcpu up\tcpu down\tcpu stage up\tcpu stage down\t")
	for _, r := range rows {
		if !has(ran[0], r) {
			continue
		}
		cells := []string{r.name}
		for _, stage := range []bool{false, true} {
			for _, dir := range dirs {
				if !has(dir, r) {
					cells = append(cells, "n/a")
					continue
				}
				num, den, fixed := by[dir][r.num], by[dir][r.den], by[dir][kindGenOnly]
				var s stat
				mark := ""
				switch {
				case !stage && r.costRatio: // cost(num)/cost(den) = pps(den)/pps(num)
					s = perRound(num, den, func(a, b float64) float64 { return b / a })
				case !stage:
					s = perRound(num, den, func(a, b float64) float64 { return a / b })
				default:
					xs := make([]float64, len(num.pps))
					for i := range xs {
						cn := perPkt(num.pps[i]) - perPkt(fixed.pps[i])
						cd := perPkt(den.pps[i]) - perPkt(fixed.pps[i])
						if cn <= 0 || cd <= 0 {
							mark = " !"
						}
						if r.costRatio {
							xs[i] = cn / cd
						} else {
							xs[i] = cd / cn
						}
					}
					s = statOf(xs)
				}
				cells = append(cells, fmt.Sprintf("%.2f [%.2f..%.2f]%s", s.med, s.lo, s.hi, mark))
			}
			if stage {
				cells = append(cells, r.goal)
			}
		}
		for _, dir := range dirs {
			if !has(dir, r) {
				cells = append(cells, "n/a")
				continue
			}
			num, den, empty := by[dir][r.num], by[dir][r.den], by[dir][kindKernel]
			pn, pd := num.progNs-empty.progNs, den.progNs-empty.progNs
			switch {
			case r.den == kindKernel || num.progNs == 0 || den.progNs == 0 || empty.progNs == 0:
				cells = append(cells, "n/a")
			case pn <= 0 || pd <= 0:
				cells = append(cells, "n/a !")
			case r.costRatio:
				cells = append(cells, fmt.Sprintf("%.2f", pn/pd))
			default:
				cells = append(cells, fmt.Sprintf("%.2f", pd/pn))
			}
		}
		for _, stage := range []bool{false, true} {
			for _, dir := range dirs {
				if !has(dir, r) {
					cells = append(cells, "n/a")
					continue
				}
				st, mark := cpuRatio(by[dir][r.num], by[dir][r.den], by[dir][kindGenOnly], stage, r.costRatio)
				cells = append(cells, fmt.Sprintf("%.2f [%.2f..%.2f]%s", st.med, st.lo, st.hi, mark))
			}
		}
		fmt.Fprintln(w, strings.Join(cells, "\t")+"\t")
	}
	return w.Flush()
}

// runOnly runs the cases -only selects, each -rounds times, and prints each
// run's pps: a way to hold one case steady while a profiler watches.
func (t *topo) runOnly(cs []*benchCase) error {
	re, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	for _, c := range cs {
		if !re.MatchString(c.dir + ": " + c.name) {
			continue
		}
		for r := 0; r < *rounds; r++ {
			res, err := t.run(c, *duration, false)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s\t%.0f pps\t%.0f cpu ns/pkt\n", c.dir, c.name, res.pps, float64(res.use.total())/float64(res.arrived))
		}
		// And the first-hop program alone, as the full run's prog ns.
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			return fmt.Errorf("enable bpf_stats: %w", err)
		}
		_, err = t.run(c, *duration, true)
		stats.Close()
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s\t%.0f prog ns\n", c.dir, c.name, c.progNs)
	}
	return nil
}
