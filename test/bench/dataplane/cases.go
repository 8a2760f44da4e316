package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// ipv4UDP is an IPv4/UDP packet of tot bytes; the generator fills in the
// header checksum (RFC 791 §3.1); the UDP checksum is 0 (none, RFC 768).
func ipv4UDP(src, dst netip.Addr, tot int) []byte {
	b := make([]byte, tot)
	b[0] = 0x45 // version 4, IHL 5
	binary.BigEndian.PutUint16(b[2:], uint16(tot))
	b[8], b[9] = 64, 17 // TTL, UDP
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], 40000)          // source port (rewritten per frame downstream)
	binary.BigEndian.PutUint16(b[22:], 9)              // discard
	binary.BigEndian.PutUint16(b[24:], uint16(tot-20)) // UDP length
	return b
}

func eth(dst, src net.HardwareAddr, et uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, payload...)
}

// pppoeSession wraps an IPv4 packet in RFC 2516 §5 session framing with
// PPP protocol 0x0021.
func pppoeSession(sid uint16, ip []byte) []byte {
	b := []byte{0x11, 0x00, byte(sid >> 8), byte(sid), 0, 0, 0x00, 0x21}
	binary.BigEndian.PutUint16(b[4:], uint16(len(ip)+2))
	return append(b, ip...)
}

// Session i of the benchmark, as the generator writes it into frames
// (struct gen_cfg in bpf/bench.c): client MAC 02:bb:00 + i, PPPoE session
// id i%65535+1, address subBase + i.
func sessionMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xbb, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func (t *topo) session(i int) maps.Session {
	a := t.subBase.As4()
	v := binary.BigEndian.Uint32(a[:]) + uint32(i)
	binary.BigEndian.PutUint32(a[:], v)
	return maps.Session{Key: maps.Key{Ifindex: t.acc0.index, SessionID: uint16(i%65535 + 1), ClientMAC: sessionMAC(i)},
		ACMAC: t.acc0.mac, IPv4: netip.AddrFrom4(a), MTU: 1492, MSS: 1452}
}

// install adds sessions 0..n-1 and returns the install rate.
func (t *topo) install(dp *maps.Datapath, n int) (float64, error) {
	start := time.Now()
	idx := make([]maps.Index, n)
	for i := 0; i < n; i++ {
		var err error
		if idx[i], err = dp.Install(t.session(i)); err != nil {
			return 0, fmt.Errorf("session %d: %w", i, err)
		}
	}
	if t.indices == nil {
		t.indices = map[*maps.Datapath][]maps.Index{}
	}
	t.indices[dp] = idx
	return float64(n) / time.Since(start).Seconds(), nil
}

// benchLimit is the rate limit of the limited cases: far above what the
// generator sends, so that every frame conforms and the case measures what
// charging it costs (the bucket's compare-and-swap, the clock), not drops;
// with a burst, so the RouterOS burst estimate runs too (a second atomic
// add per packet, to the sub-window's byte count).
var benchLimit = maps.RateLimit{
	Rx: maps.Rate{Rate: 100e9, BurstRate: 200e9, BurstThreshold: 150e9, BurstTime: 8 * time.Second},
	Tx: maps.Rate{Rate: 100e9, BurstRate: 200e9, BurstThreshold: 150e9, BurstTime: 8 * time.Second},
}

// plainLimit is benchLimit without the burst: a plan's usual rate-limit,
// "100G/100G".
var plainLimit = maps.RateLimit{Rx: maps.Rate{Rate: 100e9}, Tx: maps.Rate{Rate: 100e9}}

// limited wraps a data-plane attacher: for the case's duration every
// session of dp has benchLimit, set live (SetRate) as a CoA would.
func (t *topo) limited(dp *maps.Datapath, a attacher) attacher {
	return t.limitedBy(dp, benchLimit, a)
}

