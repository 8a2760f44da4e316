package maps

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// Verdicts (linux/bpf.h, linux/pkt_cls.h).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
	tcOK        = 0
	tcShot      = 2
	tcRedirect  = 7
)

var (
	acMAC     = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0xc1, 0, 0, 0, 0x01}
	otherMAC  = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x02} // another AC on the segment
	gwMAC     = net.HardwareAddr{0x02, 0x9e, 0, 0, 0, 0xfe}

	subUntagged = netip.MustParseAddr("100.64.1.1")
	subTagged   = netip.MustParseAddr("100.64.1.2")
	subQinQ     = netip.MustParseAddr("100.64.1.3")
	localAddr   = netip.MustParseAddr("100.64.0.1")  // on pppoe0
	internet    = netip.MustParseAddr("203.0.113.5") // routed via gw, neighbour known
	noNeighDst  = netip.MustParseAddr("192.0.2.9")   // routed via a gateway with no neighbour
)

// env is one network namespace with the devices the programs look at:
// access (acc0), uplink (up0, neighbour gw), pppoe0, and a loaded Datapath.
type env struct {
	ns                 *netns.NS
	dp                 *Datapath
	acc, up, pppoe0    int
	upMAC, pppoe0MAC   net.HardwareAddr
	untagged, tagged   Session
	qinq               Session
	idxUntagged, idxQQ Index
}

func requireBPF(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "" {
			t.Skip("BPF_PROG_TEST_RUN needs root")
		}
		t.Fatal("BPF_PROG_TEST_RUN needs root")
	}
}

func newEnv(t testing.TB) *env {
	t.Helper()
	requireBPF(t)
	e := &env{ns: netns.New(t)}
	pin := filepath.Join(DefaultPinPath+"-test", filepath.Base(t.Name())+e.ns.Name)
	dp, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	if err != nil {
		t.Fatal(err)
	}
	e.dp = dp
	t.Cleanup(func() {
		if err := dp.Unpin(); err != nil {
			t.Error(err)
		}
		dp.Close()
	})
	err = e.ns.Do(t, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/forwarding", []byte("1"), 0); err != nil {
			return err
		}
		dev, err := CreatePPPoE0("pppoe0", "pppoe0-peer", 1492)
		if err != nil {
			return err
		}
		e.pppoe0, e.pppoe0MAC = dev.Index, dev.MAC
		if err := AddAddress(dev.Index, netip.PrefixFrom(localAddr, 32)); err != nil {
			return err
		}
		if err := AddRoute(dev.Index, netip.MustParsePrefix("100.64.1.0/24")); err != nil {
			return err
		}
		for _, name := range []string{"acc0", "up0"} {
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
				return err
			}
			for _, n := range []string{name, name + "p"} {
				l, err := netlink.LinkByName(n)
				if err != nil {
					return err
				}
				if err := netlink.LinkSetUp(l); err != nil {
					return err
				}
			}
		}
		acc, _ := netlink.LinkByName("acc0")
		up, _ := netlink.LinkByName("up0")
		e.acc, e.up, e.upMAC = acc.Attrs().Index, up.Attrs().Index, up.Attrs().HardwareAddr
		if err := AddAddress(e.up, netip.MustParsePrefix("198.51.100.1/24")); err != nil {
			return err
		}
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: e.up, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP("198.51.100.2"), HardwareAddr: gwMAC}); err != nil {
			return err
		}
		for dst, gw := range map[string]string{"203.0.113.0/24": "198.51.100.2", "192.0.2.0/24": "198.51.100.3"} {
			_, n, _ := net.ParseCIDR(dst)
			if err := netlink.RouteReplace(&netlink.Route{LinkIndex: e.up, Dst: n, Gw: net.ParseIP(gw)}); err != nil {
				return fmt.Errorf("route %s: %w", dst, err)
			}
		}
		// These tables show the fast paths' output, so their egress
		// devices must take XDP frames: a veth does once its peer has
		// GRO on. (TestXDPFallback has one that does not.)
		for _, p := range []string{"acc0p", "up0p"} {
			if _, _, err := setFeatures(p, []string{"rx-gro"}, true); err != nil {
				return err
			}
		}
		// Follow this namespace's devices, as the first Attach would.
		return dp.RefreshDevice(e.up)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.SetPPPoE0(e.pppoe0, e.pppoe0MAC); err != nil {
		t.Fatal(err)
	}
	e.untagged = Session{Key: Key{Ifindex: e.acc, SessionID: 0x0101, ClientMAC: clientMAC},
		ACMAC: acMAC, IPv4: subUntagged, MTU: 1492, MSS: 1452}
	e.tagged = Session{Key: Key{Ifindex: e.acc, OuterVLAN: 100, SessionID: 0x0102, ClientMAC: clientMAC},
		ACMAC: acMAC, IPv4: subTagged, MTU: 1492, MSS: 1452}
	e.qinq = Session{Key: Key{Ifindex: e.acc, OuterVLAN: 10, InnerVLAN: 20, SessionID: 0x0103, ClientMAC: clientMAC},
		OuterTPID: TPID8021AD, ACMAC: acMAC, IPv4: subQinQ, MTU: 1492, MSS: 1452}
	for i, s := range []Session{e.untagged, e.tagged, e.qinq} {
		idx, err := dp.Install(s)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			e.idxUntagged = idx
		case 2:
			e.idxQQ = idx
		}
	}
	return e
}

