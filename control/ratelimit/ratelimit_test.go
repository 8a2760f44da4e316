package ratelimit

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	def := func(rx, tx uint64) Limit {
		return Limit{Priority: 8,
			Rx: Dir{Rate: rx, BurstThreshold: rx, BurstTime: time.Second},
			Tx: Dir{Rate: tx, BurstThreshold: tx, BurstTime: time.Second}}
	}
	burst := def(256e3, 512e3)
	burst.Rx.BurstRate, burst.Tx.BurstRate = 512e3, 1e6
	burst.Rx.BurstThreshold, burst.Tx.BurstThreshold = 192e3, 384e3
	burst.Rx.BurstTime, burst.Tx.BurstTime = 8*time.Second, 16*time.Second
	full := burst
	full.Priority = 3
	full.Rx.RateMin, full.Tx.RateMin = 64e3, 128e3
	// The RADIUS example that circulates with zero bursts and a min pair.
	radius := def(384e3, 1536e3)
	radius.Rx.BurstThreshold, radius.Tx.BurstThreshold = 0, 0
	radius.Rx.BurstTime, radius.Tx.BurstTime = 0, 0
	radius.Rx.RateMin, radius.Tx.RateMin = 96e3, 384e3
	onlyBurst := def(64e3, 64e3)
	onlyBurst.Rx.BurstRate, onlyBurst.Tx.BurstRate = 256e3, 256e3

	for _, tc := range []struct {
		in    string
		want  Limit
		print string // String() of the result; "" = in
	}{
		{in: "", want: def(0, 0), print: "0"},
		{in: "128k", want: def(128e3, 128e3)},
		{in: "64k/128M", want: def(64e3, 128e6)},
		{in: "10M/10M", want: def(10e6, 10e6), print: "10M"},
		{in: "1G/0", want: def(1e9, 0)},
		{in: "1500/2500", want: def(1500, 2500)},
		{in: "  2m/3K  ", want: def(2e6, 3e3), print: "2M/3k"},
		// burst-threshold defaults to the rate, burst-time to 1s
		{in: "64k 256k", want: onlyBurst},
		{in: "256k/512k 512k/1M 192k/384k 8/16", want: burst, print: "256k/512k 512k/1M 192k/384k 8s/16s"},
		{in: "256k/512k 512k/1M 192k/384k 8s/16s 3 64k/128k", want: full},
		{in: "384k/1536k 0/0 0/0 0/0 8 96k/384k", want: radius, print: "384k/1536k 0 0 0s 8 96k/384k"},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) =\n %+v, want\n %+v", tc.in, got, tc.want)
		}
		want := tc.print
		if want == "" {
			want = tc.in
		}
		if s := got.String(); s != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, s, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"fast",                  // not a number
		"10X",                   // unknown suffix
		"-1",                    // sign
		"1.5M",                  // fractions are not RouterOS rates
		"10M/",                  // empty tx
		"/10M",                  // empty rx
		"2000G",                 // above MaxRate
		"18446744073709551615k", // overflows
		"1M 2M 1M 1M 1M 1M 1M",  // seven fields
		"1M 2M 1M 0x1",          // burst time not seconds
		"1M 2M 1M 2h",           // burst time above an hour
		"1M 2M 1M 1s 9",         // priority out of range
		"1M 2M 1M 1s 0",         // priority out of range
		"1M 2M 1M 1s x",         // priority not a number
		"1M 2M 1M 1s 8 2M",      // rate-min above rate
		"1M/1M/1M",              // three values in a pair
	} {
		if l, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, l)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): %v does not wrap ErrSyntax", in, err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1k"}, {1500, "1500"}, {1_500_000, "1500k"}, {2e9, "2G"}} {
		if got := FormatRate(tc.v); got != tc.want {
			t.Errorf("FormatRate(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {8 * time.Second, "8s"}, {90 * time.Second, "1m30s"}, {time.Hour, "1h"}, {500 * time.Millisecond, "500ms"}} {
		if got := FormatTime(tc.d); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzParse: whatever parses prints to a string that parses to the same
// limit, and nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "128k", "64k/128M", "256k/512k 512k/1M 192k/384k 8/16 3 64k/128k",
		"384k/1536k 0/0 0/0 0/0 8 96k/384k", "1M 2M 1M 1m30s", "1M 2M 1M 500ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			return
		}
		p := l.String()
		l2, err := Parse(p)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", s, p, err)
		}
		if l2 != l {
			t.Fatalf("Parse(%q) = %+v printed %q, which parses to %+v", s, l, p, l2)
		}
	})
}
