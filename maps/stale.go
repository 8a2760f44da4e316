package maps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// What an earlier run may have left on a hook, and what attach does with
// it. A start must never fail because the world changed since the last
// one, nor leave two copies of a program on one hook:
//
//   - a link pinned under links/ and attached to this very interface:
//     kept, this run's program swapped in (no gap in forwarding);
//   - a pinned link whose interface was deleted (severed), or that is
//     attached to another interface with the same ifindex (another
//     network namespace: the daemon's was rebuilt while the old one
//     lingers): detached, unpinned, replaced;
//   - a program of ours on the hook that no pin of ours holds (a crashed
//     run whose pins were elsewhere: another --bpffs, or a bpffs private
//     to its mount namespace): detached, replaced;
//   - an XDP program that is not ours: left alone, and the attach fails
//     with a ForeignProgramError. The XDP hook holds one program;
//     replacing it would silently take away someone's filter or load
//     balancer, which pppoed cannot judge. tcx and clsact hooks hold
//     several programs, so foreign TC programs simply run beside ours.
//
// Each replacement is logged, one line per attachment.

// ForeignProgramError is returned when an interface's XDP hook holds a
// program that is not pppoe-xdp's.
type ForeignProgramError struct {
	Iface   string // interface name
	Ifindex int
	Name    string // the program's name (bpftool prog show id ID)
	ID      ebpf.ProgramID
	Tag     string
	Mode    string // native, generic or offload
}

func (e *ForeignProgramError) Error() string {
	return fmt.Sprintf("%s (ifindex %d) has a foreign XDP program %q (id %d, tag %s, %s mode): "+
		"pppoed replaces only its own programs; remove it (ip link set dev %s xdp off) if pppoed is to serve this interface",
		e.Iface, e.Ifindex, e.Name, e.ID, e.Tag, e.Mode, e.Iface)
}

// ourProgs are the names of the programs this package attaches, the
// device-bound variant of xdp_access_in (hwvlan.go) and the spreading ones
// (spread.go) included: a crashed run leaves those on a device as well.
var ourProgs = []string{dataplaneProgXdpAccessIn, dataplaneProgXdpAccessInHwvlan, dataplaneProgTcAccessIn,
	dataplaneProgXdpAccessSpread, dataplaneProgXdpAccessSpreadHwvlan,
	dataplaneProgXdpUplinkIn, dataplaneProgTcPppoe0Out, dataplaneProgTcClientOut}

// ourMaps are the names of this package's maps that no other program is
// likely to use ("config" and "counters" are left out).
var ourMaps = []string{dataplaneMapSessions, dataplaneMapSessionSlots, dataplaneMapSubscriberSlots,
	dataplaneMapSessionInfo, dataplaneMapSessionStats, dataplaneMapSubscribersV4, dataplaneMapSubscribersV6,
	dataplaneMapClientDevs, dataplaneMapUplinkMacs}

// ours tells whether a loaded program is one of pppoe-xdp's, by any
// version: named like one of our programs and using a map named like one
// of ours. The tag is no use here: it changes with every build.
func ours(info *ebpf.ProgramInfo) bool {
	if !slices.Contains(ourProgs, info.Name) {
		return false
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		mi, err := m.Info()
		m.Close()
		if err == nil && slices.Contains(ourMaps, mi.Name) {
			return true
		}
	}
	return false
}

func progInfo(id ebpf.ProgramID) (*ebpf.ProgramInfo, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return nil, fmt.Errorf("program id %d: %w", id, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return nil, fmt.Errorf("program id %d: %w", id, err)
	}
	return info, nil
}

