// Package ratelimit holds RouterOS's rate-limit string: the value of a /ppp
// profile's and a /ppp secret's rate-limit and of the Mikrotik-Rate-Limit
// RADIUS attribute (vendor 14988, type 8):
//
//	rx-rate[/tx-rate] [rx-burst-rate[/tx-burst-rate] [rx-burst-threshold[/tx-burst-threshold]
//	[rx-burst-time[/tx-burst-time] [priority] [rx-rate-min[/tx-rate-min]]]]]
//
// Directions are from the router's point of view, as MikroTik's RADIUS
// documentation says of Mikrotik-Rate-Limit: rx is what the router
// receives from the peer (a subscriber's upload), tx what it sends to the
// peer (the subscriber's download). The dynamic simple queue of a session
// shows the same pair as max-limit=upload/download.
//
// Defaults follow that documentation: a missing tx value is the rx value;
// missing burst thresholds are the rates; a missing burst time is 1 s; the
// priority is 1..8, 8 when missing. Rates are bits per second, a number with
// an optional k (10^3), M (10^6) or G (10^9) suffix; 0 is "no limit".
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRate is the largest rate accepted, in bits per second (1 Tbit/s).
const MaxRate = 1_000_000_000_000

// MaxBurstTime is the longest burst time accepted (RouterOS's queues take
// burst-time in seconds; an hour is far past any plan's).
const MaxBurstTime = time.Hour

// DefaultBurstTime is the burst time when the string gives none.
const DefaultBurstTime = time.Second

// DefaultPriority is the priority when the string gives none (the lowest).
const DefaultPriority = 8

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("ratelimit: invalid rate-limit")

// Dir is one direction's limit. Rates are bits per second.
type Dir struct {
	// Rate is the sustained limit (the queue's max-limit); 0 = none.
	Rate uint64
	// BurstRate is the rate allowed while bursting (burst-limit); 0 or
	// not above Rate = no burst.
	BurstRate uint64
	// BurstThreshold: bursting is allowed while the average rate over
	// BurstTime is below it.
	BurstThreshold uint64
	// BurstTime is the averaging window (not the length of a burst).
	BurstTime time.Duration
	// RateMin is the guaranteed rate (limit-at); informational here: a
	// per-session policer has nothing to guarantee it against.
	RateMin uint64
}

// Bursts reports whether the direction has a burst configured.
func (d Dir) Bursts() bool { return d.Rate != 0 && d.BurstRate > d.Rate }

// Limit is a parsed rate-limit. Rx is traffic the router receives from the
// peer (upload), Tx traffic it sends to the peer (download).
type Limit struct {
	Rx, Tx   Dir
	Priority int // 1 (highest) .. 8
}

// Limited reports whether either direction has a rate.
func (l Limit) Limited() bool { return l.Rx.Rate != 0 || l.Tx.Rate != 0 }

// Parse reads a rate-limit string. The empty string is no limit.
func Parse(s string) (Limit, error) {
	l := Limit{Priority: DefaultPriority,
		Rx: Dir{BurstTime: DefaultBurstTime}, Tx: Dir{BurstTime: DefaultBurstTime}}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return l, nil
	}
	if len(fields) > 6 {
		return Limit{}, fmt.Errorf("%w %q: %d fields, at most 6", ErrSyntax, s, len(fields))
	}
	fail := func(what string, err error) (Limit, error) {
		return Limit{}, fmt.Errorf("%w %q: %s: %w", ErrSyntax, s, what, err)
	}
	var err error
	if l.Rx.Rate, l.Tx.Rate, err = ratePair(fields[0]); err != nil {
		return fail("rate", err)
	}
	l.Rx.BurstThreshold, l.Tx.BurstThreshold = l.Rx.Rate, l.Tx.Rate
	if len(fields) > 1 {
		if l.Rx.BurstRate, l.Tx.BurstRate, err = ratePair(fields[1]); err != nil {
			return fail("burst rate", err)
		}
	}
	if len(fields) > 2 {
		if l.Rx.BurstThreshold, l.Tx.BurstThreshold, err = ratePair(fields[2]); err != nil {
			return fail("burst threshold", err)
		}
	}
	if len(fields) > 3 {
		if l.Rx.BurstTime, l.Tx.BurstTime, err = timePair(fields[3]); err != nil {
			return fail("burst time", err)
		}
	}
	if len(fields) > 4 {
		p, err := strconv.Atoi(fields[4])
		if err != nil || p < 1 || p > 8 {
			return fail("priority", fmt.Errorf("%q is not 1..8", fields[4]))
		}
		l.Priority = p
	}
	if len(fields) > 5 {
		if l.Rx.RateMin, l.Tx.RateMin, err = ratePair(fields[5]); err != nil {
			return fail("rate min", err)
		}
	}
	for _, d := range []struct {
		name string
		d    Dir
	}{{"rx", l.Rx}, {"tx", l.Tx}} {
		if d.d.Rate != 0 && d.d.RateMin > d.d.Rate {
			return fail(d.name+"-rate-min", fmt.Errorf("%d above the rate %d", d.d.RateMin, d.d.Rate))
		}
	}
	return l, nil
}

