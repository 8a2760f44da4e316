package maps

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// DefaultRateDepth is a policer's bucket depth when Rate.Depth is 0: half
// a second of the rate, RouterOS's queue bucket-size=0.5 ("bucket capacity
// = bucket-size * max-limit"; its default 0.1 is for a shaper, which has a
// queue behind the bucket). A policer has no queue, and TCP needs the
// bucket to stand in for one: `make bench-ratelimit` on 2026-12-02 held
// one TCP flow through a 10M policer at 37-40 % of the rate with 100 ms,
// 85-96 % with 250 ms, 96-98 % with 500 ms and 97-101 % with a second. But
// the depth is also what a flow gets above the rate after an idle spell:
// UDP offered at twice the rate settles where the early drops
// (bpf/ratelimit.h, from half the depth) take one packet in two, three
// quarters into the bucket, so over 10 s a second's depth let it through at
// up to 1.075 of the rate; half a second holds every row of the bench
// within 5 % (README, "Rate limits").
const DefaultRateDepth = 500 * time.Millisecond

// DefaultShapeHorizon is a shaper's horizon when Rate.Depth is 0: EDT
// drops what would leave later than this, and an HTB leaf queues this
// much of the rate.
const DefaultShapeHorizon = time.Second

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
	// Shape delays instead of dropping (TC path only; tx only): earliest
	// departure times for the fq qdisc on the access interface, or the
	// session's class of an HTB qdisc there (Options.Shaper, htb.go).
	Shape bool
	// Depth is the policer's bucket or the shaper's horizon, as time at
	// the rate; 0 = DefaultRateDepth (policer) or DefaultShapeHorizon (shaper).
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
	rateSessionSize = int(unsafe.Sizeof(dataplaneRateSession{}))
	rateHalfSize    = int(unsafe.Sizeof(dataplaneRateHalf{}))
	rateFPShift     = 16 // RATE_FP_SHIFT
	rateWindows     = 16 // RATE_WINDOWS
	ratesPerWord    = 32 // RATES_PER_WORD: sessions in a rates_on word
)

// rateMaps holds rates and rates_on mapped: the configuration is written,
// and the drop counters read, with 64-bit atomics, so a live change never
// shows BPF half a value and never touches a bucket word.
type rateMaps struct {
	rates, on []byte
}

// rateOnWords is the size of rates_on for max sessions.
func rateOnWords(max uint32) uint32 { return (max + ratesPerWord - 1) / ratesPerWord }

func (d *Datapath) openRate() error {
	var err error
	if d.rate.rates, err = unix.Mmap(d.objs.Rates.FD(), 0, int(d.max)*rateSessionSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("maps: mmap rates: %w", err)
	}
	if d.rate.on, err = unix.Mmap(d.objs.RatesOn.FD(), 0, int(rateOnWords(d.max))*8,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		_ = unix.Munmap(d.rate.rates)
		d.rate.rates = nil
		return fmt.Errorf("maps: mmap rates_on: %w", err)
	}
	return nil
}

func (d *Datapath) closeRate() {
	for _, m := range []*[]byte{&d.rate.rates, &d.rate.on} {
		if *m != nil {
			_ = unix.Munmap(*m)
			*m = nil
		}
	}
}

// rateSpecs sizes the rate maps for max sessions.
func rateSpecs(spec *ebpf.CollectionSpec, max uint32) {
	spec.Maps[dataplaneMapRates].MaxEntries = max
	spec.Maps[dataplaneMapRatesOn].MaxEntries = rateOnWords(max)
}

func word(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

// rateConf is one direction's configuration: the words of struct
// rate_line user space writes, and the direction's threshold.
type rateConf struct {
	Nspb, BurstNspb, DepthNs, WindowNs uint64
	UnitShift, Flags                   uint32
	Threshold                          uint64
}

// lineWord is the byte offset in rates of a word of session i's line of
// direction dir, f its offset in struct rate_line.
func lineWord(i Index, dir int, f uintptr) int {
	return int(i)*rateSessionSize + dir*rateHalfSize + int(f)
}

// rateBit is session i's direction dir in rates_on: its word and bit.
func (d *Datapath) rateBit(i Index, dir int) (*uint64, uint64) {
	return word(d.rate.on, int(i)/ratesPerWord*8), 1 << (uint(i)%ratesPerWord*2 + uint(dir))
}

// depth is r.Depth, or its default: DefaultShapeHorizon for a shaped
// rate, DefaultRateDepth for a policed one.
func (r Rate) depth() time.Duration {
	switch {
	case r.Depth > 0:
		return r.Depth
	case r.Shape:
		return DefaultShapeHorizon
	}
	return DefaultRateDepth
}

// conf turns a Rate into its BPF form.
func (r Rate) conf(tx bool) (rateConf, error) {
	var c rateConf
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
	c.DepthNs = uint64(r.depth())
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
	minor, err := d.shapeTx(i, d.ifindexOf(i), l.Tx)
	if err != nil {
		return fmt.Errorf("maps: rate limit of index %d: shaped download: %w", i, err)
	}
	tx.class(minor)
	d.writeRate(i, rx, tx)
	d.forgive(i, rx, tx)
	if minor == 0 { // no longer HTB-shaped: the BPF names the class no more
		if err := d.unshapeTx(i); err != nil {
			d.log.Warn("rate limit change", zap.Error(err))
		}
	}
	return nil
}

// class makes a shaped tx configuration name HTB class minor (0: none).
func (c *rateConf) class(minor uint16) {
	if minor != 0 && c.Flags&uint32(dataplaneRateFlagRATE_F_SHAPE) != 0 {
		c.Flags |= uint32(dataplaneRateFlagRATE_F_CLASS) | uint32(minor)<<16
	}
}

// ifindexOf is the access interface of the session at index i (0 if none
// is installed there).
func (d *Datapath) ifindexOf(i Index) int {
	var a dataplaneSessionAttrs
	if d.objs.SessionInfo.Lookup(uint32(i), &a) != nil {
		return 0
	}
	return int(a.Ifindex)
}

// forgive caps what each bucket owes at half the new depth, where early
// drops would begin (bpf/ratelimit.h): a session whose rate
// goes up must not wait out the debt it ran up at the old rate. (The
// buckets are BPF's; this compare-and-swap is the one write user space
// makes to a live one, and it loses to any packet's.)
func (d *Datapath) forgive(i Index, rx, tx rateConf) {
	var ts unix.Timespec // the data plane's clock (bpf_ktime_get_coarse_ns)
	if unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts) != nil {
		return
	}
	now := uint64(ts.Nano())
	var l dataplaneRateLine
	for dir, c := range []rateConf{rx, tx} {
		tat := word(d.rate.rates, lineWord(i, dir, unsafe.Offsetof(l.TatNs)))
		old := atomic.LoadUint64(tat)
		if limit := now + c.DepthNs/2; old > limit {
			atomic.CompareAndSwapUint64(tat, old, limit)
		}
	}
}

