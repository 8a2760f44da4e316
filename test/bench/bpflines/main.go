// Command bpflines says where a CPU's time goes inside BPF programs, by
// source line: it samples one CPU with perf for a while, then maps every
// sample that fell in a loaded BPF program's JIT code to the C line the
// program's BTF line info names for that address (the kernel keeps, for
// each line info, the JIT address it starts at). bpftool's `prog dump
// jited linum` needs a bpftool built with a disassembler; this needs none.
//
// Run it while a benchmark drives the programs, e.g. on the data-plane
// bench's generator CPU (it runs every veth's NAPI too):
//
//	go run ./test/bench/dataplane -only 'down: PPPoE, 1 limited session' -rounds 1 -duration 60s &
//	sleep 30; go run ./test/bench/bpflines -cpu 1 -duration 10s -prog 'xdp_uplink_in|mss_clamp'
//
// It prints the share of the CPU's samples in each matching program and in
// each of their source lines (inlined helpers' lines are their own: a
// line of ratelimit.h is charged there, not to its caller), and the top
// kernel symbols, so a program's lines can be set against the rest of the
// packet's path; with -pps, each share also as nanoseconds per packet.
// A sample lands on the instruction after the one that took the time, so
// a call's return shows on the caller's next line. It never asserts.
// Needs root and perf.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
)

var (
	cpu      = flag.Int("cpu", 1, "CPU to sample")
	duration = flag.Duration("duration", 10*time.Second, "how long to sample")
	freq     = flag.Int("freq", 1999, "samples per second (perf record -F)")
	progRe   = flag.String("prog", ".", "regexp on the names of the programs whose lines to show")
	top      = flag.Int("top", 40, "lines to print")
	symbols  = flag.Int("symbols", 20, "kernel symbols to print")
	pps      = flag.Float64("pps", 0, "packets a second the sampled CPU handled alone (the bench's pps for a case whose every stage runs on that CPU): adds ns per packet, the share of the CPU times 1e9/pps")
)

// span is one source line's stretch of a program's JIT code.
type span struct {
	start, end uint64
	prog       string
	line       string // file:line
	text       string
}

func main() {
	flag.Parse()
	re, err := regexp.Compile(*progRe)
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "bpflines-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "perf.data")
	rec := exec.Command("perf", "record", "-q", "-C", strconv.Itoa(*cpu), "-F", strconv.Itoa(*freq),
		"-o", data, "--", "sleep", strconv.FormatFloat(duration.Seconds(), 'f', 3, 64))
	rec.Stderr = os.Stderr
	if err := rec.Run(); err != nil {
		fail(fmt.Errorf("perf record: %w", err))
	}
	// The programs must still be loaded: read them right after sampling.
	spans, err := programSpans(re)
	if err != nil {
		fail(err)
	}
	out, err := exec.Command("perf", "script", "-i", data, "-F", "ip,sym").Output()
	if err != nil {
		fail(fmt.Errorf("perf script: %w", err))
	}
	report(os.Stdout, out, spans)
}

// programSpans lists the source-line spans of every loaded program whose
// name matches re, sorted by address.
func programSpans(re *regexp.Regexp) ([]span, error) {
	var spans []span
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone since
		}
		info, err := p.Info()
		p.Close()
		if err != nil || !re.MatchString(info.Name) {
			continue
		}
		s, err := spansOf(info)
		if err != nil {
			return nil, fmt.Errorf("program %d (%s): %w", id, info.Name, err)
		}
		spans = append(spans, s...)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	return spans, nil
}

// spansOf pairs a program's line infos with their JIT addresses; a line's
// span ends where the next line info's starts, or at its function's end.
func spansOf(info *ebpf.ProgramInfo) ([]span, error) {
	lines, err := info.LineInfos()
	if err != nil {
		return nil, err
	}
	addrs, ok := info.JitedLineInfos()
	if !ok || len(addrs) != len(lines) {
		return nil, fmt.Errorf("no JIT line info (%d addresses for %d lines)", len(addrs), len(lines))
	}
	ksyms, ok1 := info.JitedKsymAddrs()
	lens, ok2 := info.JitedFuncLens()
	if !ok1 || !ok2 || len(ksyms) != len(lens) {
		return nil, fmt.Errorf("no JIT function addresses")
	}
	// The end of the function each address falls in.
	funcEnd := func(a uint64) uint64 {
		for i, k := range ksyms {
			if a >= uint64(k) && a < uint64(k)+uint64(lens[i]) {
				return uint64(k) + uint64(lens[i])
			}
		}
		return a
	}
	name := info.Name
	spans := make([]span, 0, len(lines))
	for i, l := range lines {
		end := funcEnd(addrs[i])
		if i+1 < len(lines) && addrs[i+1] > addrs[i] && addrs[i+1] < end {
			end = addrs[i+1]
		}
		spans = append(spans, span{
			start: addrs[i],
			end:   end,
			prog:  name,
			line:  fmt.Sprintf("%s:%d", filepath.Base(l.Line.FileName()), l.Line.LineNumber()),
			text:  strings.TrimSpace(l.Line.Line()),
		})
	}
	return spans, nil
}

func find(spans []span, ip uint64) *span {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].start > ip }) - 1
	if i >= 0 && ip < spans[i].end {
		return &spans[i]
	}
	return nil
}

type count struct {
	key string
	n   int
}

func sorted(m map[string]int) []count {
	cs := make([]count, 0, len(m))
	for k, n := range m {
		cs = append(cs, count{k, n})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n || cs[i].n == cs[j].n && cs[i].key < cs[j].key })
	return cs
}

// report reads `perf script -F ip,sym` lines and prints the shares.
func report(w *os.File, script []byte, spans []span) {
	total := 0
	progs, lines, syms := map[string]int{}, map[string]int{}, map[string]int{}
	text := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		ip, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		total++
		sym := "[unknown]"
		if len(f) > 1 {
			sym = f[1]
		}
		syms[sym]++
		if s := find(spans, ip); s != nil {
			progs[s.prog]++
			k := s.prog + " " + s.line
			lines[k]++
			text[k] = s.text
		}
	}
	if total == 0 {
		fmt.Fprintln(w, "no samples")
		return
	}
	pct := func(n int) string {
		f := float64(n) / float64(total)
		if *pps > 0 {
			return fmt.Sprintf("%.2f%%\t%.1f ns", f*100, f*1e9 / *pps)
		}
		return fmt.Sprintf("%.2f%%", f*100)
	}
	unit := ""
	if *pps > 0 {
		unit = "\tns/pkt"
	}
	fmt.Fprintf(w, "%d samples on CPU %d over %v\n\n", total, *cpu, *duration)
	// table prints the most counts of m (all when most < 0), a row each:
	// the key, its share, then rest's columns.
	table := func(head string, m map[string]int, most int, rest func(c count) string) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, head)
		for i, c := range sorted(m) {
			if i == most {
				break
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.key, pct(c.n), rest(c))
		}
		tw.Flush()
	}
	table("program\tof CPU"+unit+"\tsamples\t", progs, -1, func(c count) string { return fmt.Sprintf("%d\t", c.n) })
	fmt.Fprintln(w)
	table("program line\tof CPU"+unit+"\tsamples\tsource\t", lines, *top, func(c count) string {
		return fmt.Sprintf("%d\t%.70s\t", c.n, text[c.key])
	})
	fmt.Fprintln(w)
	table("symbol\tof CPU"+unit+"\t", syms, *symbols, func(count) string { return "" })
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bpflines:", err)
	os.Exit(1)
}
