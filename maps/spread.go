package maps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
)

// Receive spreading (Options.RxSpread, pppoed --rx-spread): a NIC hashes
// frames over its receive queues by their IP headers, which it cannot find
// behind PPPoE, so every subscriber's upstream traffic lands on one queue
// and one CPU. With spreading, the access devices get xdp_access_spread
// instead of xdp_access_in: it hashes a session data frame's session and
// inner flow and hands the frame through the rx_cpus CPU map to one of the
// set's CPUs, where xdp_access_cpu (xdp_access_in) decapsulates and
// forwards it. A flow always goes to the same CPU, in order (bpf/dataplane.c).

// rxQueueSize is each CPU map entry's queue, in frames: a NAPI poll hands
// over at most 64 at a time; the rest absorbs the target CPU being busy
// with other work for a while.
const rxQueueSize = 2048

// spreadProgs are the spreading programs, loaded only with a CPU set.
type spreadProgs struct {
	Spread *ebpf.Program `ebpf:"xdp_access_spread"`
	CPU    *ebpf.Program `ebpf:"xdp_access_cpu"`
}

// ParseCPUSet parses a CPU list as the kernel prints one
// (/sys/devices/system/cpu/online, taskset -c): "0-3,6". The CPUs come
// back in ascending order, each once.
func ParseCPUSet(s string) ([]int, error) {
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU set %q: %q is not a CPU number or range", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU set %q: %q is not a CPU range", s, part)
			}
		}
		for c := a; c <= b; c++ {
			if c >= maxCPU {
				return nil, fmt.Errorf("CPU set %q: CPU %d is out of range", s, c)
			}
			seen[c] = true
		}
	}
	var out []int
	for c := 0; len(out) < len(seen); c++ {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// rxSpreadMax is RX_SPREAD_MAX in bpf/types.h; maxCPU bounds a CPU
// number (the kernel's NR_CPUS at most).
const (
	rxSpreadMax = 64
	maxCPU      = 8192
)

// onlineCPUs reads the CPUs the kernel has online.
func onlineCPUs() (map[int]bool, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	l, err := ParseCPUSet(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	m := map[int]bool{}
	for _, c := range l {
		m[c] = true
	}
	return m, nil
}

// loadSpread checks the CPU set against the online CPUs, loads the
// spreading programs and gives each CPU of the set its CPU map queue.
func (d *Datapath) loadSpread(cpus []int) error {
	if len(cpus) > rxSpreadMax {
		return fmt.Errorf("maps: rx spread: %d CPUs, at most %d", len(cpus), rxSpreadMax)
	}
	online, err := onlineCPUs()
	if err != nil {
		return fmt.Errorf("maps: rx spread: online CPUs: %w", err)
	}
	for _, c := range cpus {
		if !online[c] || c >= int(d.cpus) {
			return fmt.Errorf("maps: rx spread: CPU %d is not online", c)
		}
	}
	if err := d.spec.LoadAndAssign(&d.spread, &ebpf.CollectionOptions{MapReplacements: d.mapsByName()}); err != nil {
		return fmt.Errorf("maps: load the rx spread programs: %w", err)
	}
	v := dataplaneRxSpread{N: uint32(len(cpus))}
	for i, c := range cpus {
		q := dataplaneBpfCpumapVal{Qsize: rxQueueSize}
		q.BpfProg.Fd = int32(d.spread.CPU.FD())
		if err := d.objs.RxCpus.Put(uint32(c), &q); err != nil {
			return fmt.Errorf("maps: rx spread: CPU %d queue: %w", c, err)
		}
		v.Cpu[i] = uint32(c)
	}
	if err := d.objs.RxSpreadCpus.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("maps: rx spread: %w", err)
	}
	d.spreadCPUs = cpus
	d.log.Info("access devices spread session traffic over CPUs", zap.Ints("cpus", cpus))
	return nil
}

// RxSpread is the CPU set session traffic is spread over, nil without
// spreading.
func (d *Datapath) RxSpread() []int { return d.spreadCPUs }

func (d *Datapath) closeSpread() {
	if d.spread.Spread != nil {
		d.spread.Spread.Close()
		d.spread.CPU.Close()
	}
}

// StatsByCPU returns a session's counters as each CPU counted them (Stats
// is their sum): with spreading, which CPUs handled the session.
func (d *Datapath) StatsByCPU(idx Index) ([]Stats, error) {
	if err := d.checkIndex(idx); err != nil {
		return nil, err
	}
	out := make([]Stats, d.cpus)
	for cpu := range out {
		base := d.statsSlot(idx, cpu)
		field := func(f uintptr) uint64 { return atomic.LoadUint64(d.counter(base + int(f))) }
		var c dataplaneSessionCounters
		out[cpu] = Stats{PacketsUp: field(unsafe.Offsetof(c.PacketsUp)), BytesUp: field(unsafe.Offsetof(c.BytesUp)),
			PacketsDown: field(unsafe.Offsetof(c.PacketsDown)), BytesDown: field(unsafe.Offsetof(c.BytesDown)),
			Drops: field(unsafe.Offsetof(c.Drops)), LastSeen: time.Duration(field(unsafe.Offsetof(c.LastSeenNs)))}
	}
	return out, nil
}
