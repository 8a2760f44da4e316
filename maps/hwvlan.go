package maps

import (
	"fmt"
	"reflect"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// VLAN tags stripped by the device (rx VLAN offload, on by default on most
// NICs) never reach XDP in the frame: the driver keeps the outer tag aside,
// so xdp_access_in would see a VLAN or QinQ session's frames as untagged
// and leave them to TC as unknown sessions. Two ways out, per access
// device:
//
//   - Where the driver hands XDP the tag as receive metadata (its
//     xdp-rx-metadata-features include vlan-tag: veth, and NIC drivers such
//     as ice), the device gets xdp_access_in_hwvlan, which reads it with
//     bpf_xdp_metadata_rx_vlan_tag. A program may call that kfunc only when
//     it is loaded bound to one device, so this variant is loaded once per
//     such device; everything else still shares one loaded object.
//   - Elsewhere (other drivers, generic XDP, where the skb already holds the
//     tag aside) rx VLAN offload is turned off on the device, so the tags
//     stay in the frame, with one log line. The kernel's own VLAN handling
//     does not need the offload.
//
// A veth strips nothing itself: its peer hands it the tags a sender kept
// aside (an 8021q device or bridge on the far end uses tx VLAN offload),
// whatever the veth's rx-vlan-offload says, and only the metadata shows
// them.

// attachAccessXDP attaches the XDP half of AttachAccess.
func (d *Datapath) attachAccessXDP(ifindex int) error {
	// The link keeps xdp_access_in's name whichever variant runs in it,
	// so that a restart with or without spreading swaps the program.
	shared := hook{d.objs.XdpAccessIn, dataplaneProgXdpAccessIn, true, 0}
	if d.spread.Spread != nil {
		shared.prog = d.spread.Spread
	}
	if !d.genericXDP {
		prog, err := d.hwvlanProgram(ifindex)
		if err != nil {
			d.log.Warn("cannot read VLAN tags from XDP metadata on this device", zap.Int("ifindex", ifindex), zap.Error(err))
		}
		if prog != nil {
			err := d.attach(ifindex, hook{prog, dataplaneProgXdpAccessIn, true, 0})
			if err == nil {
				return nil
			}
			d.forgetHWVLAN(ifindex)
			d.log.Warn("device-bound XDP program refused, attaching xdp_access_in", zap.Int("ifindex", ifindex), zap.Error(err))
		}
	}
	d.keepVLANTagsInFrame(ifindex)
	return d.attach(ifindex, shared)
}

// hwvlanProgram returns xdp_access_in_hwvlan bound to the device if its
// driver hands XDP stripped VLAN tags, nil if it does not. It is loaded
// (and logged) once per device: the client attaches again at every
// session.
func (d *Datapath) hwvlanProgram(ifindex int) (*ebpf.Program, error) {
	d.hwvlanMu.Lock()
	defer d.hwvlanMu.Unlock()
	if p, ok := d.hwvlan[ifindex]; ok {
		return p, nil
	}
	c, err := dialNetdev()
	if err != nil {
		return nil, err
	}
	info, err := c.get(ifindex)
	c.close()
	if err != nil || !info.hasVLANTagMetadata() {
		return nil, err
	}
	name := dataplaneProgXdpAccessInHwvlan
	if d.spread.Spread != nil {
		name = dataplaneProgXdpAccessSpreadHwvlan
	}
	spec := d.spec.Copy()
	ps := spec.Programs[name]
	ps.Ifindex = uint32(ifindex)
	ps.Flags |= unix.BPF_F_XDP_DEV_BOUND_ONLY
	// Only the one program: LoadAndAssign would load every program.
	spec.Programs = map[string]*ebpf.ProgramSpec{name: ps}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: d.mapsByName()})
	if err != nil {
		return nil, fmt.Errorf("maps: load %s for ifindex %d: %w", name, ifindex, err)
	}
	var o struct{ Prog *ebpf.Program }
	o.Prog = coll.DetachProgram(name)
	coll.Close()
	if d.hwvlan == nil {
		d.hwvlan = map[int]*ebpf.Program{}
	}
	d.hwvlan[ifindex] = o.Prog
	f := []zap.Field{zap.Int("ifindex", ifindex), zap.String("prog", name)}
	if l, err := netlink.LinkByIndex(ifindex); err == nil {
		f = append(f, zap.String("iface", l.Attrs().Name))
	}
	d.log.Info("access device: VLAN tags the device strips are read from XDP metadata", f...)
	return o.Prog, nil
}

// forgetHWVLAN drops a device's program (one its device went from, say).
func (d *Datapath) forgetHWVLAN(ifindex int) {
	d.hwvlanMu.Lock()
	defer d.hwvlanMu.Unlock()
	if p, ok := d.hwvlan[ifindex]; ok {
		p.Close()
		delete(d.hwvlan, ifindex)
	}
}

// closeHWVLAN closes this process's descriptors of the device-bound
// programs; the links that run them keep them.
func (d *Datapath) closeHWVLAN() {
	d.hwvlanMu.Lock()
	defer d.hwvlanMu.Unlock()
	for i, p := range d.hwvlan {
		p.Close()
		delete(d.hwvlan, i)
	}
}

// mapsByName is every loaded map under its C name, so that a program
// loaded later shares them.
func (d *Datapath) mapsByName() map[string]*ebpf.Map {
	out := map[string]*ebpf.Map{}
	v := reflect.ValueOf(&d.objs.dataplaneMaps).Elem()
	for i := 0; i < v.NumField(); i++ {
		if m, ok := v.Field(i).Interface().(*ebpf.Map); ok && m != nil {
			out[v.Type().Field(i).Tag.Get("ebpf")] = m
		}
	}
	return out
}

// The ethtool features that keep VLAN tags out of the frame on receive.
var rxVLANFeatures = []string{"rx-vlan-hw-parse", "rx-vlan-stag-hw-parse"}

// keepVLANTagsInFrame turns rx VLAN offload off where it is on, logging
// what it did or could not do; it never fails the attachment, which works
// either way (tagged sessions then take the kernel's path).
func (d *Datapath) keepVLANTagsInFrame(ifindex int) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return
	}
	name := l.Attrs().Name
	f := []zap.Field{zap.String("iface", name), zap.Int("ifindex", ifindex)}
	changed, fixed, err := setFeatures(name, rxVLANFeatures, false)
	switch {
	case err != nil:
		d.log.Warn("cannot read or change rx VLAN offload: VLAN sessions may take the kernel's path on this device",
			append(f, zap.Error(err))...)
	case len(fixed) > 0:
		d.log.Warn("rx VLAN offload cannot be turned off: VLAN sessions take the kernel's path on this device",
			append(f, zap.Strings("features", fixed))...)
	case len(changed) > 0:
		d.log.Info("access device: rx VLAN offload turned off so that XDP sees VLAN tags (it stays off after pppoed stops)",
			append(f, zap.Strings("features", changed))...)
	}
}
