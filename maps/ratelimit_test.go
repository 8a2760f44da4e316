package maps

import (
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// slowRate is a rate at which one packet of n IP bytes costs d.
func slowRate(n int, d time.Duration) uint64 {
	return uint64(float64(8*n) / d.Seconds())
}

// resetRate gives index i limits l and empty buckets, as an install does.
func (e *env) resetRate(t *testing.T, i Index, l RateLimit) {
	t.Helper()
	if err := e.dp.resetRate(i, e.dp.ifindexOf(i), l); err != nil {
		t.Fatal(err)
	}
}

// rateRow runs a program once and checks its verdict and the one counter
// the row expects to move.
func (e *env) rateRow(t *testing.T, prog string, in []byte, verdict uint32, reason Reason) {
	t.Helper()
	before, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.runOne(t, prog, in)
	if got != verdict {
		t.Errorf("%s: verdict %d, want %d", prog, got, verdict)
	}
	after, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after[reason]-before[reason] != 1 {
		t.Errorf("%s: counter %v moved by %d, want 1", prog, reason, after[reason]-before[reason])
	}
}

// policerRow is one path of the untagged session through a policer: the
// first packet passes, the second finds the bucket empty and is dropped,
// counted in the direction the row limits.
type policerRow struct {
	name     string
	limit    RateLimit
	prog     string
	in       []byte
	pass     uint32
	passWhy  Reason
	drop     uint32
	dropWhy  Reason
	droppedT bool // the drop is the tx direction's
}

// policerRows runs the policer's four paths, rx and tx on the fast (XDP)
// and slow (TC) paths, over up (a frame from the subscriber), down (from
// the uplink) and slow (into pppoe0), each n IP bytes, at a rate at which
// one packet costs seconds; then, if set, then runs in the row's subtest.
func (e *env) policerRows(t *testing.T, n int, up, down, slow []byte, then func(*testing.T, policerRow)) {
	t.Helper()
	slowDir := Rate{Rate: slowRate(n, 10*time.Second), Depth: time.Millisecond}
	for _, r := range []policerRow{
		{"rx on the XDP fast path", RateLimit{Rx: slowDir}, "xdp_access_in", up, xdpRedirect, ReasonFastUp, xdpDrop, ReasonRateRxDrop, false},
		{"rx on the TC slow path", RateLimit{Rx: slowDir}, "tc_access_in", up, tcRedirect, ReasonSlowUp, tcShot, ReasonRateRxDrop, false},
		{"tx on the XDP fast path", RateLimit{Tx: slowDir}, "xdp_uplink_in", down, xdpRedirect, ReasonFastDown, xdpDrop, ReasonRateTxDrop, true},
		{"tx on the TC slow path", RateLimit{Tx: slowDir}, "tc_pppoe0_out", slow, tcRedirect, ReasonSlowDown, tcShot, ReasonRateTxDrop, true},
	} {
		t.Run(r.name, func(t *testing.T) {
			e.resetRate(t, e.idxUntagged, r.limit)
			e.rateRow(t, r.prog, r.in, r.pass, r.passWhy)
			e.rateRow(t, r.prog, r.in, r.drop, r.dropWhy)
			rs, err := e.dp.RateStats(e.idxUntagged)
			if err != nil {
				t.Fatal(err)
			}
			if d := map[bool]uint64{false: rs.DroppedRx, true: rs.DroppedTx}; d[r.droppedT] != 1 || d[!r.droppedT] != 0 {
				t.Errorf("RateStats %+v: want one drop in the %v direction only", rs, map[bool]string{false: "rx", true: "tx"}[r.droppedT])
			}
			if then != nil {
				then(t, r)
			}
		})
	}
}

// TestRatePolicer: a packet takes its bytes from the bucket, the next one
// finds it empty and is dropped, on every path and in both directions;
// time refills it, and a live SetRate applies from the next packet.
// Rates are chosen so that one packet costs seconds and the bucket holds
// a millisecond: the outcome does not depend on how fast the test runs,
// and the one wait (for a refill) only needs to be long enough.
func TestRatePolicer(t *testing.T) {
	e := newEnv(t)
	s := e.untagged
	const n = 20 + 32 // IP bytes of each packet
	upIP := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	downIP := ipv4{src: internet, dst: s.IPv4, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	up := s.up(t, upIP)
	down := ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, downIP)
	slow := ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, downIP)

	slowDir := Rate{Rate: slowRate(n, 10*time.Second), Depth: time.Millisecond}
	e.policerRows(t, n, up, down, slow, func(t *testing.T, r policerRow) {
		// A live change to a fast rate applies to the next packet:
		// the debt run up at the slow rate is forgiven.
		fast := RateLimit{Rx: Rate{Rate: 1e9}, Tx: Rate{Rate: 1e9}}
		if err := e.dp.SetRate(e.idxUntagged, fast); err != nil {
			t.Fatal(err)
		}
		e.rateRow(t, r.prog, r.in, r.pass, r.passWhy)
	})

	t.Run("refill by time", func(t *testing.T) {
		// 100 ms a packet, a 1 ms bucket: the second packet is dropped,
		// one sent after more than 100 ms passes.
		e.resetRate(t, e.idxUntagged, RateLimit{Rx: Rate{Rate: slowRate(n, 100*time.Millisecond), Depth: time.Millisecond}})
		e.rateRow(t, "xdp_access_in", up, xdpRedirect, ReasonFastUp)
		e.rateRow(t, "xdp_access_in", up, xdpDrop, ReasonRateRxDrop)
		time.Sleep(250 * time.Millisecond)
		e.rateRow(t, "xdp_access_in", up, xdpRedirect, ReasonFastUp)
	})

	t.Run("unlimited after remove and reinstall", func(t *testing.T) {
		e.resetRate(t, e.idxUntagged, RateLimit{Rx: slowDir})
		if err := e.dp.Remove(s.Key); err != nil {
			t.Fatal(err)
		}
		idx, err := e.dp.Install(s)
		if err != nil {
			t.Fatal(err)
		}
		e.idxUntagged = idx
		for range 3 {
			e.rateRow(t, "xdp_access_in", up, xdpRedirect, ReasonFastUp)
		}
	})
}

