package session

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// exchangeNoIPv4 is exchange with a peer that runs no IPv4 (pppd's noip):
// the session's IPCP packets get an LCP Protocol-Reject (RFC 1661 §5.7)
// instead of reaching the peer's link, and the peer's own IPCP packets
// never leave it.
func (r *rig) exchangeNoIPv4(peerOut link.Output) {
	r.t.Helper()
	keep := func(fs []ppp.Frame) []ppp.Frame {
		return slices.DeleteFunc(fs, func(f ppp.Frame) bool { return f.Protocol == ppp.ProtocolIPCP })
	}
	pending := keep(peerOut.Send)
	r.notePeer(peerOut)
	id := uint8(0x70)
	for i := 0; i < 100; i++ {
		for _, f := range pending {
			r.s.receive(f, r.now)
		}
		pending = nil
		for _, f := range r.takeOut() {
			if f.Protocol == ppp.ProtocolIPCP {
				id++
				rej := ppp.NewProtocolReject(id, f, 1492)
				b, err := rej.MarshalBinary()
				if err != nil {
					r.t.Fatal(err)
				}
				pending = append(pending, ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b})
				continue
			}
			out := r.peer.Receive(f, r.now)
			r.notePeer(out)
			pending = append(pending, keep(out.Send)...)
		}
		if len(pending) == 0 {
			return
		}
	}
	r.t.Fatal("exchange does not settle")
}

// upNoIPv4 brings the session up with a peer that rejects IPCP.
func (r *v6Rig) upNoIPv4() {
	r.t.Helper()
	r.s.start(r.now)
	r.exchangeNoIPv4(r.peer.Up(r.now))
}

// TestIPv6OnlyPeerRejectsIPCP: a peer that answers IPCP with a
// Protocol-Reject and opens IPv6CP gets an IPv6-only session: up, its
// entry installed without IPv4 and its prefixes on it, the keepalive
// running, one "session up" line, and no end at the setup deadline.
func TestIPv6OnlyPeerRejectsIPCP(t *testing.T) {
	r := newV6Rig(t)
	var ups []NetworkUp
	var upHook int
	r.s.observers = append(r.s.observers, ObserverFunc(func(_ *Session, _ time.Time, e Event) {
		if u, ok := e.(NetworkUp); ok {
			ups = append(ups, u)
		}
	}))
	r.s.observers = append(r.s.observers, Hooks{Up: func(time.Duration) { upHook++ }})
	r.upNoIPv4()

	if r.s.State() != StateUp {
		t.Fatalf("state %v, want up on IPv6 alone", r.s.State())
	}
	es := r.dp.entries()
	if len(es) != 1 || es[0].IPv4.IsValid() || es[0].MTU == 0 {
		t.Fatalf("entries %+v: want one without IPv4", es)
	}
	if links, _ := r.dp6.v6Prefixes(); !slices.Equal(links, []netip.Prefix{v6Link}) {
		t.Fatalf("data plane link prefixes %v, want %v", links, v6Link)
	}
	if len(ups) != 1 || ups[0].Protocol != ppp.ProtocolIPv6CP || !ups[0].SessionUp || ups[0].Entry.IPv4.IsValid() {
		t.Fatalf("NetworkUp events %+v: want one, IPv6CP, bringing the session up", ups)
	}
	if upHook != 1 {
		t.Fatalf("Hooks.Up called %d times, want 1", upHook)
	}
	lines := r.logs.FilterMessage("session up").All()
	if len(lines) != 1 || lines[0].Level != zapcore.InfoLevel || lines[0].ContextMap()["protocol"] != "IPv6CP" {
		t.Fatalf("session up lines %v", lines)
	}
	if snap := r.s.Snapshot(); snap.Address.IsValid() || snap.State != StateUp {
		t.Fatalf("snapshot %+v", snap)
	}
	// Past the setup deadline, the peer answering the keepalive's
	// probes: still up.
	echoes := r.echoes
	for d := time.Second; d <= DefaultSetupTimeout+5*time.Second; d += time.Second {
		r.at(d)
	}
	if r.s.Reason() != ReasonNone {
		t.Fatalf("session ended: %v", r.s.Reason())
	}
	if r.echoes == echoes {
		t.Fatal("keepalive not running: no LCP Echo-Request")
	}
	// Counters of the entry are the session's (the data plane counts
	// its IPv6 there: maps TestIPv6OnlySession).
	r.dp.setStats(Stats{PacketsUp: 3, BytesUp: 300, PacketsDown: 4, BytesDown: 400})
	if st := r.s.Snapshot().Stats; st.PacketsUp != 3 || st.BytesDown != 400 {
		t.Fatalf("snapshot stats %+v", st)
	}
}

