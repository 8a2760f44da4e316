package radiusaaa

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// TestStopNamesReleasedPrefixAfterRestart: a prefix delegated and
// released (DHCPv6 Release) before pppoed restarted is still named in the
// session's Stop that the restarted pppoed sends, as a sqlippool needs to
// free it: for a session adopted and ended after the restart, and for one
// the restart did not adopt. Against a real FreeRADIUS.
func TestStopNamesReleasedPrefixAfterRestart(t *testing.T) {
	r := startRadiusd(t)
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w := state.NewWriter(store, state.WriterOptions{})
	defer w.Close()
	link := netip.MustParsePrefix("2001:db8:0:1::/64")
	pd := map[uint64]netip.Prefix{0x61: netip.MustParsePrefix("2001:db8:100::/56"), 0x62: netip.MustParsePrefix("2001:db8:200::/56")}

	// The first run: two accounted sessions, each delegated a prefix
	// that its client then released.
	local1, err := aaa.New(aaa.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1 := NewBackend(local1, BackendOptions{NASAddress: netip.MustParseAddr("192.0.2.1"), State: w})
	if err := b1.Configure(backendConfig(t, r, "")); err != nil {
		t.Fatal(err)
	}
	_, _, acct := b1.current()
	for h, p := range pd {
		tr := &tracked{req: aaa.Request{Handle: h}, user: "bob", upAt: time.Now()}
		tr.info = radius.SessionInfo{User: "bob", Port: radius.Port{AcctSessionID: radius.AcctSessionID(h), NASPort: uint32(h), NASPortID: "ether1"}}
		tr.acct = acct.Session(tr.info)
		if err := tr.acct.Start(); err != nil {
			t.Fatal(err)
		}
		tr.mu.Lock()
		b1.keep(h, tr, radius.Usage{})
		tr.mu.Unlock()
		b1.setIPv6(tr, session.Prefixes{Link: link, Delegated: []netip.Prefix{p}})
		b1.setIPv6(tr, session.Prefixes{Link: link}) // the client's Release
	}
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
	waitFor("the Starts", func() bool { return len(records("00000061", "Start")) == 1 && len(records("00000062", "Start")) == 1 })
	w.Flush()
	// kill -9: the first run's backend is left as it is.

	local2, err := aaa.New(aaa.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2 := NewBackend(local2, BackendOptions{NASAddress: netip.MustParseAddr("192.0.2.1"), State: w, Resuming: true})
	if err := b2.Configure(backendConfig(t, r, "")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b2.Close(ctx)
	}()
	ans, err := b2.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: "bob", Profile: "default", Pool: "pool-a",
		Local: netip.MustParseAddr("10.77.0.1"), Remote: netip.MustParseAddr("10.77.0.3"), Handle: 0x61})
	if err != nil {
		t.Fatal(err)
	}
	b2.EndUnadopted() // 0x62 was not adopted
	ans.Lease.Release()
	for h, id := range map[uint64]string{0x61: "00000061", 0x62: "00000062"} {
		waitFor("the Stop of "+id, func() bool { return len(records(id, "Stop")) == 1 })
		if got := records(id, "Stop")[0]["Delegated-IPv6-Prefix"]; got != pd[h].String() {
			t.Errorf("session %s's Stop names %q, want the released %v", id, got, pd[h])
		}
	}
}
