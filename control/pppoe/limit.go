package pppoe

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits bound the PADIs and PADRs a discovery server handles, as
// accel-ppp's padi-limit does; the data plane's xdp_access_in applies the
// same limits with the same algorithm (bpf/discovery.h) before frames reach
// user space. A rate of 0 turns that limit off; a burst below 1 counts as 1.
type Limits struct {
	// MACRate is how many PADIs and PADRs a second one host (a Circuit:
	// interface, VLANs, MAC) may send, MACBurst how many at once. It
	// bounds a flood from one MAC, which a global limit cannot tell from
	// many hosts dialling.
	MACRate, MACBurst int
	// PADIRate is how many PADIs a second all hosts together may send,
	// PADIBurst how many at once: a flood from random MACs, each frame a
	// new host, is bound only by this. It is applied twice, to hosts heard
	// for the first time and to hosts heard before, so that a flood of new
	// MACs cannot starve a host retransmitting its PADI (RFC 2516 §5.1);
	// at most twice PADIRate PADIs a second pass. A PADR from a host never
	// heard counts as a first contact; a known host's PADRs are bound by
	// MACRate only.
	PADIRate, PADIBurst int
}

// DefaultLimits are pppoed's limits. Per MAC: a host dialling sends a PADI
// and a PADR, and retransmits each after a second or more (RFC 2516 §5.1
// backoff), so 5 a second with bursts of 10 leave room for several
// clients behind one MAC (Host-Uniq) dialling at once, and hold a PADR
// flood from one MAC to 5 new sessions a second. Global: 2,000 PADIs a
// second, the session setup rate this AC was built to sustain, from new
// hosts, and as many again from hosts retransmitting.
var DefaultLimits = Limits{MACRate: 5, MACBurst: 10, PADIRate: 2000, PADIBurst: 2000}

// ParseRate parses a limit as pppoed's flags give it: "rate", with bursts
// of one second's worth, or "rate/burst"; "0" turns the limit off.
func ParseRate(s string) (rate, burst int, err error) {
	r, b, slash := strings.Cut(s, "/")
	if rate, err = strconv.Atoi(r); err == nil && slash {
		burst, err = strconv.Atoi(b)
	} else if err == nil {
		burst = rate
	}
	if err != nil || rate < 0 || burst < 0 || rate > 1e9 || burst > 1e9 || (rate > 0 && burst == 0) {
		return 0, 0, fmt.Errorf("pppoe: limit %q: want rate or rate/burst, per second, 0 to 1e9 (0: no limit)", s)
	}
	return rate, burst, nil
}

// ParseLimits parses the PADI limit (padi) and the per-host limit (mac),
// each as ParseRate does; an error names the one at fault by the option
// names pppoed's flags take (accel-ppp's padi-limit).
func ParseLimits(padi, mac string) (Limits, error) {
	var l Limits
	var err error
	if l.PADIRate, l.PADIBurst, err = ParseRate(padi); err != nil {
		return Limits{}, fmt.Errorf("padi-limit: %w", err)
	}
	if l.MACRate, l.MACBurst, err = ParseRate(mac); err != nil {
		return Limits{}, fmt.Errorf("discovery-mac-limit: %w", err)
	}
	return l, nil
}

// FormatRate is ParseRate's inverse.
func FormatRate(rate, burst int) string {
	if burst == rate {
		return strconv.Itoa(rate)
	}
	return strconv.Itoa(rate) + "/" + strconv.Itoa(burst)
}

// Validate checks that no rate or burst is negative and that rates fit
// the data plane's 32-bit fields.
func (l Limits) Validate() error {
	for _, v := range []int{l.MACRate, l.MACBurst, l.PADIRate, l.PADIBurst} {
		if v < 0 || v > 1e9 {
			return fmt.Errorf("pppoe: discovery limits %+v: want 0 to 1e9", l)
		}
	}
	return nil
}

// LimitVerdict is what a Limiter decided about a frame.
type LimitVerdict uint8

// Verdicts of Limiter.Admit.
const (
	// Admitted frames go on to be handled.
	Admitted LimitVerdict = iota
	// MACLimited frames exceeded their host's limit.
	MACLimited
	// GlobalLimited frames exceeded the global PADI limit.
	GlobalLimited
)

