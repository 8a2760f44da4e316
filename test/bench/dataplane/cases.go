package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// ipv4UDP is an IPv4/UDP packet of tot bytes with a correct header
// checksum (RFC 791 §3.1); the UDP checksum is 0 (none, RFC 768).
func ipv4UDP(src, dst netip.Addr, tot int) []byte {
	b := make([]byte, tot)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(tot))
	b[8], b[9] = 64, 17
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(b[20:], 40000)
	binary.BigEndian.PutUint16(b[22:], 9)
	binary.BigEndian.PutUint16(b[24:], uint16(tot-20))
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

const benchSID = 0x0001

func (t *topo) frames() (upPPPoE, upPlain, downIP, downPlain []byte) {
	upPPPoE = eth(t.acc0.mac, t.s0.mac, 0x8864, pppoeSession(benchSID, ipv4UDP(t.subAddr, t.coreAddr, genLen-14-8)))
	upPlain = eth(t.acc0.mac, t.s0.mac, 0x0800, ipv4UDP(t.plainSub, t.plainCore, genLen-14))
	downIP = eth(t.up0.mac, t.c0.mac, 0x0800, ipv4UDP(t.coreAddr, t.subAddr, genLen-14))
	downPlain = eth(t.up0.mac, t.c0.mac, 0x0800, ipv4UDP(t.coreAddr, t.plainSub, genLen-14))
	return
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

// measure generates frame out of gen (its peer receives it) for the
// configured duration and returns the rate arriving at the sinks.
func (t *topo) measure(gen iface, frame []byte) (float64, error) {
	cfg := benchGenCfg{Ifindex: uint32(gen.index)}
	copy(cfg.Tmpl[:], frame)
	if err := t.objs.Gen.Put(uint32(0), &cfg); err != nil {
		return 0, err
	}
	before, err := t.sinkCount()
	if err != nil {
		return 0, err
	}
	const batch = 1 << 14
	start := time.Now()
	err = gen.ns.do(func() error {
		for time.Since(start) < *duration {
			if _, err := t.objs.XdpGen.Run(&ebpf.RunOptions{Data: frame, Repeat: batch, Flags: testXDPLiveFrames}); err != nil {
				return fmt.Errorf("live-frame run: %w", err)
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	time.Sleep(50 * time.Millisecond) // let queued frames land
	after, err := t.sinkCount()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / elapsed.Seconds(), nil
}

// with attaches programs for one case and runs it.
func (t *topo) with(attach func() (func(), error), gen iface, frame []byte) (float64, error) {
	detach, err := attach()
	if err != nil {
		return 0, err
	}
	defer detach()
	return t.measure(gen, frame)
}

func (t *topo) xdp(i iface, p *ebpf.Program) func() (func(), error) {
	return func() (func(), error) { return attachXDP(i, p) }
}

func (t *topo) bare(from, to iface) func() (func(), error) {
	return func() (func(), error) {
		if err := t.objs.BareTarget.Put(uint32(from.index), uint32(to.index)); err != nil {
			return nil, err
		}
		return attachXDP(from, t.objs.XdpBare)
	}
}

func (t *topo) dataplane(i iface, up bool) func() (func(), error) {
	return func() (func(), error) {
		err := t.ac.do(func() error {
			if up {
				return t.dp.AttachAccess(i.index)
			}
			return t.dp.AttachUplink(i.index)
		})
		if err != nil {
			return nil, err
		}
		return func() { _ = t.ac.do(func() error { return t.dp.Detach(i.index) }) }, nil
	}
}

// installMany adds n sessions besides the benchmark's, with distinct
// client MACs and addresses, and returns the install rate.
func (t *topo) installMany(n int) (float64, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		mac := net.HardwareAddr{0x02, 0xbb, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		a := netip.AddrFrom4([4]byte{100, 65 + byte(i>>16), byte(i >> 8), byte(i)})
		_, err := t.dp.Install(maps.Session{Key: maps.Key{Ifindex: t.acc0.index, SessionID: uint16(i%65535 + 1), ClientMAC: mac},
			ACMAC: t.acc0.mac, IPv4: a, MTU: 1492, MSS: 1452})
		if err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

type result struct {
	name string
	pps  float64
}

func (t *topo) bench() error {
	detachSub, err := attachXDP(t.s0, t.objs.XdpSink)
	if err != nil {
		return err
	}
	defer detachSub()
	detachCore, err := attachXDP(t.c0, t.objs.XdpSink)
	if err != nil {
		return err
	}
	defer detachCore()
	if _, err := t.dp.Install(maps.Session{Key: maps.Key{Ifindex: t.acc0.index, SessionID: benchSID, ClientMAC: t.s0.mac},
		ACMAC: t.acc0.mac, IPv4: t.subAddr, MTU: 1492, MSS: 1452}); err != nil {
		return err
	}
	upPPPoE, upPlain, downIP, downPlain := t.frames()
	run := func(name string, attach func() (func(), error), gen iface, frame []byte) (float64, error) {
		pps, err := t.with(attach, gen, frame)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "  %-36s %12.0f pps\n", name, pps)
		return pps, nil
	}
	fmt.Fprintf(os.Stderr, "bench-dataplane: %d-byte frames, %v per case\n", genLen, *duration)
	var r [8]float64
	steps := []struct {
		name   string
		attach func() (func(), error)
		gen    iface
		frame  []byte
	}{
		{"up: bare XDP redirect (a)", t.bare(t.acc0, t.up0), t.s0, upPPPoE},
		{"up: PPPoE decap+forward, 1 session", t.dataplane(t.acc0, true), t.s0, upPPPoE},
		{"up: kernel IP forwarding (b)", t.xdp(t.acc0, t.objs.XdpPass), t.s0, upPlain},
		{"down: bare XDP redirect (a)", t.bare(t.up0, t.acc0), t.c0, downIP},
		{"down: PPPoE encap+forward, 1 session", t.dataplane(t.up0, false), t.c0, downIP},
		{"down: kernel IP forwarding (b)", t.xdp(t.up0, t.objs.XdpPass), t.c0, downPlain},
	}
	for i, s := range steps {
		if r[i], err = run(s.name, s.attach, s.gen, s.frame); err != nil {
			return err
		}
	}
	rate, err := t.installMany(*sessions)
	if err != nil {
		return fmt.Errorf("installing %d sessions: %w", *sessions, err)
	}
	fmt.Fprintf(os.Stderr, "  installed %d sessions at %.0f/s\n", *sessions, rate)
	if r[6], err = run(fmt.Sprintf("up: PPPoE, %d sessions", *sessions+1), t.dataplane(t.acc0, true), t.s0, upPPPoE); err != nil {
		return err
	}
	if r[7], err = run(fmt.Sprintf("down: PPPoE, %d sessions", *sessions+1), t.dataplane(t.up0, false), t.c0, downIP); err != nil {
		return err
	}

	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\tpps\t")
	for i, s := range steps {
		fmt.Fprintf(w, "%s\t%.0f\t\n", s.name, r[i])
	}
	fmt.Fprintf(w, "up: PPPoE, %d sessions\t%.0f\t\n", *sessions+1, r[6])
	fmt.Fprintf(w, "down: PPPoE, %d sessions\t%.0f\t\n", *sessions+1, r[7])
	fmt.Fprintln(w, "\t\t")
	fmt.Fprintln(w, "ratio\tup\tdown\tgoal")
	fmt.Fprintf(w, "PPPoE / bare redirect (a)\t%.2f\t%.2f\t>= 0.90\n", ratio(r[1], r[0]), ratio(r[4], r[3]))
	fmt.Fprintf(w, "PPPoE / kernel forwarding (b)\t%.2f\t%.2f\t>= 3.00\n", ratio(r[1], r[2]), ratio(r[4], r[5]))
	// Per-packet cost is 1/pps: cost(100k)/cost(1) = pps(1)/pps(100k).
	fmt.Fprintf(w, "cost %dk sessions / 1 session\t%.2f\t%.2f\t<= 1.10\n", (*sessions+1)/1000, ratio(r[1], r[6]), ratio(r[4], r[7]))
	return w.Flush()
}
