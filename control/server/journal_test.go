package server

import (
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// TestJournal: a session's record is in the state store once it is up,
// with what the server knows of it, and the session-id allocator's
// cursor beside it; it is gone once the session ends. The allocator
// passed in goes on after the cursor it was given.
func TestJournal(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ids := pppoe.NewSessionIDs()
	ids.SetCursor(0x100) // where a previous run left off
	r := newRigWith(t, `/interface pppoe-server server add service-name=internet interface=vlan100 disabled=no`, func(o *Options) {
		o.State, o.SessionIDs = store, ids
	})
	c, err := r.dial(mac(1), []ethernet.VLAN{{ID: 100}}, "internet")
	if err != nil {
		t.Fatal(err)
	}
	c.waitUp(t)
	if c.sess.SessionID != 0x101 {
		t.Errorf("session id %#x, want 0x101: after the restored cursor", c.sess.SessionID)
	}
	var rec state.Session
	eventually(t, "the up record", func() bool {
		recs, _, err := store.Sessions()
		if err != nil || len(recs) != 1 {
			return false
		}
		rec = recs[0]
		return true
	})
	snap := r.srv.Sessions()[0]
	want := state.Session{Handle: uint64(snap.ID), Role: state.RoleServer, Phase: state.PhaseUp, SessionID: 0x101,
		PeerMAC: state.MAC(mac(1)), LocalMAC: state.MAC(acMAC),
		Iface: state.Interface{Name: "vlan100", Parent: "ether1", Ifindex: 5, VLANs: []state.VLAN{{TPID: 0x8100, ID: 100}}},
		User:  "alice", Service: "internet", PeerIPv4: netip.MustParseAddr("10.0.0.10"), MTU: snap.MTU, MRU: snap.MRU}
	got := rec
	got.Started, got.Counters = want.Started, want.Counters
	if got.Iface.Name != want.Iface.Name || got.Handle != want.Handle || got.Phase != want.Phase || got.SessionID != want.SessionID ||
		got.PeerMAC != want.PeerMAC || got.LocalMAC != want.LocalMAC || got.Iface.Parent != want.Iface.Parent ||
		got.Iface.Ifindex != want.Iface.Ifindex || len(got.Iface.VLANs) != 1 || got.Iface.VLANs[0] != want.Iface.VLANs[0] ||
		got.User != want.User || got.Service != want.Service || got.PeerIPv4 != want.PeerIPv4 || got.MTU == 0 || got.MRU == 0 {
		t.Errorf("record\n got %+v\nwant %+v", got, want)
	}
	if rec.Started.IsZero() {
		t.Error("record without a start time")
	}
	if cur, _ := store.SIDCursor(); cur != 0x101 {
		t.Errorf("stored cursor %#x, want 0x101", cur)
	}
	r.srv.Remove(snap.ID)
	c.waitPADT(t)
	eventually(t, "the record removed", func() bool {
		recs, _, _ := store.Sessions()
		return len(recs) == 0
	})
}

// TestKeepAuthorized: a RADIUS session's record keeps what RADIUS
// granted while IPCP or IPv6CP is not open (its late NCP gets it after a
// restart), through the record's binary form; a dual-stack or local
// session's record holds none; a record whose copy does not decode is
// refused (the session is swept, not given the profile's addresses).
func TestKeepAuthorized(t *testing.T) {
	au := &aaa.Authorized{User: "r1", Profile: "default", Pool: "radius", DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		IPv6LinkPool: "radlinks", IPv6Delegated: netip.MustParsePrefix("2001:db8:ff::/56")}
	v4 := netip.MustParseAddr("10.0.0.10")
	for _, tc := range []struct {
		name string
		rec  state.Session
		au   *aaa.Authorized
		keep bool
	}{
		{"IPCP not open", state.Session{IPv6: &state.IPv6{}}, au, true},
		{"IPv6CP not open", state.Session{PeerIPv4: v4}, au, true},
		{"both open", state.Session{PeerIPv4: v4, IPv6: &state.IPv6{}}, au, false},
		{"local", state.Session{PeerIPv4: v4}, nil, false},
	} {
		rec := tc.rec
		rec.Handle, rec.Role, rec.Phase = 1, state.RoleServer, state.PhaseUp
		if err := keepAuthorized(&rec, tc.au); err != nil {
			t.Fatal(err)
		}
		b, err := rec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back state.Session
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		got, err := keptAuthorized(back)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.keep && got != nil:
			t.Errorf("%s: kept %+v, want none", tc.name, got)
		case tc.keep && (got == nil || got.Pool != au.Pool || len(got.DNS) != 1 || got.DNS[0] != au.DNS[0] ||
			got.IPv6LinkPool != au.IPv6LinkPool || got.IPv6Delegated != au.IPv6Delegated):
			t.Errorf("%s: kept %+v, want %+v", tc.name, got, au)
		}
	}
	if _, err := keptAuthorized(state.Session{RADIUSAttrs: []byte("{")}); err == nil {
		t.Error("a record's unreadable authorization accepted")
	}
}
