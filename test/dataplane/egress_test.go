package dataplane

import (
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// waitRedirects waits until the AC's data plane does (or does not) redirect
// to a device: it learns of a change from a kernel notification.
func waitRedirects(t *testing.T, dp *maps.Datapath, ifindex int, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok, err := dp.XDPRedirects(ifindex)
		must(t, err)
		if ok == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ifindex %d: XDP redirect target %v, want %v", ifindex, ok, want)
		}
	}
}

// counterDelta runs f and returns how far each AC counter moved.
func counterDelta(t *testing.T, tp *topo, f func()) map[maps.Reason]uint64 {
	t.Helper()
	before, err := tp.acDP.Counters()
	must(t, err)
	f()
	after, err := tp.acDP.Counters()
	must(t, err)
	d := map[maps.Reason]uint64{}
	for r, v := range after {
		d[r] = v - before[r]
	}
	return d
}

// resolve pings the core once through each session, unmeasured: the
// first packet to a core address waits for the AC to resolve its neighbour
// (no_neigh, the kernel's path).
func resolve(t *testing.T, tp *topo, subs ...*sub) {
	t.Helper()
	for _, s := range subs {
		if got := tp.sub.Ping(t, s.addr, s.target, 1, 56); got != 1 {
			t.Fatalf("%s: first ping: %d/1 replies", s.name, got)
		}
	}
}

// TestKernelFallback: neither far end can take XDP frames (cor0 is a plain
// veth; the subscriber's data path runs in generic XDP, which does not let
// a veth peer take them either), so the kernel forwards what the fast
// paths would have redirected: ping, UDP and TCP both ways through every
// session, counted as pass_no_xdp_xmit and never as fast.
func TestKernelFallback(t *testing.T) {
	tp := newTopoWith(t, topoOpts{subGeneric: true})
	for _, i := range []int{tp.acc0, tp.up0} {
		if ok, err := tp.acDP.XDPRedirects(i); err != nil || ok {
			t.Fatalf("ifindex %d is an XDP redirect target (%v)", i, err)
		}
	}
	d := counterDelta(t, tp, func() {
		for _, s := range tp.sessions {
			if got := tp.sub.Ping(t, s.addr, s.target, 3, 56); got != 3 {
				t.Errorf("%s: ping core: %d/3 replies", s.name, got)
			}
			if got := tp.core.Ping(t, s.target, s.addr, 3, 1000); got != 3 {
				t.Errorf("%s: core ping subscriber: %d/3 replies", s.name, got)
			}
		}
		udpEcho(t, tp, tp.sessions[2])
		netns.TCPExchange(t, tp.sub, tp.core, tp.sessions[0].addr, tp.sessions[0].target, 300_000)
		netns.TCPExchange(t, tp.core, tp.sub, tp.sessions[1].target, tp.sessions[1].addr, 300_000)
	})
	// 18 echoes and 5 datagrams each way at least, and the TCP segments.
	if d[maps.ReasonPassNoXDPXmit] < 2*(18+5) {
		t.Errorf("pass_no_xdp_xmit moved by %d, want ≥ %d", d[maps.ReasonPassNoXDPXmit], 2*(18+5))
	}
	if d[maps.ReasonSlowUp] < 18+5 || d[maps.ReasonSlowDown] < 18+5 {
		t.Errorf("slow_up %d, slow_down %d: want each ≥ 23", d[maps.ReasonSlowUp], d[maps.ReasonSlowDown])
	}
	for _, r := range []maps.Reason{maps.ReasonFastUp, maps.ReasonFastDown, maps.ReasonError, maps.ReasonMalformed,
		maps.ReasonUnknownSession, maps.ReasonUnknownDest, maps.ReasonGSO} {
		if d[r] != 0 {
			t.Errorf("%v moved by %d", r, d[r])
		}
	}
}

