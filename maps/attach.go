package maps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// linksDir holds the pinned links under the pin path, one per
// (ifindex, program), so attachments outlive the daemon.
const linksDir = "links"

type hook struct {
	prog   *ebpf.Program
	name   string
	xdp    bool
	attach ebpf.AttachType // TCX ingress/egress when !xdp
}

// AttachAccess attaches xdp_access_in and tc_access_in (ingress) to an
// access interface. Attaching to one more interface loads nothing, except
// on a device whose driver hands XDP the VLAN tags it strips, which gets
// its own copy of the XDP program (hwvlan.go).
//
// The first Attach makes the data plane follow the calling thread's
// network namespace's devices (egress.go); attaching in another
// namespace is then an error.
func (d *Datapath) AttachAccess(ifindex int) error {
	if err := d.followDevices(); err != nil {
		return err
	}
	if err := d.attachAccessXDP(ifindex); err != nil {
		return err
	}
	return d.attach(ifindex, hook{d.objs.TcAccessIn, dataplaneProgTcAccessIn, false, ebpf.AttachTCXIngress})
}

// AttachUplink attaches xdp_uplink_in to an uplink interface and records
// its MAC (uplink_macs), so that only frames addressed to it are forwarded.
// The MAC is read now: after changing it, attach again (until then frames
// to the new MAC take the kernel's path through pppoe0).
func (d *Datapath) AttachUplink(ifindex int) error {
	if err := d.followDevices(); err != nil {
		return err
	}
	if err := d.setUplinkMAC(ifindex); err != nil {
		return err
	}
	return d.attach(ifindex, hook{d.objs.XdpUplinkIn, dataplaneProgXdpUplinkIn, true, 0})
}

// uplinkSlots is UPLINK_SLOTS in bpf/maps.h.
const uplinkSlots = 1024

// setUplinkMAC puts an uplink's MAC in its uplink_macs slot, unless another
// uplink holds the slot (then this one's destination goes unchecked).
func (d *Datapath) setUplinkMAC(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("maps: uplink ifindex %d: %w", ifindex, err)
	}
	slot := uint32(ifindex) % uplinkSlots
	var cur dataplaneUplinkMac
	if err := d.objs.UplinkMacs.Lookup(slot, &cur); err != nil {
		return fmt.Errorf("maps: uplink_macs: %w", err)
	}
	if cur.Ifindex != 0 && cur.Ifindex != uint32(ifindex) {
		if _, err := netlink.LinkByIndex(int(cur.Ifindex)); err == nil {
			d.log.Warn("uplink MAC slot taken: destination MAC not checked on this uplink",
				zap.Int("ifindex", ifindex), zap.Uint32("holder", cur.Ifindex))
			return nil
		}
	}
	v := dataplaneUplinkMac{Ifindex: uint32(ifindex)}
	if len(l.Attrs().HardwareAddr) != 6 {
		return fmt.Errorf("maps: uplink %s: MAC %q: want 6 bytes", l.Attrs().Name, l.Attrs().HardwareAddr)
	}
	copy(v.Mac[:], l.Attrs().HardwareAddr)
	if err := d.objs.UplinkMacs.Put(slot, &v); err != nil {
		return fmt.Errorf("maps: uplink_macs: %w", err)
	}
	return nil
}

// clearUplinkMAC frees an uplink's uplink_macs slot.
func (d *Datapath) clearUplinkMAC(ifindex int) error {
	slot := uint32(ifindex) % uplinkSlots
	var cur dataplaneUplinkMac
	if err := d.objs.UplinkMacs.Lookup(slot, &cur); err != nil || cur.Ifindex != uint32(ifindex) {
		return err
	}
	return d.objs.UplinkMacs.Put(slot, &dataplaneUplinkMac{})
}

