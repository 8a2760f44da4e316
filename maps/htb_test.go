package maps

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// htbClassesOn lists pppoed's HTB classes on ifindex by minor, and whether
// its qdisc is there; run in the namespace.
func htbClassesOn(t *testing.T, ifindex int) (map[uint16]*netlink.HtbClass, bool) {
	t.Helper()
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := hasHTB(link)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16]*netlink.HtbClass{}
	if !ok {
		return out, false
	}
	cls, err := netlink.ClassList(link, netlink.MakeHandle(HTBMajor, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cls {
		if h, ok := c.(*netlink.HtbClass); ok {
			_, minor := netlink.MajorMinor(h.Handle)
			out[minor] = h
		}
	}
	return out, true
}

// TestRateHTB: with the HTB shaper a shaped session's download leaves XDP
// for TC as under EDT, and the TC path names the session's class in
// skb->priority instead of charging a bucket; the class is made with the
// session's rate, changed in place with it, deleted with the session, and
// the qdisc with the last class.
func TestRateHTB(t *testing.T) {
	e := newEnv(t)
	e.dp.shaper = ShaperHTB
	s := e.untagged
	downIP := ipv4{src: internet, dst: s.IPv4, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	down := ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, downIP)
	slow := ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, downIP)
	// A rate at which the second packet would be late for a policer or
	// the EDT horizon: under HTB the BPF charges nothing.
	lim := RateLimit{Tx: Rate{Rate: 10e6, Shape: true, Depth: time.Nanosecond}}
	if err := e.ns.Do(t, func() error { return e.dp.SetRate(e.idxUntagged, lim) }); err != nil {
		t.Fatal(err)
	}
	minor := e.dp.HTBClass(e.idxUntagged)
	if minor == 0 {
		t.Fatal("no HTB class for the shaped session")
	}
	_ = e.ns.Do(t, func() error {
		cls, ok := htbClassesOn(t, e.acc)
		if c := cls[minor]; !ok || c == nil || c.Rate != 10e6/8 || c.Ceil != 10e6/8 || len(cls) != 1 {
			t.Errorf("classes on acc0 (qdisc %v): %v, want %x:%x at 10M", ok, cls, HTBMajor, minor)
		}
		return nil
	})
	leaf := func() string {
		t.Helper()
		out, err := e.ns.Output("tc", "qdisc", "show", "dev", "acc0")
		if err != nil {
			t.Fatal(err, out)
		}
		return out
	}
	// HTB counts the IP packet: the Ethernet and PPPoE headers are taken
	// off by a size table.
	if q, _ := e.ns.Output("tc", "-d", "qdisc", "show", "dev", "acc0"); !strings.Contains(q, "overhead -22") {
		t.Errorf("no size table taking 22 bytes off:\n%s", q)
	}
	// A horizon of 1 ns: the shortest leaf queue.
	if q, want := leaf(), fmt.Sprintf("qdisc pfifo %x: parent %x:%x limit %dp", minor, HTBMajor, minor, htbLeafMin); !strings.Contains(q, want) {
		t.Errorf("leaf queue: want pfifo %s:\n%s", want, q)
	}
	e.rateRow(t, "xdp_uplink_in", down, xdpPass, ReasonPassShape)
	prio := func() uint32 {
		t.Helper()
		ctx := skbCtx(e.pppoe0)
		out := make([]uint32, len(ctx))
		opts := &ebpf.RunOptions{Data: slow, DataOut: make([]byte, len(slow)+64), Context: ctx, ContextOut: out}
		var v uint32
		if err := e.ns.Do(t, func() (err error) { v, err = e.dp.Program("tc_pppoe0_out").Run(opts); return err }); err != nil {
			t.Fatal(err)
		}
		if v != tcRedirect {
			t.Errorf("tc_pppoe0_out verdict %d, want redirect", v)
		}
		return out[8] // __sk_buff.priority, offset 32
	}
	want := uint32(HTBMajor)<<16 | uint32(minor)
	for i := range 3 {
		if p := prio(); p != want {
			t.Errorf("packet %d: skb->priority %#x, want %#x", i, p, want)
		}
	}
	if rs, _ := e.dp.RateStats(e.idxUntagged); rs.DroppedTx != 0 {
		t.Errorf("RateStats %+v: the BPF dropped under HTB", rs)
	}
	// The qdisc's drops are read (none yet: PROG_TEST_RUN sends nothing).
	var drops uint64
	_ = e.ns.Do(t, func() error {
		var err error
		drops, err = qdiscDrops(e.acc)
		if err != nil || drops != 0 {
			t.Errorf("qdisc drops %d, %v; want 0", drops, err)
		}
		return nil
	})

	// A rate change (a CoA) is a class change: same minor, new rate,
	// with a burst as ceil, and a leaf queue of 1 s (DefaultShapeHorizon) at
	// 20M in full frames.
	lim.Tx.Depth = 0
	lim.Tx.Rate, lim.Tx.BurstRate, lim.Tx.BurstThreshold, lim.Tx.BurstTime = 20e6, 40e6, 10e6, 8*time.Second
	if err := e.ns.Do(t, func() error { return e.dp.SetRate(e.idxUntagged, lim) }); err != nil {
		t.Fatal(err)
	}
	if m := e.dp.HTBClass(e.idxUntagged); m != minor {
		t.Errorf("minor %x after the change, want %x", m, minor)
	}
	_ = e.ns.Do(t, func() error {
		cls, _ := htbClassesOn(t, e.acc)
		if c := cls[minor]; c == nil || c.Rate != 20e6/8 || c.Ceil != 40e6/8 {
			t.Errorf("class after the change: %v, want rate 20M ceil 40M", c)
		}
		return nil
	})
	if q, want := leaf(), fmt.Sprintf("qdisc pfifo %x: parent %x:%x limit %dp", minor, HTBMajor, minor, 20_000_000/8/htbLeafFrame); !strings.Contains(q, want) {
		t.Errorf("leaf queue after the change: want %s:\n%s", want, q)
	}
	if p := prio(); p != want {
		t.Errorf("after the change: skb->priority %#x, want %#x", p, want)
	}

	// Policed again: the BPF stops naming the class, which goes, and
	// the qdisc with it.
	lim.Tx.Shape = false
	if err := e.ns.Do(t, func() error { return e.dp.SetRate(e.idxUntagged, lim) }); err != nil {
		t.Fatal(err)
	}
	if p := prio(); p != 0 {
		t.Errorf("policed: skb->priority %#x, want 0", p)
	}
	_ = e.ns.Do(t, func() error {
		if cls, ok := htbClassesOn(t, e.acc); ok || len(cls) != 0 {
			t.Errorf("policed: qdisc %v, classes %v; want none", ok, cls)
		}
		return nil
	})

	// Shaped again, then removed: class and qdisc go with the session.
	lim.Tx.Shape = true
	if err := e.ns.Do(t, func() error { return e.dp.SetRate(e.idxUntagged, lim) }); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.Do(t, func() error { return e.dp.Remove(s.Key) }); err != nil {
		t.Fatal(err)
	}
	_ = e.ns.Do(t, func() error {
		if cls, ok := htbClassesOn(t, e.acc); ok || len(cls) != 0 {
			t.Errorf("removed: qdisc %v, classes %v; want none", ok, cls)
		}
		return nil
	})
}

