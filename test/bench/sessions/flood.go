package main

// The flood bench (`make bench-flood`): a legitimate subscriber dials while
// the access concentrator is flooded with PADIs from random MACs, or with
// PADRs from one MAC, and the bench prints how long the subscriber took to
// connect and how much CPU the AC spent, with the discovery limits off,
// applied by the Go discovery server, and applied in XDP.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// floodGoal is the bound on a legitimate subscriber's connect time
// during a flood.
const floodGoal = 5 * time.Second

// dialTimeout is when the bench gives a legitimate dial up: three times
// the goal.
const dialTimeout = 3 * floodGoal

type floodOpts struct {
	rate       int           // flood frames a second
	dials      int           // legitimate dials per phase, one after another
	warmup     time.Duration // flood before the first dial
	pace       time.Duration // the flood's frames go out in batches this far apart
	modes      []string      // off, go, xdp
	padiLimit  string        // the limits, as pppoed's flags take them
	macLimit   string
	floodKinds []string // padi, padr
}

// floodBench runs the flood phases against a child AC (see bench).
func floodBench(o floodOpts) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, BPF)")
	}
	env, err := newBenchEnv(1024, "local", true)
	if err != nil {
		return err
	}
	defer env.close()
	ch := env.child
	mux := env.mux

	fmt.Printf("bench-flood: %d frames/s floods, a batch every %v at best, %d legitimate dials per phase (PAP, fresh MAC each, PADI timeout 1 s doubling),\n",
		o.rate, o.pace, o.dials)
	fmt.Printf("             limits --padi-limit %s --discovery-mac-limit %s, %d CPUs, AC in a child process\n", o.padiLimit, o.macLimit, runtime.NumCPU())
	var dialNo atomic.Int64
	dial := func() (time.Duration, error) {
		i := dialNo.Add(1)
		t0 := time.Now()
		c, err := dialWithin(mux, 0x100000+int(i), auth.PAP, dialTimeout)
		d := time.Since(t0)
		if err != nil {
			return d, err
		}
		c.SendPADT()
		c.Close()
		return d, nil
	}

	// Baseline: no flood.
	if _, err := ch.ask("limits off " + o.padiLimit + " " + o.macLimit); err != nil {
		return err
	}
	base, err := runDials(o.dials, dial)
	if err != nil {
		return err
	}
	fmt.Printf("\nno flood:  connect %s\n", base)

	sender, err := openSender(env.subNS, "pxb-eth0")
	if err != nil {
		return err
	}
	defer sender.Close()
	for _, kind := range o.floodKinds {
		for _, mode := range o.modes {
			if err := waitIdle(ch); err != nil {
				return err
			}
			if _, err := ch.ask("limits " + mode + " " + o.padiLimit + " " + o.macLimit); err != nil {
				return err
			}
			var frames func() []byte
			what := ""
			switch kind {
			case "padi":
				frames, what = padiFrames(), "PADI flood from random MACs"
			case "padr":
				f, err := padrFrames(mux)
				if err != nil {
					return err
				}
				frames, what = f, "PADR flood from one MAC (valid cookie, a new Host-Uniq each)"
			default:
				return fmt.Errorf("-flood-kinds: %q: want padi or padr", kind)
			}
			before, err := ch.ask("stat")
			if err != nil {
				return err
			}
			d0, err := ch.ask("disc")
			if err != nil {
				return err
			}
			gen := startFlood(sender, o.rate, o.pace, frames)
			time.Sleep(o.warmup)
			res, derr := runDials(o.dials, dial)
			sent, wall, gap := gen.stop()
			after, err := ch.ask("stat")
			if err != nil {
				return err
			}
			d1, err := ch.ask("disc")
			if err != nil {
				return err
			}
			if derr != nil {
				return derr
			}
			acCPU := time.Duration(ints(after)[1] - ints(before)[1])
			dd := diff(ints(d1), ints(d0))
			fmt.Printf("\n%s, limits %s: %.0f frames/s sent for %v, a batch every %v\n", what, mode, float64(sent)/wall.Seconds(),
				wall.Round(time.Millisecond), gap.Round(time.Microsecond))
			fmt.Printf("  legitimate connect %s\n", res)
			xdpNs := 0.0
			if dd[9] > 0 {
				xdpNs = float64(dd[10]) / float64(dd[9])
			}
			fmt.Printf("  CPU: AC process (pppoed's discovery and sessions) %.2f cores; xdp_access_in %.3f cores, %.0f ns a frame (bpf_stats, ~40 ns of it its own clock reads)\n",
				acCPU.Seconds()/wall.Seconds(), float64(dd[10])/1e9/wall.Seconds(), xdpNs)
			fmt.Printf("  XDP: %d passed to user space, %d dropped per MAC, %d globally; user space: %d PADI and %d PADR handled, %d limited, ~%d lost at its socket; %d PADO, %d PADS (%d errors)\n",
				dd[0], dd[1], dd[2], dd[3], dd[4], dd[5], max(0, dd[0]-dd[3]-dd[4]-dd[5]-int64(o.dials)), dd[6], dd[7], dd[8])
		}
	}
	if err := waitIdle(ch); err != nil {
		return err
	}
	fmt.Printf("\nframes the emulated clients dropped (no port or full queue, the flood's PADOs among them): %d\n", mux.Dropped())
	_, err = ch.ask("quit")
	return err
}