// TestRateBurst: RouterOS's burst. With a burst rate, packets pass at it
// while the average over burst-time is below burst-threshold; once the
// average (taken every burst-time/16) reaches it, the rate is max-limit.
func TestRateBurst(t *testing.T) {
	e := newEnv(t)
	s := e.untagged
	ip := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(480)}.marshal()
	up := s.up(t, ip)
	// 500-byte packets; max-limit: one costs 10 s; burst-limit 1G;
	// threshold 1600 bytes over burst-time 1.6 s (8000 bits/s).
	lim := RateLimit{Rx: Rate{Rate: slowRate(500, 10*time.Second), BurstRate: 1e9, BurstThreshold: 8000,
		BurstTime: 1600 * time.Millisecond, Depth: time.Millisecond}}
	e.resetRate(t, e.idxUntagged, lim)
	if rs, _ := e.dp.RateStats(e.idxUntagged); !rs.BurstingRx {
		t.Errorf("RateStats %+v: an idle session may burst", rs)
	}
	// However the sub-window boundaries fall, four packets (2000 bytes)
	// pass before any average can reach 1600 bytes; then, with the
	// average over the threshold, the 10 s max-limit drops the rest.
	passed := 0
	for i := 0; i < 200 && passed == i; i++ {
		if v, _ := e.runOne(t, "xdp_access_in", up); v == xdpRedirect {
			passed++
		}
		if passed >= 4 {
			time.Sleep(10 * time.Millisecond) // let sub-windows end
		}
	}
	if passed < 4 || passed == 200 {
		t.Fatalf("%d packets passed before the first drop; want at least 4 and a drop", passed)
	}
	if rs, _ := e.dp.RateStats(e.idxUntagged); rs.BurstingRx || rs.DroppedRx != 1 {
		t.Errorf("RateStats %+v: want burst off and one drop", rs)
	}
	// Without a burst the second packet is dropped.
	e.resetRate(t, e.idxUntagged, RateLimit{Rx: Rate{Rate: lim.Rx.Rate, Depth: time.Millisecond}})
	e.rateRow(t, "xdp_access_in", up, xdpRedirect, ReasonFastUp)
	e.rateRow(t, "xdp_access_in", up, xdpDrop, ReasonRateRxDrop)
}

