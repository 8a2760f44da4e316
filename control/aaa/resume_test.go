package aaa_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
)

// TestResume: a session taken over holds its address in its pool again
// (a new session cannot get it; Release returns it) and counts for
// only-one; a profile or pool gone, or an address taken, is an error and
// holds nothing.
func TestResume(t *testing.T) {
	l := newLocal(t)
	a := netip.MustParseAddr("10.0.0.10")
	ans, err := l.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "erin", Profile: "single", Pool: "small",
		Local: netip.MustParseAddr("10.0.0.1"), Remote: a})
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Accept || ans.Lease == nil || ans.Profile != "single" || l.PoolUsed("small") != 1 || l.Online("erin") != 1 {
		t.Fatalf("answer %+v, pool used %d, online %d", ans, l.PoolUsed("small"), l.Online("erin"))
	}
	got, err := ans.Lease.Assign()
	if err != nil || got.Remote != a {
		t.Errorf("Assign %+v, %v", got, err)
	}
	// Taken twice: refused, nothing more held.
	if _, err := l.Resume(aaa.Resumed{User: "erin", Profile: "single", Pool: "small", Remote: a}); err == nil {
		t.Error("the same address resumed twice")
	}
	for _, r := range []aaa.Resumed{
		{User: "erin", Profile: "gone", Pool: "small", Remote: netip.MustParseAddr("10.0.0.11")},
		{User: "erin", Profile: "single", Pool: "gone", Remote: netip.MustParseAddr("10.0.0.11")},
		{User: "erin", Profile: "single", Pool: "small", Remote: netip.MustParseAddr("10.7.0.1")},
	} {
		if _, err := l.Resume(r); err == nil || !strings.Contains(err.Error(), "erin") {
			t.Errorf("Resume %+v: %v, want an error naming the user", r, err)
		}
	}
	if l.PoolUsed("small") != 1 || l.Online("erin") != 1 || l.Counters().Leases != 1 {
		t.Errorf("failed resumes hold something: pool %d online %d %+v", l.PoolUsed("small"), l.Online("erin"), l.Counters())
	}
	ans.Lease.Release()
	if l.PoolUsed("small") != 0 || l.Online("erin") != 0 || l.Counters().Leases != 0 {
		t.Errorf("after release: pool %d online %d %+v", l.PoolUsed("small"), l.Online("erin"), l.Counters())
	}
}
