package restart

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// clients stands for the pppoe-clients: it adopts what ok says and
// records what it was offered and whether it was told it is over.
type clients struct {
	ok         bool
	seen       []uint64
	reconciled bool
}

func (c *clients) Adopt(rec state.Session, in *maps.Installed) error {
	c.seen = append(c.seen, rec.Handle)
	if c.reconciled {
		return errors.New("offered after Reconciled")
	}
	if !c.ok || in == nil || !in.Client {
		return errors.New("configured otherwise since")
	}
	return nil
}

func (c *clients) Reconciled() { c.reconciled = true }

// installClient puts a client session in the data plane as a previous
// run did (its netdev included), with its record: this box (acMAC) is
// the client of the AC subB.
func (l *lab) installClient(t *testing.T, h uint64, sid uint16) {
	t.Helper()
	err := l.ac.Do(t, func() error {
		dev, err := maps.CreateClientDevice("pppoe-out1", 1492)
		if err != nil {
			return err
		}
		if err := l.dp.AttachClientDevice(dev); err != nil {
			return err
		}
		_, err = l.dp.InstallClient(dev, maps.ClientSession{Ifindex: l.acc, SessionID: sid, ACMAC: subB.HardwareAddr(),
			LocalMAC: acMAC.HardwareAddr(), MTU: 1492})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := state.Session{Handle: h, Role: state.RoleClient, Phase: state.PhaseUp, SessionID: sid, PeerMAC: subB, LocalMAC: acMAC,
		Iface: state.Interface{Name: "acc0", Ifindex: l.acc}, Client: "pppoe-out1", User: "cpe", Started: time.Now()}
	if err := l.store.Put(r, 0); err != nil {
		t.Fatal(err)
	}
}

// TestClientSessionsOffered: a client session the previous run left goes
// to the clients' adopter, never to the access concentrator's, and the
// clients are told once every session was offered; one they refuse is
// swept as a server session is: PADT to the AC from our MAC, entry and
// record gone.
func TestClientSessionsOffered(t *testing.T) {
	for _, adopt := range []bool{true, false} {
		l := newLab(t)
		l.install(t, subA, 0x11, 0, "100.64.0.1")
		l.record(t, 1, state.PhaseUp, subA, 0x11, 0)
		l.installClient(t, 2, 0x22)
		capture := l.sub.StartCapture(t, "sub0")

		ac := &adopter{users: map[string]bool{"user1": true, "cpe": true}}
		cl := &clients{ok: adopt}
		once := &Once{Store: l.store, DataPlane: l.dp, Log: zap.NewNop(), Clients: cl}
		if err := l.ac.Do(t, func() error { return once.Reconcile(ac) }); err != nil {
			t.Fatal(err)
		}
		if len(ac.seen) != 1 || ac.seen[0] != 1 {
			t.Errorf("adopt %v: the access concentrator was offered %v, want its session 1 only", adopt, ac.seen)
		}
		if len(cl.seen) != 1 || cl.seen[0] != 2 || !cl.reconciled {
			t.Errorf("adopt %v: the clients were offered %v (reconciled %v), want the client session 2, then told",
				adopt, cl.seen, cl.reconciled)
		}
		rows := capture.Fields(t, "pppoe.code == 0xa7", "eth.src", "eth.dst", "pppoe.session_id")
		in, _ := l.dp.Installed()
		recs, _, _ := l.store.Sessions()
		if adopt {
			if len(rows) != 0 || len(in) != 2 || len(recs) != 2 {
				t.Errorf("adopted: PADTs %v, %d installed, %d records; want none, 2, 2", rows, len(in), len(recs))
			}
			continue
		}
		if len(rows) != 1 || rows[0][0] != acMAC.String() || rows[0][1] != subB.String() || rows[0][2] != "0x0022" {
			t.Errorf("refused: PADTs %v, want one from %v to the AC %v for 0x0022", rows, acMAC, subB)
		}
		if len(in) != 1 || in[0].Client || len(recs) != 1 || recs[0].Handle != 1 {
			t.Errorf("refused: installed %+v, records %+v; want the server session's only", in, recs)
		}
	}
}
