package ra

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
)

// decoded is what a test reads back of an RA through mdlayher/ndp.
type decoded struct {
	hopLimit                 uint8
	managed, other           bool
	lifetime                 time.Duration
	preference               ndp.Preference
	reachable, retrans       time.Duration
	valid, preferred         time.Duration
	mtu                      uint32
	dns                      int
	dnsLifetime              time.Duration
	prefixes, mtus, rdnssOpt int
}

func decodeRA(t *testing.T, b []byte) decoded {
	t.Helper()
	ad, err := ParseAdvertisement(b)
	if err != nil {
		t.Fatal(err)
	}
	m := ad.Message
	d := decoded{hopLimit: m.CurrentHopLimit, managed: m.ManagedConfiguration, other: m.OtherConfiguration,
		lifetime: m.RouterLifetime, preference: m.RouterSelectionPreference, reachable: m.ReachableTime, retrans: m.RetransmitTimer}
	for _, o := range m.Options {
		switch o := o.(type) {
		case *ndp.PrefixInformation:
			d.prefixes++
			d.valid, d.preferred = o.ValidLifetime, o.PreferredLifetime
		case *ndp.MTU:
			d.mtus++
			d.mtu = o.MTU
		case *ndp.RecursiveDNSServer:
			d.rdnssOpt++
			d.dns, d.dnsLifetime = len(o.Servers), o.Lifetime
		}
	}
	return d
}

func firstRA(t *testing.T, c Config) (*Advertiser, []byte) {
	t.Helper()
	a := newAdvertiser(t, c)
	a.Start(t0)
	out, err := a.Step(t0)
	if err != nil || len(out) != 1 {
		t.Fatalf("first RA: %d packets, %v", len(out), err)
	}
	return a, out[0]
}

// TestDefaultParamsAreTodays: with no Params (no /ipv6 nd configured) the
// RA is what it was before /ipv6 nd existed: hop limit and the timers
// unspecified, M off, O from the session, router lifetime 30 min at
// medium preference, prefix valid 30 d and preferred 7 d, the link's MTU
// and RDNSS for 3 × 600 s.
func TestDefaultParamsAreTodays(t *testing.T) {
	_, b := firstRA(t, testConfig())
	want := decoded{other: true, lifetime: 30 * time.Minute, preference: ndp.Medium, valid: 30 * 24 * time.Hour, preferred: 7 * 24 * time.Hour,
		mtu: 1492, dns: 2, dnsLifetime: 1800 * time.Second, prefixes: 1, mtus: 1, rdnssOpt: 1}
	if got := decodeRA(t, b); got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	p := DefaultParams()
	c := testConfig()
	c.Params = &p
	if _, b2 := firstRA(t, c); string(b2) != string(b) {
		t.Fatal("DefaultParams differ from no Params")
	}
}

