package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The netdev generic netlink family (include/uapi/linux/netdev.h, Linux
// 6.3+): a device's XDP features, and notifications when a device appears,
// goes, or its XDP features change.
const (
	netdevFamily          = "netdev"
	netdevGroupMgmt       = "mgmt"
	netdevCmdDevGet       = 1 // NETDEV_CMD_DEV_GET
	netdevCmdDevAddNtf    = 2 // NETDEV_CMD_DEV_ADD_NTF
	netdevCmdDevDelNtf    = 3 // NETDEV_CMD_DEV_DEL_NTF
	netdevCmdDevChangeNtf = 4 // NETDEV_CMD_DEV_CHANGE_NTF

	netdevADevIfindex       = 1 // NETDEV_A_DEV_IFINDEX, u32
	netdevADevXDPFeatures   = 3 // NETDEV_A_DEV_XDP_FEATURES, u64 of enum netdev_xdp_act
	netdevADevXDPRxMetadata = 5 // NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, u64

	// xdpActNDOXmit is NETDEV_XDP_ACT_NDO_XMIT: the device implements
	// ndo_xdp_xmit, so frames may be XDP-redirected to it.
	xdpActNDOXmit = 4
	// xdpRxMetadataVLANTag is NETDEV_XDP_RX_METADATA_VLAN_TAG: the driver
	// gives XDP the VLAN tag it stripped (bpf_xdp_metadata_rx_vlan_tag).
	xdpRxMetadataVLANTag = 4
)

// genlHeader is struct genlmsghdr: command, version 1, reserved zero.
// (nl.Genlmsg serialises 4 bytes from a 2-byte struct, so its reserved
// field is whatever follows it in memory, and the kernel refuses a
// non-zero one for newer commands with EINVAL.)
type genlHeader struct{ cmd uint8 }

func (h genlHeader) Len() int          { return nl.SizeofGenlmsg }
func (h genlHeader) Serialize() []byte { return []byte{h.cmd, 1, 0, 0} }

// netdevInfo is what the netdev family says about one device.
type netdevInfo struct {
	ifindex int
	xdp     uint64 // enum netdev_xdp_act bits
	rxMeta  uint64 // enum netdev_xdp_rx_metadata bits
}

// canXmitXDP says whether XDP frames may be redirected to the device.
func (i netdevInfo) canXmitXDP() bool { return i.xdp&xdpActNDOXmit != 0 }

// hasVLANTagMetadata says whether the driver hands XDP a stripped VLAN tag.
func (i netdevInfo) hasVLANTagMetadata() bool { return i.rxMeta&xdpRxMetadataVLANTag != 0 }

// netdevConn is a request socket of the netdev family, in the network
// namespace of the thread that dialled it (a netlink socket stays in the
// namespace it was made in, whatever thread uses it later). Not safe for
// concurrent use.
type netdevConn struct {
	family uint16
	mgmt   uint32 // the "mgmt" multicast group's id
	sock   *nl.NetlinkSocket
}

func dialNetdev() (*netdevConn, error) {
	f, err := netlink.GenlFamilyGet(netdevFamily)
	if err != nil {
		return nil, fmt.Errorf("maps: netlink family %q (Linux 6.3+): %w", netdevFamily, err)
	}
	c := &netdevConn{family: f.ID}
	for _, g := range f.Groups {
		if g.Name == netdevGroupMgmt {
			c.mgmt = g.ID
		}
	}
	if c.mgmt == 0 {
		return nil, fmt.Errorf("maps: netlink family %q has no %q group", netdevFamily, netdevGroupMgmt)
	}
	if c.sock, err = nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_GENERIC); err != nil {
		return nil, fmt.Errorf("maps: netlink socket: %w", err)
	}
	return c, nil
}

func (c *netdevConn) close() { c.sock.Close() }

