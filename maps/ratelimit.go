package maps

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// DefaultRateDepth is a policer's bucket depth and a shaper's horizon when
// Rate.Depth is 0: a second of the rate, RouterOS's queue bucket-size=1
// ("bucket capacity = bucket-size * max-limit"; its default 0.1 is for a
// shaper, which has a queue behind the bucket). A policer has no queue, and
// TCP needs the bucket to stand in for one: `make bench-ratelimit` on
// 2026-12-02 held one TCP flow through a 10M policer at 37-40 % of the rate
// with 100 ms, 85-96 % with 250 ms, 96-98 % with 500 ms and 97-101 % with
// a second (README, "Rate limits"). The early drops (bpf/ratelimit.h)
// start at half of it.
const DefaultRateDepth = time.Second

// Rate is one direction's limit (bpf/ratelimit.h). Rates are bits per
// second, as in RouterOS's rate-limit.
type Rate struct {
	// Rate is the sustained rate; 0 = no limit.
	Rate uint64
	// BurstRate, if above Rate, is allowed while the average over
	// BurstTime (taken every BurstTime/16) is below BurstThreshold.
	BurstRate      uint64
	BurstThreshold uint64
	BurstTime      time.Duration
	// Shape delays instead of dropping: earliest departure times for the
	// fq qdisc on the access interface (TC path only). Tx only.
	Shape bool
	// Depth is the policer's bucket or the shaper's horizon, as time at
	// the rate; 0 = DefaultRateDepth.
	Depth time.Duration
}

// RateLimit is a session's limits in the router's directions: Rx is what
// arrives from the peer (a subscriber's upload, or what the AC sends a
// client session), Tx what goes to the peer.
type RateLimit struct {
	Rx, Tx Rate
}

// Limited reports whether either direction has a rate.
func (l RateLimit) Limited() bool { return l.Rx.Rate != 0 || l.Tx.Rate != 0 }

// LimitOf is a RouterOS rate-limit in the data plane's form, the tx
// direction shaped if shapeTx. Priority and rate-min have no counterpart
// in a per-session limit (nothing is shared to prioritize or guarantee).
func LimitOf(l ratelimit.Limit, shapeTx bool) RateLimit {
	dir := func(d ratelimit.Dir) Rate {
		r := Rate{Rate: d.Rate}
		if d.Bursts() {
			r.BurstRate, r.BurstThreshold, r.BurstTime = d.BurstRate, d.BurstThreshold, d.BurstTime
		}
		return r
	}
	out := RateLimit{Rx: dir(l.Rx), Tx: dir(l.Tx)}
	out.Tx.Shape = shapeTx && out.Tx.Rate != 0
	return out
}

// RateStats are what a session's limits did.
type RateStats struct {
	// DroppedRx and DroppedTx count packets the limits dropped.
	DroppedRx, DroppedTx uint64
	// BurstingRx and BurstingTx report whether a direction with a burst
	// is now allowed its burst rate.
	BurstingRx, BurstingTx bool
}

const (
	rateLimitSize = int(unsafe.Sizeof(dataplaneRateLimit{}))
	rateStateSize = int(unsafe.Sizeof(dataplaneRateState{}))
	rateConfSize  = int(unsafe.Sizeof(dataplaneRateConf{}))
	rateFPShift   = 16 // RATE_FP_SHIFT
	rateWindows   = 16 // RATE_WINDOWS
)

// rateMaps holds rate_limits and rate_states mapped: the configuration is
// written, and the drop counters read, with 64-bit atomics, so a live
// change never shows BPF half a value and never touches the buckets.
type rateMaps struct {
	limits, states []byte
}

func (d *Datapath) openRate() error {
	var err error
	n := int(d.max)
	if d.rate.limits, err = unix.Mmap(d.objs.RateLimits.FD(), 0, n*rateLimitSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("maps: mmap rate_limits: %w", err)
	}
	if d.rate.states, err = unix.Mmap(d.objs.RateStates.FD(), 0, n*rateStateSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		_ = unix.Munmap(d.rate.limits)
		d.rate.limits = nil
		return fmt.Errorf("maps: mmap rate_states: %w", err)
	}
	return nil
}

func (d *Datapath) closeRate() {
	for _, m := range []*[]byte{&d.rate.limits, &d.rate.states} {
		if *m != nil {
			_ = unix.Munmap(*m)
			*m = nil
		}
	}
}

// rateSpecs sizes the rate maps for max sessions.
func rateSpecs(spec *ebpf.CollectionSpec, max uint32) {
	spec.Maps[dataplaneMapRateLimits].MaxEntries = max
	spec.Maps[dataplaneMapRateStates].MaxEntries = max
}

