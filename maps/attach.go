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

// attachOne reuses a link pinned by an earlier run (swapping in this run's
// program, which uses the same pinned maps) or creates and pins one.
func (d *Datapath) attachOne(ifindex int, h hook) error {
	path := d.linkPath(ifindex, h.name)
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		defer l.Close()
		if err := l.Update(h.prog); err != nil {
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
		if err != nil {
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
		return fmt.Errorf("pin link: %w", err)
	}
	return nil
}

// Detach removes every program of this package from an interface (for
// pppoe0 and client devices, pass the device's or its peer's ifindex).
func (d *Datapath) Detach(ifindex int) error {
	var errs []error
	if peer, err := peerOf(ifindex); err == nil {
		if err := d.detach(peer); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.detach(ifindex))
	return errors.Join(errs...)
}

func (d *Datapath) detach(ifindex int) error {
	var errs []error
	for _, name := range []string{dataplaneProgXdpAccessIn, dataplaneProgTcAccessIn,
		dataplaneProgXdpUplinkIn, dataplaneProgTcPppoe0Out, dataplaneProgTcClientOut} {
		path := d.linkPath(ifindex, name)
		l, err := link.LoadPinnedLink(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
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
