package maps

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// discFrame builds a discovery frame from src: a PADI is broadcast with a
// Service-Name (RFC 2516 §5.1), anything else goes to acMAC.
func discFrame(t testing.TB, code pppoe.Code, src net.HardwareAddr, vlans []ethernet.VLAN) []byte {
	t.Helper()
	p := &pppoe.Packet{Code: code, Tags: []pppoe.Tag{pppoe.ServiceName("")}}
	dst := acMAC
	switch code {
	case pppoe.CodePADI:
		dst = ethernet.Broadcast
	case pppoe.CodePADR:
		p.Tags = append(p.Tags, pppoe.ACCookie(make([]byte, 16)))
	case pppoe.CodePADO:
		dst, src = src, otherMAC // an AC's offer to our client at src
	case pppoe.CodePADT:
		p.SessionID, p.Tags = 0x0101, nil
	}
	b, err := pppoe.MarshalFrame(dst, src, vlans, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resetDiscovery forgets every host and refills the global buckets.
func (e *env) resetDiscovery(t testing.TB) {
	t.Helper()
	keys := make([]uint32, 1<<14)
	vals := make([]dataplaneDiscHost, len(keys))
	for base := uint32(0); base < e.dp.objs.DiscoveryHosts.MaxEntries(); base += uint32(len(keys)) {
		for i := range keys {
			keys[i] = base + uint32(i)
		}
		if _, err := e.dp.objs.DiscoveryHosts.BatchUpdate(keys, vals, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.dp.objs.DiscoveryGlobal.Put(uint32(0), &dataplaneDiscGlobal{}); err != nil {
		t.Fatal(err)
	}
}

// heldHosts returns the MACs in discovery_hosts.
func (e *env) heldHosts(t testing.TB) map[[6]byte]bool {
	t.Helper()
	var cursor ebpf.MapBatchCursor
	keys := make([]uint32, 1<<14)
	vals := make([]dataplaneDiscHost, len(keys))
	held := map[[6]byte]bool{}
	for {
		n, err := e.dp.objs.DiscoveryHosts.BatchLookup(&cursor, keys, vals, nil)
		for _, v := range vals[:n] {
			if v.Key.Ifindex != 0 {
				held[v.Key.Mac] = true
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return held
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// discRow is one frame through xdp_access_in and what must become of it.
type discRow struct {
	name   string
	in     []byte
	reason Reason // the one counter it moves: ReasonPassDiscovery if passed
}

// runDiscovery runs rows in order from a forgotten state. The limits in the
// tables refill one token a second, so the rows must run within a second
// of each other: a run that took longer than half a second (a loaded
// machine) is repeated, and only a run in time is judged.
func (e *env) runDiscovery(t *testing.T, rows []discRow) {
	t.Helper()
	prog := e.dp.Program("xdp_access_in")
	for attempt := 0; ; attempt++ {
		e.resetDiscovery(t)
		var errs []string
		start := time.Now()
		for _, r := range rows {
			before, err := e.dp.Counters()
			if err != nil {
				t.Fatal(err)
			}
			opts := &ebpf.RunOptions{Data: r.in, DataOut: make([]byte, len(r.in)), Context: xdpCtx(e.acc, len(r.in))}
			var verdict uint32
			if err := e.ns.Do(t, func() (err error) { verdict, err = prog.Run(opts); return err }); err != nil {
				t.Fatal(err)
			}
			after, err := e.dp.Counters()
			if err != nil {
				t.Fatal(err)
			}
			want := uint32(xdpDrop)
			if r.reason == ReasonPassDiscovery {
				want = xdpPass
			}
			if verdict != want {
				errs = append(errs, r.name+": verdict "+itoa(int(verdict))+", want "+itoa(int(want)))
			}
			for _, c := range Reasons() {
				d, w := after[c]-before[c], uint64(0)
				if c == r.reason {
					w = 1
				}
				if d != w {
					errs = append(errs, r.name+": counter "+c.String()+" moved by "+itoa(int(d))+", want "+itoa(int(w)))
				}
			}
		}
		if time.Since(start) < 500*time.Millisecond {
			for _, e := range errs {
				t.Error(e)
			}
			return
		}
		if attempt == 4 {
			t.Skip("five runs of the table each took over half a second: too loaded to judge a 1/s limit")
		}
	}
}

func mac(b byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0xf1, 0, 0, 0, b} }

// TestDiscoveryLimits: the per-MAC bucket bounds one host's PADIs and
// PADRs together; the global buckets bound PADIs, first contacts and
// retransmissions apart; other discovery codes pass.
func TestDiscoveryLimits(t *testing.T) {
	e := newEnv(t)
	if err := e.dp.SetDiscoveryLimits(DiscoveryLimits{MACRate: 1, MACBurst: 3, PADIRate: 1, PADIBurst: 2}); err != nil {
		t.Fatal(err)
	}
	a, b, c, d, f := mac(0xa), mac(0xb), mac(0xc), mac(0xd), mac(0xf)
	const (
		pass   = ReasonPassDiscovery
		perMAC = ReasonDiscoveryMAC
		global = ReasonDiscoveryGlobal
	)
	e.runDiscovery(t, []discRow{
		{"A's PADI, first contact (new 1/2, A 1/3)", discFrame(t, pppoe.CodePADI, a, nil), pass},
		{"A's PADI again (known 1/2, A 2/3)", discFrame(t, pppoe.CodePADI, a, nil), pass},
		{"A's PADR: per-MAC only (A 3/3)", discFrame(t, pppoe.CodePADR, a, nil), pass},
		{"A's PADR over A's burst", discFrame(t, pppoe.CodePADR, a, nil), perMAC},
		{"A's PADI over A's burst", discFrame(t, pppoe.CodePADI, a, nil), perMAC},
		{"B's PADI, first contact (new 2/2)", discFrame(t, pppoe.CodePADI, b, nil), pass},
		{"C's PADI, first contact over the burst", discFrame(t, pppoe.CodePADI, c, nil), global},
		{"D's PADI, first contact over the burst", discFrame(t, pppoe.CodePADI, d, nil), global},
		{"C retransmits: known bucket (known 2/2)", discFrame(t, pppoe.CodePADI, c, nil), pass},
		{"D retransmits: known bucket over the burst", discFrame(t, pppoe.CodePADI, d, nil), global},
		{"F's PADR without a PADI: a first contact", discFrame(t, pppoe.CodePADR, f, nil), global},
		{"A's PADT is never limited", discFrame(t, pppoe.CodePADT, a, nil), pass},
		{"a PADO to our client at A is never limited", discFrame(t, pppoe.CodePADO, a, nil), pass},
		{"discovery header cut short: user space's to judge", discFrame(t, pppoe.CodePADI, b, nil)[:14+1], pass},
	})
	hosts, err := e.dp.DiscoveryHosts()
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].MAC.String() != a.String() || hosts[0].Dropped != 2 || hosts[0].Ifindex != e.acc {
		t.Errorf("hosts with drops %+v, want only %v (ifindex %d) with 2", hosts, a, e.acc)
	}
}

// TestDiscoveryLimitsPerCircuit: the same MAC untagged, in a VLAN and in a
// QinQ pair is three hosts, each with its own bucket.
func TestDiscoveryLimitsPerCircuit(t *testing.T) {
	e := newEnv(t)
	if err := e.dp.SetDiscoveryLimits(DiscoveryLimits{MACRate: 1, MACBurst: 2}); err != nil {
		t.Fatal(err)
	}
	var rows []discRow
	for _, vlans := range [][]ethernet.VLAN{nil, {{ID: 100}}, {{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {ID: 20}}} {
		n := itoa(len(vlans)) + " tags: "
		rows = append(rows,
			discRow{n + "PADI", discFrame(t, pppoe.CodePADI, clientMAC, vlans), ReasonPassDiscovery},
			discRow{n + "PADR", discFrame(t, pppoe.CodePADR, clientMAC, vlans), ReasonPassDiscovery},
			discRow{n + "PADR over the burst", discFrame(t, pppoe.CodePADR, clientMAC, vlans), ReasonDiscoveryMAC})
	}
	e.runDiscovery(t, rows)
}

// TestDiscoveryLimitsOff: with no limits set (as loaded), discovery frames
// pass untouched and no host is recorded.
func TestDiscoveryLimitsOff(t *testing.T) {
	e := newEnv(t)
	var rows []discRow
	for range 5 {
		rows = append(rows, discRow{"PADR", discFrame(t, pppoe.CodePADR, clientMAC, nil), ReasonPassDiscovery})
	}
	e.runDiscovery(t, rows)
	if n := len(e.heldHosts(t)); n != 0 {
		t.Errorf("%d hosts recorded with the limits off", n)
	}
}

// TestDiscoveryHostsMemory: after a flood of 20,000 new MACs, as many as a
// second of the bench's flood, the hosts heard just before are still held
// (bpf/maps.h: e^-x (1 + x) of them, x = 2 * 20000 / 262144, 99 %), so
// their retransmissions draw from the known bucket.
func TestDiscoveryHostsMemory(t *testing.T) {
	e := newEnv(t)
	if err := e.dp.SetDiscoveryLimits(DiscoveryLimits{MACRate: 1, MACBurst: 1}); err != nil {
		t.Fatal(err)
	}
	e.resetDiscovery(t)
	prog := e.dp.Program("xdp_access_in")
	const hosts, flood = 200, 20000
	for i := range hosts {
		e.runOne(t, "xdp_access_in", discFrame(t, pppoe.CodePADI, net.HardwareAddr{0x02, 0x1e, 0, 0, byte(i >> 8), byte(i)}, nil))
	}
	in := discFrame(t, pppoe.CodePADI, clientMAC, nil)
	if err := e.ns.Do(t, func() error {
		for i := range flood {
			binary.BigEndian.PutUint32(in[8:], uint32(i)|0xee000000) // 02:c1:ee:..., never repeated
			if _, err := prog.Run(&ebpf.RunOptions{Data: in, Context: xdpCtx(e.acc, len(in))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	held := e.heldHosts(t)
	known := 0
	for i := range hosts {
		if held[[6]byte{0x02, 0x1e, 0, 0, byte(i >> 8), byte(i)}] {
			known++
		}
	}
	if len(held) > hosts+flood {
		t.Errorf("%d slots held after %d hosts", len(held), hosts+flood)
	}
	if known < hosts*9/10 {
		t.Errorf("%d of %d hosts still known after %d new MACs, want at least 90 %%", known, hosts, flood)
	}
	t.Logf("%d of %d hosts still known after %d new MACs", known, hosts, flood)
}

// TestDiscoveryLimitsTwoCPUs: both CPUs take PADIs from one bucket at once;
// compare-and-swap must never hand out a token twice, so no more than the
// burst passes (plus what the rate refilled meanwhile).
func TestDiscoveryLimitsTwoCPUs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	e := newEnv(t)
	const burst, repeat = 1000, 100000
	if err := e.dp.SetDiscoveryLimits(DiscoveryLimits{PADIRate: 1, PADIBurst: burst}); err != nil {
		t.Fatal(err)
	}
	prog := e.dp.Program("xdp_access_in")
	in := discFrame(t, pppoe.CodePADI, clientMAC, nil)
	for round := range 3 {
		e.resetDiscovery(t)
		// Known host: every PADI after the first draws from the known
		// bucket (the first took a token of the first-contact one).
		e.runOne(t, "xdp_access_in", in)
		before, err := e.dp.Counters()
		if err != nil {
			t.Fatal(err)
		}
		var ready, done sync.WaitGroup
		go1 := make(chan struct{})
		errs := make([]error, 2)
		for cpu := range 2 {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				errs[cpu] = e.ns.Do(t, func() error {
					// The thread goes back to the Go scheduler after
					// Do: give it back all its CPUs.
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
					<-go1
					_, err = prog.Run(&ebpf.RunOptions{Data: in, Context: xdpCtx(e.acc, len(in)), Repeat: repeat})
					return err
				})
			}()
		}
		ready.Wait()
		start := time.Now()
		close(go1)
		done.Wait()
		elapsed := time.Since(start)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		after, err := e.dp.Counters()
		if err != nil {
			t.Fatal(err)
		}
		passed := after[ReasonPassDiscovery] - before[ReasonPassDiscovery]
		dropped := after[ReasonDiscoveryGlobal] - before[ReasonDiscoveryGlobal]
		if passed+dropped != 2*repeat {
			t.Errorf("round %d: %d passed + %d dropped, want %d frames", round, passed, dropped, 2*repeat)
		}
		limit := uint64(burst) + uint64(elapsed.Seconds()) + 1
		if passed > limit {
			t.Errorf("round %d: %d passed in %v; a bucket of %d at 1/s allows %d", round, passed, elapsed, burst, limit)
		}
		t.Logf("round %d: %d of %d passed in %v", round, passed, 2*repeat, elapsed)
	}
}

// BenchmarkDiscoveryLimiter: xdp_access_in's cost for discovery frames
// (bpf_stats run time, which adds its own two clock reads): a flood of new
// MACs (a discovery_hosts insert each) and one MAC over its limit.
func BenchmarkDiscoveryLimiter(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits DiscoveryLimits
		newMAC bool
	}{
		{"off", DiscoveryLimits{}, true},
		{"new MACs over the global limit", DiscoveryLimits{MACRate: 5, MACBurst: 10, PADIRate: 1, PADIBurst: 1}, true},
		{"one MAC over its limit", DiscoveryLimits{MACRate: 5, MACBurst: 10, PADIRate: 1, PADIBurst: 1}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			if err := e.dp.SetDiscoveryLimits(bc.limits); err != nil {
				b.Fatal(err)
			}
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Skip(err)
			}
			defer stats.Close()
			prog := e.dp.Program("xdp_access_in")
			in := discFrame(b, pppoe.CodePADI, clientMAC, nil)
			s0, _ := prog.Stats()
			b.ResetTimer()
			e.ns.Do(b, func() error {
				for i := 0; i < b.N; i++ {
					if bc.newMAC {
						// A MAC never seen: 02:c1:i.
						binary.BigEndian.PutUint32(in[8:], uint32(i))
					}
					if _, err := prog.Run(&ebpf.RunOptions{Data: in, Context: xdpCtx(e.acc, len(in))}); err != nil {
						return err
					}
				}
				return nil
			})
			s1, _ := prog.Stats()
			if n := s1.RunCount - s0.RunCount; n > 0 {
				b.ReportMetric(float64(s1.Runtime-s0.Runtime)/float64(n), "prog-ns/frame")
			}
		})
	}
}