func word(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

// conf turns a Rate into its BPF form.
func (r Rate) conf(tx bool) (dataplaneRateConf, error) {
	var c dataplaneRateConf
	if r.Rate == 0 {
		return c, nil
	}
	if r.Shape && !tx {
		return c, fmt.Errorf("maps: rate limit: shaping is for the tx direction only (rx arrives at XDP, which cannot delay)")
	}
	// ns per byte in fixed point; a byte at 8 bits/s is 1e9 ns, and
	// below 2 bits/s a 64 kB packet's cost would overflow.
	nspb := func(bitsPerSec uint64) uint64 { return (8e9 << rateFPShift) / max(bitsPerSec, 2) }
	c.Nspb = nspb(r.Rate)
	depth := r.Depth
	if depth <= 0 {
		depth = DefaultRateDepth
	}
	c.DepthNs = uint64(depth)
	if r.Shape {
		c.Flags = uint32(dataplaneRateFlagRATE_F_SHAPE)
	}
	if r.BurstRate > r.Rate && r.BurstTime > 0 {
		c.BurstNspb = nspb(r.BurstRate)
		c.WindowNs = max(uint64(r.BurstTime)/rateWindows, 1)
		// The most one sub-window can count is its time at the burst
		// rate plus the bucket; counters are 32 bits of 1<<shift bytes.
		hi, lo := bits.Mul64(r.BurstRate/8, c.WindowNs+c.DepthNs)
		most, _ := bits.Div64(hi, lo, 1e9)
		most += 65536
		shift := 0
		if l := bits.Len64(most); l > 31 {
			shift = l - 31
		}
		c.UnitShift = uint32(shift)
		// threshold bits/s x burst time = bytes over the 16 sub-windows.
		// (hi < 1e9: both factors are bounded far below 2^64.)
		hi, lo = bits.Mul64(r.BurstThreshold/8, uint64(r.BurstTime))
		q, _ := bits.Div64(hi, lo, 1e9)
		c.Threshold = q >> shift
	}
	return c, nil
}

// SetRate sets the limits of the session at index i, live: packets go on
// being forwarded throughout, the buckets keep what they hold (but owe no
// more than the new depth), and from the next packet on each direction is
// held to its new rate.
func (d *Datapath) SetRate(i Index, l RateLimit) error {
	if err := d.checkIndex(i); err != nil {
		return err
	}
	rx, tx, err := l.confs()
	if err != nil {
		return err
	}
	d.writeRate(i, rx, tx)
	d.forgive(i, rx, tx)
	return nil
}

// forgive caps what each bucket owes at half the new depth, where early
// drops would begin (bpf/ratelimit.h): a session whose rate
// goes up must not wait out the debt it ran up at the old rate. (The
// buckets are BPF's; this compare-and-swap is the one write user space
// makes to a live one, and it loses to any packet's.)
func (d *Datapath) forgive(i Index, rx, tx dataplaneRateConf) {
	var ts unix.Timespec // the data plane's clock (bpf_ktime_get_coarse_ns)
	if unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts) != nil {
		return
	}
	now := uint64(ts.Nano())
	for dir, c := range []dataplaneRateConf{rx, tx} {
		tat := word(d.rate.states, int(i)*rateStateSize+dir*int(unsafe.Sizeof(dataplaneRateBucket{})))
		old := atomic.LoadUint64(tat)
		if limit := now + c.DepthNs/2; old > limit {
			atomic.CompareAndSwapUint64(tat, old, limit)
		}
	}
}

func (l RateLimit) confs() (rx, tx dataplaneRateConf, err error) {
	if rx, err = l.Rx.conf(false); err != nil {
		return rx, tx, err
	}
	tx, err = l.Tx.conf(true)
	return rx, tx, err
}

// writeRate stores both directions' configuration word by word: a packet
// in between sees each word old or new, never torn, and nspb, the word
// that turns a limit on or off, is written last when turning on and first
// when turning off.
func (d *Datapath) writeRate(i Index, rx, tx dataplaneRateConf) {
	base := int(i) * rateLimitSize
	for dir, c := range []dataplaneRateConf{rx, tx} {
		off := base + dir*rateConfSize
		words := (*[6]uint64)(unsafe.Pointer(&c))
		if c.Nspb == 0 {
			atomic.StoreUint64(word(d.rate.limits, off), 0)
		}
		for w := 1; w < rateConfSize/8; w++ {
			atomic.StoreUint64(word(d.rate.limits, off+8*w), words[w])
		}
		atomic.StoreUint64(word(d.rate.limits, off), words[0])
	}
}

// resetRate gives a fresh index its limits and empty buckets before its
// session can match a packet.
func (d *Datapath) resetRate(i Index, l RateLimit) error {
	if err := d.checkIndex(i); err != nil {
		return err
	}
	rx, tx, err := l.confs()
	if err != nil {
		return err
	}
	base := int(i) * rateStateSize
	for off := 0; off < rateStateSize; off += 8 {
		atomic.StoreUint64(word(d.rate.states, base+off), 0)
	}
	d.writeRate(i, rx, tx)
	return nil
}

// clearRate turns a removed session's limits off.
func (d *Datapath) clearRate(i Index) {
	if d.checkIndex(i) == nil {
		d.writeRate(i, dataplaneRateConf{}, dataplaneRateConf{})
	}
}

// RateStats returns what the limits of the session at index i did.
func (d *Datapath) RateStats(i Index) (RateStats, error) {
	if err := d.checkIndex(i); err != nil {
		return RateStats{}, err
	}
	var b dataplaneRateBucket
	base := int(i) * rateStateSize
	dropped := int(unsafe.Offsetof(b.Dropped))
	off := int(unsafe.Offsetof(b.BurstOff))
	bucket := int(unsafe.Sizeof(b))
	conf := func(dir int) (burst bool) {
		c := int(i)*rateLimitSize + dir*rateConfSize
		var rc dataplaneRateConf
		return atomic.LoadUint64(word(d.rate.limits, c+int(unsafe.Offsetof(rc.WindowNs)))) != 0
	}
	// burst_off is the low half (little endian) of the word it shares with pad.
	off &^= 7
	s := RateStats{
		DroppedRx: atomic.LoadUint64(word(d.rate.states, base+dropped)),
		DroppedTx: atomic.LoadUint64(word(d.rate.states, base+bucket+dropped)),
	}
	s.BurstingRx = conf(0) && uint32(atomic.LoadUint64(word(d.rate.states, base+off))) == 0
	s.BurstingTx = conf(1) && uint32(atomic.LoadUint64(word(d.rate.states, base+bucket+off))) == 0
	return s, nil
}