// TestIPv6OnlyIPv6CPDown: an IPv6-only session whose IPv6CP closes has
// nothing left to forward: its entry goes (and its prefixes with it), it
// waits in the network phase as one whose IPCP closed does.
func TestIPv6OnlyIPv6CPDown(t *testing.T) {
	r := newV6Rig(t)
	r.upNoIPv4()
	r.s.act(link.NetworkDown{Protocol: ppp.ProtocolIPv6CP}, r.now)
	if es := r.dp.entries(); len(es) != 0 || r.dp.removes != 1 {
		t.Fatalf("entries %+v, %d removes: want the entry removed", es, r.dp.removes)
	}
	if links, delegated := r.dp6.v6Prefixes(); len(links)+len(delegated) != 0 {
		t.Fatalf("data plane still routes %v %v", links, delegated)
	}
	if r.s.State() != StateNetwork {
		t.Fatalf("state %v, want network", r.s.State())
	}
}

// TestIPv6FirstThenIPCP: IPv6CP opening first installs the entry without
// IPv4; IPCP opening later rewrites it in place (no second install, no
// removal) and is not a second "session up".
func TestIPv6FirstThenIPCP(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	info := r.s.link.Info()
	// Both closed: nothing installed.
	r.s.act(link.NetworkDown{Protocol: ppp.ProtocolIPCP}, r.now)
	r.s.act(link.NetworkDown{Protocol: ppp.ProtocolIPv6CP}, r.now)
	if es := r.dp.entries(); len(es) != 0 {
		t.Fatalf("entries %+v with both NCPs closed", es)
	}
	removes := r.dp.removes
	var ups []NetworkUp
	r.s.observers = append(r.s.observers, ObserverFunc(func(_ *Session, _ time.Time, e Event) {
		if u, ok := e.(NetworkUp); ok {
			ups = append(ups, u)
		}
	}))
	r.s.act(link.NetworkUp{Protocol: ppp.ProtocolIPv6CP, Info: info}, r.now)
	if es := r.dp.entries(); len(es) != 1 || es[0].IPv4.IsValid() {
		t.Fatalf("after IPv6CP: entries %+v, want one without IPv4", es)
	}
	r.s.act(link.NetworkUp{Protocol: ppp.ProtocolIPCP, Info: info}, r.now)
	es := r.dp.entries()
	if len(es) != 1 || es[0].IPv4 != info.IP.Remote || r.dp.removes != removes || r.dp.next != 2 {
		t.Fatalf("after IPCP: entries %+v, %d removes, %d installs; want the one entry with %v", es, r.dp.removes-removes, r.dp.next, info.IP.Remote)
	}
	if links, _ := r.dp6.v6Prefixes(); !slices.Equal(links, []netip.Prefix{v6Link}) {
		t.Fatalf("link prefixes %v after IPCP opened", links)
	}
	if len(ups) != 2 || !ups[0].SessionUp || ups[1].SessionUp || ups[1].Entry.IPv4 != info.IP.Remote {
		t.Fatalf("NetworkUp events %+v: want IPv6CP bringing the session up, then IPCP not", ups)
	}
}
