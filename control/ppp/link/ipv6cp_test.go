package link

import (
	"fmt"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
)

func on() bool { return true }

// idSeq returns an InterfaceID generator yielding ids in turn, then
// counting up from the last.
func idSeq(ids ...ipv6cp.InterfaceID) func() ipv6cp.InterfaceID {
	i := 0
	return func() ipv6cp.InterfaceID {
		if i < len(ids) {
			i++
			return ids[i-1]
		}
		ids[len(ids)-1][7]++
		return ids[len(ids)-1]
	}
}

func ncpUps(evs []Event) map[ppp.Protocol]int {
	m := map[ppp.Protocol]int{}
	for _, e := range evs {
		if u, ok := e.(NetworkUp); ok {
			m[u.Protocol]++
		}
	}
	return m
}

// TestIPv6CPBesideIPCP: with IPv6 on at both ends, IPCP and IPv6CP open
// side by side and each end learns both Interface-Identifiers.
func TestIPv6CPBesideIPCP(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	sc.IPv6, pc.IPv6 = on, on
	sc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 1})
	pc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 2})
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	if u := ncpUps(x.evA); u[ppp.ProtocolIPCP] != 1 || u[ppp.ProtocolIPv6CP] != 1 {
		t.Fatalf("server ups %v: %s", u, eventsString(x.evA))
	}
	a, p := x.a.Info().IPv6, x.p.Info().IPv6
	if a.Local != p.Remote || a.Remote != p.Local || a.Local[7] != 1 || a.Remote[7] != 2 {
		t.Errorf("identifiers: server %+v peer %+v", a, p)
	}
}

// TestIPv6CPCollision: a peer asking for the server's own identifier, or
// for none (zero), is Nak'd with a different non-zero suggestion, which
// it takes (RFC 5072 §4.1).
func TestIPv6CPCollision(t *testing.T) {
	same := ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 7}
	sc, pc := serverConfig(), peerConfig()
	sc.IPv6, pc.IPv6 = on, on
	sc.InterfaceID = idSeq(same, ipv6cp.InterfaceID{0x0a, 0, 0, 0, 0, 0, 0, 0x10})
	pc.InterfaceID = idSeq(same)
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	if u := ncpUps(x.evP); u[ppp.ProtocolIPv6CP] != 1 {
		t.Fatalf("peer ups %v: %s", u, eventsString(x.evP))
	}
	a, p := x.a.Info().IPv6, x.p.Info().IPv6
	// Both ends see the collision and Nak; what counts is that they end
	// up different, non-zero and agreed.
	if a.Local == p.Local || p.Local == (ipv6cp.InterfaceID{}) || a.Local == (ipv6cp.InterfaceID{}) ||
		a.Remote != p.Local || p.Remote != a.Local {
		t.Errorf("after a collision: server %+v peer %+v", a, p)
	}

	// A zero identifier asks for a suggestion.
	n := newIPv6CP(idSeq(same, ipv6cp.InterfaceID{0x0a, 0, 0, 0, 0, 0, 0, 0x11}))
	zero, _ := ipv6cp.ToRaw(ipv6cp.InterfaceID{})
	v, sug := n.Check(zero)
	if v != fsm.Nak || len(sug) != 8 || ipv6cp.InterfaceID(sug) == same || ipv6cp.InterfaceID(sug) == (ipv6cp.InterfaceID{}) {
		t.Errorf("zero identifier: %v %x", v, sug)
	}
}