// ifaceName names an ifindex for logs and errors ("" once it is gone).
func ifaceName(ifindex int) string {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

func (d *Datapath) replaced(ifindex int, h hook, why string) {
	d.log.Warn("replaced a stale attachment", zap.Int("ifindex", ifindex), zap.String("iface", ifaceName(ifindex)),
		zap.String("prog", h.name), zap.String("stale", why))
}

// pinnedStale tells why a link pinned for (ifindex, h) cannot be kept, ""
// if it can: it must be attached to this ifindex in this namespace.
func (d *Datapath) pinnedStale(l link.Link, ifindex int, h hook) string {
	info, err := l.Info()
	if err != nil {
		return fmt.Sprintf("pinned link unreadable: %v", err)
	}
	switch {
	case h.xdp:
		xi := info.XDP()
		if xi == nil {
			return fmt.Sprintf("pinned link is not an XDP link (type %d)", info.Type)
		}
		if xi.Ifindex == 0 {
			return "pinned link severed: its interface was deleted"
		}
		nl, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return fmt.Sprintf("ifindex %d: %v", ifindex, err)
		}
		x := nl.Attrs().Xdp
		if int(xi.Ifindex) != ifindex || x == nil || ebpf.ProgramID(x.ProgId) != info.Program {
			return "pinned link attached to another interface with this ifindex (another namespace)"
		}
		if d.genericXDP && x.AttachMode != xdpAttachedSKB {
			return "pinned link in native mode, generic mode wanted"
		}
	case d.clsact:
		return "pinned tcx link, clsact wanted"
	default:
		ti := info.TCX()
		if ti == nil {
			return fmt.Sprintf("pinned link is not a tcx link (type %d)", info.Type)
		}
		if ti.Ifindex == 0 {
			return "pinned link severed: its interface was deleted"
		}
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: h.attach})
		if err != nil {
			return fmt.Sprintf("ifindex %d: %v", ifindex, err)
		}
		if int(ti.Ifindex) != ifindex || !slices.ContainsFunc(res.Programs, func(p link.AttachedProgram) bool {
			id, ok := p.LinkID()
			return ok && id == info.ID
		}) {
			return "pinned link attached to another interface with this ifindex (another namespace)"
		}
	}
	return ""
}

// IFLA_XDP_ATTACHED values (linux/if_link.h).
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
	xdpAttachedHW  = 3
)

// XDP attach flags (linux/if_link.h) for netlink detach.
const (
	xdpFlagsSKBMode = 1 << 1
	xdpFlagsDrvMode = 1 << 2
	xdpFlagsHWMode  = 1 << 3
)

// clearXDP detaches a program of ours that no pin of ours holds from an
// interface's XDP hook, and fails with a ForeignProgramError if the
// program there is not ours. keep is the program of a pinned link this
// run keeps (0 if none).
func (d *Datapath) clearXDP(ifindex int, h hook, keep ebpf.ProgramID) error {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("ifindex %d: %w", ifindex, err)
	}
	x := nl.Attrs().Xdp
	if x == nil || x.ProgId == 0 || ebpf.ProgramID(x.ProgId) == keep {
		return nil
	}
	id := ebpf.ProgramID(x.ProgId)
	info, err := progInfo(id)
	if err != nil {
		return err
	}
	if !ours(info) {
		mode := map[uint32]string{xdpAttachedDrv: "native", xdpAttachedSKB: "generic", xdpAttachedHW: "offload"}[x.AttachMode]
		return &ForeignProgramError{Iface: nl.Attrs().Name, Ifindex: ifindex, Name: info.Name, ID: id, Tag: info.Tag, Mode: mode}
	}
	// Through a bpf_link (which netlink cannot remove) or through netlink.
	if lid, err := xdpLinkOf(ifindex, id); err != nil {
		return err
	} else if lid != 0 {
		if err := detachLinkID(lid); err != nil {
			return err
		}
		d.replaced(ifindex, h, fmt.Sprintf("%s (prog id %d) attached by link %d that no pin of ours holds", info.Name, id, lid))
	} else {
		flags := map[uint32]int{xdpAttachedDrv: xdpFlagsDrvMode, xdpAttachedSKB: xdpFlagsSKBMode, xdpAttachedHW: xdpFlagsHWMode}[x.AttachMode]
		if err := netlink.LinkSetXdpFdWithFlags(nl, -1, flags); err != nil {
			return fmt.Errorf("detach %s (prog id %d) attached through netlink: %w", info.Name, id, err)
		}
		d.replaced(ifindex, h, fmt.Sprintf("%s (prog id %d) attached through netlink", info.Name, id))
	}
	return nil
}