// TestRateShape: a shaped tx direction leaves the XDP fast path for TC,
// where packets get departure times one packet's time apart, and a packet
// that would leave later than the horizon is dropped.
func TestRateShape(t *testing.T) {
	e := newEnv(t)
	s := e.untagged
	downIP := ipv4{src: internet, dst: s.IPv4, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	down := ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, downIP)
	slow := ethFrame(t, e.pppoe0MAC, e.pppoe0MAC, ethernet.EtherTypeIPv4, downIP)
	// 10 s a packet, 25 s horizon: two packets are queued, the third is late.
	lim := RateLimit{Tx: Rate{Rate: slowRate(52, 10*time.Second), Shape: true, Depth: 25 * time.Second}}
	rx, tx, err := lim.confs()
	if err != nil {
		t.Fatal(err)
	}
	// The EDT configuration as the BPF sees it; the fq qdisc that would
	// hold the packets is not the BPF's (and not in every kernel).
	e.dp.resetRateConf(e.idxUntagged, rx, tx)
	e.rateRow(t, "xdp_uplink_in", down, xdpPass, ReasonPassShape)

	tstamp := func() (uint32, time.Duration) {
		t.Helper()
		ctx := skbCtx(e.pppoe0)
		out := make([]uint32, len(ctx))
		opts := &ebpf.RunOptions{Data: slow, DataOut: make([]byte, len(slow)+64), Context: ctx, ContextOut: out}
		var v uint32
		if err := e.ns.Do(t, func() (err error) { v, err = e.dp.Program("tc_pppoe0_out").Run(opts); return err }); err != nil {
			t.Fatal(err)
		}
		// __sk_buff.tstamp is the u64 at offset 152.
		return v, time.Duration(uint64(out[38]) | uint64(out[39])<<32)
	}
	var now unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	start := time.Duration(now.Nano())
	if v, ts := tstamp(); v != tcRedirect || ts != 0 {
		t.Errorf("first packet: verdict %d, tstamp %v; want redirect now (0)", v, ts)
	}
	// The data plane's clock is the coarse one, up to a tick behind.
	v, ts := tstamp()
	if v != tcRedirect || ts < start+9*time.Second || ts > start+11*time.Second {
		t.Errorf("second packet: verdict %d, tstamp %v after the start; want redirect 10 s after the first", v, ts-start)
	}
	v, ts = tstamp()
	if v != tcRedirect || ts < start+19*time.Second || ts > start+21*time.Second {
		t.Errorf("third packet: verdict %d, tstamp %v after the start; want redirect 20 s after the first", v, ts-start)
	}
	e.rateRow(t, "tc_pppoe0_out", slow, tcShot, ReasonRateShapeDrop)
	if rs, _ := e.dp.RateStats(e.idxUntagged); rs.DroppedTx != 1 {
		t.Errorf("RateStats %+v: want one tx drop", rs)
	}
}

// TestRateConf checks the user-space side of the conversion: shaping is
// refused on rx, rates become ns per byte, the burst threshold bytes.
func TestRateConf(t *testing.T) {
	if _, err := (Rate{Rate: 1e6, Shape: true}).conf(false); err == nil {
		t.Error("shaping rx accepted")
	}
	c, err := Rate{Rate: 8e6, BurstRate: 16e6, BurstThreshold: 4e6, BurstTime: 8 * time.Second}.conf(true)
	if err != nil {
		t.Fatal(err)
	}
	// 1 MB/s: 1000 ns a byte; 2 MB/s: 500; 4 Mbit/s over 8 s: 4 MB.
	if c.Nspb != 1000<<rateFPShift || c.BurstNspb != 500<<rateFPShift || c.Threshold != 4e6 ||
		c.WindowNs != uint64(500*time.Millisecond) || c.DepthNs != uint64(DefaultRateDepth) || c.UnitShift != 0 {
		t.Errorf("conf %+v", c)
	}
	// A 1 Tbit/s burst over an hour needs coarser window counters.
	c, err = Rate{Rate: 1e11, BurstRate: 1e12, BurstThreshold: 5e11, BurstTime: time.Hour}.conf(true)
	if err != nil {
		t.Fatal(err)
	}
	if most := uint64(1e12/8) * uint64((time.Hour/16+DefaultRateDepth)/time.Second); most>>c.UnitShift >= 1<<31 {
		t.Errorf("unit shift %d leaves %d units a window", c.UnitShift, most>>c.UnitShift)
	}
	if want := uint64(5e11/8*3600) >> c.UnitShift; c.Threshold != want {
		t.Errorf("threshold %d, want %d", c.Threshold, want)
	}
}

