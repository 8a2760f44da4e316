package ra

import (
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// TestResume: an advertiser taken over from a previous process sends no
// initial burst, its first unsolicited RA within
// MaxInitialRtrAdvertInterval and the next ones at the regular interval;
// an RS is answered at once as ever.
func TestResume(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	a.Resume(t0)
	if out, _ := a.Step(t0); len(out) != 0 {
		t.Fatalf("%d RAs at the instant of resuming", len(out))
	}
	first, ok := a.Next()
	if !ok || first.After(t0.Add(MaxInitialRtrAdvertInterval)) {
		t.Fatalf("first RA at %v (%v), want within %v", first.Sub(t0), ok, MaxInitialRtrAdvertInterval)
	}
	if out, _ := a.Step(first); len(out) != 1 {
		t.Fatalf("%d RAs at %v, want 1", len(out), first.Sub(t0))
	}
	if next, _ := a.Next(); next.Sub(first) < DefaultMinInterval*3/4 {
		t.Errorf("second RA %v after the first: an initial interval, not the regular one", next.Sub(first))
	}
	a.Solicited(first, Solicitation{Src: ipv6.LinkLocal(clientIID)})
	if next, _ := a.Next(); next.After(first.Add(MaxRADelayTime)) {
		t.Errorf("RS answered %v later", next.Sub(first))
	}
}