// TestIPv6CPTerminateKeepsIPv4: the peer terminating IPv6CP (accel-ppp
// issue #57) or rejecting it outright takes IPv6 down and leaves IPCP and
// the link up.
func TestIPv6CPTerminateKeepsIPv4(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	sc.IPv6, pc.IPv6 = on, on
	x := newPair(t, sc, pc)
	x.up()
	x.run(5)
	term, _ := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 9}).MarshalBinary()
	x.fromA(x.a.Receive(ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: term}, x.now))
	x.run(20) // past the restart timer: IPv6CP reaches Stopped
	if d, ok := find[NetworkDown](x.evA); !ok || d.Protocol != ppp.ProtocolIPv6CP {
		t.Fatalf("no IPv6CP NetworkDown: %s", eventsString(x.evA))
	}
	if count[NetworkDown](x.evA) != 1 || count[Down](x.evA) != 0 || x.a.Phase() != PhaseNetwork {
		t.Fatalf("IPv4 or the link went with IPv6: phase %v %s", x.a.Phase(), eventsString(x.evA))
	}
	if x.a.Info().IP.Remote != testIP.Remote {
		t.Errorf("IPv4 lost: %+v", x.a.Info().IP)
	}

	// A peer without IPv6 Protocol-Rejects IPv6CP: IPv4 goes on.
	pc.IPv6 = nil
	y := newPair(t, sc, pc)
	y.up()
	y.run(5)
	if r, ok := find[ProtocolRejected](y.evA); !ok || r.Protocol != ppp.ProtocolIPv6CP {
		t.Fatalf("no IPv6CP Protocol-Reject: %s", eventsString(y.evA))
	}
	if u := ncpUps(y.evA); u[ppp.ProtocolIPCP] != 1 || u[ppp.ProtocolIPv6CP] != 0 || count[Down](y.evA) != 0 {
		t.Fatalf("server after the reject: %v %s", u, eventsString(y.evA))
	}
}

// TestIPv6OnlyService: a user whose service has no IPv4 (the address
// policy answers ErrNoIPv4) but IPv6 gets a link on IPv6CP alone: the AC
// runs no IPCP and Protocol-Rejects the peer's, the peer drops IPCP
// (RFC 1661 §5.7) and stays up on IPv6CP, on both ends. Without IPv6 the
// same answer ends the link, as any address failure does.
func TestIPv6OnlyService(t *testing.T) {
	noIPv4 := AddressFunc(func(string) (IPConfig, error) {
		return IPConfig{}, fmt.Errorf("pool: %w", ErrNoIPv4)
	})
	sc, pc := serverConfig(), peerConfig()
	sc.Addresses = noIPv4
	sc.IPv6, pc.IPv6 = on, on
	sc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 1})
	pc.InterfaceID = idSeq(ipv6cp.InterfaceID{0x02, 0, 0, 0, 0, 0, 0, 2})
	x := newPair(t, sc, pc)
	x.up()
	x.run(20)
	if u := ncpUps(x.evA); u[ppp.ProtocolIPCP] != 0 || u[ppp.ProtocolIPv6CP] != 1 {
		t.Fatalf("server ups %v: %s", u, eventsString(x.evA))
	}
	if u := ncpUps(x.evP); u[ppp.ProtocolIPCP] != 0 || u[ppp.ProtocolIPv6CP] != 1 {
		t.Fatalf("peer ups %v: %s", u, eventsString(x.evP))
	}
	if r, ok := find[ProtocolRejected](x.evP); !ok || r.Protocol != ppp.ProtocolIPCP {
		t.Errorf("peer events %s: want IPCP Protocol-Rejected", eventsString(x.evP))
	}
	if len(packets(t, x.sentA, ppp.ProtocolIPCP, ppp.ConfigureRequest)) != 0 {
		t.Error("the AC sent an IPCP Configure-Request for a service without IPv4")
	}
	if x.a.Phase() != PhaseNetwork || x.p.Phase() != PhaseNetwork || count[Down](x.evA)+count[Down](x.evP) != 0 {
		t.Fatalf("phases %v, %v: want both in Network; server %s", x.a.Phase(), x.p.Phase(), eventsString(x.evA))
	}

	sc, pc = serverConfig(), peerConfig()
	sc.Addresses = noIPv4
	x = newPair(t, sc, pc)
	x.up()
	x.run(20)
	if _, ok := find[Down](x.evA); !ok {
		t.Errorf("without IPv6 a service without IPv4 stays up: %s", eventsString(x.evA))
	}
}