// limitedBy is limited with limit instead of benchLimit.
func (t *topo) limitedBy(dp *maps.Datapath, limit maps.RateLimit, a attacher) attacher {
	set := func(l maps.RateLimit) error {
		for _, i := range t.indices[dp] {
			if err := dp.SetRate(i, l); err != nil {
				return err
			}
		}
		return nil
	}
	return func() (func(), error) {
		if err := set(limit); err != nil {
			return nil, err
		}
		detach, err := a()
		if err != nil {
			_ = set(maps.RateLimit{})
			return nil, err
		}
		return func() { detach(); _ = set(maps.RateLimit{}) }, nil
	}
}

// spreadStride walks the sessions in an order that puts consecutive frames
// far apart in the maps; it must be coprime with the session count.
const spreadStride = 48271

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// genCfg is one case's generator setup: a template and where the
// per-frame rewrite goes (see bpf/bench.c).
func (t *topo) genCfg(gen iface, frame []byte, ipBase netip.Addr, macOff, sidOff, ipOff, hdrOff int, n int) benchGenCfg {
	b := ipBase.As4()
	c := benchGenCfg{Ifindex: uint32(gen.index), N: uint32(n), Stride: 1, IpBase: binary.BigEndian.Uint32(b[:]),
		MacOff: uint16(macOff), SidOff: uint16(sidOff), IpOff: uint16(ipOff), HdrOff: uint16(hdrOff)}
	if n > 1 {
		c.Stride = spreadStride % uint32(n)
	}
	copy(c.Tmpl[:], frame)
	return c
}

// Offsets in the frames: Ethernet 14 bytes, the source MAC's low half at
// 9; PPPoE+PPP 8 bytes; in IPv4 the source address at 12, the destination
// at 16; a UDP source port right after a 20-byte IPv4 header.
const (
	offMACLow   = 9
	offSID      = 14 + 2
	offIPPPPoE  = 14 + 8
	offIPPlain  = 14
	offIPv4Src  = 12
	offIPv4Dst  = 16
	offUDPSport = 20
)

// Upstream frames from session i (n of them) to the core: PPPoE, and the
// plain IPv4 equivalent for kernel forwarding. Downstream frames from the
// core to session i, and to the plain subscriber.
func (t *topo) upPPPoE(n int) benchGenCfg {
	f := eth(t.acc0.mac, sessionMAC(0), 0x8864, pppoeSession(1, ipv4UDP(t.subBase, t.coreAddr, genLen-14-8)))
	return t.genCfg(t.s0, f, t.subBase, offMACLow, offSID, offIPPPPoE+offIPv4Src, offIPPPPoE, n)
}

func (t *topo) upPlain() benchGenCfg {
	f := eth(t.acc0.mac, sessionMAC(0), 0x0800, ipv4UDP(t.plainSub, t.plainCore, genLen-14))
	return t.genCfg(t.s0, f, t.plainSub, offMACLow, offIPPlain+offUDPSport, offIPPlain+offIPv4Src, offIPPlain, 1)
}

func (t *topo) downIP(n int) benchGenCfg {
	f := eth(t.up0.mac, t.c0.mac, 0x0800, ipv4UDP(t.coreAddr, t.subBase, genLen-14))
	return t.genCfg(t.c0, f, t.subBase, offMACLow, offIPPlain+offUDPSport, offIPPlain+offIPv4Dst, offIPPlain, n)
}

func (t *topo) downPlain() benchGenCfg {
	f := eth(t.up0.mac, t.c0.mac, 0x0800, ipv4UDP(t.coreAddr, t.plainSub, genLen-14))
	return t.genCfg(t.c0, f, t.plainSub, offMACLow, offIPPlain+offUDPSport, offIPPlain+offIPv4Dst, offIPPlain, 1)
}

func (t *topo) sinkCount() (uint64, error) {
	var per []uint64
	if err := t.objs.SinkCount.Lookup(uint32(0), &per); err != nil {
		return 0, err
	}
	var s uint64
	for _, v := range per {
		s += v
	}
	return s, nil
}

