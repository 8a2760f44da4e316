package ra

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

var (
	t0        = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	serverIID = ipv6.InterfaceID{0, 0, 0, 0, 0, 0, 0, 1}
	clientIID = ipv6.InterfaceID{0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}
	link64    = netip.MustParsePrefix("2001:db8:1:2::/64")
	dns       = []netip.Addr{netip.MustParseAddr("2001:db8:53::1"), netip.MustParseAddr("2001:db8:53::2")}
)

func testConfig() Config {
	return Config{LocalID: serverIID, Prefix: link64, MTU: 1492, DNS: dns, Other: true, Rand: rand.New(rand.NewPCG(3, 4))}
}

func newAdvertiser(t *testing.T, c Config) *Advertiser {
	t.Helper()
	a, err := NewAdvertiser(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSLAACFromOurRA is the client side against the server side: the RA
// the advertiser sends validates, and autoconfiguration takes from it the
// address (prefix + our identifier), the default router (the server's
// link-local), MTU, RDNSS and the flags.
func TestSLAACFromOurRA(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	a.Start(t0)
	out, err := a.Step(t0)
	if err != nil || len(out) != 1 {
		t.Fatalf("first RA: %d packets, %v", len(out), err)
	}
	p, err := ipv6.Parse(out[0])
	if err != nil || p.Dst != ipv6.AllNodes || p.HopLimit != 255 || p.Src != netip.MustParseAddr("fe80::1") {
		t.Fatalf("RA header %+v: %v", p, err)
	}
	ad, err := ParseAdvertisement(out[0])
	if err != nil {
		t.Fatal(err)
	}
	got := Autoconfigure(ad, clientIID, 1492)
	want := Configuration{
		Router: netip.MustParseAddr("fe80::1"), RouterLifetime: DefaultRouterLifetime, Other: true,
		Addresses: []Address{{Prefix: link64, Addr: netip.MustParseAddr("2001:db8:1:2:211:22ff:fe33:4455"), Valid: DefaultValidLifetime, Preferred: DefaultPreferredLifetime}},
		MTU:       1492, DNS: dns, DNSLifetime: 3 * DefaultMaxInterval,
	}
	if got.Router != want.Router || got.RouterLifetime != want.RouterLifetime || got.Other != want.Other || got.Managed ||
		!slices.Equal(got.Addresses, want.Addresses) || got.MTU != want.MTU || !slices.Equal(got.DNS, want.DNS) || got.DNSLifetime != want.DNSLifetime {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// The final RA says: no longer a default router.
	final, err := a.Stop()
	if err != nil {
		t.Fatal(err)
	}
	ad, err = ParseAdvertisement(final)
	if err != nil || ad.Message.RouterLifetime != 0 {
		t.Fatalf("final RA lifetime %v: %v", ad.Message.RouterLifetime, err)
	}
	if _, ok := a.Next(); ok {
		t.Fatal("stopped advertiser still scheduled")
	}
}

// TestAutoconfigureSkips: prefixes RFC 4862 §5.5.3 tells a host to ignore
// yield no address; an MTU below 1280 or above the link's is not taken.
func TestAutoconfigureSkips(t *testing.T) {
	pi := func(p string, a bool, valid, pref time.Duration) *ndp.PrefixInformation {
		q := netip.MustParsePrefix(p)
		return &ndp.PrefixInformation{PrefixLength: uint8(q.Bits()), OnLink: true, AutonomousAddressConfiguration: a, ValidLifetime: valid, PreferredLifetime: pref, Prefix: q.Addr()}
	}
	for _, tc := range []struct {
		name string
		opts []ndp.Option
		mtu  uint32
		n    int
	}{
		{"no A flag", []ndp.Option{pi("2001:db8::/64", false, time.Hour, time.Hour)}, 0, 0},
		{"link-local prefix", []ndp.Option{pi("fe80::/64", true, time.Hour, time.Hour)}, 0, 0},
		{"preferred > valid", []ndp.Option{pi("2001:db8::/64", true, time.Hour, 2*time.Hour)}, 0, 0},
		{"not a /64", []ndp.Option{pi("2001:db8::/56", true, time.Hour, time.Hour)}, 0, 0},
		{"two prefixes", []ndp.Option{pi("2001:db8::/64", true, time.Hour, time.Hour), pi("2001:db8:1::/64", true, time.Hour, time.Hour)}, 0, 2},
		{"MTU too small", []ndp.Option{ndp.NewMTU(1200)}, 0, 0},
		{"MTU above link", []ndp.Option{ndp.NewMTU(1500)}, 0, 0},
		{"MTU fits", []ndp.Option{ndp.NewMTU(1480)}, 1480, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ad := Advertisement{Src: netip.MustParseAddr("fe80::1"), Message: &ndp.RouterAdvertisement{Options: tc.opts}}
			c := Autoconfigure(ad, clientIID, 1492)
			if len(c.Addresses) != tc.n || c.MTU != tc.mtu {
				t.Fatalf("addresses %v, MTU %d", c.Addresses, c.MTU)
			}
		})
	}
}

// TestUnsolicitedSchedule: the first RA at start, the next
// MaxInitialRtrAdvertisements-1 at most 16 s apart, then within
// [MinInterval, MaxInterval] (RFC 4861 §6.2.4).
func TestUnsolicitedSchedule(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	a.Start(t0)
	now := t0
	var gaps []time.Duration
	for range 8 {
		next, ok := a.Next()
		if !ok {
			t.Fatal("nothing scheduled")
		}
		if out, _ := a.Step(next.Add(-time.Millisecond)); len(out) != 0 && next.After(t0) {
			t.Fatalf("RA before its time")
		}
		out, err := a.Step(next)
		if err != nil || len(out) != 1 {
			t.Fatalf("%d RAs, %v", len(out), err)
		}
		gaps = append(gaps, next.Sub(now))
		now = next
	}
	if gaps[0] != 0 {
		t.Fatalf("first RA %v after start", gaps[0])
	}
	for i, g := range gaps[1:] {
		lo, hi := DefaultMinInterval, DefaultMaxInterval
		if i+1 < MaxInitialRtrAdvertisements {
			lo, hi = 0, MaxInitialRtrAdvertInterval
		}
		if g < lo || g > hi {
			t.Fatalf("gap %d is %v, want %v..%v (all %v)", i+1, g, lo, hi, gaps)
		}
	}
}

// TestSolicitedAnswers: an RS from an address is answered unicast within
// MaxRADelayTime; from the unspecified address by multicast, never
// sooner than DefaultMinDelay after the last multicast; two RSs
// waiting on one answer get one.
func TestSolicitedAnswers(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	a.Start(t0)
	if out, _ := a.Step(t0); len(out) != 1 {
		t.Fatal("no initial RA")
	}
	client := ipv6.LinkLocal(clientIID)
	now := t0.Add(time.Second)
	rs, err := MarshalSolicitation(client)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Receive(now, rs); err != nil {
		t.Fatal(err)
	}
	a.Solicited(now, Solicitation{Src: client})
	if err := a.Receive(now, rs[:44]); err == nil {
		t.Fatal("a cut RS was taken")
	}
	next, _ := a.Next()
	if next.Before(now) || next.After(now.Add(MaxRADelayTime)) {
		t.Fatalf("answer at %v, want within %v of %v", next, MaxRADelayTime, now)
	}
	out, err := a.Step(next)
	if err != nil || len(out) != 1 {
		t.Fatalf("%d answers, %v", len(out), err)
	}
	if p, _ := ipv6.Parse(out[0]); p.Dst != client {
		t.Fatalf("answer to %v, want %v", p.Dst, client)
	}
	if ad, err := ParseAdvertisement(out[0]); err != nil || ad.Message.RouterLifetime != DefaultRouterLifetime {
		t.Fatalf("unicast answer: %v", err)
	}

	a.Solicited(now, Solicitation{Src: netip.IPv6Unspecified()})
	next, _ = a.Next()
	if next.Before(t0.Add(DefaultMinDelay)) {
		t.Fatalf("multicast answer at %v, %v after the last multicast", next, next.Sub(t0))
	}
	out, _ = a.Step(next)
	if p, _ := ipv6.Parse(out[0]); len(out) != 1 || p.Dst != ipv6.AllNodes {
		t.Fatalf("multicast answer: %d packets to %v", len(out), p.Dst)
	}
}

// TestConfigRejected: values RFC 4861 §6.2.1 forbids are refused.
func TestConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"max interval too short", func(c *Config) { c.Params.MaxInterval = 3 * time.Second }},
		{"min above 0.75 max", func(c *Config) { c.Params.MinInterval, c.Params.MaxInterval = 500*time.Second, 600*time.Second }},
		{"router lifetime too long", func(c *Config) { c.Params.RouterLifetime = 3 * time.Hour }},
		{"router lifetime under max interval", func(c *Config) { c.Params.RouterLifetime = 5 * time.Minute }},
		{"preferred > valid", func(c *Config) { c.Params.ValidLifetime, c.Params.PreferredLifetime = time.Hour, 2*time.Hour }},
		{"mtu under 1280", func(c *Config) { c.Params.MTU = 1279 }},
		{"ra-delay over min interval", func(c *Config) { c.Params.MinDelay = 201 * time.Second }},
		{"reachable time over 1h", func(c *Config) { c.Params.ReachableTime = time.Hour + time.Second }},
		{"reserved preference", func(c *Config) { c.Params.Preference = 2 }},
		{"prefix not /64", func(c *Config) { c.Prefix = netip.MustParsePrefix("2001:db8::/56") }},
		{"prefix IPv4", func(c *Config) { c.Prefix = netip.MustParsePrefix("10.0.0.0/24") }},
		{"zero identifier", func(c *Config) { c.LocalID = ipv6.InterfaceID{} }},
		{"IPv4 DNS", func(c *Config) { c.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.1")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			p := DefaultParams()
			c.Params = &p
			tc.mod(&c)
			if _, err := NewAdvertiser(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// fixChecksum recomputes the ICMPv6 checksum after a test edits a packet.
func fixChecksum(b []byte) []byte {
	p, _ := ipv6.Parse(b)
	binary.BigEndian.PutUint16(p.Payload[2:4], 0)
	binary.BigEndian.PutUint16(p.Payload[2:4], ipv6.Checksum(p.Src, p.Dst, ipv6.ProtoICMPv6, p.Payload))
	return b
}

// TestParseSolicitation: RFC 4861 §6.1.1's checks, each malformed row
// failing on its own rule.
func TestParseSolicitation(t *testing.T) {
	good, err := MarshalSolicitation(ipv6.LinkLocal(clientIID))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	unspecWithSLLA := func() []byte {
		m := &ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: []byte{2, 0, 0, 0, 0, 1}}}}
		b, err := marshalND(m, netip.IPv6Unspecified(), ipv6.AllRouters)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	for _, tc := range []struct {
		name string
		pkt  []byte
		err  error
	}{
		{"good", good, nil},
		{"hop limit 254", edit(func(b []byte) []byte { b[7] = 254; return b }), ErrHopLimit},
		{"code 1", edit(func(b []byte) []byte { b[41] = 1; return fixChecksum(b) }), ErrCode},
		{"bad checksum", edit(func(b []byte) []byte { b[42] ^= 0xff; return b }), ipv6.ErrChecksum},
		{"ICMP 4 bytes", edit(func(b []byte) []byte { b[5] = 4; return b[:44] }), io.ErrUnexpectedEOF},
		{"truncated IPv6", good[:39], io.ErrUnexpectedEOF},
		{"payload length past end", edit(func(b []byte) []byte { b[5] = 200; return b }), io.ErrUnexpectedEOF},
		{"an RA", edit(func(b []byte) []byte { b[40] = 134; return fixChecksum(b) }), ErrMessageType},
		{"UDP", edit(func(b []byte) []byte { b[6] = 17; return b }), ErrNotICMPv6},
		{"IPv4", edit(func(b []byte) []byte { b[0] = 0x45; return b }), ipv6.ErrNotIPv6},
		{"unspecified source with SLLA", unspecWithSLLA, ErrSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSolicitation(tc.pkt)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
}

// TestParseAdvertisementRejects: an RA from a global address or with an
// option of length zero is discarded (RFC 4861 §6.1.2).
func TestParseAdvertisementRejects(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	global, err := marshalND(a.Message(time.Minute), netip.MustParseAddr("2001:db8::1"), ipv6.AllNodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAdvertisement(global); !errors.Is(err, ErrSource) {
		t.Fatalf("global source: %v", err)
	}
	zeroLen := slices.Clone(a.ra)
	zeroLen[40+16+1] = 0 // first option's Length
	if _, err := ParseAdvertisement(fixChecksum(zeroLen)); err == nil {
		t.Fatal("option of length zero accepted")
	}
	if _, err := ParseAdvertisement(a.ra[:40+15]); err == nil {
		t.Fatal("short RA accepted")
	}
}

// TestSolicitor: RSs per RFC 4861 §6.3.7: the first within a second, then
// 4 s apart, three in all; an RA stops them.
func TestSolicitor(t *testing.T) {
	s := NewSolicitor(clientIID, rand.New(rand.NewPCG(5, 6)))
	s.Start(t0)
	var at []time.Time
	for {
		next, ok := s.Next()
		if !ok {
			break
		}
		out, err := s.Step(next)
		if err != nil || out == nil {
			t.Fatalf("no RS at %v: %v", next, err)
		}
		if _, err := ParseSolicitation(out); err != nil {
			t.Fatal(err)
		}
		at = append(at, next)
	}
	if len(at) != MaxRtrSolicitations || at[0].Sub(t0) > MaxRtrSolicitationDelay || at[1].Sub(at[0]) != RtrSolicitationInterval || at[2].Sub(at[1]) != RtrSolicitationInterval {
		t.Fatalf("RS times %v", at)
	}
	s.Start(t0)
	next, _ := s.Next()
	s.Step(next)
	s.Received()
	if _, ok := s.Next(); ok || s.Sent() != 1 {
		t.Fatalf("still soliciting after an RA, sent %d", s.Sent())
	}
}

// TestValidLifetime: RFC 4862 §5.5.3 (e)'s three cases.
func TestValidLifetime(t *testing.T) {
	for _, tc := range []struct{ remaining, advertised, want time.Duration }{
		{time.Hour, 3 * time.Hour, 3 * time.Hour},         // longer than two hours: taken
		{time.Hour, 90 * time.Minute, 90 * time.Minute},   // longer than what is left: taken
		{time.Hour, time.Minute, time.Hour},               // two hours or less left: ignored
		{30 * 24 * time.Hour, time.Minute, 2 * time.Hour}, // shortened, but to two hours only
		{30 * 24 * time.Hour, 0, 2 * time.Hour},           // a zero lifetime too
	} {
		if got := ValidLifetime(tc.remaining, tc.advertised); got != tc.want {
			t.Errorf("ValidLifetime(%v, %v) = %v, want %v", tc.remaining, tc.advertised, got, tc.want)
		}
	}
}
