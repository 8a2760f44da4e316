package maps

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FQ packet limits for a shaping access interface: fq's defaults (100
// packets a flow, 10,000 in all) are sized for a host's own sockets, which
// TCP small queues keep short; forwarded flows have no such brake, and a
// shaped 1 Gbit/s flow queues 100 ms of packets, about 8,300 of 1500
// bytes, well inside the shaper's horizon (DefaultShapeHorizon).
const (
	fqFlowPacketLimit = 10_000
	fqPacketLimit     = 100_000
)

// EnsureFQ makes the fq qdisc the root qdisc of the access interface
// ifindex, unless it already is: fq holds each packet until the departure
// time a shaped session's tx path gives it (skb->tstamp, EDT), as Cilium's
// bandwidth manager relies on. It reports whether it installed one. A
// root qdisc the operator configured (anything but fq) is replaced: a
// shaped session cannot be shaped without fq.
func EnsureFQ(ifindex int) (bool, error) {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, fmt.Errorf("maps: fq on ifindex %d: %w", ifindex, err)
	}
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return false, fmt.Errorf("maps: fq on %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "fq" {
			return false, nil
		}
	}
	fq := netlink.NewFq(netlink.QdiscAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(0x8001, 0)})
	fq.FlowPacketLimit, fq.PacketLimit = fqFlowPacketLimit, fqPacketLimit
	if err := netlink.QdiscReplace(fq); err != nil {
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("this kernel has no fq qdisc (CONFIG_NET_SCH_FQ); police the download instead (queue-type=default-small): %w", err)
		}
		return false, fmt.Errorf("maps: fq on %s: %w", link.Attrs().Name, err)
	}
	return true, nil
}
