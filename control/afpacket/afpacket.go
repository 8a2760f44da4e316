// Package afpacket reads and writes the PPPoE control frames of one access
// interface through an AF_PACKET socket (packet(7)), with their VLAN tags.
//
// The XDP programs pass discovery frames (EtherType 0x8863), PPP control
// frames (0x8864 carrying a protocol number ≥ 0x8000: LCP, PAP, CHAP, IPCP,
// IPv6CP, …) and Multilink frames for user space (0x003d: fragments to
// reassemble) up to the kernel; this is where the control plane picks them up.
// Data frames never reach user space through here: a classic BPF filter on the
// socket drops them in the kernel.
//
// Linux moves the outermost VLAN tag of every received frame into packet
// metadata before AF_PACKET sees it (skb_vlan_untag in the receive path), so
// a plain read loses it. Conn asks for PACKET_AUXDATA and puts the tag back,
// so callers always see the frame as it was on the wire, with zero, one or
// two tags.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// EtherTypes of RFC 2516 and IEEE 802.1Q/802.1ad.
const (
	etherTypeDiscovery = 0x8863
	etherTypeSession   = 0x8864
	etherTypeVLAN      = 0x8100
	etherTypeQinQ      = 0x88a8
)

// RecvBuffer is the socket receive buffer Listen asks for: at about 100
// bytes of control frame plus 700 of skb overhead each, room for some ten
// thousand frames waiting to be read.
const RecvBuffer = 8 << 20

// sizeofAuxdata is sizeof(struct tpacket_auxdata): status, len, snaplen
// (u32 each), mac, net, vlan_tci, vlan_tpid (u16 each).
const sizeofAuxdata = 20

// Conn is an AF_PACKET socket bound to one interface that delivers PPPoE
// discovery and PPP control frames, VLAN tags restored.
type Conn struct {
	c   *packet.Conn
	raw interface {
		Read(func(fd uintptr) bool) error
	}
	ifi   *net.Interface
	oob   []byte
	local net.HardwareAddr
}

// Listen opens a Conn on ifi. It needs CAP_NET_RAW.
func Listen(ifi *net.Interface) (*Conn, error) {
	filter, err := controlFilter()
	if err != nil {
		return nil, fmt.Errorf("afpacket: assembling filter: %w", err)
	}
	// ETH_P_ALL, not 0x8863/0x8864: a double-tagged frame still shows its
	// inner 802.1Q tag after the kernel removed the outer one, so its
	// protocol is 0x8100 and a PPPoE-bound socket would never see it.
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("afpacket: listen on %s: %w", ifi.Name, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("afpacket: %s: %w", ifi.Name, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
		if serr != nil {
			serr = fmt.Errorf("PACKET_AUXDATA: %w", serr)
			return
		}
		// A burst of dials (every CPE after a power cut) arrives faster
		// than one reader drains the default 212 kB, and a dropped PADR or
		// PADT costs the client a retransmit timeout or leaves a session
		// behind. FORCE passes net.core.rmem_max, which we may (CAP_NET_ADMIN);
		// without it, take what rmem_max allows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, RecvBuffer) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, RecvBuffer)
		}
	}); err != nil || serr != nil {
		c.Close()
		return nil, fmt.Errorf("afpacket: %s: %w", ifi.Name, errors.Join(err, serr))
	}
	return &Conn{
		c:     c,
		raw:   rc,
		ifi:   ifi,
		oob:   make([]byte, unix.CmsgSpace(sizeofAuxdata)),
		local: ifi.HardwareAddr,
	}, nil
}

// Interface returns the interface the Conn is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// ReadFrame reads one received frame into b, the outer VLAN tag restored, and
// returns its length. Frames this host sent are skipped, and so is the
// interface going down: reading goes on until it is up again (or, if it was
// deleted, until Close). b should hold at
// least the interface MTU plus 22 bytes (Ethernet header and two tags).
func (c *Conn) ReadFrame(b []byte) (int, error) {
	for {
		// Read 4 bytes into b past its start, so the tag can be put back
		// by moving only the 12 address bytes.
		if len(b) < 18 {
			return 0, fmt.Errorf("afpacket: buffer of %d bytes is too small", len(b))
		}
		var (
			n, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err := c.raw.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), b[4:], c.oob, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, unix.ENETDOWN) {
			// The kernel tells a packet socket once that its interface
			// went down (packet_notifier) and delivers frames again
			// when it is up. A deleted interface says the same and then
			// nothing: whoever follows link events closes the Conn.
			continue
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, err
			}
			return 0, fmt.Errorf("afpacket: read on %s: %w", c.ifi.Name, err)
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if n < 12 {
			continue
		}
		tci, tpid, tagged := auxVLAN(c.oob[:oobn])
		if !tagged {
			copy(b, b[4:4+n])
			return n, nil
		}
		// b[4:16] holds the addresses; move them to b[0:12] and write the
		// tag into the 4 bytes that frees.
		copy(b[0:12], b[4:16])
		binary.BigEndian.PutUint16(b[12:14], tpid)
		binary.BigEndian.PutUint16(b[14:16], tci)
		return n + 4, nil
	}
}