// AttachPPPoE0 attaches tc_pppoe0_out to the slow-path device made by
// CreatePPPoE0, given its ifindex: at TC ingress of its veth peer, which is
// where what the kernel sends out of pppoe0 arrives, already segmented.
func (d *Datapath) AttachPPPoE0(ifindex int) error {
	peer, err := peerOf(ifindex)
	if err != nil {
		return err
	}
	return d.attach(peer, hook{d.objs.TcPppoe0Out, dataplaneProgTcPppoe0Out, false, ebpf.AttachTCXIngress})
}

// peerOf returns the ifindex of a veth's peer in this namespace.
func peerOf(ifindex int) (int, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("maps: ifindex %d: %w", ifindex, err)
	}
	dev, err := deviceOf(l)
	if err != nil {
		return 0, err
	}
	return dev.PeerIndex, nil
}

func (d *Datapath) linkPath(ifindex int, name string) string {
	return filepath.Join(d.pinPath, linksDir, fmt.Sprintf("%d_%s", ifindex, name))
}

func (d *Datapath) attach(ifindex int, hooks ...hook) error {
	d.attachMu.Lock()
	defer d.attachMu.Unlock()
	if err := os.MkdirAll(filepath.Join(d.pinPath, linksDir), 0o700); err != nil {
		return fmt.Errorf("maps: attach: %w", err)
	}
	for _, h := range hooks {
		if err := d.attachOne(ifindex, h); err != nil {
			return fmt.Errorf("maps: attach %s to ifindex %d: %w", h.name, ifindex, err)
		}
	}
	return nil
}

// attachOne puts one program on one hook of an interface, whatever an
// earlier run left there (stale.go): a link pinned for it and attached
// there gets this run's program swapped in (it uses the same pinned maps);
// anything stale of ours is replaced, with one log line each.
func (d *Datapath) attachOne(ifindex int, h hook) error {
	path := d.linkPath(ifindex, h.name)
	var keep link.Link
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		if why := d.pinnedStale(l, ifindex, h); why != "" {
			// Detached explicitly: another pin or descriptor may hold it.
			_ = l.Detach()
			err := l.Unpin()
			l.Close()
			if err != nil {
				return fmt.Errorf("unpin stale link: %w", err)
			}
			d.replaced(ifindex, h, why)
		} else {
			keep = l
			defer l.Close()
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		// Not a link at all, or unreadable: it only blocks the name.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("stale pin: %w", err)
		}
		d.replaced(ifindex, h, fmt.Sprintf("unusable pin: %v", err))
	}
	if err := d.clearOrphans(ifindex, h, keep); err != nil {
		return err
	}
	if keep != nil {
		if err := keep.Update(h.prog); err != nil {
			return fmt.Errorf("update pinned link: %w", err)
		}
		return nil
	}
	var (
		l   link.Link
		err error
	)
	switch {
	case h.xdp && d.genericXDP:
		l, err = link.AttachXDP(link.XDPOptions{Program: h.prog, Interface: ifindex, Flags: link.XDPGenericMode})
	case h.xdp:
		l, err = link.AttachXDP(link.XDPOptions{Program: h.prog, Interface: ifindex, Flags: link.XDPDriverMode})
		// Only a driver without native XDP is a reason for generic mode;
		// any other failure would fail there too, less clearly.
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, ebpf.ErrNotSupported) {
			d.log.Warn("native XDP unavailable, using generic XDP (slow)",
				zap.Int("ifindex", ifindex), zap.String("prog", h.name), zap.Error(err))
			l, err = link.AttachXDP(link.XDPOptions{Program: h.prog, Interface: ifindex, Flags: link.XDPGenericMode})
		}
	case d.clsact:
		return attachClsact(ifindex, h)
	default:
		l, err = link.AttachTCX(link.TCXOptions{Program: h.prog, Interface: ifindex, Attach: h.attach})
		if errors.Is(err, ebpf.ErrNotSupported) {
			d.log.Info("tcx unavailable, using clsact", zap.Int("ifindex", ifindex), zap.String("prog", h.name))
			return attachClsact(ifindex, h)
		}
	}
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		_ = l.Detach()
		return fmt.Errorf("pin link: %w", err)
	}
	return nil
}