// TestRateClient: a client session's limits, in the router's directions:
// rx is what the AC sends (tc_access_in into the netdev), tx what we send
// it (tc_client_out), each charged once, set at InstallClient.
func TestRateClient(t *testing.T) {
	e := newClientEnv(t)
	slowDir := Rate{Rate: slowRate(44, 10*time.Second), Depth: time.Millisecond}
	c, dev := e.sess[0], e.devs[0]
	c.Limit = RateLimit{Rx: slowDir, Tx: slowDir}
	idx, err := e.dp.InstallClient(dev, c)
	if err != nil {
		t.Fatal(err)
	}
	in := c.fromAC(t, ppp.ProtocolIPv4, ipv4{src: farServer, dst: clientIP, ttl: 60, proto: unix.IPPROTO_UDP, payload: udp(24)}.marshal())
	out := ethFrame(t, dev.MAC, dev.MAC, ethernet.EtherTypeIPv4, ipv4{src: clientIP, dst: farServer, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(24)}.marshal())
	run := func(prog string, frame []byte, ctx []uint32) uint32 {
		t.Helper()
		opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+64), Context: ctx}
		var v uint32
		if err := e.ns.Do(t, func() (err error) { v, err = e.dp.Program(prog).Run(opts); return err }); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, p := range []struct {
		prog  string
		frame []byte
		ctx   []uint32
	}{{"tc_access_in", in, skbCtx(e.acc)}, {"tc_client_out", out, skbCtx(dev.PeerIndex)}} {
		if v := run(p.prog, p.frame, p.ctx); v != tcRedirect {
			t.Errorf("%s: first packet verdict %d, want redirect", p.prog, v)
		}
		if v := run(p.prog, p.frame, p.ctx); v != tcShot {
			t.Errorf("%s: second packet verdict %d, want shot", p.prog, v)
		}
	}
	if rs, err := e.dp.RateStats(idx); err != nil || rs.DroppedRx != 1 || rs.DroppedTx != 1 {
		t.Errorf("RateStats %+v, %v: want one drop each way", rs, err)
	}
}