func (l RateLimit) confs() (rx, tx rateConf, err error) {
	if rx, err = l.Rx.conf(false); err != nil {
		return rx, tx, err
	}
	tx, err = l.Tx.conf(true)
	return rx, tx, err
}

// writeRate stores both directions' configuration word by word: a packet
// in between sees each word old or new, never torn. nspb, the word that
// turns a limit on or off, and then the direction's rates_on bit, are
// written last when turning on; the bit and then nspb first when turning
// off.
func (d *Datapath) writeRate(i Index, rx, tx rateConf) {
	var l dataplaneRateLine
	var rs dataplaneRateSession
	for dir, c := range []rateConf{rx, tx} {
		at := func(f uintptr) *uint64 { return word(d.rate.rates, lineWord(i, dir, f)) }
		on, bit := d.rateBit(i, dir)
		if c.Nspb == 0 {
			atomic.AndUint64(on, ^bit)
			atomic.StoreUint64(at(unsafe.Offsetof(l.Nspb)), 0)
		}
		atomic.StoreUint64(at(unsafe.Offsetof(l.BurstNspb)), c.BurstNspb)
		atomic.StoreUint64(at(unsafe.Offsetof(l.DepthNs)), c.DepthNs)
		atomic.StoreUint64(at(unsafe.Offsetof(l.WindowNs)), c.WindowNs)
		// unit_shift and flags share a word, unit_shift first (bpfel).
		atomic.StoreUint64(at(unsafe.Offsetof(l.UnitShift)), uint64(c.UnitShift)|uint64(c.Flags)<<32)
		atomic.StoreUint64(word(d.rate.rates, int(i)*rateSessionSize+int(unsafe.Offsetof(rs.Threshold))+8*dir), c.Threshold)
		atomic.StoreUint64(at(unsafe.Offsetof(l.Nspb)), c.Nspb)
		if c.Nspb != 0 {
			atomic.OrUint64(on, bit)
		}
	}
}

// resetRate gives a fresh index its limits and empty buckets before its
// session, on access interface ifindex, can match a packet. The caller
// has the interface at hand (it just wrote the session_info entry), which
// saves the install a lookup syscall.
func (d *Datapath) resetRate(i Index, ifindex int, l RateLimit) error {
	if err := d.checkIndex(i); err != nil {
		return err
	}
	rx, tx, err := l.confs()
	if err != nil {
		return err
	}
	minor, err := d.shapeTx(i, ifindex, l.Tx)
	if err != nil {
		return fmt.Errorf("maps: shaped download: %w", err)
	}
	tx.class(minor)
	d.resetRateConf(i, rx, tx)
	return nil
}

// resetRateConf is resetRate's part in the rates map: what the BPF reads.
func (d *Datapath) resetRateConf(i Index, rx, tx rateConf) {
	d.writeRate(i, rateConf{}, rateConf{})
	base := int(i) * rateSessionSize
	for off := 0; off < rateSessionSize; off += 8 {
		atomic.StoreUint64(word(d.rate.rates, base+off), 0)
	}
	d.writeRate(i, rx, tx)
}

// clearRate turns a removed session's limits off, and deletes its HTB
// class once the BPF names it no more.
func (d *Datapath) clearRate(i Index) {
	if d.checkIndex(i) == nil {
		d.writeRate(i, rateConf{}, rateConf{})
		if err := d.unshapeTx(i); err != nil {
			d.log.Warn("session removed", zap.Error(err))
		}
	}
}

// RateStats returns what the limits of the session at index i did.
func (d *Datapath) RateStats(i Index) (RateStats, error) {
	if err := d.checkIndex(i); err != nil {
		return RateStats{}, err
	}
	var l dataplaneRateLine
	load := func(dir int, f uintptr) uint64 { return atomic.LoadUint64(word(d.rate.rates, lineWord(i, dir, f))) }
	// A direction with a burst bursts while its epoch word's low bit
	// (the last average reached the threshold) is clear.
	bursting := func(dir int) bool {
		return load(dir, unsafe.Offsetof(l.WindowNs)) != 0 && load(dir, unsafe.Offsetof(l.Epoch))&1 == 0
	}
	return RateStats{
		DroppedRx:  load(0, unsafe.Offsetof(l.Dropped)),
		DroppedTx:  load(1, unsafe.Offsetof(l.Dropped)),
		BurstingRx: bursting(0),
		BurstingTx: bursting(1),
	}, nil
}