func (v LimitVerdict) String() string {
	switch v {
	case Admitted:
		return "admitted"
	case MACLimited:
		return "over its host's limit"
	case GlobalLimited:
		return "over the global limit"
	}
	return fmt.Sprintf("LimitVerdict(%d)", uint8(v))
}

// DefaultLimiterHosts is how many hosts a Limiter remembers, as the data
// plane's discovery_hosts map (bpf/maps.h).
const DefaultLimiterHosts = 262144

// Limiter applies Limits to the discovery frames of every interface it is
// given to (one Limiter per daemon: the global limit is global). Its
// methods are safe for concurrent use.
//
// Where xdp_access_in applies the limits, a Limiter must not apply them a
// second time: the data plane remembers hosts whose frames it dropped, this
// does not, so a host whose first PADI the data plane dropped would be new
// here when its retransmission arrives, and compete with the flood again.
//
// Each bucket is one number, the theoretical arrival time of the Generic
// Cell Rate Algorithm (ITU-T I.371): a frame at now conforms if tat - now
// <= (burst - 1) / rate, and then tat = max(tat, now) + 1 / rate.
type Limiter struct {
	mu     sync.Mutex
	limits Limits
	epoch  time.Time // times are kept as nanoseconds since this
	// hosts remembers at most max hosts, least recently heard forgotten
	// first, approximately: a host is looked up in cur, then in old
	// (and moved to cur); when cur reaches max/2 it becomes old and old
	// is dropped. Bounded memory whatever a flood of MACs does.
	cur, old map[Circuit]int64
	max      int
	newTAT   int64 // hosts heard for the first time
	knownTAT int64 // hosts heard before
}

// NewLimiter returns a Limiter for l (which should have passed Validate).
func NewLimiter(l Limits) *Limiter {
	return &Limiter{limits: l, cur: map[Circuit]int64{}, old: map[Circuit]int64{}, max: DefaultLimiterHosts}
}

// SetLimits changes the limits; the buckets keep their state.
func (l *Limiter) SetLimits(lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits = lim
}

// Limits returns the limits in force.
func (l *Limiter) Limits() Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limits
}

// Admit decides about a discovery frame of code from c received at now.
// Only PADIs and PADRs are limited.
func (l *Limiter) Admit(c Circuit, code Code, now time.Time) LimitVerdict {
	if code != CodePADI && code != CodePADR {
		return Admitted
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limits
	if lim.MACRate == 0 && lim.PADIRate == 0 {
		return Admitted
	}
	if l.epoch.IsZero() {
		l.epoch = now
	}
	t := int64(now.Sub(l.epoch))
	tat, known := l.host(c)
	switch {
	case !known && lim.MACRate > 0:
		// The first frame takes the first token.
		l.cur[c] = t + int64(time.Second)/int64(lim.MACRate)
	case !known:
		l.cur[c] = 0
	case lim.MACRate > 0:
		if !gcra(&tat, t, lim.MACRate, lim.MACBurst) {
			return MACLimited
		}
		l.cur[c] = tat
	}
	if lim.PADIRate == 0 || (known && code == CodePADR) {
		return Admitted
	}
	bucket := &l.newTAT
	if known {
		bucket = &l.knownTAT
	}
	if !gcra(bucket, t, lim.PADIRate, lim.PADIBurst) {
		return GlobalLimited
	}
	return Admitted
}

// host looks c up, moving it from the old generation to the current one.
func (l *Limiter) host(c Circuit) (int64, bool) {
	if tat, ok := l.cur[c]; ok {
		return tat, true
	}
	tat, ok := l.old[c]
	if ok {
		delete(l.old, c)
	}
	if len(l.cur) >= l.max/2 {
		l.old, l.cur = l.cur, make(map[Circuit]int64, l.max/2)
	}
	if ok {
		l.cur[c] = tat
	}
	return tat, ok
}

// gcra takes one frame from a bucket of burst frames refilled at rate a
// second, at time now (ns); it reports whether the frame conforms.
func gcra(tat *int64, now int64, rate, burst int) bool {
	interval := int64(time.Second) / int64(rate)
	tolerance := int64(max(burst, 1)-1) * interval
	t := max(*tat, now)
	if t-now > tolerance {
		return false
	}
	*tat = t + interval
	return true
}