// TestFastPathFollowsFarEnd: the upstream fast path starts redirecting to
// up0 when its peer becomes able to take XDP frames, and stops when it no
// longer is, with nothing but the kernel's notification to go by. This
// test exists to show the fast path, so it turns GRO on at the far end
// (cor0) for a while.
func TestFastPathFollowsFarEnd(t *testing.T) {
	tp := newTopo(t)
	s := tp.sessions[0]
	resolve(t, tp, s)
	ping := func(what string) map[maps.Reason]uint64 {
		return counterDelta(t, tp, func() {
			if got := tp.sub.Ping(t, s.addr, s.target, 3, 56); got != 3 {
				t.Errorf("%s: ping core: %d/3 replies", what, got)
			}
		})
	}
	if d := ping("plain cor0"); d[maps.ReasonPassNoXDPXmit] < 3 || d[maps.ReasonFastUp] != 0 {
		t.Errorf("plain cor0: pass_no_xdp_xmit %d, fast_up %d; want ≥ 3, 0", d[maps.ReasonPassNoXDPXmit], d[maps.ReasonFastUp])
	}
	tp.core.GRO(t, "cor0", true)
	waitRedirects(t, tp.acDP, tp.up0, true)
	if d := ping("GRO on cor0"); d[maps.ReasonFastUp] < 3 || d[maps.ReasonPassNoXDPXmit] != 0 {
		t.Errorf("GRO on cor0: fast_up %d, pass_no_xdp_xmit %d; want ≥ 3, 0", d[maps.ReasonFastUp], d[maps.ReasonPassNoXDPXmit])
	}
	d := counterDelta(t, tp, func() {
		netns.TCPExchange(t, tp.sub, tp.core, s.addr, s.target, 300_000)
	})
	if d[maps.ReasonFastUp] == 0 || d[maps.ReasonFastDown] == 0 {
		t.Errorf("TCP with both far ends able: fast_up %d, fast_down %d", d[maps.ReasonFastUp], d[maps.ReasonFastDown])
	}
	tp.core.GRO(t, "cor0", false)
	waitRedirects(t, tp.acDP, tp.up0, false)
	if d := ping("GRO off again"); d[maps.ReasonPassNoXDPXmit] < 3 || d[maps.ReasonFastUp] != 0 {
		t.Errorf("GRO off again: pass_no_xdp_xmit %d, fast_up %d; want ≥ 3, 0", d[maps.ReasonPassNoXDPXmit], d[maps.ReasonFastUp])
	}
}

// TestVLANTagsAside: the subscriber's outer VLAN tags reach acc0 beside the
// frame, as a NIC with rx VLAN offload (on by default on veth and most
// NICs) hands its driver the tag it stripped. The AC reads them from the
// XDP metadata, so its VLAN and QinQ sessions still take the fast path
// instead of showing as unknown sessions. This test exists to show the
// fast path, so cor0 has GRO on.
func TestVLANTagsAside(t *testing.T) {
	tp := newTopo(t)
	tp.core.GRO(t, "cor0", true)
	waitRedirects(t, tp.acDP, tp.up0, true)
	resolve(t, tp, tp.sessions[1:]...)
	tp.sub.TagsAside(t, "eth0")
	d := counterDelta(t, tp, func() {
		for _, s := range tp.sessions[1:] { // VLAN 100; QinQ 0x88a8 10 / 0x8100 20
			if got := tp.sub.Ping(t, s.addr, s.target, 3, 56); got != 3 {
				t.Errorf("%s: ping core: %d/3 replies", s.name, got)
			}
		}
	})
	if d[maps.ReasonFastUp] < 6 || d[maps.ReasonUnknownSession] != 0 || d[maps.ReasonSlowUp] != 0 {
		t.Errorf("fast_up %d, unknown_session %d, slow_up %d: want ≥ 6, 0, 0",
			d[maps.ReasonFastUp], d[maps.ReasonUnknownSession], d[maps.ReasonSlowUp])
	}
}
