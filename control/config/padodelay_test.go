package config

import (
	"strings"
	"testing"
	"time"
)

func TestParsePADODelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name, in string
		want     PADODelay
		print    string // "" = in
		err      string
	}{
		// RouterOS: one number of milliseconds.
		{name: "routeros default", in: "0", want: nil},
		{name: "routeros fixed", in: "100", want: PADODelay{{Delay: 100 * ms}}},
		{name: "routeros max", in: "10000", want: PADODelay{{Delay: 10 * time.Second}}},
		// accel-ppp: delay[,delay:count...], counts increasing, -1 last.
		{name: "accel sample", in: "0,100:100,200:200,-1:500",
			want: PADODelay{{}, {Sessions: 100, Delay: 100 * ms}, {Sessions: 200, Delay: 200 * ms}, {Sessions: 500, Silent: true}}},
		{name: "accel one step", in: "0,300:100", want: PADODelay{{}, {Sessions: 100, Delay: 300 * ms}}},
		{name: "accel fixed then silent", in: "50,-1:1", want: PADODelay{{Delay: 50 * ms}, {Sessions: 1, Silent: true}}},
		{name: "accel delay may go down", in: "500,0:10", want: PADODelay{{Delay: 500 * ms}, {Sessions: 10}}},

		{name: "empty", in: "", err: "empty"},
		{name: "negative", in: "-5", err: "want 0..10000"},
		{name: "too long", in: "10001", err: "want 0..10000"},
		// Fuzz crasher: ms × 1e6 overflowed int64 into range.
		{name: "overflowing", in: "9227000000000", err: "want 0..10000"},
		{name: "not a number", in: "fast", err: "want 0..10000"},
		{name: "units", in: "100ms", err: "want 0..10000"},
		{name: "first has count", in: "100:5", err: "takes no count"},
		{name: "later without count", in: "0,100", err: "want delay:count"},
		{name: "zero count", in: "0,100:0", err: "positive number"},
		{name: "negative count", in: "0,100:-3", err: "positive number"},
		{name: "counts not increasing", in: "0,100:200,200:100", err: "must increase"},
		{name: "counts repeated", in: "0,100:200,200:200", err: "must increase"},
		{name: "silent not last", in: "0,-1:100,200:200", err: "must be the last"},
		{name: "silent first", in: "-1", err: "cannot be -1"},
		{name: "silent first of list", in: "-1,0:5", err: "must be the last"},
		{name: "trailing comma", in: "0,", err: "want delay:count"},
		{name: "spaces", in: "0, 100:100", err: "want 0..10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePADODelay(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePADODelay(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePADODelay(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParsePADODelay(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ParsePADODelay(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
				}
			}
			b, _ := got.MarshalText()
			want := tt.print
			if want == "" {
				want = tt.in
			}
			if string(b) != want {
				t.Errorf("print %q, want %q", b, want)
			}
		})
	}
}

func TestPADODelaySelect(t *testing.T) {
	p, err := ParsePADODelay("0,100:100,200:200,-1:500")
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for _, tt := range []struct {
		active int
		delay  time.Duration
		answer bool
	}{
		{0, 0, true},
		{99, 0, true},
		{100, 100 * ms, true}, // a count is the first load its delay applies at
		{199, 100 * ms, true},
		{200, 200 * ms, true},
		{499, 200 * ms, true},
		{500, 0, false},
		{100000, 0, false},
	} {
		d, ok := p.Select(tt.active)
		if d != tt.delay || ok != tt.answer {
			t.Errorf("Select(%d) = %v, %v; want %v, %v", tt.active, d, ok, tt.delay, tt.answer)
		}
	}
	var none PADODelay // the default
	if d, ok := none.Select(1 << 20); d != 0 || !ok {
		t.Errorf("default Select = %v, %v; want 0, true", d, ok)
	}
	fixed := PADODelay{{Delay: 250 * ms}}
	if d, ok := fixed.Select(0); d != 250*ms || !ok {
		t.Errorf("fixed Select(0) = %v, %v; want 250ms, true", d, ok)
	}
}

// TestPADODelayProperty: pado-delay through the configuration script and
// export, and the error a bad value gets (it names the property and line).
func TestPADODelayProperty(t *testing.T) {
	c, err := Load("/interface pppoe-server server add interface=ether1 pado-delay=0,100:100,-1:500 disabled=no\n")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Servers.At(0)
	if d, ok := s.PADODelay.Select(150); d != 100*time.Millisecond || !ok {
		t.Errorf("Select(150) = %v, %v", d, ok)
	}
	if out := Export(c); !strings.Contains(out, "pado-delay=0,100:100,-1:500") {
		t.Errorf("export lacks pado-delay:\n%s", out)
	}
	c, err = Load("/interface pppoe-server server add interface=ether1 pado-delay=0\n")
	if err != nil {
		t.Fatal(err)
	}
	if out := Export(c); strings.Contains(out, "pado-delay") {
		t.Errorf("export prints the default pado-delay:\n%s", out)
	}
	_, err = Load("/interface pppoe-server server\nadd interface=ether1 pado-delay=0,100:100,50:50\n")
	if err == nil || !strings.Contains(err.Error(), "pado-delay") || !strings.Contains(err.Error(), "must increase") ||
		!strings.Contains(err.Error(), "2") {
		t.Errorf("bad pado-delay: %v", err)
	}
}

// FuzzParsePADODelay: whatever parses prints back to text that parses to
// the same steps, and Select never panics.
func FuzzParsePADODelay(f *testing.F) {
	for _, s := range []string{"0", "100", "0,100:100,200:200,-1:500", "50,-1:1", "-1", "0,", ":", "0,1:0", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePADODelay(s)
		if err != nil {
			return
		}
		b, _ := p.MarshalText()
		q, err := ParsePADODelay(string(b))
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, b, err)
		}
		if len(p) != len(q) {
			t.Fatalf("%q → %q: %v then %v", s, b, p, q)
		}
		for i := range p {
			if p[i] != q[i] {
				t.Fatalf("%q → %q: %v then %v", s, b, p, q)
			}
		}
		for _, n := range []int{0, 1, 1 << 30} {
			p.Select(n)
		}
	})
}
