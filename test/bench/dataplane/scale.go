package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cilium/ebpf"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// The busy case and receive spreading (issue 18). Traffic going to n
// sessions in turn (1,000, 10,000, -sessions) shows the curve of what
// cache and TLB misses add as the busy working set grows; the same
// upstream with --rx-spread shows what one receive queue feeds: the
// generator's CPU (where every frame arrives) only hashes and hands the
// frame over, the CPU map's CPU decapsulates and forwards it.

// busySizes are the session counts the traffic is spread over, below
// -sessions (whose case is kindManySpread).
func busySizes() []int {
	var out []int
	for _, n := range []int{1000, 10000} {
		if n < *sessions {
			out = append(out, n)
		}
	}
	return out
}

type addFunc func(dir string, k kind, name string, a attacher, prog *ebpf.Program, gen iface, cfg benchGenCfg) *benchCase

func (t *topo) scaleCases(add addFunc) {
	accessMany, uplinkMany := t.dpMany.Program("xdp_access_in"), t.dpMany.Program("xdp_uplink_in")
	for _, n := range busySizes() {
		c := add("up", kindBusy, fmt.Sprintf("PPPoE, %d sessions, %d busy", *sessions, n), t.dataplane(t.dpMany, t.acc0, true), accessMany, t.s0, t.upPPPoE(n))
		c.busyN = n
		c = add("down", kindBusy, fmt.Sprintf("PPPoE, %d sessions, %d busy", *sessions, n), t.dataplane(t.dpMany, t.up0, false), uplinkMany, t.c0, t.downIP(n))
		c.busyN = n
	}
	for _, sp := range []struct {
		dp   *maps.Datapath
		name string
	}{{t.dpSpreadOther, fmt.Sprintf("CPU %d", t.otherCPU)}, {t.dpSpreadAll, "all CPUs"}} {
		for _, n := range append(append([]int{1}, busySizes()...), *sessions) {
			c := add("up", kindBusy, fmt.Sprintf("PPPoE, %d sessions, %d busy, rx-spread to %s", *sessions, n, sp.name),
				t.dataplane(sp.dp, t.acc0, true), sp.dp.Program("xdp_access_spread"), t.s0, t.upPPPoE(n))
			c.busyN, c.spread, c.dp = n, sp.name, sp.dp
		}
	}
}

// find is the case of a direction, spreading and busy count: kindOne for
// one session without spreading, kindManySpread for -sessions.
func find(cs []*benchCase, by map[string]*[nKinds]*benchCase, dir, spread string, n int) *benchCase {
	if spread == "" && n == 1 {
		return by[dir][kindOne]
	}
	if spread == "" && n == *sessions {
		return by[dir][kindManySpread]
	}
	for _, c := range cs {
		if c.kind == kindBusy && c.dir == dir && c.spread == spread && c.busyN == n {
			return c
		}
	}
	return nil
}

// recvStage is what each frame costs the CPU it arrives on, per round:
// 1/(frames sent a second) net of the generator-only case's. The
// generator sends as fast as its CPU lets it, and that CPU also runs the
// first hop (the veth's NAPI poll and its XDP program); a frame a full
// CPU map queue drops still cost it that.
func recvStage(c, fixed *benchCase) []float64 {
	xs := make([]float64, len(c.sentPps))
	for i := range xs {
		xs[i] = perPkt(c.sentPps[i]) - perPkt(fixed.sentPps[i])
	}
	return xs
}

// cpuStage is a case's busy ns per frame net of the generator-only case's,
// per round: of all CPUs, or of one (cpuIdx >= 0).
func cpuStage(c, fixed *benchCase, cpuIdx int) []float64 {
	xs := make([]float64, len(c.cpuNs))
	for i := range xs {
		if cpuIdx < 0 {
			xs[i] = c.cpuNs[i] - fixed.cpuNs[i]
		} else {
			xs[i] = c.cpuBy[i][cpuIdx] - fixed.cpuBy[i][cpuIdx]
		}
	}
	return xs
}

// wallStage is a case's 1/pps net of the generator-only case's, per round.
func wallStage(c, fixed *benchCase) []float64 {
	xs := make([]float64, len(c.pps))
	for i := range xs {
		xs[i] = perPkt(c.pps[i]) - perPkt(fixed.pps[i])
	}
	return xs
}

// ratioOf is the median over rounds of a[i]/b[i].
func ratioOf(a, b []float64) stat {
	xs := make([]float64, len(a))
	for i := range xs {
		xs[i] = a[i] / b[i]
	}
	return statOf(xs)
}

func cell(s stat) string { return fmt.Sprintf("%.2f [%.2f..%.2f]", s.med, s.lo, s.hi) }

