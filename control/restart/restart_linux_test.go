package restart

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

var (
	acMAC = state.MAC{0x02, 0xac, 0, 0, 0, 1}
	subA  = state.MAC{0x02, 0x5b, 0, 0, 0, 0xa}
	subB  = state.MAC{0x02, 0x5b, 0, 0, 0, 0xb}
	subC  = state.MAC{0x02, 0x5b, 0, 0, 0, 0xc}
	subD  = state.MAC{0x02, 0x5b, 0, 0, 0, 0xd}
)

// lab is an AC namespace and a subscriber namespace joined by a veth
// (acc0 — sub0), a loaded data plane and a state store: what pppoed has
// at start after a previous run.
type lab struct {
	ac, sub *netns.NS
	acc     int
	dp      *maps.Datapath
	store   *state.Store
}

func newLab(t *testing.T) *lab {
	netns.RequireRoot(t)
	l := &lab{ac: netns.New(t), sub: netns.New(t)}
	l.acc, _ = netns.Veth(t, l.ac, "acc0", l.sub, "sub0")
	pin := filepath.Join(maps.DefaultPinPath+"-test", "restart-"+l.ac.Name)
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Unpin(); dp.Close() })
	l.dp = dp
	if l.store, err = state.Open(t.TempDir(), state.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.store.Close() })
	return l
}

// install puts a server session in the data plane, as a previous run did.
func (l *lab) install(t *testing.T, mac state.MAC, sid uint16, vlan uint16, addr string) {
	t.Helper()
	_, err := l.dp.Install(maps.Session{Key: maps.Key{Ifindex: l.acc, OuterVLAN: vlan, SessionID: sid, ClientMAC: mac.HardwareAddr()},
		ACMAC: acMAC.HardwareAddr(), IPv4: netip.MustParseAddr(addr), MTU: 1492})
	if err != nil {
		t.Fatal(err)
	}
}

// record stores a session's record, as a previous run did.
func (l *lab) record(t *testing.T, h uint64, phase state.Phase, mac state.MAC, sid uint16, vlan uint16) {
	t.Helper()
	r := state.Session{Handle: h, Role: state.RoleServer, Phase: phase, SessionID: sid, PeerMAC: mac, LocalMAC: acMAC,
		Iface: state.Interface{Name: "acc0", Ifindex: l.acc}, User: fmt.Sprintf("user%d", h), Started: time.Now()}
	if vlan != 0 {
		r.Iface.VLANs = []state.VLAN{{TPID: 0x8100, ID: vlan}}
	}
	if err := l.store.Put(r, sid); err != nil {
		t.Fatal(err)
	}
}