// ratePair reads "a" or "a/b"; b defaults to a.
func ratePair(f string) (uint64, uint64, error) {
	a, b, pair := strings.Cut(f, "/")
	x, err := ParseRate(a)
	if err != nil {
		return 0, 0, err
	}
	if !pair {
		return x, x, nil
	}
	y, err := ParseRate(b)
	return x, y, err
}

func timePair(f string) (time.Duration, time.Duration, error) {
	a, b, pair := strings.Cut(f, "/")
	x, err := parseTime(a)
	if err != nil {
		return 0, 0, err
	}
	if !pair {
		return x, x, nil
	}
	y, err := parseTime(b)
	return x, y, err
}

// ParseRate reads a rate in bits per second: digits with an optional k, M
// or G suffix (either case, as RouterOS accepts).
func ParseRate(s string) (uint64, error) {
	mult := uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("rate %q: want digits with an optional k, M or G", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > MaxRate/mult {
		return 0, fmt.Errorf("rate %q: above %d bits/s", s, uint64(MaxRate))
	}
	return v * mult, nil
}

// parseTime reads a burst time: seconds, optionally with an s, m or h
// unit, or a RouterOS time such as 1m30s.
func parseTime(s string) (time.Duration, error) {
	var d time.Duration
	if strings.TrimLeft(s, "0123456789") == "" && s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("burst time %q: %w", s, err)
		}
		d = time.Duration(n) * time.Second
	} else {
		if s == "" || s[0] < '0' || s[0] > '9' {
			return 0, fmt.Errorf("burst time %q: want seconds", s)
		}
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("burst time %q: %w", s, err)
		}
	}
	if d > MaxBurstTime {
		return 0, fmt.Errorf("burst time %q: above %v", s, MaxBurstTime)
	}
	return d, nil
}

// FormatRate prints a rate in bits per second as RouterOS does: the
// largest of G, M, k that divides it exactly.
func FormatRate(v uint64) string {
	switch {
	case v == 0:
		return "0"
	case v%1e9 == 0:
		return strconv.FormatUint(v/1e9, 10) + "G"
	case v%1e6 == 0:
		return strconv.FormatUint(v/1e6, 10) + "M"
	case v%1e3 == 0:
		return strconv.FormatUint(v/1e3, 10) + "k"
	}
	return strconv.FormatUint(v, 10)
}

// FormatTime prints a burst time in RouterOS's style (8s, 1m30s, 500ms).
func FormatTime(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	s := int64(d / time.Second)
	var b strings.Builder
	if h := s / 3600; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := s / 60 % 60; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec := s % 60; sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// RatePair prints "rx/tx" (RouterOS's a/b form, as max-limit shows it).
func RatePair(rx, tx uint64) string { return FormatRate(rx) + "/" + FormatRate(tx) }

// TimePair prints "rx/tx" burst times.
func TimePair(rx, tx time.Duration) string { return FormatTime(rx) + "/" + FormatTime(tx) }

// String prints the limit in the rate-limit format, as short as reads back
// to the same Limit: fields up to the last that differs from its default,
// a pair collapsed to one value when both directions agree.
func (l Limit) String() string {
	if l.Priority == 0 { // a Limit not from Parse
		l.Priority = DefaultPriority
	}
	pair := func(a, b string) string {
		if a == b {
			return a
		}
		return a + "/" + b
	}
	fields := []string{
		pair(FormatRate(l.Rx.Rate), FormatRate(l.Tx.Rate)),
		pair(FormatRate(l.Rx.BurstRate), FormatRate(l.Tx.BurstRate)),
		pair(FormatRate(l.Rx.BurstThreshold), FormatRate(l.Tx.BurstThreshold)),
		pair(FormatTime(l.Rx.BurstTime), FormatTime(l.Tx.BurstTime)),
		strconv.Itoa(l.Priority),
		pair(FormatRate(l.Rx.RateMin), FormatRate(l.Tx.RateMin)),
	}
	last := 0
	if l.Rx.BurstRate != 0 || l.Tx.BurstRate != 0 {
		last = 1
	}
	if l.Rx.BurstThreshold != l.Rx.Rate || l.Tx.BurstThreshold != l.Tx.Rate {
		last = 2
	}
	if l.Rx.BurstTime != DefaultBurstTime || l.Tx.BurstTime != DefaultBurstTime {
		last = 3
	}
	if l.Priority != DefaultPriority {
		last = 4
	}
	if l.Rx.RateMin != 0 || l.Tx.RateMin != 0 {
		last = 5
	}
	return strings.Join(fields[:last+1], " ")
}
