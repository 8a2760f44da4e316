package link

import (
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// TestRestore: a link saved in the Network phase and restored in a new
// Link (a new process) carries on with the peer without renegotiating:
// same Info, echoes answered with the saved magic both ways, a Close
// that the peer acks.
func TestRestore(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	x := newPair(t, sc, pc)
	if _, err := x.a.Save(); err == nil {
		t.Fatal("saved a link that is not up")
	}
	x.up()
	x.run(5)
	saved, err := x.a.Save()
	if err != nil {
		t.Fatal(err)
	}
	sc.Magic = magicSeq(0x7777) // a new process draws other numbers
	b, err := Restore(sc, saved)
	if err != nil {
		t.Fatal(err)
	}
	if b.Info() != x.a.Info() || b.Phase() != PhaseNetwork {
		t.Fatalf("restored %+v in %v, want %+v", b.Info(), b.Phase(), x.a.Info())
	}
	x.a, x.evA, x.sentA = b, nil, nil

	// The peer's echo is answered with the saved magic; ours is answered.
	x.fromP(x.p.EchoRequest(x.now))
	x.fromA(x.a.EchoRequest(x.now))
	x.flush()
	if e, ok := find[EchoReply](x.evP); !ok || e.Magic != saved.Info.LocalMagic {
		t.Fatalf("peer's echo: %+v %v, want magic %x", e, ok, saved.Info.LocalMagic)
	}
	if _, ok := find[EchoReply](x.evA); !ok {
		t.Fatalf("restored link's echo unanswered: %s", eventsString(x.evA))
	}
	if n := len(packets(t, x.sentA, ppp.ProtocolLCP, ppp.ConfigureRequest)); n != 0 {
		t.Errorf("restored link renegotiated LCP (%d Configure-Requests)", n)
	}
	x.fromA(x.a.Close("restart test", x.now))
	x.run(5)
	if _, ok := find[Down](x.evA); !ok {
		t.Fatalf("restored link never went down: %s", eventsString(x.evA))
	}
	if _, ok := find[Down](x.evP); !ok {
		t.Fatalf("peer never went down: %s", eventsString(x.evP))
	}
}