// TestRateLine: what a policed packet reads and writes of its direction
// (configuration and bucket) is one cache line of rates, its burst ring
// the next; a direction's rates_on bit is set exactly while it has a
// limit, so an unlimited direction reads no rates line.
func TestRateLine(t *testing.T) {
	var rs dataplaneRateSession
	var l dataplaneRateLine
	if rateSessionSize%64 != 0 || unsafe.Sizeof(l) != 64 {
		t.Fatalf("rate_session %d bytes, rate_line %d: want whole cache lines", rateSessionSize, unsafe.Sizeof(l))
	}
	for dir := range 2 {
		line := int(unsafe.Offsetof(rs.Dir)) + dir*rateHalfSize
		for name, off := range map[string]uintptr{"nspb": unsafe.Offsetof(l.Nspb), "tat_ns": unsafe.Offsetof(l.TatNs),
			"epoch": unsafe.Offsetof(l.Epoch), "window_ns": unsafe.Offsetof(l.WindowNs), "flags": unsafe.Offsetof(l.Flags)} {
			if at := line + int(off); at/64 != line/64 || line%64 != 0 {
				t.Errorf("dir %d: %s at byte %d of the session, not in the line at %d", dir, name, at, line)
			}
		}
	}

	e := newEnv(t)
	bits := func() (rx, tx bool) {
		on, bit := e.dp.rateBit(e.idxUntagged, 0)
		w := *on
		return w&bit != 0, w&(bit<<1) != 0
	}
	lim := Rate{Rate: 1e6}
	for _, c := range []struct {
		name   string
		set    func() error
		rx, tx bool
	}{
		{"rx limited", func() error { return e.dp.SetRate(e.idxUntagged, RateLimit{Rx: lim}) }, true, false},
		{"both limited", func() error { return e.dp.SetRate(e.idxUntagged, RateLimit{Rx: lim, Tx: lim}) }, true, true},
		{"tx limited", func() error { return e.dp.SetRate(e.idxUntagged, RateLimit{Tx: lim}) }, false, true},
		{"none", func() error { return e.dp.SetRate(e.idxUntagged, RateLimit{}) }, false, false},
		{"reset to both", func() error {
			return e.dp.resetRate(e.idxUntagged, e.dp.ifindexOf(e.idxUntagged), RateLimit{Rx: lim, Tx: lim})
		}, true, true},
		{"session removed", func() error { return e.dp.Remove(e.untagged.Key) }, false, false},
	} {
		if err := c.set(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rx, tx := bits(); rx != c.rx || tx != c.tx {
			t.Errorf("%s: rates_on rx %v tx %v, want %v %v", c.name, rx, tx, c.rx, c.tx)
		}
	}
}

// TestRateTwoCPUs: both CPUs charge one session's upload at once. The
// bucket's compare-and-swap must never let two packets spend the same
// time, so what passes is at most the bucket's depth plus the rate over
// the time the runs took (plus a tick: the data plane's clock is the
// coarse one), and every packet is either forwarded or dropped.
func TestRateTwoCPUs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	e := newEnv(t)
	s := e.untagged
	// Far more offered than the rate (each run is a syscall of a few
	// microseconds); a bucket many ticks of the coarse clock deep.
	const n, repeat = 20 + 32, 20000
	cost := 200 * time.Microsecond
	depth := 50 * time.Millisecond
	e.resetRate(t, e.idxUntagged, RateLimit{Rx: Rate{Rate: slowRate(n, cost), Depth: depth}})
	up := s.up(t, ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal())
	prog := e.dp.Program("xdp_access_in")
	before, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, 2)
	for cpu := range 2 {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			errs[cpu] = e.ns.Do(t, func() error {
				var all, one unix.CPUSet
				if err := unix.SchedGetaffinity(0, &all); err != nil {
					ready.Done()
					return err
				}
				defer unix.SchedSetaffinity(0, &all)
				one.Set(cpu)
				err := unix.SchedSetaffinity(0, &one)
				ready.Done()
				if err != nil {
					return err
				}
				<-start
				// One run a call: a repeated run hands the next round
				// the frame the last one decapsulated.
				out, ctx := make([]byte, len(up)+256), xdpCtx(e.acc, len(up))
				for range repeat {
					// Run shortens DataOut to what came out.
					if _, err := prog.Run(&ebpf.RunOptions{Data: up, DataOut: out, Context: ctx}); err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after, err := e.dp.Counters()
	if err != nil {
		t.Fatal(err)
	}
	passed := after[ReasonFastUp] - before[ReasonFastUp]
	dropped := after[ReasonRateRxDrop] - before[ReasonRateRxDrop]
	if passed+dropped != 2*repeat {
		t.Errorf("%d passed + %d dropped, want %d packets", passed, dropped, 2*repeat)
	}
	const tick = 10 * time.Millisecond
	most := uint64((depth+elapsed+tick)/cost) + 2
	if passed > most || passed < uint64(depth/cost)/2 {
		t.Errorf("%d of %d packets passed in %v; the rate allows %d at most (and at least half the bucket, %d)",
			passed, 2*repeat, elapsed, most, uint64(depth/cost)/2)
	}
	rs, err := e.dp.RateStats(e.idxUntagged)
	if err != nil || rs.DroppedRx != dropped {
		t.Errorf("RateStats %+v, %v: want %d rx drops", rs, err, dropped)
	}
	t.Logf("%d of %d passed in %v (at most %d)", passed, 2*repeat, elapsed, most)
}
