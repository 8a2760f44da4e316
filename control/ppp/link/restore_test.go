package link

import (
	"fmt"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
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

// TestRestoreLateNCP: a network protocol the peer had not opened when
// the link was saved is answered by the restored link as the live one
// would have answered it: negotiated if the link offers it (IPCP with
// an address from the AddressPolicy, IPv6CP with IPv6 on), with a
// Protocol-Reject if not.
func TestRestoreLateNCP(t *testing.T) {
	v4Off := func() bool { return false }
	for _, c := range []struct {
		name    string
		late    ppp.Protocol // held back from the peer until after the restore
		v6Later func() bool  // the restored link's Config.IPv6
		opens   bool         // the late protocol opens; else it is rejected
	}{
		{"IPCP", ppp.ProtocolIPCP, on, true},
		{"IPv6CP", ppp.ProtocolIPv6CP, on, true},
		{"IPv6CP not offered", ppp.ProtocolIPv6CP, v4Off, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.IPv6, pc.IPv6 = on, on
			sc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 1})
			pc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 2})
			x := newPair(t, sc, pc)
			held := func(f ppp.Frame) bool { return f.Protocol != c.late }
			x.deliverToA, x.deliverToP = held, held
			x.up()
			x.run(1)
			saved, err := x.a.Save()
			if err != nil {
				t.Fatal(err)
			}
			if len(saved.NCPs) != 1 || saved.NCPs[0].Protocol == c.late {
				t.Fatalf("saved %+v, want the other protocol alone open", saved.NCPs)
			}
			sc.IPv6 = c.v6Later
			sc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 0x11}) // a new process's
			b, err := Restore(sc, saved)
			if err != nil {
				t.Fatal(err)
			}
			x.a, x.evA, x.sentA, x.evP = b, nil, nil, nil
			x.deliverToA, x.deliverToP = nil, nil
			x.run(3) // the peer's Restart timer: it asks again
			rejects := packets(t, x.sentA, ppp.ProtocolLCP, ppp.ProtocolReject)
			if !c.opens {
				if r, ok := find[ProtocolRejected](x.evP); !ok || r.Protocol != c.late || len(rejects) == 0 {
					t.Fatalf("peer events %s: want %v Protocol-Rejected", eventsString(x.evP), c.late)
				}
				return
			}
			if len(rejects) != 0 {
				t.Fatalf("restored link sent %d Protocol-Rejects", len(rejects))
			}
			if u := ncpUps(x.evA); u[c.late] != 1 {
				t.Fatalf("restored link's events %s: want %v up", eventsString(x.evA), c.late)
			}
			if u := ncpUps(x.evP); u[c.late] != 1 {
				t.Fatalf("peer's events %s: want %v up", eventsString(x.evP), c.late)
			}
			if in := b.Info(); c.late == ppp.ProtocolIPCP && in.IP.Remote != testIP.Remote ||
				c.late == ppp.ProtocolIPv6CP && in.IPv6.Remote != (ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 2}) {
				t.Fatalf("restored link's info %+v; events %s", in, eventsString(x.evA))
			}
			again, err := b.Save()
			if err != nil || len(again.NCPs) != 2 || again.NCPs[0].Protocol != ppp.ProtocolIPCP {
				t.Fatalf("saved again %+v (%v): want IPCP and IPv6CP, IPCP first", again.NCPs, err)
			}
		})
	}
}

// TestRestoreNoIPv4: a restored link of a service without IPv4 (the
// AddressPolicy answers ErrNoIPv4; it ran IPv6CP alone) Protocol-Rejects
// a later IPCP Configure-Request as the live link did, and asks the
// policy once.
func TestRestoreNoIPv4(t *testing.T) {
	asked := 0
	sc, pc := serverConfig(), peerConfig()
	sc.Addresses = AddressFunc(func(string) (IPConfig, error) {
		asked++
		return IPConfig{}, fmt.Errorf("pool: %w", ErrNoIPv4)
	})
	sc.IPv6, pc.IPv6 = on, on
	x := newPair(t, sc, pc)
	x.up()
	x.run(20)
	saved, err := x.a.Save()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Restore(sc, saved)
	if err != nil {
		t.Fatal(err)
	}
	asked = 0
	req, err := (&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 9, Data: []byte{3, 6, 0, 0, 0, 0}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out := b.Receive(ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: req}, t0)
		rej := packets(t, out.Send, ppp.ProtocolLCP, ppp.ProtocolReject)
		var d ppp.ProtocolRejectData
		if len(rej) != 1 || d.UnmarshalBinary(rej[0].Data) != nil || d.Protocol != ppp.ProtocolIPCP {
			t.Fatalf("IPCP Configure-Request %d: sent %+v, want a Protocol-Reject of IPCP", i, out.Send)
		}
	}
	if asked != 1 {
		t.Errorf("AddressPolicy asked %d times, want once", asked)
	}
}