// TestConfiguredParams: every parameter reaches the wire as RFC 4861
// §4.2, §4.6.2 and RFC 4191 §2.2 place it.
func TestConfiguredParams(t *testing.T) {
	p := Params{
		MinInterval: 10 * time.Second, MaxInterval: 20 * time.Second, MinDelay: time.Second,
		RouterLifetime: 45 * time.Second, HopLimit: 64, MTU: 1400,
		ReachableTime: 30 * time.Second, RetransTimer: 2 * time.Second,
		Managed: true, Other: true, AdvertiseDNS: false, Preference: ndp.High,
		ValidLifetime: 2 * time.Hour, PreferredLifetime: time.Hour,
	}
	c := testConfig()
	c.Other = false
	c.Params = &p
	a, b := firstRA(t, c)
	want := decoded{hopLimit: 64, managed: true, other: true, lifetime: 45 * time.Second, preference: ndp.High,
		reachable: 30 * time.Second, retrans: 2 * time.Second, valid: 2 * time.Hour, preferred: time.Hour,
		mtu: 1400, prefixes: 1, mtus: 1}
	if got := decodeRA(t, b); got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The period is the configured one (the first RAs are at most 16 s
	// apart anyway; 20 s bounds every one).
	now := t0
	for range 6 {
		next, _ := a.Next()
		if d := next.Sub(now); d < 10*time.Second && d > 0 || d > 20*time.Second {
			t.Fatalf("period %v outside 10s..20s", d)
		}
		now = next
		a.Step(now)
	}
	// Infinity is 0xffffffff on the wire.
	p.ValidLifetime, p.PreferredLifetime = ndp.Infinity, ndp.Infinity
	_, b = firstRA(t, c)
	if got := decodeRA(t, b); got.valid != ndp.Infinity || got.preferred != ndp.Infinity {
		t.Fatalf("infinite lifetimes read back as %v/%v", got.valid, got.preferred)
	}
	// A router that is no default router says medium (RFC 4191 §2.2).
	p.RouterLifetime = 0
	_, b = firstRA(t, c)
	if got := decodeRA(t, b); got.lifetime != 0 || got.preference != ndp.Medium {
		t.Fatalf("lifetime %v preference %v, want 0 and medium", got.lifetime, got.preference)
	}
}

// TestSetParams: a change applies to the next RA; a shorter period
// pulls in the next unsolicited RA; no entry sends a final RA and then
// nothing, RSs unanswered; an entry again starts over at once.
func TestSetParams(t *testing.T) {
	a, _ := firstRA(t, testConfig())
	now := t0
	for range MaxInitialRtrAdvertisements {
		now, _ = a.Next()
		a.Step(now)
	}
	if next, _ := a.Next(); next.Sub(now) < DefaultMinInterval {
		t.Fatalf("period %v, want the default's", next.Sub(now))
	}
	p := DefaultParams()
	p.MinInterval, p.MaxInterval, p.RouterLifetime, p.MTU = 3*time.Second, 10*time.Second, 20*time.Second, 1300
	now = now.Add(time.Second)
	if err := a.SetParams(now, p, true); err != nil {
		t.Fatal(err)
	}
	next, _ := a.Next()
	if d := next.Sub(now); d < 3*time.Second || d > 10*time.Second {
		t.Fatalf("next RA in %v, want within the new 3s..10s", d)
	}
	out, _ := a.Step(next)
	if got := decodeRA(t, out[0]); len(out) != 1 || got.lifetime != 20*time.Second || got.mtu != 1300 {
		t.Fatalf("%d RAs, lifetime %v mtu %d; want 20s and 1300", len(out), got.lifetime, got.mtu)
	}
	bad := p
	bad.PreferredLifetime = bad.ValidLifetime + time.Second
	if err := a.SetParams(next, bad, true); err == nil {
		t.Fatal("invalid parameters accepted")
	}
	if got, ok := a.Params(); !ok || got != p {
		t.Fatal("invalid parameters changed the advertiser")
	}

	// No entry applies: the final RA at once, then silence.
	now = next.Add(time.Second)
	a.SetParams(now, Params{}, false)
	next, _ = a.Next()
	out, _ = a.Step(next)
	if len(out) != 1 || decodeRA(t, out[0]).lifetime != 0 || !next.Equal(now) {
		t.Fatalf("%d RAs at %v; want the final one at once", len(out), next.Sub(now))
	}
	a.Solicited(next, Solicitation{Src: netip.MustParseAddr("fe80::2")})
	for range 3 {
		next, _ = a.Next()
		if out, _ = a.Step(next); len(out) != 0 {
			t.Fatalf("quiet link sent %d RAs", len(out))
		}
	}
	if b, _ := a.Stop(); b != nil {
		t.Fatal("Stop of a quiet link sent a second final RA")
	}

	// Advertising again: first RA at once, the initial fast ones after.
	a.Start(next)
	now = next.Add(time.Second)
	a.SetParams(now, DefaultParams(), true)
	next, _ = a.Next()
	out, _ = a.Step(next)
	if len(out) != 1 || !next.Equal(now) || decodeRA(t, out[0]).lifetime != DefaultRouterLifetime {
		t.Fatalf("%d RAs %v after the entry came back", len(out), next.Sub(now))
	}
	if n, _ := a.Next(); n.Sub(now) > MaxInitialRtrAdvertInterval {
		t.Fatalf("second RA %v later; want an initial one", n.Sub(now))
	}
}

// TestTable: a link's own entry wins over all; without either, no RAs;
// a nil or empty table is the defaults.
func TestTable(t *testing.T) {
	var nilTable *Table
	if p, ok := nilTable.Lookup("<pppoe-a>"); !ok || p != DefaultParams() {
		t.Fatal("nil table is not the defaults")
	}
	tab := &Table{}
	if p, ok := tab.Lookup("<pppoe-a>"); !ok || p != DefaultParams() || tab.Gen() != 0 {
		t.Fatal("empty table is not the defaults")
	}
	own, all := DefaultParams(), DefaultParams()
	own.HopLimit, all.HopLimit = 1, 2
	tab.Set(map[string]Params{"<pppoe-a>": own, AllInterfaces: all})
	if p, _ := tab.Lookup("<pppoe-a>"); p.HopLimit != 1 {
		t.Fatal("own entry not taken")
	}
	if p, _ := tab.Lookup("<pppoe-b>"); p.HopLimit != 2 {
		t.Fatal("all not taken")
	}
	g := tab.Gen()
	tab.Set(map[string]Params{"<pppoe-a>": own})
	if _, ok := tab.Lookup("<pppoe-b>"); ok || tab.Gen() == g {
		t.Fatal("no entry still advertises, or the generation stayed")
	}
}
