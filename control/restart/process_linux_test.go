package restart

import (
	"bytes"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// TestOnce: the access concentrator's start reconciles with it as the
// Adopter; the daemon's call after its start, with none, must not sweep
// what was adopted.
func TestOnce(t *testing.T) {
	l := newLab(t)
	l.install(t, subA, 0x11, 0, "100.64.0.1")
	l.record(t, 1, state.PhaseUp, subA, 0x11, 0)
	core, logs := observer.New(zap.InfoLevel)
	o := &Once{Store: l.store, DataPlane: l.dp, Log: zap.New(core)}
	if err := l.ac.Do(t, func() error { return o.Reconcile(&adopter{users: map[string]bool{"user1": true}}) }); err != nil {
		t.Fatal(err)
	}
	if err := l.ac.Do(t, func() error { return o.Reconcile(nil) }); err != nil {
		t.Fatal(err)
	}
	if in, _ := l.dp.Installed(); len(in) != 1 || in[0].SessionID != 0x11 {
		t.Errorf("data plane keeps %+v, want the adopted session 0x11", in)
	}
	e := logs.FilterMessage("sessions of the previous run").All()
	if len(e) != 1 || e[0].ContextMap()["adopted"] != int64(1) || e[0].ContextMap()["swept"] != int64(0) {
		t.Errorf("logs %v, want one line: 1 adopted, 0 swept", e)
	}
}

// TestLoadDiscovery: a restarted run goes on with the last run's AC-Cookie
// key and session-id cursor, and hands out handles above every handle the
// last run could have used.
func TestLoadDiscovery(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := LoadDiscovery(store)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.CookieKey) == 0 {
		t.Fatal("no AC-Cookie key")
	}
	h := first.Handles.Next()
	if err := store.Put(state.Session{Handle: uint64(h), Role: state.RoleServer, SessionID: 0x77}, 0x77); err != nil {
		t.Fatal(err)
	}
	store.Close()

	if store, err = state.Open(dir, state.Options{}); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	again, err := LoadDiscovery(store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.CookieKey, first.CookieKey) {
		t.Error("the AC-Cookie key changed across a restart: the last run's PADOs are refused")
	}
	if again.ServerDUID == nil || !again.ServerDUID.Equal(first.ServerDUID) {
		t.Errorf("DHCPv6 server DUID %v, want the last run's %v: clients' Renews would be refused", again.ServerDUID, first.ServerDUID)
	}
	if c := again.SessionIDs.Cursor(); c != 0x77 {
		t.Errorf("session-id cursor %#x, want the last run's 0x77", c)
	}
	if next := again.Handles.Next(); uint64(next) < uint64(h)+handleBlock {
		t.Errorf("first handle %d, want above the last run's block (%d..%d)", next, h, uint64(h)+handleBlock-1)
	}
}
