package session

import (
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// newNDRig is a v6Rig whose sessions read /ipv6 nd from tab.
func newNDRig(t *testing.T, tab *ra.Table) *v6Rig {
	t.Helper()
	r := newV6Rig(t)
	r.s.cfg.ND = tab
	return r
}

// raAt runs the session to d and returns the RAs it sent meanwhile.
func (r *v6Rig) raAt(t *testing.T, d time.Duration) []*ndp.RouterAdvertisement {
	t.Helper()
	n := r.sentCount()
	r.at(d)
	var out []*ndp.RouterAdvertisement
	for _, b := range r.sentIPv6(n) {
		ad, err := ra.ParseAdvertisement(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ad.Message)
	}
	return out
}

func (r *v6Rig) solicit(t *testing.T) {
	t.Helper()
	rs, err := ra.MarshalSolicitation(ipv6.LinkLocal(ipv6.InterfaceID(peerIID)))
	if err != nil {
		t.Fatal(err)
	}
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: rs}, r.now)
}

func mtuOf(m *ndp.RouterAdvertisement) uint32 {
	for _, o := range m.Options {
		if o, ok := o.(*ndp.MTU); ok {
			return o.MTU
		}
	}
	return 0
}

// TestNDParamsReachLiveSession: the session's RAs say what the /ipv6 nd
// entry for <pppoe-USER> says, or the all entry's; a change reaches the
// live session at its next RA; no entry makes it send the final RA and
// answer no RS; an entry again starts it over.
func TestNDParamsReachLiveSession(t *testing.T) {
	own := ra.DefaultParams()
	own.MinInterval, own.MaxInterval, own.RouterLifetime, own.MTU, own.HopLimit = 10*time.Second, 20*time.Second, 45*time.Second, 1400, 64
	tab := &ra.Table{}
	tab.Set(map[string]ra.Params{ra.PPPoEInterface("alice"): own, ra.AllInterfaces: ra.DefaultParams()})
	r := newNDRig(t, tab)
	r.up()
	ras := r.raAt(t, 0)
	if len(ras) != 1 || ras[0].RouterLifetime != 45*time.Second || mtuOf(ras[0]) != 1400 || ras[0].CurrentHopLimit != 64 {
		t.Fatalf("first RA %+v; want alice's entry", ras)
	}

	// alice's entry goes: all applies from the answer to the next RS.
	all := ra.DefaultParams()
	all.RouterLifetime = 20 * time.Minute
	tab.Set(map[string]ra.Params{ra.AllInterfaces: all})
	r.at(time.Second)
	r.solicit(t)
	if ras = r.raAt(t, time.Second+ra.MaxRADelayTime); len(ras) != 1 || ras[0].RouterLifetime != 20*time.Minute || mtuOf(ras[0]) != uint32(r.s.mtu) {
		t.Fatalf("answer %+v; want all's lifetime and the link's MTU %d", ras, r.s.mtu)
	}

	// No entry: the final RA at the next one due, then nothing.
	tab.Set(map[string]ra.Params{})
	next, _ := r.s.v6.ra.Next()
	if ras = r.raAt(t, next.Sub(t0)); len(ras) != 1 || ras[0].RouterLifetime != 0 {
		t.Fatalf("%+v; want one final RA", ras)
	}
	r.solicit(t)
	if ras = r.raAt(t, next.Sub(t0)+time.Second); len(ras) != 0 {
		t.Fatalf("a link with no entry answered an RS: %+v", ras)
	}

	// all is back: RAs start over from the next RS (or the next check,
	// at most ra-interval's max after the last).
	tab.Set(map[string]ra.Params{ra.AllInterfaces: ra.DefaultParams()})
	r.at(next.Sub(t0) + 2*time.Second)
	r.solicit(t)
	ras = r.raAt(t, next.Sub(t0)+2*time.Second+ra.MaxRADelayTime)
	if len(ras) == 0 {
		t.Fatal("no RA after the entry came back")
	}
	for _, m := range ras {
		if m.RouterLifetime != ra.DefaultRouterLifetime {
			t.Fatalf("RA lifetime %v; want the default", m.RouterLifetime)
		}
	}
}

// TestNDNoEntrySendsNoRA: a session to which no enabled entry applies
// when its IPv6CP opens sends no RA, and its IPv6 (DHCPv6, the data
// plane) runs regardless.
func TestNDNoEntrySendsNoRA(t *testing.T) {
	tab := &ra.Table{}
	tab.Set(map[string]ra.Params{ra.PPPoEInterface("bob"): ra.DefaultParams()})
	r := newNDRig(t, tab)
	r.up()
	if ras := r.raAt(t, 0); len(ras) != 0 {
		t.Fatalf("RAs %+v on a link with no entry", ras)
	}
	if got := r.s.IPv6().Link; got != v6Link {
		t.Fatalf("link prefix %v, want %v", got, v6Link)
	}
}
