package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PADODelay is a server's pado-delay: how long the access concentrator
// waits before it answers a PADI with a PADO, so that on a broadcast
// domain with several ACs the clients, which take the first offer
// (RFC 2516 §5.2 lets them choose), go to the others first.
//
// It reads two forms:
//
//   - RouterOS's: one number of milliseconds ("0", the default, or
//     "100"), the same delay whatever the load.
//   - accel-ppp's load-based list "delay[,delay1:count1[,delay2:count2...]]"
//     (accel-ppp.conf(5), [pppoe] pado-delay): delay applies from 0 active
//     sessions, delay1 from count1 sessions on, and so on; counts strictly
//     increasing. The last delay may be -1: from that many sessions on the
//     AC does not answer PADIs at all. For example "0,100:1000,-1:2000":
//     no delay below 1,000 sessions, 100 ms up to 1,999, silent from 2,000.
//
// Delays are at most MaxPADODelay. It prints in the form it was read in,
// normalised: one number when it is one step.
type PADODelay []PADOStep

// PADOStep is one step of a PADODelay: from Sessions active sessions on,
// PADOs wait Delay, or are not sent at all when Silent (accel-ppp's -1).
type PADOStep struct {
	Sessions int
	Delay    time.Duration
	Silent   bool
}

// MaxPADODelay bounds a PADO delay: a client retransmits its PADI after a
// few seconds (RFC 2516 §5.1 leaves it to the client; rp-pppoe waits 5 s,
// pppoed's client 1 s, doubling) and gives up after a few, so an offer
// later than that reaches nobody. Cisco's "pado delay" stops at the same
// 10,000 ms.
const MaxPADODelay = 10 * time.Second

// Select returns the delay for an AC with active sessions: the step of
// the largest count not above active. answer is false when that step is
// -1 (do not answer).
func (p PADODelay) Select(active int) (delay time.Duration, answer bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if active >= p[i].Sessions {
			return p[i].Delay, !p[i].Silent
		}
	}
	return 0, true
}

// MarshalText implements encoding.TextMarshaler.
func (p PADODelay) MarshalText() ([]byte, error) {
	if len(p) == 0 {
		return []byte("0"), nil
	}
	parts := make([]string, len(p))
	for i, s := range p {
		d := strconv.FormatInt(s.Delay.Milliseconds(), 10)
		if s.Silent {
			d = "-1"
		}
		if i == 0 {
			parts[i] = d
			continue
		}
		parts[i] = d + ":" + strconv.Itoa(s.Sessions)
	}
	return []byte(strings.Join(parts, ",")), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PADODelay) UnmarshalText(b []byte) error {
	out, err := ParsePADODelay(string(b))
	if err != nil {
		return err
	}
	*p = out
	return nil
}

// ParsePADODelay reads a pado-delay in either form (see PADODelay).
func ParsePADODelay(text string) (PADODelay, error) {
	if text == "" {
		return nil, errors.New("empty pado-delay (want milliseconds, or delay,delay:count,...)")
	}
	var out PADODelay
	for i, part := range strings.Split(text, ",") {
		ds, cs, hasCount := strings.Cut(part, ":")
		var step PADOStep
		switch {
		case i == 0 && hasCount:
			return nil, fmt.Errorf("pado-delay %q: the first delay applies from 0 sessions and takes no count", text)
		case i > 0 && !hasCount:
			return nil, fmt.Errorf("pado-delay %q: %q: want delay:count after the first delay", text, part)
		}
		if ds == "-1" {
			step.Silent = true
		} else {
			ms, err := strconv.ParseInt(ds, 10, 64)
			// Compared in milliseconds: a huge ms times time.Millisecond
			// would overflow into range.
			if err != nil || ms < 0 || ms > MaxPADODelay.Milliseconds() {
				return nil, fmt.Errorf("pado-delay %q: delay %q: want 0..%d milliseconds or -1", text, ds, MaxPADODelay.Milliseconds())
			}
			step.Delay = time.Duration(ms) * time.Millisecond
		}
		if hasCount {
			n, err := strconv.ParseInt(cs, 10, 32)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("pado-delay %q: count %q: want a positive number of sessions", text, cs)
			}
			if prev := out[len(out)-1]; int(n) <= prev.Sessions {
				return nil, fmt.Errorf("pado-delay %q: counts must increase (%d after %d)", text, n, prev.Sessions)
			}
			step.Sessions = int(n)
		}
		if len(out) > 0 && out[len(out)-1].Silent {
			return nil, fmt.Errorf("pado-delay %q: -1 (stop answering) must be the last delay", text)
		}
		out = append(out, step)
	}
	if out[0].Silent {
		// Never answering is what disabled=yes is for; a -1 here is
		// far more likely a typo than a wish.
		return nil, fmt.Errorf("pado-delay %q: the first delay cannot be -1 (the server would never answer: disable it instead)", text)
	}
	if len(out) == 1 && out[0].Delay == 0 {
		return nil, nil // the default, printed "0"
	}
	return out, nil
}
