package pppoe

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

func limMAC(b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0xf1, 0, 0, 0, b} }

// limitStep is one frame through a Limiter at t0 + at.
type limitStep struct {
	name string
	at   time.Duration
	mac  net.HardwareAddr
	code Code
	want LimitVerdict
}

// TestLimiter is the table of maps' TestDiscoveryLimits (the data plane's
// limiter, the same algorithm), plus the refills only injected time can show.
func TestLimiter(t *testing.T) {
	a, b, c, d, f := limMAC(0xa), limMAC(0xb), limMAC(0xc), limMAC(0xd), limMAC(0xf)
	steps := []limitStep{
		{"A's PADI, first contact (new 1/2, A 1/3)", 0, a, CodePADI, Admitted},
		{"A's PADI again (known 1/2, A 2/3)", 0, a, CodePADI, Admitted},
		{"A's PADR: per-MAC only (A 3/3)", 0, a, CodePADR, Admitted},
		{"A's PADR over A's burst", 0, a, CodePADR, MACLimited},
		{"A's PADI over A's burst", 0, a, CodePADI, MACLimited},
		{"B's PADI, first contact (new 2/2)", 0, b, CodePADI, Admitted},
		{"C's PADI, first contact over the burst", 0, c, CodePADI, GlobalLimited},
		{"D's PADI, first contact over the burst", 0, d, CodePADI, GlobalLimited},
		{"C retransmits: known bucket (known 2/2)", 0, c, CodePADI, Admitted},
		{"D retransmits: known bucket over the burst", 0, d, CodePADI, GlobalLimited},
		{"F's PADR without a PADI: a first contact", 0, f, CodePADR, GlobalLimited},
		{"A's PADT is never limited", 0, a, CodePADT, Admitted},
		{"a PADO is never limited", 0, a, CodePADO, Admitted},
		{"just under a second: still no token for A", time.Second - time.Nanosecond, a, CodePADR, MACLimited},
		{"a second later A has one token", time.Second, a, CodePADR, Admitted},
		{"and only one", time.Second, a, CodePADR, MACLimited},
		{"and the first-contact bucket one", time.Second, limMAC(0x10), CodePADI, Admitted},
		{"only one", time.Second, limMAC(0x11), CodePADI, GlobalLimited},
		{"ten idle seconds refill only to the burst", 11 * time.Second, limMAC(0x12), CodePADI, Admitted},
		{"second of the burst", 11 * time.Second, limMAC(0x13), CodePADI, Admitted},
		{"third is over it", 11 * time.Second, limMAC(0x14), CodePADI, GlobalLimited},
	}
	l := NewLimiter(Limits{MACRate: 1, MACBurst: 3, PADIRate: 1, PADIBurst: 2})
	for _, s := range steps {
		if got := l.Admit(circuitFor(s.mac, nil), s.code, t0.Add(s.at)); got != s.want {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
	}
}

// TestLimiterPerCircuit: one MAC untagged, in a VLAN and in a QinQ pair is
// three hosts; with only a per-MAC limit there is no global one.
func TestLimiterPerCircuit(t *testing.T) {
	l := NewLimiter(Limits{MACRate: 1, MACBurst: 2})
	for _, vlans := range [][]byte{nil, {100}, {10, 20}} {
		c := circuitFor(subMAC, nil)
		switch len(vlans) {
		case 1:
			c = circuitFor(subMAC, vlan100)
		case 2:
			c = circuitFor(subMAC, qinq)
		}
		for i, want := range []LimitVerdict{Admitted, Admitted, MACLimited} {
			if got := l.Admit(c, CodePADR, t0); got != want {
				t.Errorf("%v frame %d: %v, want %v", c, i, got, want)
			}
		}
	}
	for i := range 100 {
		if got := l.Admit(circuitFor(limMAC(byte(i)), nil), CodePADI, t0); got != Admitted {
			t.Fatalf("new host %d: %v with no global limit", i, got)
		}
	}
}

// TestLimiterOff: zero Limits admit everything and remember nothing.
func TestLimiterOff(t *testing.T) {
	l := NewLimiter(Limits{})
	for range 10 {
		if got := l.Admit(circuitFor(subMAC, nil), CodePADR, t0); got != Admitted {
			t.Fatalf("%v with no limits", got)
		}
	}
	if len(l.cur)+len(l.old) != 0 {
		t.Errorf("%d hosts remembered with no limits", len(l.cur)+len(l.old))
	}
}

// TestLimiterHostsBounded: a flood of new MACs never grows the table past
// its size, and a host heard recently is still known.
func TestLimiterHostsBounded(t *testing.T) {
	l := NewLimiter(Limits{MACRate: 1, MACBurst: 1, PADIRate: 1_000_000, PADIBurst: 1})
	l.max = 1000
	retrans := circuitFor(subMAC, nil)
	l.Admit(retrans, CodePADI, t0)
	for i := range 100_000 {
		c := Circuit{Ifindex: testIfindex, MAC: [6]byte{0x02, 0xee, 0, byte(i >> 16), byte(i >> 8), byte(i)}}
		l.Admit(c, CodePADI, t0.Add(time.Duration(i)*time.Microsecond))
		if n := len(l.cur) + len(l.old); n > l.max {
			t.Fatalf("%d hosts remembered, max %d", n, l.max)
		}
		if i%400 == 0 {
			// Heard again within the last max/2 hosts: known, so its
			// frame is over its own one-a-second limit.
			if got := l.Admit(retrans, CodePADI, t0.Add(time.Duration(i)*time.Microsecond)); got != MACLimited {
				t.Fatalf("after %d new hosts: %v, want the host still known", i, got)
			}
		}
	}
}

// TestServerLimiter: a Server with a Limiter turns frames away before it
// answers or admits anything, and counts them; the Limiter is shared, so
// the global limit spans servers.
func TestServerLimiter(t *testing.T) {
	lim := NewLimiter(Limits{MACRate: 1, MACBurst: 2, PADIRate: 1, PADIBurst: 1})
	cfg := testConfig()
	cfg.Limiter = lim
	adm := &fakeAdm{}
	s1 := NewServer(cfg, adm, nil)
	cfg2 := testConfig()
	cfg2.Ifindex, cfg2.Limiter = testIfindex+1, lim
	s2 := NewServer(cfg2, adm, nil)

	padi := func(src net.HardwareAddr) []byte {
		return buildFrame(t, ethernet.Broadcast, src, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}})
	}
	padr := padrFrame(t, subMAC, nil, ServiceName("internet"), cookieFor(subMAC, nil, t0), HostUniq{1})
	steps := []struct {
		name    string
		s       *Server
		in      []byte
		replies int
	}{
		{"PADI: PADO", s1, padi(subMAC), 1},
		{"PADR: PADS", s1, padr, 1},
		{"PADR over the MAC's burst: nothing", s1, padr, 0},
		{"another host's PADI on the other interface: over the global burst", s2, padi(sub2MAC), 0},
	}
	for _, st := range steps {
		if got := len(st.s.Handle(st.in, t0)); got != st.replies {
			t.Errorf("%s: %d replies, want %d", st.name, got, st.replies)
		}
	}
	if n := len(adm.opens()); n != 1 {
		t.Errorf("%d sessions opened, want 1", n)
	}
	c1, c2 := s1.Counters(), s2.Counters()
	want1 := Counters{MACLimited: 1, PADIReceived: 1, PADOSent: 1, PADRReceived: 1, PADSSent: 1}
	if c1 != want1 {
		t.Errorf("server 1 counters %+v, want %+v", c1, want1)
	}
	if want2 := (Counters{GlobalLimited: 1}); c2 != want2 {
		t.Errorf("server 2 counters %+v, want %+v", c2, want2)
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, l := range []Limits{{MACRate: -1}, {PADIBurst: -1}, {PADIRate: 2e9}} {
		if l.Validate() == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if err := (Limits{MACRate: 5, MACBurst: 10, PADIRate: 2000, PADIBurst: 2000}).Validate(); err != nil {
		t.Error(err)
	}
}

func ExampleLimiter() {
	l := NewLimiter(Limits{MACRate: 5, MACBurst: 10})
	c := Circuit{Ifindex: 2, MAC: [6]byte{0x02, 0, 0, 0, 0, 1}}
	now := time.Now()
	admitted := 0
	for range 50 {
		if l.Admit(c, CodePADR, now) == Admitted {
			admitted++
		}
	}
	fmt.Println(admitted, "of 50 PADRs at once")
	// Output: 10 of 50 PADRs at once
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in          string
		rate, burst int
		bad         bool
	}{
		{in: "2000", rate: 2000, burst: 2000},
		{in: "5/10", rate: 5, burst: 10},
		{in: "0", rate: 0, burst: 0},
		{in: "0/0", rate: 0, burst: 0},
		{in: "", bad: true},
		{in: "5/", bad: true},
		{in: "/5", bad: true},
		{in: "-1", bad: true},
		{in: "5/0", bad: true},
		{in: "5/-2", bad: true},
		{in: "2000000000", bad: true},
		{in: "5/10/2", bad: true},
		{in: "1e3", bad: true},
	} {
		r, b, err := ParseRate(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: %d/%d, want an error", c.in, r, b)
			}
			continue
		}
		if err != nil || r != c.rate || b != c.burst {
			t.Errorf("%q: %d/%d, %v; want %d/%d", c.in, r, b, err, c.rate, c.burst)
		}
		if r2, b2, err := ParseRate(FormatRate(r, b)); err != nil || r2 != r || b2 != b {
			t.Errorf("%q: FormatRate gives %q, which parses as %d/%d, %v", c.in, FormatRate(r, b), r2, b2, err)
		}
	}
	if err := DefaultLimits.Validate(); err != nil {
		t.Error(err)
	}
}

// TestParseLimits: pppoed's --padi-limit and --discovery-mac-limit, an
// error naming the limit at fault.
func TestParseLimits(t *testing.T) {
	for _, c := range []struct {
		padi, mac string
		want      Limits
		err       string
	}{
		{padi: "2000", mac: "5/10", want: Limits{MACRate: 5, MACBurst: 10, PADIRate: 2000, PADIBurst: 2000}},
		{padi: "0", mac: "0", want: Limits{}},
		{padi: "100/300", mac: "1", want: Limits{MACRate: 1, MACBurst: 1, PADIRate: 100, PADIBurst: 300}},
		{padi: "fast", mac: "5", err: "padi-limit"},
		{padi: "5", mac: "5/0", err: "discovery-mac-limit"},
		{padi: "-1", mac: "5", err: "padi-limit"},
	} {
		got, err := ParseLimits(c.padi, c.mac)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err+":") {
				t.Errorf("%q %q: %v, want an error naming %s", c.padi, c.mac, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q %q: %+v, %v; want %+v", c.padi, c.mac, got, err, c.want)
		}
	}
}
