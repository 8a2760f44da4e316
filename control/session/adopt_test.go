package session

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// Adopt implements Adopter: the entry installed with the same key.
func (d *fakeDP) Adopt(e Entry) (Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for h, in := range d.installed {
		if in.Circuit == e.Circuit && in.SessionID == e.SessionID && in.IPv4 == e.IPv4 {
			return h, nil
		}
	}
	return nil, errors.New("not installed")
}

// TestAdoptTakesOver: a session up in one "process" is saved
// (Resumable), and adopted by another with a fresh AAA backend: not a
// frame goes to the peer, the data-plane entry is the same (no install),
// the address is held in the new pool, the counters go on from the
// earlier installs' plus the live ones, the uptime from the original
// start, and the keepalive probes with the stored magic number; the
// peer's link, never told, answers them and the session stays up.
func TestAdoptTakesOver(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.up()
	r.dp.setStats(Stats{PacketsUp: 7, PacketsDown: 9})
	saved, err := r.s.Resumable()
	if err != nil {
		t.Fatal(err)
	}
	if saved.Link.Info.LocalMagic != 0x11111111 || saved.Link.Info.PeerMagic != 0x22222222 || saved.Answer.Lease != nil {
		t.Fatalf("resumable %+v", saved)
	}
	saved.Base = Stats{PacketsUp: 100}
	saved.Live = Stats{PacketsUp: 7, PacketsDown: 9}
	installs := r.dp.next

	// The new process: its own AAA with the same configuration.
	cfg, err := config.Load(script)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info := saved.Link.Info
	ans, err := local.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: info.User, Profile: saved.Answer.Profile,
		Pool: saved.Answer.Pool, Local: info.IP.Local, Remote: info.IP.Remote})
	if err != nil {
		t.Fatal(err)
	}
	if local.PoolUsed("subs") != 1 {
		t.Errorf("pool subs has %d out after resume, want 1", local.PoolUsed("subs"))
	}
	saved.Answer = ans
	sc := r.s.cfg
	st := *sc.Settings // the new process's, the old one's shared nothing
	st.AAA = local
	sc.Settings = &st
	s2, err := Adopt(sc, saved)
	if err != nil {
		t.Fatal(err)
	}
	var resumed int
	s2.observers = append(s2.observers, ObserverFunc(func(_ *Session, _ time.Time, e Event) {
		if _, ok := e.(Resumed); ok {
			resumed++
		}
	}))
	r.takeOut()
	r.s, r.aaa = s2, local
	r.s.start(r.now)
	if out := r.takeOut(); len(out) != 0 || r.dp.next != installs {
		t.Fatalf("adoption sent %d frames and installed %d entries", len(out), r.dp.next-installs)
	}
	snap := r.s.Snapshot()
	if snap.State != StateUp || snap.Name != "alice" || snap.Address != info.IP.Remote || resumed != 1 {
		t.Errorf("adopted %+v, resumed %d", snap, resumed)
	}
	if snap.Stats.PacketsUp != 107 || snap.Stats.PacketsDown != 9 {
		t.Errorf("counters %+v, want the base plus the live ones", snap.Stats)
	}
	if snap.Uptime != 50*time.Millisecond {
		t.Errorf("uptime %v, want from the original start", snap.Uptime)
	}
	// Keepalive: the probes carry the stored magic number; the peer
	// answers them, so the session lives on.
	var magics []uint32
	for s := 1; s <= 30; s++ {
		r.mu.Lock()
		r.now = t0.Add(time.Duration(s) * time.Second)
		r.mu.Unlock()
		r.s.wake(r.now)
		for _, f := range r.out {
			if f.Protocol == ppp.ProtocolLCP && ppp.Code(f.Information[0]) == ppp.EchoRequest {
				magics = append(magics, binary.BigEndian.Uint32(f.Information[4:8]))
			}
		}
		r.exchange(link.Output{})
	}
	if len(magics) == 0 || r.s.Reason() != ReasonNone {
		t.Fatalf("echoes %x, reason %v", magics, r.s.Reason())
	}
	for _, m := range magics {
		if m != 0x11111111 {
			t.Errorf("echo with magic %#x, want the stored 0x11111111", m)
		}
	}
	r.s.finish(ReasonAdmin, "", r.now)
	r.checkDown(ReasonAdmin, true)
}
