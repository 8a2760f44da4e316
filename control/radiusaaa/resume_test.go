package radiusaaa

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// TestResumeAccounting: a restarted pppoed's backend, over the state
// store the previous run's accounting left, against a real FreeRADIUS:
// it sends no Accounting-On; a RADIUS session it resumes keeps its
// Mikrotik-Rate-Limit and Class (a local user's limit is its profile's)
// and gets no Start; the accounted session that was not adopted gets its
// Stop (NAS-Error) with what was last reported; a resumed session
// whose adoption then failed (its lease released before it ran) gets
// its Stop too; and one resumed with no record of its accounting is
// started now.
func TestResumeAccounting(t *testing.T) {
	r := startRadiusd(t)
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w := state.NewWriter(store, state.WriterOptions{})
	defer w.Close()
	// What the previous run kept of its two accounted sessions.
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	for h, user := range map[uint64]string{0x51: "bob", 0x52: "dave"} {
		info := radius.SessionInfo{User: user, Port: radius.Port{AcctSessionID: radius.AcctSessionID(h), NASPort: uint32(h), NASPortID: "ether1"},
			FramedIP: netip.MustParseAddr("10.77.0.3"), Class: [][]byte{[]byte("gold")}}
		v, _ := json.Marshal(keptSession{Info: info, Up: started, Reported: radius.Usage{InOctets: 1000 + h, OutOctets: 2000, Time: 50 * time.Minute}})
		if err := w.PutIn(bucketSessions, h, v); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()

	cfg := backendConfig(t, r, "")
	local, err := aaa.New(aaa.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend(local, BackendOptions{NASAddress: netip.MustParseAddr("192.0.2.1"), State: w, Resuming: true})
	if err := b.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	}()
	limit, _ := ratelimit.Parse("1M/2M")
	ans, err := b.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "bob", Profile: "default", Pool: "pool-a",
		Local: netip.MustParseAddr("10.77.0.1"), Remote: netip.MustParseAddr("10.77.0.3"), Handle: 0x51,
		Circuit: aaa.Circuit{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x51}, Interface: "ether1"},
		Class:   [][]byte{[]byte("gold")}, RateLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if ans.RateLimit != limit || len(ans.Class) != 1 || string(ans.Class[0]) != "gold" {
		t.Errorf("resumed RADIUS session: rate limit %v, class %q; want the recorded 1M/2M and gold", ans.RateLimit, ans.Class)
	}
	carol, err := b.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "carol", Profile: "default",
		Local: netip.MustParseAddr("10.77.0.1"), Remote: netip.MustParseAddr("10.78.0.2"), Handle: 0x53, RateLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if carol.RateLimit.Limited() {
		t.Errorf("a local user resumed with the recorded limit %v, not her profile's (none)", carol.RateLimit)
	}
	b.EndUnadopted()
	records := func(id, status string) []map[string]string {
		var out []map[string]string
		for _, rec := range r.Records() {
			if rec["Acct-Session-Id"] == id && rec["Acct-Status-Type"] == status {
				out = append(out, rec)
			}
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, r.Detail())
			}
		}
	}
	waitFor("the unadopted session's Stop", func() bool { return len(records("00000052", "Stop")) == 1 })
	if s := records("00000052", "Stop")[0]; s["Acct-Terminate-Cause"] != "NAS-Error" || s["Acct-Input-Octets"] != "1082" || s["Acct-Session-Time"] != "3000" {
		t.Errorf("unadopted session's Stop %v, want NAS-Error with the last reported counters", s)
	}
	// The adoption of bob fails after Resume: his accounting ends.
	ans.Lease.Release()
	carol.Lease.Release()
	waitFor("the failed adoption's Stop", func() bool { return len(records("00000051", "Stop")) == 1 })
	for _, rec := range r.Records() {
		st, id := rec["Acct-Status-Type"], rec["Acct-Session-Id"]
		if st == "Accounting-On" || st == "Start" && id != "00000053" {
			t.Errorf("a restarted backend sent %s: %v", st, rec)
		}
	}
	// carol, accounted now but with no record of it from the last run,
	// starts here.
	waitFor("carol's Start and Stop", func() bool { return len(records("00000053", "Start")) == 1 && len(records("00000053", "Stop")) == 1 })
	w.Flush()
	n := 0
	_ = store.Records(bucketSessions, func(uint64, []byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d sessions kept after they all ended", n)
	}
}