func diff(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// waitIdle waits for the AC to hold no session (a PADR flood leaves
// half-open ones until LCP gives up on them).
func waitIdle(ch *child) error {
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, err := ch.ask("stat")
		if err != nil {
			return err
		}
		if ints(s)[2] == 0 || time.Now().After(deadline) {
			return nil
		}
	}
}

// dialStats summarises connect times.
type dialStats struct {
	times  []time.Duration
	failed int
	first  error
}

func (s dialStats) String() string {
	if len(s.times) == 0 {
		return fmt.Sprintf("no dial succeeded (%d failed: %v)", s.failed, s.first)
	}
	t := slices.Clone(s.times)
	slices.Sort(t)
	within := 0
	for _, d := range t {
		if d < floodGoal {
			within++
		}
	}
	out := fmt.Sprintf("median %v, max %v, %d of %d under %v (%d failed)",
		t[len(t)/2].Round(time.Millisecond), t[len(t)-1].Round(time.Millisecond), within, len(t)+s.failed, floodGoal, s.failed)
	if s.first != nil {
		out += fmt.Sprintf("; first failure: %v", s.first)
	}
	return out
}

func runDials(n int, dial func() (time.Duration, error)) (dialStats, error) {
	var s dialStats
	for range n {
		d, err := dial()
		if err != nil {
			s.failed++
			if s.first == nil {
				s.first = err
			}
			continue
		}
		s.times = append(s.times, d)
	}
	return s, nil
}

// sender writes raw frames on the subscriber side of the veth.
type sender struct{ c *packet.Conn }

func openSender(ns, ifname string) (s *sender, err error) {
	err = inNS(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// Protocol 0: the socket sends and receives nothing.
		c, err := packet.Listen(ifi, packet.Raw, 0, nil)
		if err != nil {
			return err
		}
		s = &sender{c}
		return nil
	})
	return s, err
}

func (s *sender) Close() error { return s.c.Close() }

// flood paces frames at rate a second until stopped.
type flood struct {
	stopc   chan struct{}
	done    chan struct{}
	sent    int64
	wakeups int64
	wall    time.Duration
}

func startFlood(s *sender, rate int, pace time.Duration, next func() []byte) *flood {
	f := &flood{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		// time.Sleep wakes about once a millisecond here, which would send
		// the flood in bursts with gaps a subscriber's PADI slips through;
		// nanosleep on a thread of its own, with no timer slack, wakes
		// every pace plus the VM's timer latency (about 0.2 ms).
		runtime.LockOSThread()
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		ts := unix.NsecToTimespec(int64(pace))
		t0 := time.Now()
		for {
			select {
			case <-f.stopc:
				f.wall = time.Since(t0)
				return
			default:
			}
			f.wakeups++
			due := int64(time.Since(t0).Seconds() * float64(rate))
			for ; f.sent < due; f.sent++ {
				b := next()
				// A full queue drops the frame, as a NIC ring would.
				s.c.WriteTo(b, &packet.Addr{HardwareAddr: net.HardwareAddr(b[:6])})
			}
			unix.Nanosleep(&ts, nil)
		}
	}()
	return f
}

// stop ends the flood and returns the frames sent, for how long, and the
// mean time between its batches.
func (f *flood) stop() (int64, time.Duration, time.Duration) {
	close(f.stopc)
	<-f.done
	return f.sent, f.wall, f.wall / time.Duration(max(f.wakeups, 1))
}

// padiFrames returns PADIs (RFC 2516 §5.1), each from a new random
// locally administered unicast MAC, as a cheap flood generator sends them.
func padiFrames() func() []byte {
	return func() []byte {
		var src [6]byte
		rand.Read(src[:])
		src[0] = src[0]&0xfc | 0x02
		b, _ := pppoe.MarshalFrame(ethernet.Broadcast, src[:], nil,
			&pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("")}})
		return b
	}
}

// floodMAC is the one MAC of the PADR flood.
var floodMAC = net.HardwareAddr{0x02, 0xf1, 0x00, 0xd0, 0x00, 0x01}

// padrFrames fetches an AC-Cookie for floodMAC with a PADI, then returns
// PADRs that carry it, each with a new Host-Uniq: every one is a new
// session request, the costly kind (a repeated Host-Uniq is answered from
// memory, a bad cookie is dropped after one HMAC).
func padrFrames(mux *peer.Mux) (func() []byte, error) {
	port := mux.Port(floodMAC)
	defer port.Close()
	padi, err := pppoe.MarshalFrame(ethernet.Broadcast, floodMAC, nil,
		&pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("pppoeservice")}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]byte, 2048)
	for ctx.Err() == nil {
		if err := port.WriteFrame(padi); err != nil {
			return nil, err
		}
		port.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := port.ReadFrame(buf)
			if err != nil {
				break
			}
			f, p, err := pppoe.ParseFrame(buf[:n])
			if err != nil || p.Code != pppoe.CodePADO {
				continue
			}
			ck, ok := pppoe.FindTag[pppoe.ACCookie](p.Tags)
			if !ok {
				return nil, errors.New("PADO without AC-Cookie")
			}
			ac := slices.Clone(f.Source)
			var n64 uint64
			return func() []byte {
				n64++
				hu := binary.BigEndian.AppendUint64(nil, n64)
				b, _ := pppoe.MarshalFrame(ac, floodMAC, nil, &pppoe.Packet{Code: pppoe.CodePADR,
					Tags: []pppoe.Tag{pppoe.ServiceName("pppoeservice"), ck, pppoe.HostUniq(hu)}})
				return b
			}, nil
		}
	}
	return nil, errors.New("no PADO for the PADR flood's cookie")
}