// TestRateHTBRestart: a new process (Open on the same pins) finds the
// class of each installed HTB-shaped session, keeps it and its minor,
// deletes a class no session holds, and removing a session that is not
// restored deletes its class.
func TestRateHTBRestart(t *testing.T) {
	e := newEnv(t)
	e.dp.shaper = ShaperHTB
	lim := RateLimit{Tx: Rate{Rate: 10e6, Shape: true}}
	for _, i := range []Index{e.idxUntagged, e.idxQQ} {
		if err := e.ns.Do(t, func() error { return e.dp.SetRate(i, lim) }); err != nil {
			t.Fatal(err)
		}
	}
	kept, swept := e.dp.HTBClass(e.idxUntagged), e.dp.HTBClass(e.idxQQ)
	// A class of no session: what a crash between a class's creation and
	// its session's install leaves.
	const orphan = 0x7777
	if err := e.ns.Do(t, func() error { return netlink.ClassAdd(htbClassOf(e.acc, orphan, lim.Tx)) }); err != nil {
		t.Fatal(err)
	}
	var dp2 *Datapath
	if err := e.ns.Do(t, func() (err error) {
		dp2, err = Open(Options{PinPath: e.dp.PinPath(), MaxSessions: 1024})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer dp2.Close()
	if m := dp2.HTBClass(e.idxUntagged); m != kept {
		t.Errorf("reopened: session's minor %x, want %x", m, kept)
	}
	_ = e.ns.Do(t, func() error {
		cls, ok := htbClassesOn(t, e.acc)
		if !ok || cls[kept] == nil || cls[swept] == nil || cls[orphan] != nil {
			t.Errorf("reopened: qdisc %v, classes %v; want %x and %x, not %x", ok, cls, kept, swept, orphan)
		}
		return nil
	})
	// The QinQ session is not restored: the reconciler removes it.
	if err := e.ns.Do(t, func() error { return dp2.Remove(e.qinq.Key) }); err != nil {
		t.Fatal(err)
	}
	_ = e.ns.Do(t, func() error {
		cls, ok := htbClassesOn(t, e.acc)
		if !ok || cls[kept] == nil || cls[swept] != nil {
			t.Errorf("after the sweep: qdisc %v, classes %v; want only %x", ok, cls, kept)
		}
		return nil
	})
	if m := dp2.HTBClass(e.idxQQ); m != 0 {
		t.Errorf("removed session still has class %x", m)
	}
}

// TestHTBClassDrops: what a shaped session's leaf queue refuses is read
// back by session index from its class. Frames go out of acc0 from a
// packet socket whose priority names the class, as tc_pppoe0_out's
// skb->priority does (PROG_TEST_RUN sends nothing): at 1M the bucket
// passes a few, the 64-packet leaf takes 64, and the kernel refuses the
// rest, each send of a refused frame failing with ENOBUFS.
func TestHTBClassDrops(t *testing.T) {
	e := newEnv(t)
	e.dp.shaper = ShaperHTB
	slow := RateLimit{Tx: Rate{Rate: 1e6, Shape: true, Depth: time.Nanosecond}}
	idle := RateLimit{Tx: Rate{Rate: 10e6, Shape: true}}
	if err := e.ns.Do(t, func() error {
		return errors.Join(e.dp.SetRate(e.idxUntagged, slow), e.dp.SetRate(e.idxQQ, idle))
	}); err != nil {
		t.Fatal(err)
	}
	minor := e.dp.HTBClass(e.idxUntagged)
	frame := make([]byte, 1514)
	copy(frame, clientMAC)
	copy(frame[6:], acMAC)
	frame[12], frame[13] = 0x88, 0x64 // a PPPoE session frame's EtherType
	const sent = 300
	var refused int
	if err := e.ns.Do(t, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, HTBMajor<<16|int(minor)); err != nil {
			return err
		}
		to := &unix.SockaddrLinklayer{Ifindex: e.acc, Protocol: 0x6488} // network order
		for range sent {
			switch err := unix.Sendto(fd, frame, unix.MSG_DONTWAIT, to); {
			case errors.Is(err, unix.ENOBUFS):
				refused++
			case errors.Is(err, unix.EAGAIN): // the socket's buffer is full: not sent
			case err != nil:
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if refused < sent/2 {
		t.Fatalf("%d of %d frames refused at 1M with a 64-packet leaf", refused, sent)
	}
	var drops map[Index]uint64
	if err := e.ns.Do(t, func() (err error) { drops, err = e.dp.HTBClassDrops(); return err }); err != nil {
		t.Fatal(err)
	}
	want := map[Index]uint64{e.idxUntagged: uint64(refused), e.idxQQ: 0}
	if !reflect.DeepEqual(drops, want) {
		t.Errorf("HTBClassDrops = %v, want %v (the unshaped tagged session has no class)", drops, want)
	}
	// A rate change keeps the class and its count.
	slow.Tx.Rate = 2e6
	if err := e.ns.Do(t, func() error { return e.dp.SetRate(e.idxUntagged, slow) }); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.Do(t, func() (err error) { drops, err = e.dp.HTBClassDrops(); return err }); err != nil {
		t.Fatal(err)
	}
	if drops[e.idxUntagged] != uint64(refused) {
		t.Errorf("after a rate change: %d drops, want %d", drops[e.idxUntagged], refused)
	}
}

// TestHTBClassLimit: the shaped session past MaxHTBClasses on an access
// interface is refused with ErrNoHTBClass, no minor is one a qdisc's
// handle needs, and a released minor is found again.
func TestHTBClassLimit(t *testing.T) {
	h := newHTBClasses()
	for i := range MaxHTBClasses {
		m, err := h.alloc(7)
		if err != nil {
			t.Fatalf("class %d: %v", i, err)
		}
		if m == 0 || m == HTBMajor || m == 0xffff {
			t.Fatalf("class %d: minor %x", i, m)
		}
		h.claim(Index(i), 7, m)
	}
	if _, err := h.alloc(7); !errors.Is(err, ErrNoHTBClass) {
		t.Fatalf("class %d: %v, want ErrNoHTBClass", MaxHTBClasses+1, err)
	}
	if _, err := h.alloc(8); err != nil {
		t.Errorf("another interface: %v", err)
	}
	c, _ := h.release(Index(1234))
	if m, err := h.alloc(7); err != nil || m != c.minor {
		t.Errorf("after a release: minor %x, %v; want %x", m, err, c.minor)
	}
}

// TestHTBClassOf: RouterOS's settings as HTB's: rate = max-limit; a burst
// is the ceil, with a rate bucket that lasts burst-time x threshold /
// burst-limit at burst-limit from idle.
func TestHTBClassOf(t *testing.T) {
	c := htbClassOf(3, 5, Rate{Rate: 10e6})
	if c.Rate != 10e6/8 || c.Ceil != 10e6/8 || c.Quantum != htbQuantum || c.Handle != netlink.MakeHandle(HTBMajor, 5) {
		t.Errorf("no burst: %+v", c)
	}
	// 10M/20M threshold 8M time 16 s: a 6.4 s burst from idle, draining
	// (20M-10M)/8 bytes a second: 8 MB, 6.4 s at 10M.
	c = htbClassOf(3, 5, Rate{Rate: 10e6, BurstRate: 20e6, BurstThreshold: 8e6, BurstTime: 16 * time.Second})
	wantTicks := float64(6.4e6) * netlink.TickInUsec()
	if c.Ceil != 20e6/8 || float64(c.Buffer) < wantTicks*0.99 || float64(c.Buffer) > wantTicks*1.01 {
		t.Errorf("burst: ceil %d buffer %d ticks, want 2.5 MB/s and %.0f", c.Ceil, c.Buffer, wantTicks)
	}
	// A bucket of hours at a slow rate is capped, not wrapped.
	c = htbClassOf(3, 5, Rate{Rate: 1000, BurstRate: 1e9, BurstThreshold: 1e9, BurstTime: time.Hour})
	if c.Buffer != 1<<32-1 {
		t.Errorf("huge bucket: %d ticks, want the cap", c.Buffer)
	}
}