// pinned runs f on the calling goroutine's (locked) thread with its CPU
// affinity set to *cpu, restoring it afterwards: the generator, and with it
// every veth's NAPI poll (veth XDP runs in the sender's softirq), then runs
// on that CPU in every case.
func pinned(f func() error) error {
	// As on a machine that runs nothing else: the generator (and with it
	// every NAPI poll it drives) and the CPU map threads (main.go) get the
	// same priority, above whatever else shares this machine.
	if *nice != 0 {
		tid := unix.Gettid()
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, *nice); err != nil {
			return fmt.Errorf("nice %d: %w", *nice, err)
		}
		defer unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	set.Set(*cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", *cpu, err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return f()
}

// measure runs the generator for d and returns the rate arriving at the
// sinks and what every CPU did meanwhile.
func (t *topo) measure(gen iface, cfg benchGenCfg, d time.Duration) (pps, sentPps float64, arrived, sent uint64, use cpuUse, err error) {
	if err := t.objs.Gen.Put(uint32(0), &cfg); err != nil {
		return 0, 0, 0, 0, use, err
	}
	if err := t.objs.GenPos.Put(uint32(0), make([]uint32, ebpf.MustPossibleCPU())); err != nil {
		return 0, 0, 0, 0, use, err
	}
	before, err := t.sinkCount()
	if err != nil {
		return 0, 0, 0, 0, use, err
	}
	snap0, err := snapCPU(*cpu)
	if err != nil {
		return 0, 0, 0, 0, use, err
	}
	const batch = 1 << 14
	var elapsed time.Duration
	err = gen.ns.do(func() error {
		return pinned(func() error {
			start := time.Now()
			var ru0 unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru0)
			defer func() {
				elapsed = time.Since(start)
				if *verbose {
					var ru1 unix.Rusage
					_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru1)
					cpuT := time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano() + ru1.Utime.Nano() - ru0.Utime.Nano())
					fmt.Fprintf(os.Stderr, "    generator thread CPU (task time, softirqs not included) %v of %v\n", cpuT, elapsed)
				}
			}()
			for time.Since(start) < d {
				if _, err := t.objs.XdpGen.Run(&ebpf.RunOptions{Data: cfg.Tmpl[:genLen], Repeat: batch, Flags: testXDPLiveFrames}); err != nil {
					return fmt.Errorf("live-frame run: %w", err)
				}
				sent += batch
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, 0, 0, use, err
	}
	snap1, err := snapCPU(*cpu)
	if err != nil {
		return 0, 0, 0, 0, use, err
	}
	use = snap1.since(snap0)
	// Let queued frames land: a CPU map queue (rx-spread) holds up to
	// 2,048, drained as its CPU gets to them; the next case must not
	// count them.
	var after uint64
	for prev, deadline := uint64(0), time.Now().Add(2*time.Second); ; prev = after {
		time.Sleep(20 * time.Millisecond)
		if after, err = t.sinkCount(); err != nil {
			return 0, 0, 0, 0, use, err
		}
		if after == prev || time.Now().After(deadline) {
			break
		}
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "    sent %d arrived %d (%.1f%%)\n", sent, after-before, 100*float64(after-before)/float64(sent))
		for i := range use.wall {
			fmt.Fprintf(os.Stderr, "    CPU %d: busy %v of %v (cpuidle); /proc/stat busy %v idle %v steal %v\n",
				i, use.busy[i].Round(time.Microsecond), use.wall[i].Round(time.Microsecond), use.statBusy[i], use.statIdle[i], use.steal[i])
		}
	}
	return float64(after-before) / elapsed.Seconds(), float64(sent) / elapsed.Seconds(), after - before, sent, use, nil
}

type attacher func() (detach func(), err error)

func (t *topo) xdp(i iface, p *ebpf.Program) attacher {
	return func() (func(), error) { return attachXDP(i, p) }
}

// bare redirects from's traffic to to's peer; acc0 and up0 each way.
func (t *topo) bare(from iface) attacher {
	return func() (func(), error) {
		p := benchBarePair{From: [2]uint32{uint32(t.acc0.index), uint32(t.up0.index)},
			To: [2]uint32{uint32(t.up0.index), uint32(t.acc0.index)}}
		if err := t.objs.BareTarget.Put(uint32(0), &p); err != nil {
			return nil, err
		}
		return attachXDP(from, t.objs.XdpBare)
	}
}

// router routes from's plain IPv4 traffic in XDP, to either AC veth.
func (t *topo) router(from iface) attacher {
	return func() (func(), error) {
		// A device map resolves ifindexes in the writer's namespace.
		err := t.ac.do(func() error {
			for _, i := range []iface{t.acc0, t.up0} {
				if err := t.objs.RouterPorts.Put(uint32(i.index), uint32(i.index)); err != nil {
					return fmt.Errorf("router_ports: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return attachXDP(from, t.objs.XdpRouter)
	}
}

func (t *topo) dataplane(dp *maps.Datapath, i iface, up bool) attacher {
	return func() (func(), error) {
		err := t.ac.do(func() error {
			if up {
				return dp.AttachAccess(i.index)
			}
			return dp.AttachUplink(i.index)
		})
		if err != nil {
			return nil, err
		}
		return func() { _ = t.ac.do(func() error { return dp.Detach(i.index) }) }, nil
	}
}

// kind is what a case measures; the report is organised by it.
type kind int

const (
	kindGenOnly           kind = iota // generator + first veth, XDP_DROP on the first hop: the fixed cost
	kindBare                          // (a) bare XDP redirect to the sink across the same veths
	kindKernel                        // (b) kernel IP forwarding
	kindRouter                        // (c) an XDP IPv4 router (fib_lookup + device-map redirect), plain IPv4
	kindOne                           // PPPoE data plane, 1 session installed
	kindManyHot                       // PPPoE data plane, many installed, traffic on one
	kindManySpread                    // PPPoE data plane, many installed, traffic on all
	kindOneLimited                    // kindOne with a rate limit on the session
	kindOnePlainLimited               // kindOne with a rate limit without burst on the session
	kindManyHotLimited                // kindManyHot with a rate limit on every session
	kindManySpreadLimited             // kindManySpread with a rate limit on every session
	kindBusy                          // PPPoE data plane, many installed, traffic on busyN of them (scale.go)
	kindOneLink                       // up6: kindOne from a source in the link /64 (anti-spoof: one compare)
	nKinds
)

type benchCase struct {
	dir         string // "up" or "down"
	kind        kind
	name        string
	attach      attacher
	gen         iface
	cfg         benchGenCfg
	prog        *ebpf.Program  // the XDP program on the first hop
	hop         iface          // PPPoE cases: the first hop, whose attached program the stats pass times
	dp          *maps.Datapath // PPPoE cases: whose counters must show every frame fast
	pps         []float64      // one per round
	cpuNs       []float64      // one per round: busy ns of all CPUs per frame that arrived
	busy        [][]float64    // one per round: each CPU's busy fraction of the run's wall time
	progNs      float64        // its mean run time, from the bpf_stats pass
	cpuBy       [][]float64    // one per round: each CPU's busy ns per frame that arrived
	sentBy      [][]float64    // one per round: each CPU's busy ns per frame the generator sent
	arrivedFrac []float64      // one per round: frames arrived / frames sent
	sentPps     []float64      // one per round: frames the generator sent a second
	busyN       int            // kindBusy: sessions the traffic goes to in turn
	spread      string         // kindBusy: the --rx-spread set, "" for none
}

func (t *topo) cases() []*benchCase {
	many := *sessions
	var cs []*benchCase
	add := func(dir string, k kind, name string, a attacher, prog *ebpf.Program, gen iface, cfg benchGenCfg) *benchCase {
		c := &benchCase{dir: dir, kind: k, name: name, attach: a, prog: prog, gen: gen, cfg: cfg}
		switch k {
		case kindOne, kindOneLimited, kindOnePlainLimited, kindOneLink:
			c.dp = t.dp1
		case kindManyHot, kindManySpread, kindManyHotLimited, kindManySpreadLimited, kindBusy:
			c.dp = t.dpMany
		}
		c.hop = t.up0
		if dir == "up" || dir == "up6" {
			c.hop = t.acc0
		}
		cs = append(cs, c)
		return c
	}
	access1, accessMany := t.dp1.Program("xdp_access_in"), t.dpMany.Program("xdp_access_in")
	uplink1, uplinkMany := t.dp1.Program("xdp_uplink_in"), t.dpMany.Program("xdp_uplink_in")
	o := &t.objs
	add("up", kindGenOnly, "generator only (XDP_DROP on acc0)", t.xdp(t.acc0, o.XdpSink), o.XdpSink, t.s0, t.upPPPoE(1))
	add("up", kindBare, "bare XDP redirect (a)", t.bare(t.acc0), o.XdpBare, t.s0, t.upPPPoE(1))
	add("up", kindKernel, "kernel IP forwarding (b)", t.xdp(t.acc0, o.XdpPass), o.XdpPass, t.s0, t.upPlain())
	add("up", kindRouter, "XDP IPv4 router (c)", t.router(t.acc0), o.XdpRouter, t.s0, t.upPlain())
	add("up", kindOne, "PPPoE decap+forward, 1 session", t.dataplane(t.dp1, t.acc0, true), access1, t.s0, t.upPPPoE(1))
	add("up", kindManyHot, fmt.Sprintf("PPPoE, %d sessions, 1 hot", many), t.dataplane(t.dpMany, t.acc0, true), accessMany, t.s0, t.upPPPoE(1))
	add("up", kindManySpread, fmt.Sprintf("PPPoE, %d sessions, all busy", many), t.dataplane(t.dpMany, t.acc0, true), accessMany, t.s0, t.upPPPoE(many))
	add("up", kindOneLimited, "PPPoE, 1 limited session", t.limited(t.dp1, t.dataplane(t.dp1, t.acc0, true)), access1, t.s0, t.upPPPoE(1))
	add("up", kindOnePlainLimited, "PPPoE, 1 session limited without burst", t.limitedBy(t.dp1, plainLimit, t.dataplane(t.dp1, t.acc0, true)), access1, t.s0, t.upPPPoE(1))
	add("up", kindManyHotLimited, fmt.Sprintf("PPPoE, %d limited sessions, 1 hot", many), t.limited(t.dpMany, t.dataplane(t.dpMany, t.acc0, true)), accessMany, t.s0, t.upPPPoE(1))
	add("up", kindManySpreadLimited, fmt.Sprintf("PPPoE, %d limited sessions, all busy", many), t.limited(t.dpMany, t.dataplane(t.dpMany, t.acc0, true)), accessMany, t.s0, t.upPPPoE(many))
	add("down", kindGenOnly, "generator only (XDP_DROP on up0)", t.xdp(t.up0, o.XdpSink), o.XdpSink, t.c0, t.downIP(1))
	add("down", kindBare, "bare XDP redirect (a)", t.bare(t.up0), o.XdpBare, t.c0, t.downIP(1))
	add("down", kindKernel, "kernel IP forwarding (b)", t.xdp(t.up0, o.XdpPass), o.XdpPass, t.c0, t.downPlain())
	add("down", kindRouter, "XDP IPv4 router (c)", t.router(t.up0), o.XdpRouter, t.c0, t.downPlain())
	add("down", kindOne, "PPPoE encap+forward, 1 session", t.dataplane(t.dp1, t.up0, false), uplink1, t.c0, t.downIP(1))
	add("down", kindManyHot, fmt.Sprintf("PPPoE, %d sessions, 1 hot", many), t.dataplane(t.dpMany, t.up0, false), uplinkMany, t.c0, t.downIP(1))
	add("down", kindManySpread, fmt.Sprintf("PPPoE, %d sessions, all busy", many), t.dataplane(t.dpMany, t.up0, false), uplinkMany, t.c0, t.downIP(many))
	add("down", kindOneLimited, "PPPoE, 1 limited session", t.limited(t.dp1, t.dataplane(t.dp1, t.up0, false)), uplink1, t.c0, t.downIP(1))
	add("down", kindOnePlainLimited, "PPPoE, 1 session limited without burst", t.limitedBy(t.dp1, plainLimit, t.dataplane(t.dp1, t.up0, false)), uplink1, t.c0, t.downIP(1))
	add("down", kindManyHotLimited, fmt.Sprintf("PPPoE, %d limited sessions, 1 hot", many), t.limited(t.dpMany, t.dataplane(t.dpMany, t.up0, false)), uplinkMany, t.c0, t.downIP(1))
	add("down", kindManySpreadLimited, fmt.Sprintf("PPPoE, %d limited sessions, all busy", many), t.limited(t.dpMany, t.dataplane(t.dpMany, t.up0, false)), uplinkMany, t.c0, t.downIP(many))
	// IPv6: no XDP router case; to and from a host in the delegated /56.
	add("up6", kindGenOnly, "generator only (XDP_DROP on acc0)", t.xdp(t.acc0, o.XdpSink), o.XdpSink, t.s0, t.upPPPoE6(1))
	add("up6", kindBare, "bare XDP redirect (a)", t.bare(t.acc0), o.XdpBare, t.s0, t.upPPPoE6(1))
	add("up6", kindKernel, "kernel IPv6 forwarding (b)", t.xdp(t.acc0, o.XdpPass), o.XdpPass, t.s0, t.upPlain6())
	add("up6", kindOne, "PPPoE IPv6 decap+forward, 1 session", t.dataplane(t.dp1, t.acc0, true), access1, t.s0, t.upPPPoE6(1))
	add("up6", kindOneLink, "PPPoE IPv6, 1 session, source in the link /64", t.dataplane(t.dp1, t.acc0, true), access1, t.s0, t.upPPPoE6Link())
	add("up6", kindManyHot, fmt.Sprintf("PPPoE IPv6, %d sessions, 1 hot", many), t.dataplane(t.dpMany, t.acc0, true), accessMany, t.s0, t.upPPPoE6(1))
	add("up6", kindManySpread, fmt.Sprintf("PPPoE IPv6, %d sessions, all busy", many), t.dataplane(t.dpMany, t.acc0, true), accessMany, t.s0, t.upPPPoE6(many))
	add("down6", kindGenOnly, "generator only (XDP_DROP on up0)", t.xdp(t.up0, o.XdpSink), o.XdpSink, t.c0, t.downIP6(1))
	add("down6", kindBare, "bare XDP redirect (a)", t.bare(t.up0), o.XdpBare, t.c0, t.downIP6(1))
	add("down6", kindKernel, "kernel IPv6 forwarding (b)", t.xdp(t.up0, o.XdpPass), o.XdpPass, t.c0, t.downPlain6())
	add("down6", kindOne, "PPPoE IPv6 encap+forward, 1 session", t.dataplane(t.dp1, t.up0, false), uplink1, t.c0, t.downIP6(1))
	add("down6", kindManyHot, fmt.Sprintf("PPPoE IPv6, %d sessions, 1 hot", many), t.dataplane(t.dpMany, t.up0, false), uplinkMany, t.c0, t.downIP6(1))
	add("down6", kindManySpread, fmt.Sprintf("PPPoE IPv6, %d sessions, all busy", many), t.dataplane(t.dpMany, t.up0, false), uplinkMany, t.c0, t.downIP6(many))
	t.scaleCases(add)
	return cs
}

// fastOnly checks that every frame that arrived took the fast path and
// nothing else happened: a benchmark of the slow path by mistake (unknown
// session, spoofed source) would otherwise look like a slow fast path.
func fastOnly(dp *maps.Datapath, before map[maps.Reason]uint64, arrived uint64) error {
	after, err := dp.Counters()
	if err != nil {
		return err
	}
	var fast uint64
	var other []string
	for r, n := range after {
		d := n - before[r]
		switch {
		case r == maps.ReasonFastUp || r == maps.ReasonFastDown:
			fast += d
		case d != 0:
			other = append(other, fmt.Sprintf("%v %d", r, d))
		}
	}
	if fast < arrived || len(other) > 0 {
		return fmt.Errorf("%d frames arrived, %d took the fast path; other counters: %v", arrived, fast, other)
	}
	return nil
}

// runResult is one run of one case.
type runResult struct {
	pps     float64
	sentPps float64 // frames the generator sent a second
	arrived uint64
	sent    uint64
	use     cpuUse
}

// record appends a round's run to the case.
func (c *benchCase) record(r runResult) {
	c.pps = append(c.pps, r.pps)
	c.cpuNs = append(c.cpuNs, float64(r.use.total())/float64(r.arrived))
	b := make([]float64, len(r.use.wall))
	for i := range b {
		b[i] = float64(r.use.busy[i]) / float64(r.use.wall[i])
	}
	c.busy = append(c.busy, b)
	by := make([]float64, len(r.use.wall))
	for i := range by {
		by[i] = float64(r.use.busy[i]) / float64(r.arrived)
	}
	c.cpuBy = append(c.cpuBy, by)
	bySent := make([]float64, len(r.use.wall))
	for i := range bySent {
		bySent[i] = float64(r.use.busy[i]) / float64(r.sent)
	}
	c.sentBy = append(c.sentBy, bySent)
	c.arrivedFrac = append(c.arrivedFrac, float64(r.arrived)/float64(r.sent))
	c.sentPps = append(c.sentPps, r.sentPps)
}

// run measures one case once. With stats, it also records the first-hop
// program's mean run time (kernel.bpf_stats_enabled must be on).
func (t *topo) run(c *benchCase, d time.Duration, stats bool) (runResult, error) {
	detach, err := c.attach()
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %s: %w", c.dir, c.name, err)
	}
	defer detach()
	prog := c.prog
	if stats && c.dp != nil {
		// AttachAccess may have attached a copy of the program bound to
		// the device (maps/hwvlan.go): time the one that runs.
		p, err := attachedXDP(c.hop)
		if err != nil {
			return runResult{}, fmt.Errorf("%s: %s: %w", c.dir, c.name, err)
		}
		defer p.Close()
		prog = p
	}
	var before *ebpf.ProgramStats
	if stats {
		if before, err = prog.Stats(); err != nil {
			return runResult{}, fmt.Errorf("%s: %s: program stats: %w", c.dir, c.name, err)
		}
	}
	var counters map[maps.Reason]uint64
	if c.dp != nil {
		if counters, err = c.dp.Counters(); err != nil {
			return runResult{}, err
		}
	}
	pps, sentPps, arrived, sent, use, err := t.measure(c.gen, c.cfg, d)
	if err == nil && c.dp != nil {
		err = fastOnly(c.dp, counters, arrived)
	}
	if err == nil && stats {
		var after *ebpf.ProgramStats
		if after, err = prog.Stats(); err == nil && after.RunCount > before.RunCount {
			c.progNs = float64(after.Runtime-before.Runtime) / float64(after.RunCount-before.RunCount)
		}
	}
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %s: %w", c.dir, c.name, err)
	}
	if pps == 0 {
		return runResult{}, fmt.Errorf("%s: %s: nothing arrived at the sink", c.dir, c.name)
	}
	return runResult{pps: pps, sentPps: sentPps, arrived: arrived, sent: sent, use: use}, nil
}