func reportScale(out io.Writer, cs []*benchCase, by map[string]*[nKinds]*benchCase) error {
	fmt.Fprintln(out)
	fmt.Fprintln(out, "BUSY SESSIONS: traffic to n of the installed sessions in turn, per-packet cost against one")
	fmt.Fprintln(out, "  session's of the same setup (goal <= 2.00 at 100,000). stage: 1/pps net of the generator's")
	fmt.Fprintln(out, "  (the pipeline is serial on one CPU without spreading); cpu stage: busy ns of all CPUs per")
	fmt.Fprintln(out, "  frame, net of the generator's (with spreading, two CPUs share the work). Median [min..max].")
	fmt.Fprintln(out, "  prog: the first-hop program alone (bpf_stats, net of xdp_pass's), which the machine's other")
	fmt.Fprintln(out, "  load disturbs least; with spreading the first hop only hands frames over (n/a).")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "dir\tCPUs doing the fast path\tbusy sessions\tstage ns/pkt\tstage / 1 session\tcpu stage ns/pkt\tcpu stage / 1 session\tprog ns\tprog / 1 session\t")
	sizes := append(append([]int{1}, busySizes()...), *sessions)
	type setup struct{ dir, spread, label string }
	for _, s := range []setup{{"up", "", "1 (no spreading)"}, {"down", "", "1 (no spreading)"}, {"up", "all CPUs", "all (rx-spread)"}} {
		one := find(cs, by, s.dir, s.spread, 1)
		fixed := by[s.dir][kindGenOnly]
		if one == nil {
			continue
		}
		for _, n := range sizes {
			c := find(cs, by, s.dir, s.spread, n)
			if c == nil {
				continue
			}
			ws, cst := wallStage(c, fixed), cpuStage(c, fixed, -1)
			prog, progRatio := "n/a", "n/a"
			if empty := by[s.dir][kindKernel]; s.spread == "" && c.progNs > 0 && one.progNs > empty.progNs && empty.progNs > 0 {
				prog = fmt.Sprintf("%.0f", c.progNs-empty.progNs)
				progRatio = fmt.Sprintf("%.2f", (c.progNs-empty.progNs)/(one.progNs-empty.progNs))
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t\n", s.dir, s.label, n, statOf(ws).med, cell(ratioOf(ws, wallStage(one, fixed))),
				statOf(cst).med, cell(ratioOf(cst, cpuStage(one, fixed, -1))), prog, progRatio)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	fmt.Fprintf(out, "RX SPREAD, upstream: every frame arrives on CPU %d (the generator's, as on one NIC queue).\n", *cpu)
	fmt.Fprintf(out, "  receiving CPU ns/pkt: 1/(frames the generator sent a second) net of the generator-only case's:\n")
	fmt.Fprintf(out, "  CPU %d's cost per frame: with spreading the hash and hand-over, without it the whole fast path\n", *cpu)
	fmt.Fprintln(out, "  (goal: spread <= 0.33 of it). prog ns: the first-hop program alone (bpf_stats), net of xdp_pass's.")
	fmt.Fprintln(out, "  pps: frames at the sink a second, ratio to no spreading at the same busy count (one run);")
	fmt.Fprintln(out, "  arrived: share of the frames sent that reached the sink (the rest were dropped when a CPU")
	fmt.Fprintln(out, "  map queue was full: the CPUs behind it could not keep up).")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "busy sessions\tspreading to\treceiving CPU ns/pkt\t/ without spreading\tprog ns\tpps\tpps / without spreading\tarrived\t")
	empty := by["up"][kindKernel] // its program is xdp_pass
	fixed := by["up"][kindGenOnly]
	for _, n := range sizes {
		off := find(cs, by, "up", "", n)
		if off == nil {
			continue
		}
		recvOff := recvStage(off, fixed)
		fmt.Fprintf(w, "%d\t(none)\t%.0f\t\t%.0f\t%.0f\t\t%.0f%%\t\n", n, statOf(recvOff).med, off.progNs-empty.progNs, statOf(off.pps).med, 100*arrivedShare(off))
		for _, sp := range []string{fmt.Sprintf("CPU %d", (*cpu+1)%len(off.cpuBy[0])), "all CPUs"} {
			c := find(cs, by, "up", sp, n)
			if c == nil {
				continue
			}
			recv := recvStage(c, fixed)
			fmt.Fprintf(w, "%d\t%s\t%.0f\t%s\t%.0f\t%.0f\t%s\t%.0f%%\t\n", n, sp, statOf(recv).med, cell(ratioOf(recv, recvOff)),
				c.progNs-empty.progNs, statOf(c.pps).med, cell(ratioOf(c.pps, off.pps)), 100*arrivedShare(c))
		}
	}
	return w.Flush()
}

// arrivedShare is the median share of the frames sent that arrived.
func arrivedShare(c *benchCase) float64 { return statOf(c.arrivedFrac).med }
