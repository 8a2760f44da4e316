package mp

import (
	"fmt"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Reassembly defaults: a PPPoE link rarely reorders, so a few hundred
// milliseconds and a few dozen fragments are plenty; a fragment lost on the
// wire is then given up quickly instead of holding the packets behind it.
const (
	DefaultTimeout = 500 * time.Millisecond
	DefaultWindow  = 64
)

// ReassemblerConfig sets up a Reassembler.
type ReassemblerConfig struct {
	Format Format // what we asked the peer to send (Short-Sequence)
	// MRRU is our MRRU as the peer acked it: the largest information
	// field a reassembled packet may have.
	MRRU uint16
	// MRU is our MRU on the link: the largest MP packet the peer sends.
	// With MRRU it sets the least Window that still holds two whole
	// packets.
	MRU uint16
	// Window bounds the fragments held while waiting for a missing one
	// (DefaultWindow if 0, raised to two MRRU-sized packets' worth):
	// memory is at most Window fragments of one MRU each.
	Window int
	// Timeout is how long the oldest held fragment waits for a missing
	// one before its packet is given up (DefaultTimeout if 0).
	Timeout time.Duration
}

// Stats count what a Reassembler did; the session's counters show them.
type Stats struct {
	Fragments   uint64 // MP packets received
	Reassembled uint64 // packets delivered
	// Lost counts packets given up because a fragment of theirs never
	// came within the timeout.
	Lost uint64
	// Overflow counts packets given up before the timeout: the window
	// filled with fragments behind the gap, or the peer jumped more than
	// a window ahead (it renumbered, or lost that much).
	Overflow uint64
	// Discarded counts fragments dropped without delivering them: those
	// of lost and oversize packets, orphans without a beginning.
	Discarded  uint64
	Duplicates uint64 // fragments whose sequence number was already held or passed
	Oversize   uint64 // packets whose reassembly would exceed the MRRU
	Malformed  uint64 // fragments too short for an MP header
}

type fragment struct {
	h    Header
	data []byte
	at   time.Time
}

// Reassembler puts MP fragments (RFC 1990 §4) from one member link back
// together in sequence order. Not safe for concurrent use.
//
// It holds fragments from next, the lowest sequence number not yet
// delivered or given up, onwards. A packet is delivered when its fragments
// from B to E are all held and start at next; fragments arriving behind
// next are duplicates (or too late) and dropped. When the fragment at next
// is missing and either the oldest held fragment has waited Timeout or
// Window fragments are held, the gap is declared lost (RFC 1990 §4.1's
// "fragment loss detection" for a single link) and reassembly resumes at
// the next held beginning.
type Reassembler struct {
	cfg    ReassemblerConfig
	synced bool
	next   uint32
	// behindLoss: next is inside a packet given up for a missing end
	// (nothing of it held): the gap up to the next beginning is that same
	// loss, not one to wait for again.
	behindLoss bool
	held       map[uint32]fragment
	stats      Stats
}

// NewReassembler returns an empty Reassembler.
func NewReassembler(cfg ReassemblerConfig) *Reassembler {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if room := int(cfg.MRU) - cfg.Format.HeaderLen(); room > 0 {
		cfg.Window = max(cfg.Window, 2*((2+int(cfg.MRRU)+room-1)/room))
	}
	// Half the sequence space at most, so that "ahead" and "behind" stay
	// unambiguous (span is four windows).
	cfg.Window = min(cfg.Window, 1<<(cfg.Format.bits()-3))
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Reassembler{cfg: cfg, held: make(map[uint32]fragment, cfg.Window)}
}

// Stats returns the counters so far.
func (r *Reassembler) Stats() Stats { return r.stats }

// Held returns the number of fragments waiting.
func (r *Reassembler) Held() int { return len(r.held) }

// Receive takes the information field of one protocol 0x003d packet and
// returns the packets it completes, in order, as PPP frames (the protocol
// field may have been compressed by the sender, RFC 1990 §3). data is
// copied; the returned frames do not alias it. A malformed fragment is
// counted and returns an error; nothing held is lost by it.
func (r *Reassembler) Receive(data []byte, now time.Time) ([]ppp.Frame, error) {
	h, frag, err := ParseHeader(data, r.cfg.Format)
	if err != nil {
		r.stats.Malformed++
		return nil, err
	}
	r.stats.Fragments++
	if !r.synced {
		r.synced, r.next = true, h.Seq
	}
	d := r.cfg.Format.diff(h.Seq, r.next)
	switch {
	case d < 0:
		// Behind next: delivered, given up, or a duplicate of either.
		r.stats.Duplicates++
		return nil, nil
	case int(d) >= r.span():
		// Far ahead: the peer restarted its numbering or lost more than
		// a window; what is held can never complete.
		r.giveUpAll()
		r.next, r.behindLoss = h.Seq, false
	}
	if _, dup := r.held[h.Seq]; dup {
		r.stats.Duplicates++
		return nil, nil
	}
	r.held[h.Seq] = fragment{h: h, data: append([]byte(nil), frag...), at: now}
	return r.drain(now)
}

// Expire gives up on packets whose missing fragments have waited too long
// and returns any packets that this unblocks. The session loop calls it
// from its timer, at most Timeout after the last Receive that left
// fragments held.
func (r *Reassembler) Expire(now time.Time) ([]ppp.Frame, error) {
	return r.drain(now)
}

// Deadline returns when Expire next has something to give up: Timeout
// after the oldest held fragment arrived; ok is false when nothing is held.
func (r *Reassembler) Deadline() (t time.Time, ok bool) {
	for _, f := range r.held {
		if !ok || f.at.Before(t) {
			t, ok = f.at, true
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return t.Add(r.cfg.Timeout), true
}

// span is how far ahead of next a fragment may be and still be waited
// for: the window, which is far below half the sequence space.
func (r *Reassembler) span() int { return r.cfg.Window * 4 }

func (r *Reassembler) giveUpAll() {
	if len(r.held) > 0 {
		r.stats.Overflow++
		r.stats.Discarded += uint64(len(r.held))
		clear(r.held)
	}
}

// drain delivers what is complete at next and gives up gaps that waited
// too long or would overflow the window.
func (r *Reassembler) drain(now time.Time) ([]ppp.Frame, error) {
	var (
		out  []ppp.Frame
		errs error
	)
	mask := r.cfg.Format.mask()
	for len(r.held) > 0 {
		f, ok := r.held[r.next]
		if !ok && r.behindLoss {
			if low := r.lowest(); r.held[low].h.Begin {
				r.next, r.behindLoss = low, false
				continue
			}
		}
		if !ok {
			why := r.stalled(now)
			if why == nil {
				break
			}
			// The gap at next is lost; skip to the lowest held fragment.
			*why++
			r.next = r.lowest()
			continue
		}
		if !f.h.Begin {
			// The middle or end of a packet whose beginning is gone.
			r.stats.Discarded++
			delete(r.held, r.next)
			r.next = (r.next + 1) & mask
			continue
		}
		r.behindLoss = false
		n, size, complete := r.run()
		if !complete {
			why := r.stalled(now)
			if why == nil {
				break
			}
			// Its end never came: drop what we have of it. The gap
			// after it is the same loss, so go on at the lowest held
			// fragment without waiting again.
			*why++
			r.drop(n)
			if _, ok := r.held[r.next]; !ok && len(r.held) > 0 {
				r.next = r.lowest()
			}
			_, ok := r.held[r.next]
			r.behindLoss = !ok
			continue
		}
		if size > 2+int(r.cfg.MRRU) {
			r.stats.Oversize++
			r.drop(n)
			continue
		}
		fr, err := r.assemble(n, size)
		if err != nil {
			errs = err
			continue
		}
		r.stats.Reassembled++
		out = append(out, fr)
	}
	return out, errs
}

// run measures the packet starting at next: how many fragments it has held
// in a row, their total size, and whether the run reaches an E (and no
// second B before it: that B begins another packet, and this one's end is
// lost).
func (r *Reassembler) run() (n int, size int, complete bool) {
	mask := r.cfg.Format.mask()
	for s := r.next; ; s = (s + 1) & mask {
		f, ok := r.held[s]
		if !ok || (n > 0 && f.h.Begin) {
			return n, size, false
		}
		n++
		size += len(f.data)
		if f.h.End {
			return n, size, true
		}
	}
}

// drop discards n fragments from next.
func (r *Reassembler) drop(n int) {
	mask := r.cfg.Format.mask()
	for i := 0; i < n; i++ {
		delete(r.held, r.next)
		r.next = (r.next + 1) & mask
	}
	r.stats.Discarded += uint64(n)
}

// assemble joins and removes the n fragments from next.
func (r *Reassembler) assemble(n, size int) (ppp.Frame, error) {
	mask := r.cfg.Format.mask()
	b := make([]byte, 0, size)
	for i := 0; i < n; i++ {
		b = append(b, r.held[r.next].data...)
		delete(r.held, r.next)
		r.next = (r.next + 1) & mask
	}
	var fr ppp.Frame
	if err := fr.UnmarshalBinary(b); err != nil {
		r.stats.Discarded += uint64(n)
		return fr, fmt.Errorf("mp: reassembled packet: %w", err)
	}
	return fr, nil
}

// stalled reports whether the packet at next must be given up, as the
// counter to count it in: Overflow when the window is full, Lost when the
// oldest held fragment waited Timeout; nil when it may wait on.
func (r *Reassembler) stalled(now time.Time) *uint64 {
	if len(r.held) >= r.cfg.Window {
		return &r.stats.Overflow
	}
	for _, f := range r.held {
		if now.Sub(f.at) >= r.cfg.Timeout {
			return &r.stats.Lost
		}
	}
	return nil
}

// lowest returns the held sequence number closest after next.
func (r *Reassembler) lowest() uint32 {
	var (
		best  uint32
		bestD int32 = -1
	)
	for s := range r.held {
		if d := r.cfg.Format.diff(s, r.next); bestD < 0 || d < bestD {
			best, bestD = s, d
		}
	}
	return best
}