func (s Session) vlans() []ethernet.VLAN {
	var v []ethernet.VLAN
	if s.OuterVLAN != 0 || s.OuterTPID != 0 {
		tpid := ethernet.EtherType(s.OuterTPID)
		if tpid == 0 {
			tpid = ethernet.EtherTypeVLAN
		}
		v = append(v, ethernet.VLAN{TPID: tpid, ID: s.OuterVLAN})
	}
	if s.InnerVLAN != 0 {
		v = append(v, ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: s.InnerVLAN})
	}
	return v
}

// up builds a subscriber's IPv4 packet inside its session's PPPoE frame.
func (s Session) up(t testing.TB, ip []byte) []byte {
	return pppoeFrame(t, acMAC, s.ClientMAC, s.vlans(), s.SessionID, ppp.ProtocolIPv4, ip)
}

// progCase is one BPF_PROG_TEST_RUN row, Katran style.
type progCase struct {
	name     string
	prog     string
	in       []byte
	verdict  uint32
	out      []byte            // nil: the frame must come out unchanged
	counters map[Reason]uint64 // exact deltas of the global counters
	ctx      []uint32          // context override (default: by program)
}

// skbCtx is struct __sk_buff with only ifindex (offset 40) set: the test
// run takes the device from it.
func skbCtx(ifindex int) []uint32 {
	c := make([]uint32, 48)
	c[10] = uint32(ifindex)
	return c
}

// gsoCtx is skbCtx with gso_segs (offset 164) and gso_size (offset 176)
// set: a GSO skb of segs segments.
func gsoCtx(ifindex int, segs, size uint32) []uint32 {
	c := skbCtx(ifindex)
	c[41] = segs
	c[44] = size
	return c
}

// xdpCtx is struct xdp_md for a test run: data 0, data_end the frame
// length (the kernel wants both), ingress_ifindex at offset 12.
func xdpCtx(ifindex, size int) []uint32 {
	c := make([]uint32, 6)
	c[1] = uint32(size)
	c[3] = uint32(ifindex)
	return c
}

// runOne runs a program once on a frame with the default context for it
// and returns the verdict and the output frame.
func (e *env) runOne(t *testing.T, progName string, in []byte) (uint32, []byte) {
	t.Helper()
	prog := e.dp.Program(progName)
	if prog == nil {
		t.Fatalf("no program %q", progName)
	}
	opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256)}
	switch progName {
	case "xdp_access_in":
		opts.Context = xdpCtx(e.acc, len(in))
	case "xdp_uplink_in":
		opts.Context = xdpCtx(e.up, len(in))
	case "tc_pppoe0_out":
		opts.Context = skbCtx(e.pppoe0)
	default:
		opts.Context = skbCtx(e.acc)
	}
	var verdict uint32
	if err := e.ns.Do(t, func() (err error) {
		verdict, err = prog.Run(opts)
		return err
	}); err != nil {
		t.Fatalf("run %s: %v", progName, err)
	}
	return verdict, opts.DataOut
}

func (e *env) run(t *testing.T, cases []progCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prog := e.dp.Program(c.prog)
			if prog == nil {
				t.Fatalf("no program %q", c.prog)
			}
			before, err := e.dp.Counters()
			if err != nil {
				t.Fatal(err)
			}
			opts := &ebpf.RunOptions{Data: c.in, DataOut: make([]byte, len(c.in)+256)}
			if prog.Type() == ebpf.XDP {
				opts.Context = xdpCtx(e.acc, len(c.in))
				if c.prog == "xdp_uplink_in" {
					opts.Context = xdpCtx(e.up, len(c.in))
				}
			} else {
				opts.Context = skbCtx(e.acc)
				if c.prog == "tc_pppoe0_out" {
					opts.Context = skbCtx(e.pppoe0)
				}
			}
			if c.ctx != nil {
				opts.Context = c.ctx
			}
			var verdict uint32
			if err := e.ns.Do(t, func() (err error) {
				verdict, err = prog.Run(opts)
				return err
			}); err != nil {
				t.Fatalf("run: %v", err)
			}
			if verdict != c.verdict {
				t.Errorf("verdict %d, want %d", verdict, c.verdict)
			}
			want := c.out
			if want == nil {
				want = c.in
			}
			if got := opts.DataOut; !bytes.Equal(got, want) {
				t.Errorf("output frame\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(want))
			}
			after, err := e.dp.Counters()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range Reasons() {
				if d := after[r] - before[r]; d != c.counters[r] {
					t.Errorf("counter %v moved by %d, want %d", r, d, c.counters[r])
				}
			}
		})
	}
}
