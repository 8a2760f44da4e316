package maps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// The tests below set up what an earlier run of pppoed leaves behind
// when it crashed or when the world changed after it (interfaces deleted,
// a namespace re-created, the pin directory lost) and check that the next
// start takes its interfaces over instead of failing, with one log line
// per attachment it replaced.

// openAt loads a Datapath pinned at pin with its log observed; the pins
// are removed when the test ends.
func openAt(t *testing.T, pin string, opts Options) (*Datapath, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	opts.PinPath, opts.MaxSessions, opts.Logger = pin, 1024, zap.New(core)
	dp, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dp.Unpin()
		dp.Close()
	})
	return dp, logs
}

// testPin is a pin directory of the test's own under the bpffs the
// other maps tests use.
func testPin(t *testing.T, n *netns.NS, run string) string {
	return filepath.Join(DefaultPinPath+"-test", filepath.Base(t.Name())+n.Name+run)
}

// veth creates the veth pair name/name+"p" in n, both up, and returns
// name's ifindex.
func veth(t *testing.T, n *netns.NS, name string) int {
	t.Helper()
	var idx int
	if err := n.Do(t, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
			return err
		}
		for _, nm := range []string{name + "p", name} {
			l, err := netlink.LinkByName(nm)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			idx = l.Attrs().Index
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return idx
}

// hooked is what one interface carries: the XDP program's name and id,
// and the names of the tcx ingress programs, in order.
type hooked struct {
	xdp   string
	xdpID ebpf.ProgramID
	tcx   []string
}

func hooksOf(t *testing.T, n *netns.NS, ifindex int) hooked {
	t.Helper()
	var h hooked
	if err := n.Do(t, func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.ProgId != 0 {
			h.xdpID = ebpf.ProgramID(x.ProgId)
			if h.xdp, err = progName(h.xdpID); err != nil {
				return err
			}
		}
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		for _, p := range res.Programs {
			name, err := progName(p.ID)
			if err != nil {
				return err
			}
			h.tcx = append(h.tcx, name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

func progName(id ebpf.ProgramID) (string, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", err
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", err
	}
	return info.Name, nil
}

func progID(t *testing.T, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// wantAccess checks that ifindex carries d's access programs, once each.
func wantAccess(t *testing.T, n *netns.NS, ifindex int, d *Datapath) {
	t.Helper()
	h := hooksOf(t, n, ifindex)
	// A veth hands XDP the VLAN tags its peer kept aside as metadata, so it
	// gets this run's device-bound variant (hwvlan.go) instead.
	want := d.objs.XdpAccessIn
	d.hwvlanMu.Lock()
	if p, ok := d.hwvlan[ifindex]; ok {
		want = p
	}
	d.hwvlanMu.Unlock()
	if h.xdpID != progID(t, want) {
		t.Errorf("ifindex %d: XDP program %q (id %d), want this run's xdp_access_in (id %d)",
			ifindex, h.xdp, h.xdpID, progID(t, want))
	}
	if fmt.Sprint(h.tcx) != "[tc_access_in]" {
		t.Errorf("ifindex %d: tcx ingress programs %v, want [tc_access_in]", ifindex, h.tcx)
	}
}

// replacedLines returns the messages of the "replaced" log lines.
func replacedLines(logs *observer.ObservedLogs) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "replaced") {
			out = append(out, e)
		}
	}
	return out
}

// TestAttachAfterInterfacesGone: the pins of a run whose interfaces were
// deleted (the namespace rebuilt, say) hold severed links; a new run whose
// interfaces got the same ifindexes used to stop at the first with "update
// pinned link: update link: link has been severed". The new access
// interface has another name: the pin is keyed by ifindex only.
func TestAttachAfterInterfacesGone(t *testing.T) {
	requireBPF(t)
	old, cur := netns.New(t), netns.New(t)
	pin := testPin(t, old, "")
	dp1, _ := openAt(t, pin, Options{})
	accOld := veth(t, old, "acc0")
	var p0Old *Device
	if err := old.Do(t, func() error {
		var err error
		if p0Old, err = CreatePPPoE0("pppoe0", "pppoe0-peer", 1492); err != nil {
			return err
		}
		if err := dp1.AttachAccess(accOld); err != nil {
			return err
		}
		return dp1.AttachPPPoE0(p0Old.Index)
	}); err != nil {
		t.Fatal(err)
	}
	// An interface whose ifindex the next run does not reuse.
	other := veth(t, old, "acc9")
	if err := old.Do(t, func() error { return dp1.AttachAccess(other) }); err != nil {
		t.Fatal(err)
	}
	// The first run crashes (nothing detached), then its interfaces go.
	for _, dev := range []string{"acc0", "pppoe0", "acc9"} {
		old.Run(t, "ip", "link", "del", dev)
	}

	// Same order of creation in a fresh namespace: same ifindexes.
	acc := veth(t, cur, "eth9")
	var p0 *Device
	if err := cur.Do(t, func() (err error) {
		p0, err = CreatePPPoE0("pppoe0", "pppoe0-peer", 1492)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if acc != accOld || p0.PeerIndex != p0Old.PeerIndex {
		t.Fatalf("ifindexes differ (%d/%d, %d/%d): the test needs them equal", acc, accOld, p0.PeerIndex, p0Old.PeerIndex)
	}
	dp2, logs := openAt(t, pin, Options{})
	// Pins of links whose interface is gone, and whose ifindex nothing
	// takes over, are swept at Open.
	for _, name := range []string{dataplaneProgXdpAccessIn, dataplaneProgTcAccessIn} {
		if _, err := os.Stat(dp2.linkPath(other, name)); !os.IsNotExist(err) {
			t.Errorf("pin %s of deleted acc9 kept: %v", name, err)
		}
	}
	if n := logs.FilterMessageSnippet("removed a stale pin").Len(); n != 5 {
		t.Errorf("%d stale pins removed at Open, want 5 (2 of acc9, 2 of acc0, 1 of pppoe0's peer)", n)
	}
	if err := cur.Do(t, func() error {
		if err := dp2.AttachPPPoE0(p0.Index); err != nil {
			return err
		}
		return dp2.AttachAccess(acc)
	}); err != nil {
		t.Fatal(err)
	}
	wantAccess(t, cur, acc, dp2)
	if h := hooksOf(t, cur, p0.PeerIndex); fmt.Sprint(h.tcx) != "[tc_pppoe0_out]" {
		t.Errorf("pppoe0's peer: tcx ingress %v, want [tc_pppoe0_out]", h.tcx)
	}
	if got := logs.FilterMessageSnippet("replaced a stale attachment").Len(); got != 0 {
		t.Errorf("%d attachments replaced after the sweep, want none", got)
	}
	// Started again: the pins are this run's now, taken over silently.
	dp3, logs3 := openAt(t, pin, Options{})
	if err := cur.Do(t, func() error { return dp3.AttachAccess(acc) }); err != nil {
		t.Fatal(err)
	}
	wantAccess(t, cur, acc, dp3)
	if got := replacedLines(logs3); len(got) != 0 {
		t.Errorf("restart over live pins replaced %v", got)
	}
}

// TestAttachAfterCrashFreshPins: a crashed run left its programs attached
// through links pinned where the new run does not look (--bpffs changed,
// or the bpffs was private to the crashed process's mount namespace). The
// new run used to fail with "file exists" (after a pointless retry in
// generic mode); it replaces them, once each.
func TestAttachAfterCrashFreshPins(t *testing.T) {
	requireBPF(t)
	n := netns.New(t)
	acc, up := veth(t, n, "acc0"), veth(t, n, "up0")
	var p0 *Device
	if err := n.Do(t, func() (err error) {
		p0, err = CreatePPPoE0("pppoe0", "pppoe0-peer", 1492)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	attachAll := func(d *Datapath) error {
		if err := d.AttachAccess(acc); err != nil {
			return err
		}
		if err := d.AttachUplink(up); err != nil {
			return err
		}
		return d.AttachPPPoE0(p0.Index)
	}
	dp1, _ := openAt(t, testPin(t, n, "a"), Options{})
	if err := n.Do(t, func() error { return attachAll(dp1) }); err != nil {
		t.Fatal(err)
	}
	dp2, logs := openAt(t, testPin(t, n, "b"), Options{})
	if err := n.Do(t, func() error { return attachAll(dp2) }); err != nil {
		t.Fatal(err)
	}
	wantAccess(t, n, acc, dp2)
	if h := hooksOf(t, n, up); h.xdpID != progID(t, dp2.objs.XdpUplinkIn) {
		t.Errorf("uplink: XDP %q (id %d), want this run's xdp_uplink_in", h.xdp, h.xdpID)
	}
	if h := hooksOf(t, n, p0.PeerIndex); fmt.Sprint(h.tcx) != "[tc_pppoe0_out]" {
		t.Errorf("pppoe0's peer: tcx ingress %v, want [tc_pppoe0_out] once", h.tcx)
	}
	if got := replacedLines(logs); len(got) != 4 {
		t.Errorf("%d replaced lines, want 4 (xdp_access_in, tc_access_in, xdp_uplink_in, tc_pppoe0_out): %v", len(got), got)
	}
	for _, e := range logs.FilterMessageSnippet("generic").All() {
		t.Errorf("fell back to generic XDP: %s %v", e.Message, e.Context)
	}
	// The old run's pins still hold its links: detaching must not leave
	// them attached.
	if err := n.Do(t, func() error { return dp2.Detach(acc) }); err != nil {
		t.Fatal(err)
	}
	if h := hooksOf(t, n, acc); h.xdp != "" || len(h.tcx) != 0 {
		t.Errorf("after Detach: %+v, want nothing", h)
	}
}

// TestAttachIfindexReusedElsewhere: the pinned link for an ifindex is
// alive, but on another namespace's interface (the daemon moved to a
// rebuilt namespace while the old one lingers). Updating it used to
// "succeed" and leave the new interface without programs.
func TestAttachIfindexReusedElsewhere(t *testing.T) {
	requireBPF(t)
	old, cur := netns.New(t), netns.New(t)
	pin := testPin(t, old, "")
	dp1, _ := openAt(t, pin, Options{})
	accOld := veth(t, old, "acc0")
	if err := old.Do(t, func() error { return dp1.AttachAccess(accOld) }); err != nil {
		t.Fatal(err)
	}
	acc := veth(t, cur, "acc0")
	if acc != accOld {
		t.Fatalf("ifindexes differ (%d, %d): the test needs them equal", acc, accOld)
	}
	dp2, logs := openAt(t, pin, Options{})
	if err := cur.Do(t, func() error { return dp2.AttachAccess(acc) }); err != nil {
		t.Fatal(err)
	}
	wantAccess(t, cur, acc, dp2)
	if got := replacedLines(logs); len(got) != 2 {
		t.Errorf("%d replaced lines, want 2: %v", len(got), got)
	}
	// The links pinned for the old namespace were ours: not left behind
	// there without a pin.
	if h := hooksOf(t, old, accOld); h.xdp != "" || len(h.tcx) != 0 {
		t.Errorf("old namespace's interface still carries %+v", h)
	}
}

// foreignXDP loads an XDP program that is not ours.
func foreignXDP(t *testing.T) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xdp_filter", Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestAttachForeignXDP: an XDP program that is not ours (a filter of the
// operator's, another product's) is never replaced: the attach fails with
// an error naming it, and it stays. Both ways of attaching it are tried:
// a bpf_link and the older netlink attach (ip link set dev X xdp ...).
func TestAttachForeignXDP(t *testing.T) {
	requireBPF(t)
	n := netns.New(t)
	prog := foreignXDP(t)
	id := progID(t, prog)
	for _, how := range []string{"link", "netlink"} {
		t.Run(how, func(t *testing.T) {
			acc := veth(t, n, "acc"+how[:1])
			var l link.Link
			if err := n.Do(t, func() error {
				if how == "netlink" {
					nl, err := netlink.LinkByIndex(acc)
					if err != nil {
						return err
					}
					return netlink.LinkSetXdpFdWithFlags(nl, prog.FD(), 1<<2 /* XDP_FLAGS_DRV_MODE */)
				}
				var err error
				l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: acc, Flags: link.XDPDriverMode})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if l != nil {
				defer l.Close()
			}
			dp, _ := openAt(t, testPin(t, n, how), Options{})
			err := n.Do(t, func() error { return dp.AttachAccess(acc) })
			if err == nil || !strings.Contains(err.Error(), `"xdp_filter"`) || !strings.Contains(err.Error(), fmt.Sprintf("id %d", id)) {
				t.Fatalf("attach over a foreign XDP program: %v, want an error naming xdp_filter (id %d)", err, id)
			}
			if h := hooksOf(t, n, acc); h.xdpID != id {
				t.Errorf("foreign program replaced: XDP now %q (id %d)", h.xdp, h.xdpID)
			}
		})
	}
}

// TestAttachOrphansOfOurs: programs of ours that no pin of ours holds,
// attached the ways an older or differently configured run attached
// them, are replaced so that no frame meets one of our programs twice.
func TestAttachOrphansOfOurs(t *testing.T) {
	requireBPF(t)
	n := netns.New(t)
	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, old *Datapath, acc int) error
	}{
		{"netlink XDP", func(t *testing.T, old *Datapath, acc int) error {
			nl, err := netlink.LinkByIndex(acc)
			if err != nil {
				return err
			}
			return netlink.LinkSetXdpFdWithFlags(nl, old.objs.XdpAccessIn.FD(), 1<<2 /* XDP_FLAGS_DRV_MODE */)
		}},
		{"clsact run", func(t *testing.T, old *Datapath, acc int) error {
			old.clsact = true
			return old.AttachAccess(acc)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := veth(t, n, "acc"+tc.name[:1])
			old, _ := openAt(t, testPin(t, n, "old"), Options{})
			if err := n.Do(t, func() error { return tc.leave(t, old, acc) }); err != nil {
				t.Fatal(err)
			}
			dp, logs := openAt(t, testPin(t, n, "new"), Options{})
			if err := n.Do(t, func() error { return dp.AttachAccess(acc) }); err != nil {
				t.Fatal(err)
			}
			wantAccess(t, n, acc, dp)
			var filters []string
			if err := n.Do(t, func() error {
				nl, err := netlink.LinkByIndex(acc)
				if err != nil {
					return err
				}
				fs, err := netlink.FilterList(nl, netlink.HANDLE_MIN_INGRESS)
				for _, f := range fs {
					if bf, ok := f.(*netlink.BpfFilter); ok {
						filters = append(filters, bf.Name)
					}
				}
				return err
			}); err != nil && !strings.Contains(err.Error(), "invalid argument") {
				t.Fatal(err)
			}
			if len(filters) != 0 {
				t.Errorf("clsact ingress filters left: %v", filters)
			}
			if len(replacedLines(logs)) == 0 {
				t.Error("nothing logged as replaced")
			}
		})
	}
}