// auxVLAN returns the VLAN tag the kernel took off the frame, if any.
func auxVLAN(oob []byte) (tci, tpid uint16, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA ||
			len(m.Data) < sizeofAuxdata {
			continue
		}
		status := binary.NativeEndian.Uint32(m.Data[0:4])
		tci = binary.NativeEndian.Uint16(m.Data[16:18])
		tpid = binary.NativeEndian.Uint16(m.Data[18:20])
		// A TCI of zero with VLAN_VALID clear means no tag at all.
		if status&unix.TP_STATUS_VLAN_VALID == 0 && tci == 0 {
			return 0, 0, false
		}
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 || tpid == 0 {
			tpid = etherTypeVLAN
		}
		return tci, tpid, true
	}
	return 0, 0, false
}

// WriteFrame sends one whole Ethernet frame (addresses and any VLAN tags
// included) out of the interface.
func (c *Conn) WriteFrame(b []byte) error {
	if len(b) < 14 {
		return fmt.Errorf("afpacket: frame of %d bytes is shorter than an Ethernet header", len(b))
	}
	dst := &packet.Addr{HardwareAddr: net.HardwareAddr(b[0:6])}
	if _, err := c.c.WriteTo(b, dst); err != nil {
		return fmt.Errorf("afpacket: write on %s: %w", c.ifi.Name, err)
	}
	return nil
}

// SetReadDeadline sets the deadline for ReadFrame.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close closes the socket; a blocked ReadFrame returns.
func (c *Conn) Close() error { return c.c.Close() }

// controlFilter accepts PPPoE discovery frames and PPPoE session frames whose
// PPP protocol is a control protocol (≥ 0x8000, RFC 1661 §2: network-layer
// data uses 0x0xxx-0x3xxx, their control protocols 0x8xxx-0xbxxx, link-layer
// control 0xcxxx) or Multilink (0x003d, RFC 1990), behind zero or one VLAN
// tag still in the data (the outer one is already in metadata). The PPP
// protocol field sits 6 bytes past the EtherType, after the PPPoE header;
// senders never compress it (RFC 2516 §7 forbids PFC on control
// protocols). MP frames that carry a whole IPv4/IPv6 packet of a session
// doing MP never get here: XDP turned them into plain data frames before
// any packet socket sees a frame (bpf/mp.h), so an MP frame is always one
// user space handles: a fragment to reassemble, a control protocol sent
// inside MP, or MP from a peer that did not negotiate it.
//
// IPv6 (0x0057) to a multicast (ff00::/8) or link-local (fe80::/10)
// destination is accepted too: Router Solicitations and Advertisements
// (RFC 4861) and DHCPv6 (RFC 8415, ff02::1:2 and fe80::) are the control
// plane's on both ends of a session, while IPv6 to any other destination
// is data and stays out. The destination's first byte is 24 bytes into the
// IPv6 header, which starts right after the PPP protocol.
func controlFilter() ([]bpf.RawInstruction, error) {
	const accept, drop = 0x40000, 0
	// X is how far a tag left in the data moves everything after it.
	return bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeDiscovery, SkipTrue: 21}, // → 23
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeSession, SkipTrue: 8}, // → 11
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeVLAN, SkipTrue: 1}, // → 5
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeQinQ, SkipFalse: 17}, // → 22
		// An inner tag: the EtherType at 16, the PPP protocol at 24.
		/* 5 */ bpf.LoadAbsolute{Off: 16, Size: 2},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeDiscovery, SkipTrue: 16}, // → 23
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeSession, SkipFalse: 14}, // → 22
		/* 8 */ bpf.LoadConstant{Dst: bpf.RegX, Val: 4},
		/* 9 */ bpf.LoadAbsolute{Off: 24, Size: 2},
		/* 10 */ bpf.Jump{Skip: 2}, // → 13
		// No tag left in the data: the PPP protocol at 20.
		/* 11 */ bpf.LoadConstant{Dst: bpf.RegX, Val: 0},
		/* 12 */ bpf.LoadAbsolute{Off: 20, Size: 2},
		/* 13 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 0x8000, SkipTrue: 9}, // → 23
		/* 14 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: pppMultilink, SkipTrue: 8}, // → 23
		/* 15 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: pppIPv6, SkipFalse: 6}, // → 22
		// IPv6: the destination's first byte at 22+24 (+X).
		/* 16 */ bpf.LoadIndirect{Off: 46, Size: 1},
		/* 17 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0xff, SkipTrue: 5}, // → 23
		/* 18 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0xfe, SkipFalse: 3}, // → 22
		/* 19 */ bpf.LoadIndirect{Off: 47, Size: 1},
		/* 20 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xc0},
		/* 21 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x80, SkipTrue: 1}, // → 23
		/* 22 */ bpf.RetConstant{Val: drop},
		/* 23 */ bpf.RetConstant{Val: accept},
	})
}

// pppIPv6 is the PPP protocol number of IPv6 (RFC 5072 §3).
const pppIPv6 = 0x0057

// pppMultilink is the PPP protocol number of Multilink (RFC 1990).
const pppMultilink = 0x003d
