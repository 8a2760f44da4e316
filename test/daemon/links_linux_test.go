package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// ifindex returns an interface's ifindex in n.
func ifindex(t *testing.T, n *netns.NS, name string) int {
	t.Helper()
	out := strings.TrimSpace(n.Run(t, "cat", "/sys/class/net/"+name+"/ifindex"))
	i, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("ifindex of %s: %q", name, out)
	}
	return i
}

// linkPins lists a daemon's pinned links (links/<ifindex>_<program>).
func linkPins(t *testing.T, d *daemon) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(d.pins, "links"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// pinnedFor reports the daemon's link pins for an ifindex.
func pinnedFor(t *testing.T, d *daemon, ifindex int) []string {
	var out []string
	for _, p := range linkPins(t, d) {
		if strings.HasPrefix(p, strconv.Itoa(ifindex)+"_") {
			out = append(out, p)
		}
	}
	return out
}

// hasXDP reports whether an interface in n carries an XDP program.
func hasXDP(t *testing.T, n *netns.NS, name string) bool {
	return strings.Contains(n.Run(t, "ip", "link", "show", "dev", name), " xdp")
}

// connectedAddr waits for a client's session and returns its address.
func connectedAddr(t *testing.T, cl *daemon, name string, within time.Duration) netip.Addr {
	t.Helper()
	var a netip.Addr
	waitFor(t, within, name+" connected", func() bool {
		mon := cl.monitor(name)
		if mon["status"] != "connected" {
			return false
		}
		var err error
		a, err = netip.ParseAddr(mon["local-address"])
		return err == nil
	})
	return a
}

// pingBoth checks traffic both ways between the client's session address
// and the core, through the data plane.
func pingBoth(t *testing.T, l *lab, sub netip.Addr, what string) {
	t.Helper()
	// The Quick Example client adds no default route.
	l.cl.Output("ip", "route", "replace", "198.51.100.0/24", "dev", "PPPoE-Out")
	// The first echo may meet a neighbour or a route still settling.
	if got := l.cl.Ping(t, sub, coreAddr, 4, 200); got < 3 {
		t.Errorf("%s: client → core: %d/4 replies", what, got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("%s: core → client: %d/3 replies", what, got)
	}
}

// TestStartOverStaleState: a start never fails because of what an earlier
// run left (pins, attachments) when the world changed since: the
// interfaces were deleted, the daemon crashed and starts with a fresh
// --bpffs, or its namespace was rebuilt while the old one lingers. Each
// replaced attachment is logged, and the daemon serves.
func TestStartOverStaleState(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// before runs the first AC in old and leaves what it leaves; it
		// returns the pin directory and name the next start uses.
		before func(t *testing.T, old, cur *lab) (pins, name string)
		// oldStays: the first lab's interfaces still exist afterwards,
		// and must be left without our programs.
		oldStays bool
	}{
		{"interfaces of the last run gone", func(t *testing.T, old, cur *lab) (string, string) {
			ac := startDaemon(t, old.ac, "ac", fmt.Sprintf(quickServer, "one"), old.pins, "--uplink", "up0")
			ac.stop()
			for _, dev := range []string{"ether3", "up0", "pppoe0"} {
				old.ac.Run(t, "ip", "link", "del", dev)
			}
			return old.pins, "ac"
		}, false},
		{"crash, then a fresh --bpffs", func(t *testing.T, old, cur *lab) (string, string) {
			ac := startDaemon(t, cur.ac, "ac", fmt.Sprintf(quickServer, "one"), cur.pins, "--uplink", "up0")
			must(t, ac.cmd.Process.Kill())
			<-ac.done
			return cur.pins, "ac-fresh"
		}, false},
		{"namespace rebuilt, old one lingers", func(t *testing.T, old, cur *lab) (string, string) {
			ac := startDaemon(t, old.ac, "ac", fmt.Sprintf(quickServer, "one"), old.pins, "--uplink", "up0")
			ac.stop()
			return old.pins, "ac"
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newLab(t, "ether3", "ether2", "10.0.0.0/24")
			cur := newLab(t, "ether3", "ether2", "10.0.0.0/24")
			// The labs are built alike, so their interfaces have the
			// same ifindexes: an earlier run's pins name the new ones.
			for _, dev := range []string{"ether3", "up0"} {
				if a, b := ifindex(t, old.ac, dev), ifindex(t, cur.ac, dev); a != b {
					t.Fatalf("%s: ifindex %d in one lab, %d in the other", dev, a, b)
				}
			}
			pins, name := tc.before(t, old, cur)
			ac := startDaemon(t, cur.ac, name, fmt.Sprintf(quickServer, "one"), pins, "--uplink", "up0")
			cl := startDaemon(t, cur.cl, "client", quickClient, cur.pins)
			sub := connectedAddr(t, cl, "PPPoE-Out", 10*time.Second)
			pingBoth(t, cur, sub, "after the start")
			// Severed links are unpinned at start, others replaced as
			// they are attached: either way, logged.
			if log := ac.log.String(); !strings.Contains(log, "replaced a stale attachment") && !strings.Contains(log, "removed a stale pin") {
				t.Errorf("no replaced attachment or stale pin logged:\n%s", log)
			}
			for _, dev := range []string{"ether3", "up0"} {
				if !hasXDP(t, cur.ac, dev) {
					t.Errorf("%s carries no XDP program", dev)
				}
				if tc.oldStays && hasXDP(t, old.ac, dev) {
					t.Errorf("the old namespace's %s still carries our XDP program", dev)
				}
			}
		})
	}
}

// TestForeignXDPProgram: an XDP program that is not ours on an access
// interface or an uplink is never replaced; pppoed says which program is
// in the way, and runs on.
func TestForeignXDPProgram(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xdp_filter", Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	must(t, err)
	defer prog.Close()
	// Attached through netlink, as `ip link set dev X xdp obj ...` does:
	// it stays after this process closes the program.
	for _, dev := range []string{"ether3", "up0"} {
		must(t, l.ac.Do(t, func() error {
			nl, err := netlink.LinkByName(dev)
			if err != nil {
				return err
			}
			return netlink.LinkSetXdpFdWithFlags(nl, prog.FD(), 1<<2 /* XDP_FLAGS_DRV_MODE */)
		}))
	}
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0")
	waitFor(t, 5*time.Second, "both refusals logged", func() bool {
		// (The console log escapes the quotes.)
		return strings.Contains(ac.log.String(), `ether3 (ifindex 2) has a foreign XDP program \"xdp_filter\"`) &&
			strings.Contains(ac.log.String(), `up0 (ifindex 3) has a foreign XDP program \"xdp_filter\"`)
	})
	for _, dev := range []string{"ether3", "up0"} {
		if out := l.ac.Run(t, "ip", "-d", "link", "show", "dev", dev); !strings.Contains(out, "xdp_filter") {
			t.Errorf("%s: the foreign program was replaced:\n%s", dev, out)
		}
	}
	if _, err := ac.ctlErr("/system identity print"); err != nil {
		t.Errorf("pppoed stopped answering: %v", err)
	}
}

// switchedLab is a lab whose subscriber side runs through a bridge in a
// namespace of its own, so that the access interface and the client's
// interface can be deleted one without the other:
//
//	client ─ether2/c0─ switch(br0) ─a0/ether3─ AC ─up0/cor0─ core
type switchedLab struct {
	*lab
	sw *netns.NS
	// t is the whole test's: the XDP programs the plugs need must outlive
	// the subtest that plugged them.
	t *testing.T
}

func newSwitchedLab(t *testing.T) *switchedLab {
	netns.RequireRoot(t)
	netns.RequireTool(t, "bpftool")
	l := &switchedLab{lab: &lab{core: netns.New(t), ac: netns.New(t), cl: netns.New(t)}, sw: netns.New(t), t: t}
	l.pins = bpffs(t)
	l.sw.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	l.sw.Run(t, "ip", "link", "set", "br0", "up")
	l.plugClient(t)
	l.plugAccess(t)
	l.plugUplink(t)
	l.ac.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return l
}

// plugClient (re)creates the client's interface ether2, a port of br0.
func (l *switchedLab) plugClient(t *testing.T) {
	netns.Veth(t, l.cl, "ether2", l.sw, "c0")
	l.sw.Run(t, "ip", "link", "set", "c0", "master", "br0")
}

// plugAccess (re)creates the AC's access interface ether3, a port of br0
// on the switch's side.
func (l *switchedLab) plugAccess(t *testing.T) {
	netns.Veth(t, l.ac, "ether3", l.sw, "a0")
	l.sw.Run(t, "ip", "link", "set", "a0", "master", "br0")
}

// plugUplink (re)creates the uplink up0 and the core behind it.
func (l *switchedLab) plugUplink(t *testing.T) {
	netns.Veth(t, l.ac, "up0", l.core, "cor0")
	l.core.Run(t, "ip", "addr", "add", coreAddr.String()+"/24", "dev", "cor0")
	l.core.Run(t, "ip", "route", "add", "10.0.0.0/24", "via", "198.51.100.1")
	l.core.TxChecksumOff(t, "cor0")
	l.ac.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
}

// TestInterfacesComeAndGo deletes and re-creates, under running daemons,
// the access interface, the client's interface and the uplink. Each time
// the daemon concerned logs it, lets go of the old interface (sessions,
// socket, programs and pins) and serves the new one: a new session comes
// up (the client reconnects) and traffic flows through the data plane.
func TestInterfacesComeAndGo(t *testing.T) {
	t.Parallel()
	l := newSwitchedLab(t)
	// keepalive-timeout 2 on both ends: a session the other end ended
	// without a word (its interface was gone) is noticed in seconds.
	ac := startDaemon(t, l.ac, "ac", strings.Replace(fmt.Sprintf(quickServer, "one"), "disabled=no", "disabled=no keepalive-timeout=2", 1),
		l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", strings.Replace(quickClient, "disabled=no", "disabled=no keepalive-timeout=2", 1), l.pins)
	sub := connectedAddr(t, cl, "PPPoE-Out", 10*time.Second)
	pingBoth(t, l.lab, sub, "at start")

	t.Run("access interface", func(t *testing.T) {
		old := ifindex(t, l.ac, "ether3")
		sid := ac.active()[0]["session-id"]
		l.ac.Run(t, "ip", "link", "del", "ether3")
		waitFor(t, 5*time.Second, "the AC to let go of ether3", func() bool {
			return strings.Contains(ac.log.String(), "access interface gone") && len(ac.active()) == 0
		})
		if n := pinnedEntries(t, filepath.Join(ac.pins, "sessions")); n != 0 {
			t.Errorf("AC map sessions holds %d entries after its interface went", n)
		}
		if p := pinnedFor(t, ac, old); len(p) != 0 {
			t.Errorf("pins left for the old ether3 (ifindex %d): %v", old, p)
		}
		l.plugAccess(t)
		waitFor(t, 5*time.Second, "ether3 served again", func() bool {
			return strings.Contains(ac.log.String(), "access interface back")
		})
		if !hasXDP(t, l.ac, "ether3") {
			t.Error("the new ether3 carries no XDP program")
		}
		waitFor(t, 20*time.Second, "the client on a new session", func() bool {
			rows := ac.active()
			return len(rows) == 1 && rows[0]["session-id"] != sid && rows[0]["address"] != "" &&
				cl.monitor("PPPoE-Out")["status"] == "connected"
		})
		pingBoth(t, l.lab, connectedAddr(t, cl, "PPPoE-Out", time.Second), "after ether3 came back")
	})

	t.Run("client's interface", func(t *testing.T) {
		old := ifindex(t, l.cl, "ether2")
		l.cl.Run(t, "ip", "link", "del", "ether2")
		waitFor(t, 5*time.Second, "the client to let go of ether2", func() bool {
			return strings.Contains(cl.log.String(), "client interface gone") &&
				cl.monitor("PPPoE-Out")["status"] != "connected"
		})
		waitFor(t, 5*time.Second, "the client's session out of its maps", func() bool {
			return pinnedEntries(t, filepath.Join(cl.pins, "sessions")) == 0
		})
		if p := pinnedFor(t, cl, old); len(p) != 0 {
			t.Errorf("pins left for the old ether2 (ifindex %d): %v", old, p)
		}
		l.plugClient(t)
		sub := connectedAddr(t, cl, "PPPoE-Out", 20*time.Second)
		if !strings.Contains(cl.log.String(), "interface available") {
			t.Errorf("no word of ether2 coming back in the client's log:\n%s", cl.log.String())
		}
		pingBoth(t, l.lab, sub, "after ether2 came back")
	})

	t.Run("uplink", func(t *testing.T) {
		old := ifindex(t, l.ac, "up0")
		l.ac.Run(t, "ip", "link", "del", "up0")
		waitFor(t, 5*time.Second, "the AC to let go of up0", func() bool {
			return strings.Contains(ac.log.String(), "uplink gone")
		})
		if p := pinnedFor(t, ac, old); len(p) != 0 {
			t.Errorf("pins left for the old up0 (ifindex %d): %v", old, p)
		}
		l.plugUplink(t)
		waitFor(t, 5*time.Second, "up0 attached again", func() bool {
			return strings.Count(ac.log.String(), "uplink attached") >= 2 && hasXDP(t, l.ac, "up0")
		})
		sub := connectedAddr(t, cl, "PPPoE-Out", 20*time.Second)
		// The new up0's xdp_uplink_in finds the session: it forwards the
		// frame itself (fast_down) or, the access side's far end being a
		// plain veth that takes no XDP frames, hands it to the kernel
		// untouched (pass_no_xdp_xmit). Either counts only if it ran.
		seen := func() float64 {
			m := ac.metrics()
			return m[`pppoe_dataplane_packets_total{reason="fast_down"}`] + m[`pppoe_dataplane_packets_total{reason="pass_no_xdp_xmit"}`]
		}
		before := seen()
		pingBoth(t, l.lab, sub, "after up0 came back")
		if after := seen(); after < before+3 {
			t.Errorf("fast_down+pass_no_xdp_xmit %v → %v: the new up0's XDP program did not see downstream traffic", before, after)
		}
	})
}
