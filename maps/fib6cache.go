package maps

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// FIB6Cache is the control of the upstream IPv6 route cache (fib6_ctl in
// bpf/ipv6.h): the fast path keeps bpf_fib_lookup's successful results by
// destination, tagged with Gen, and uses them only while Gen is unchanged
// and CoarseNow() is before Until. A zero Until (every load starts with
// it) turns the cache off: every packet is looked up.
type FIB6Cache struct {
	Gen   uint64
	Until time.Duration // on the CLOCK_MONOTONIC_COARSE clock; 0 = off
}

// CoarseNow is CLOCK_MONOTONIC_COARSE, the clock of
// bpf_ktime_get_coarse_ns() that FIB6Cache.Until is on.
func CoarseNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		// Linux has had this clock since 2.6.32; a failure would be a
		// broken vDSO, and 0 keeps the cache off.
		return 0
	}
	return time.Duration(ts.Nano())
}

// SetFIB6Cache writes the cache's control. The program reads Gen before
// its own lookup, so a caller that writes a new Gen after the kernel
// changed a route invalidates every result that could predate the change.
func (d *Datapath) SetFIB6Cache(c FIB6Cache) error {
	v := dataplaneFib6CacheCtl{Gen: c.Gen, UntilNs: uint64(c.Until)}
	if err := d.objs.Fib6Ctl.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("maps: fib6_ctl: %w", err)
	}
	return nil
}

// FIB6CacheControl reads what SetFIB6Cache last wrote.
func (d *Datapath) FIB6CacheControl() (FIB6Cache, error) {
	var v dataplaneFib6CacheCtl
	if err := d.objs.Fib6Ctl.Lookup(uint32(0), &v); err != nil {
		return FIB6Cache{}, fmt.Errorf("maps: fib6_ctl: %w", err)
	}
	return FIB6Cache{Gen: v.Gen, Until: time.Duration(v.UntilNs)}, nil
}

// FIB6CacheEntries is how many destinations the cache holds over all
// CPUs, valid or not (for tests and diagnostics; it reads every slot).
func (d *Datapath) FIB6CacheEntries() (int, error) {
	var (
		k    uint32
		vs   []dataplaneFib6CacheEntry
		n    int
		zero [16]uint8
	)
	it := d.objs.Fib6Cache.Iterate()
	for it.Next(&k, &vs) {
		for _, v := range vs {
			if v.Gen != 0 || v.Addr != zero {
				n++
			}
		}
	}
	if err := it.Err(); err != nil {
		return n, fmt.Errorf("maps: fib6_cache: %w", err)
	}
	return n, nil
}