// clearOrphans removes what of ours is on h's hook of ifindex without a
// pin of ours (keep is the pinned link being kept, nil if none), and
// refuses a foreign XDP program.
func (d *Datapath) clearOrphans(ifindex int, h hook, keep link.Link) error {
	var keepInfo *link.Info
	if keep != nil {
		var err error
		if keepInfo, err = keep.Info(); err != nil {
			return fmt.Errorf("pinned link: %w", err)
		}
	}
	if h.xdp {
		var prog ebpf.ProgramID
		if keepInfo != nil {
			prog = keepInfo.Program
		}
		return d.clearXDP(ifindex, h, prog)
	}
	var id link.ID
	if keepInfo != nil {
		id = keepInfo.ID
	}
	// In either TC mode, copies of ours in the other one go.
	if err := d.clearTCX(ifindex, h, id); err != nil {
		return err
	}
	if !d.clsact {
		return d.clearClsact(ifindex, h)
	}
	return nil
}

// Detach removes every program of this package from an interface (for
// pppoe0 and client devices, pass the device's or its peer's ifindex).
// An interface that is gone is fine: its pins go.
func (d *Datapath) Detach(ifindex int) error {
	d.attachMu.Lock()
	defer d.attachMu.Unlock()
	var errs []error
	if peer, err := peerOf(ifindex); err == nil {
		if err := d.detach(peer); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.detach(ifindex))
	return errors.Join(errs...)
}

// DetachInterface removes every program of this package from one
// interface, not its veth peer, and their pins: for an interface that was
// deleted (its links are severed) or renamed or moved out of the namespace
// (they would stay attached there, unpinned). A veth whose peer is in
// another namespace has a peer ifindex that means nothing here, which is
// why Detach's peer rule must not apply.
func (d *Datapath) DetachInterface(ifindex int) error {
	d.attachMu.Lock()
	defer d.attachMu.Unlock()
	return d.detach(ifindex)
}

func (d *Datapath) detach(ifindex int) error {
	var errs []error
	for _, name := range ourProgs {
		path := d.linkPath(ifindex, name)
		l, err := link.LoadPinnedLink(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		// Detached explicitly: a stale pin elsewhere may hold it too. A
		// severed link (interface gone) has nothing left to detach.
		_ = l.Detach()
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	errs = append(errs, detachClsact(ifindex), d.clearUplinkMAC(ifindex))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("maps: detach ifindex %d: %w", ifindex, err)
	}
	return nil
}

// clsactHandle is the filter handle this package owns on clsact hooks.
const clsactHandle = 0x50505045 // "PPPE"

func clsactParent(t ebpf.AttachType) uint32 {
	if t == ebpf.AttachTCXEgress {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// attachClsact is the pre-tcx fallback: a direct-action cls_bpf filter on
// a clsact qdisc. The filter holds the program, so no pin is needed.
func attachClsact(ifindex int, h hook) error {
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	// Added, not replaced: an existing clsact keeps its other filters.
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("clsact qdisc: %w", err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: clsactParent(h.attach),
			Handle: clsactHandle, Protocol: unix.ETH_P_ALL, Priority: 1},
		Fd: h.prog.FD(), Name: h.name, DirectAction: true,
	}
	if err := netlink.FilterReplace(f); err != nil {
		return fmt.Errorf("clsact filter: %w", err)
	}
	return nil
}

func detachClsact(ifindex int) error {
	for _, t := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: clsactParent(t),
			Handle: clsactHandle, Protocol: unix.ETH_P_ALL, Priority: 1}}
		// Absent unless the clsact fallback was used.
		_ = netlink.FilterDel(f)
	}
	return nil
}
