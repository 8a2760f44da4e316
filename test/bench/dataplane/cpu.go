package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPU time, not wall time, is the meter of a stage's cost when the CPUs
// are not saturated: a case's cost per packet is the busy time of every CPU
// during the run divided by the frames that arrived.
//
// The finest busy clock here is cpuidle's per-state residency,
// /sys/devices/system/cpu/cpuN/cpuidle/state*/time (µs; busy = wall - idle).
// It is only brought up to date when the CPU leaves idle, so a snapshot
// first migrates the reading thread onto each CPU in turn: a CPU running
// the reader is not idle, and its idle total is current to the microsecond.
// /proc/stat is the cross-check: its idle+iowait is kept by the nohz idle
// tracking but printed in USER_HZ ticks (10 ms); its user+nice+system+irq+
// softirq is sampled by the scheduler tick (CONFIG_TICK_CPU_ACCOUNTING), so
// it is statistical. Steal (time the hypervisor ran something else) is
// neither busy nor idle to the guest; it is reported, not subtracted.
//
// A machine with no cpuidle driver (some VMs) has no residency files; there
// the idle clock is /proc/stat's idle+iowait, at tick resolution, and the
// report says so.

// noCPUIdle is set when this machine has no cpuidle residency to read.
var noCPUIdle bool

// userHZ is the unit of /proc/stat (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// cpuSnap is the state of every CPU's clocks at one moment (per CPU: the
// moment the reader ran there).
type cpuSnap struct {
	at       []time.Time
	idle     []time.Duration // cpuidle residency, all states
	statBusy []uint64        // /proc/stat user+nice+system+irq+softirq, ticks
	statIdle []uint64        // /proc/stat idle+iowait, ticks
	steal    []uint64        // /proc/stat steal, ticks
}

// cpuUse is what each CPU did between two snapshots.
type cpuUse struct {
	wall, busy         []time.Duration // cpuidle: wall - idle
	statBusy, statIdle []time.Duration // /proc/stat, tick resolution
	steal              []time.Duration
}

// total is the busy time of all CPUs together.
func (u cpuUse) total() time.Duration {
	var s time.Duration
	for _, b := range u.busy {
		s += b
	}
	return s
}

// add accumulates another run's use, for the whole-bench consistency line.
func (u *cpuUse) add(v cpuUse) {
	if u.wall == nil {
		n := len(v.wall)
		*u = cpuUse{make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)}
	}
	for i := range v.wall {
		u.wall[i] += v.wall[i]
		u.busy[i] += v.busy[i]
		u.statBusy[i] += v.statBusy[i]
		u.statIdle[i] += v.statIdle[i]
		u.steal[i] += v.steal[i]
	}
}

var errNoCPUIdle = errors.New("no cpuidle states (no cpuidle driver)")

// readCPUIdle sums the residency of every cpuidle state of cpu.
func readCPUIdle(cpu int) (time.Duration, error) {
	states, err := filepath.Glob(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/cpuidle/state*/time", cpu))
	if err != nil {
		return 0, err
	}
	if len(states) == 0 {
		return 0, fmt.Errorf("cpu%d: %w", cpu, errNoCPUIdle)
	}
	var us uint64
	for _, s := range states {
		b, err := os.ReadFile(s)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s, err)
		}
		us += v
	}
	return time.Duration(us) * time.Microsecond, nil
}

// readProcStat returns each CPU's /proc/stat busy, idle and steal ticks.
func readProcStat(n int) (busy, idle, steal []uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, nil, nil, err
	}
	busy, idle, steal = make([]uint64, n), make([]uint64, n), make([]uint64, n)
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		c, err := strconv.Atoi(f[0][3:])
		if err != nil || c >= n {
			continue
		}
		var v [8]uint64 // user nice system idle iowait irq softirq steal
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, nil, nil, fmt.Errorf("/proc/stat: %s: %w", f[0], err)
			}
		}
		busy[c], idle[c], steal[c] = v[0]+v[1]+v[2]+v[5]+v[6], v[3]+v[4], v[7]
		seen++
	}
	if seen != n {
		return nil, nil, nil, fmt.Errorf("/proc/stat: %d of %d CPUs", seen, n)
	}
	return busy, idle, steal, nil
}

// snapCPU reads every CPU's idle residency while running on that CPU,
// visiting last (and leaving the thread's affinity as it found it) so the
// caller can pin itself there next.
func snapCPU(last int) (cpuSnap, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return cpuSnap{}, fmt.Errorf("sched_getaffinity: %w", err)
	}
	defer unix.SchedSetaffinity(0, &old)
	n := runtime.NumCPU()
	s := cpuSnap{at: make([]time.Time, n), idle: make([]time.Duration, n)}
	for k := 1; k <= n; k++ {
		c := (last + k) % n
		var set unix.CPUSet
		set.Set(c)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return cpuSnap{}, fmt.Errorf("visit CPU %d: %w", c, err)
		}
		s.at[c] = time.Now()
		if noCPUIdle {
			continue
		}
		idle, err := readCPUIdle(c)
		if errors.Is(err, errNoCPUIdle) {
			noCPUIdle = true
			continue
		}
		if err != nil {
			return cpuSnap{}, err
		}
		s.idle[c] = idle
	}
	var err error
	s.statBusy, s.statIdle, s.steal, err = readProcStat(n)
	if noCPUIdle {
		for c := range s.idle {
			s.idle[c] = time.Duration(s.statIdle[c]) * time.Second / userHZ
		}
	}
	return s, err
}

// since is what each CPU did from a to s.
func (s cpuSnap) since(a cpuSnap) cpuUse {
	n := len(s.at)
	u := cpuUse{make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)}
	tick := func(x, y uint64) time.Duration { return time.Duration(x-y) * time.Second / userHZ }
	for i := range n {
		u.wall[i] = s.at[i].Sub(a.at[i])
		u.busy[i] = max(u.wall[i]-(s.idle[i]-a.idle[i]), 0)
		u.statBusy[i] = tick(s.statBusy[i], a.statBusy[i])
		u.statIdle[i] = tick(s.statIdle[i], a.statIdle[i])
		u.steal[i] = tick(s.steal[i], a.steal[i])
	}
	return u
}