// get asks for one device; a device that does not exist is
// unix.ENODEV.
func (c *netdevConn) get(ifindex int) (netdevInfo, error) {
	req := nl.NewNetlinkRequest(int(c.family), 0)
	req.AddData(genlHeader{cmd: netdevCmdDevGet})
	req.AddData(nl.NewRtAttr(netdevADevIfindex, nl.Uint32Attr(uint32(ifindex))))
	var out []netdevInfo
	if err := c.exchange(req, &out); err != nil {
		return netdevInfo{}, fmt.Errorf("maps: netdev ifindex %d: %w", ifindex, err)
	}
	if len(out) != 1 || out[0].ifindex != ifindex {
		return netdevInfo{}, fmt.Errorf("maps: netdev ifindex %d: %d answers", ifindex, len(out))
	}
	return out[0], nil
}

// dump lists every device of the namespace.
func (c *netdevConn) dump() ([]netdevInfo, error) {
	req := nl.NewNetlinkRequest(int(c.family), unix.NLM_F_DUMP)
	req.AddData(genlHeader{cmd: netdevCmdDevGet})
	var out []netdevInfo
	if err := c.exchange(req, &out); err != nil {
		return nil, fmt.Errorf("maps: netdev dump: %w", err)
	}
	return out, nil
}

// exchange sends req and collects the answers until the kernel says it is
// done. (nl.NetlinkRequest.Execute stops after the first message of a
// dump whose messages lack NLM_F_MULTI, as the netdev family's do.)
func (c *netdevConn) exchange(req *nl.NetlinkRequest, out *[]netdevInfo) error {
	if err := c.sock.Send(req); err != nil {
		return err
	}
	dump := req.Flags&unix.NLM_F_DUMP != 0
	for {
		msgs, _, err := c.sock.Receive()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return errors.New("short netlink error")
				}
				if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
					return syscall.Errno(-errno)
				}
				return nil
			}
			info, err := parseNetdevMessage(m.Data)
			if err != nil {
				return err
			}
			*out = append(*out, info)
			if !dump {
				return nil
			}
		}
	}
}

// parseNetdevMessage reads a dev-get answer or a dev-*-ntf notification:
// the generic netlink header (command, version, reserved), then attributes
// (struct nlattr: length, type, value, padded to 4 bytes).
func parseNetdevMessage(b []byte) (netdevInfo, error) {
	var info netdevInfo
	if len(b) < nl.SizeofGenlmsg {
		return info, errors.New("netdev message: short header")
	}
	for a := b[nl.SizeofGenlmsg:]; len(a) > 0; {
		if len(a) < 4 {
			return info, errors.New("netdev message: truncated attribute")
		}
		n, typ := int(binary.NativeEndian.Uint16(a)), binary.NativeEndian.Uint16(a[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER)
		if n < 4 || n > len(a) {
			return info, fmt.Errorf("netdev message: attribute %d of length %d in %d bytes", typ, n, len(a))
		}
		v := a[4:n]
		switch {
		case typ == netdevADevIfindex && len(v) >= 4:
			info.ifindex = int(binary.NativeEndian.Uint32(v))
		case typ == netdevADevXDPFeatures && len(v) >= 8:
			info.xdp = binary.NativeEndian.Uint64(v)
		case typ == netdevADevXDPRxMetadata && len(v) >= 8:
			info.rxMeta = binary.NativeEndian.Uint64(v)
		}
		a = a[min((n+3)&^3, len(a)):]
	}
	if info.ifindex <= 0 {
		return info, errors.New("netdev message: no ifindex")
	}
	return info, nil
}

// subscribe returns a socket joined to the netdev family's "mgmt" group, in
// the namespace of the thread that made it.
func (c *netdevConn) subscribe() (*nl.NetlinkSocket, error) {
	s, err := nl.Subscribe(unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("maps: netlink socket: %w", err)
	}
	// Generic netlink group ids are assigned at run time and may exceed
	// the 32 the bind() bitmask holds.
	if err := unix.SetsockoptInt(s.GetFd(), unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(c.mgmt)); err != nil {
		s.Close()
		return nil, fmt.Errorf("maps: join netdev mgmt group: %w", err)
	}
	// Room for a burst (a thousand devices created at once); an overrun
	// is survived anyway, by reading everything again.
	_ = s.SetReceiveBufferSize(1<<20, false)
	return s, nil
}