// xdpLinkOf finds the bpf_link attaching prog to ifindex, 0 if there is
// none. XDP link info carries no namespace: of several such links (one
// stale run attached to equal ifindexes in two namespaces) the first is
// returned; the caller's check of the hook afterwards tells.
func xdpLinkOf(ifindex int, prog ebpf.ProgramID) (link.ID, error) {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Program != prog {
			continue
		}
		if xi := info.XDP(); xi != nil && int(xi.Ifindex) == ifindex {
			return it.ID, nil
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("links: %w", err)
	}
	return 0, nil
}

func detachLinkID(id link.ID) error {
	l, err := link.NewFromID(id)
	if err != nil {
		return fmt.Errorf("link %d: %w", id, err)
	}
	defer l.Close()
	if err := l.Detach(); err != nil {
		return fmt.Errorf("detach link %d: %w", id, err)
	}
	return nil
}

// clearTCX detaches from a tcx hook the programs of ours named h.name
// that no pin of ours holds (keep is the link this run keeps, 0 if none),
// so that a frame never meets the same program twice. Foreign programs
// stay.
func (d *Datapath) clearTCX(ifindex int, h hook, keep link.ID) error {
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: h.attach})
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
		return nil // no tcx on this kernel: nothing of ours there either
	}
	if err != nil {
		return fmt.Errorf("tcx programs: %w", err)
	}
	for _, p := range res.Programs {
		lid, viaLink := p.LinkID()
		if viaLink && lid == keep {
			continue
		}
		info, err := progInfo(p.ID)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // detached meanwhile
			}
			return err
		}
		if info.Name != h.name || !ours(info) {
			continue
		}
		if viaLink {
			if err := detachLinkID(lid); err != nil {
				return err
			}
			d.replaced(ifindex, h, fmt.Sprintf("%s (prog id %d) attached by tcx link %d that no pin of ours holds", info.Name, p.ID, lid))
			continue
		}
		prog, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			return fmt.Errorf("program id %d: %w", p.ID, err)
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: ifindex, Program: prog, Attach: h.attach})
		prog.Close()
		if err != nil {
			return fmt.Errorf("detach %s (prog id %d): %w", info.Name, p.ID, err)
		}
		d.replaced(ifindex, h, fmt.Sprintf("%s (prog id %d) attached to tcx without a link", info.Name, p.ID))
	}
	return nil
}

// clearClsact removes our clsact filter for h, left by a run in clsact
// mode, when this run uses tcx.
func (d *Datapath) clearClsact(ifindex int, h hook) error {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("ifindex %d: %w", ifindex, err)
	}
	fs, err := netlink.FilterList(nl, clsactParent(h.attach))
	if err != nil {
		return nil // no clsact qdisc
	}
	for _, f := range fs {
		bf, ok := f.(*netlink.BpfFilter)
		if !ok || bf.Handle != clsactHandle || !slices.Contains(ourProgs, bf.Name) {
			continue
		}
		if err := netlink.FilterDel(bf); err != nil {
			return fmt.Errorf("delete clsact filter %s: %w", bf.Name, err)
		}
		d.replaced(ifindex, h, fmt.Sprintf("clsact filter %s of a run in clsact mode", bf.Name))
	}
	return nil
}

// sweepSevered unpins the links under links/ whose interface was deleted
// since they were pinned: nothing will take them over (a re-created
// interface has another ifindex, unless the namespace was rebuilt, and
// attach replaces those anyway), and left there they would only say the
// pin directory holds attachments it does not. Links on live interfaces
// are left alone: Open may run in another namespace than the attaches.
func (d *Datapath) sweepSevered() {
	dir := filepath.Join(d.pinPath, linksDir)
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		path := filepath.Join(dir, e.Name())
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			continue
		}
		info, err := l.Info()
		severed := err == nil && ((info.XDP() != nil && info.XDP().Ifindex == 0) || (info.TCX() != nil && info.TCX().Ifindex == 0))
		if severed && l.Unpin() == nil {
			d.log.Warn("removed a stale pin: its interface was deleted", zap.String("pin", e.Name()))
		}
		l.Close()
	}
}