// reconcile runs Reconcile in the AC's namespace, where its PADTs go out.
func (l *lab) reconcile(t *testing.T, a Adopter) (Result, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	var res Result
	err := l.ac.Do(t, func() error {
		s := &Sender{}
		defer s.Close()
		var err error
		res, err = Reconcile(Options{Store: l.store, DataPlane: l.dp, SendPADT: s.Send, Adopter: a, Log: zap.New(core)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, logs
}

// TestSweepAtStart: with no Adopter (today's pppoed), every session a
// previous run left is ended properly: an installed one with a record, an
// installed one without (the crash came between install and record), a
// recorded one no longer installed, one recorded mid-negotiation. Each
// gets a PADT on the wire from the AC's MAC with its session id and
// tags, its entries and record go, and one log line says why.
func TestSweepAtStart(t *testing.T) {
	l := newLab(t)
	l.install(t, subA, 0x11, 0, "100.64.0.1")
	l.record(t, 1, state.PhaseUp, subA, 0x11, 0)
	l.install(t, subB, 0x12, 100, "100.64.0.2") // no record
	l.record(t, 3, state.PhaseUp, subC, 0x13, 0)
	l.record(t, 4, state.PhaseStarting, subD, 0x14, 200)
	capture := l.sub.StartCapture(t, "sub0")

	res, logs := l.reconcile(t, nil)
	if res != (Result{Swept: 4}) {
		t.Errorf("Reconcile = %+v, want 4 swept", res)
	}
	rows := capture.Fields(t, "pppoe.code == 0xa7", "eth.src", "eth.dst", "pppoe.session_id", "vlan.id", "pppoed.tags.generic_error")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, " "))
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("%v %v 0x0011  %s", acMAC, subA, SweepMessage),
		fmt.Sprintf("%v %v 0x0012 100 %s", acMAC, subB, SweepMessage),
		fmt.Sprintf("%v %v 0x0013  %s", acMAC, subC, SweepMessage),
		fmt.Sprintf("%v %v 0x0014 200 %s", acMAC, subD, SweepMessage),
	}
	if !slices.Equal(got, want) {
		t.Errorf("PADTs on the wire:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if in, err := l.dp.Installed(); err != nil || len(in) != 0 {
		t.Errorf("data plane after the sweep: %v, %v; want empty", in, err)
	}
	if recs, _, err := l.store.Sessions(); err != nil || len(recs) != 0 {
		t.Errorf("store after the sweep: %v, %v; want empty", recs, err)
	}
	lines := logs.FilterMessage("session swept at start").All()
	if len(lines) != 4 {
		t.Fatalf("%d sweep log lines, want one per session", len(lines))
	}
	reasons := map[uint16]string{}
	for _, e := range lines {
		reasons[e.ContextMap()["session_id"].(uint16)] = e.ContextMap()["reason"].(string)
	}
	for sid, want := range map[uint16]string{0x11: ErrNoAdopter.Error(), 0x12: "no state record", 0x13: "not in the data plane",
		0x14: "negotiation in progress at the last exit"} {
		if reasons[sid] != want {
			t.Errorf("session %#x swept for %q, want %q", sid, reasons[sid], want)
		}
	}
	// The addresses are free: a new session may take one.
	l.install(t, subC, 0x21, 0, "100.64.0.1")
}

// adopter confirms the sessions of the users it knows.
type adopter struct {
	users map[string]bool
	seen  []uint64
}

func (a *adopter) Adopt(rec state.Session, in *maps.Installed) error {
	a.seen = append(a.seen, rec.Handle)
	if in == nil || !a.users[rec.User] {
		return errors.New("profile gone")
	}
	return nil
}

// TestAdoptOrSweep: what an Adopter confirms stays (entry, record, no
// PADT); what it refuses is swept with its reason.
func TestAdoptOrSweep(t *testing.T) {
	l := newLab(t)
	l.install(t, subA, 0x11, 0, "100.64.0.1")
	l.record(t, 1, state.PhaseUp, subA, 0x11, 0)
	l.install(t, subB, 0x12, 0, "100.64.0.2")
	l.record(t, 2, state.PhaseUp, subB, 0x12, 0)
	capture := l.sub.StartCapture(t, "sub0")

	a := &adopter{users: map[string]bool{"user1": true}}
	res, logs := l.reconcile(t, a)
	if res != (Result{Adopted: 1, Swept: 1}) {
		t.Errorf("Reconcile = %+v, want 1 adopted, 1 swept", res)
	}
	rows := capture.Fields(t, "pppoe.code == 0xa7", "eth.dst", "pppoe.session_id")
	if len(rows) != 1 || rows[0][0] != subB.String() || rows[0][1] != "0x0012" {
		t.Errorf("PADTs %v, want one to %v for session 0x0012", rows, subB)
	}
	in, _ := l.dp.Installed()
	if len(in) != 1 || in[0].SessionID != 0x11 {
		t.Errorf("data plane keeps %+v, want session 0x11", in)
	}
	if recs, _, _ := l.store.Sessions(); len(recs) != 1 || recs[0].Handle != 1 {
		t.Errorf("store keeps %+v, want record 1", recs)
	}
	if e := logs.FilterMessage("session swept at start").All(); len(e) != 1 || e[0].ContextMap()["reason"] != "profile gone" {
		t.Errorf("sweep log %v, want one line with the Adopter's reason", e)
	}
}

func TestPADTFrame(t *testing.T) {
	p := PADT{Ifindex: 1, VLANs: []state.VLAN{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}}, Local: acMAC, Peer: subA, SessionID: 0x1234, Message: "m"}
	b, err := p.Frame()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{}
	want = append(want, subA[:]...)
	want = append(want, acMAC[:]...)
	want = append(want, 0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x88, 0x63, // tags, discovery
		0x11, 0xa7, 0x12, 0x34, 0, 5, // ver/type, PADT, session id, length
		0x02, 0x03, 0, 1, 'm') // Generic-Error "m"
	// Padded to Ethernet's minimum after the payload.
	if !bytes.HasPrefix(b, want) {
		t.Errorf("PADT frame\n got %x\nwant %x", b, want)
	}
	if _, err := (PADT{Local: acMAC, Peer: subA, SessionID: 0xffff}).Frame(); err == nil {
		t.Error("a PADT for session 0xffff was built")
	}
}
