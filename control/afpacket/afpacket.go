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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
//
// Setting up a session is a dozen control frames each way, so what a
// frame costs besides its syscall matters: reads take up to readBatch
// frames per recvmmsg(2) into buffers the Conn owns, and neither reads nor
// writes allocate (no closure, sockaddr or control-message slice per
// frame).
//
// Frames go out of a second packet socket, one that receives nothing
// (protocol 0) and is not in the Go runtime's poller: a sent frame's
// buffer is freed as soon as the device took it, which on the receiving
// socket would signal the poller that the socket is writable (EPOLLOUT,
// edge-triggered, once per frame) and wake its thread for nothing, and
// writes through the poller's descriptor take its write lock one at a
// time. The receiving socket ignores outgoing frames
// (PACKET_IGNORE_OUTGOING), so the sending socket's are not looped back
// to it.
type Conn struct {
	c     *packet.Conn
	raw   syscall.RawConn
	ifi   *net.Interface
	local net.HardwareAddr
	rx    *reader
	tx    sender
}

// sender is the send-only socket: blocking, with a send timeout so that a
// write waiting for buffer space notices Close.
type sender struct {
	// mu is held shared by each write and exclusively by close, so the
	// descriptor is never closed (and its number reused) under a write.
	mu      sync.RWMutex
	fd      int
	closed  bool        // under mu
	closing atomic.Bool // set before close waits for mu
	sa      unix.RawSockaddrLinklayer
}

// sendTimeout bounds one blocking sendto(2) on a full send buffer; the
// write then tries again unless the Conn is closing.
const sendTimeout = 100 * time.Millisecond

// readBatch is how many frames one recvmmsg(2) may return: a burst of
// setups queues tens of frames between two reads.
const readBatch = 16

// slotSize is a receive slot: the largest frame a packet socket hands
// over (a GRO'd one) fits whole; the pages past a small frame are never
// touched, so they take no memory.
const slotSize = 1 << 16

// oobSpace is one frame's control data: the PACKET_AUXDATA message.
var oobSpace = unix.CmsgSpace(sizeofAuxdata)

// reader is the receive side: the slots of one recvmmsg(2) and the frames
// of the last one not yet handed out. Only ReadFrame's caller touches it.
type reader struct {
	bufs  []byte // readBatch slots of slotSize
	oob   []byte // readBatch × oobSpace
	names [readBatch]unix.RawSockaddrLinklayer
	iovs  [readBatch]unix.Iovec
	hdrs  [readBatch]unix.Mmsghdr
	n     int // frames the last recvmmsg returned
	next  int // the next of them to hand out
	err   error
	fill  func(fd uintptr) bool // recv, made once
}

func newReader() *reader {
	r := &reader{bufs: make([]byte, readBatch*slotSize), oob: make([]byte, readBatch*oobSpace)}
	r.fill = r.recv
	return r
}

// recv is one recvmmsg(2) into every slot, without waiting: false asks
// the runtime's poller to wait for the socket and call it again.
func (r *reader) recv(fd uintptr) bool {
	for i := range r.hdrs {
		// 4 bytes at the slot's start stay free for the outer VLAN tag.
		r.iovs[i].Base = &r.bufs[i*slotSize+4]
		r.iovs[i].SetLen(slotSize - 4)
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.oob[i*oobSpace]
		h.SetControllen(oobSpace)
		h.Flags = 0
		r.hdrs[i].Len = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), readBatch, unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
		return false
	}
	r.n, r.next, r.err = 0, 0, nil
	if errno != 0 {
		r.err = os.NewSyscallError("recvmmsg", errno)
	} else {
		r.n = int(n)
	}
	return true
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
		// The frames the sending socket below sends stay out. A kernel
		// before 4.20 has no PACKET_IGNORE_OUTGOING: they come back, and
		// ReadFrame skips them, after a wake-up and a copy each.
		_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}); err != nil || serr != nil {
		c.Close()
		return nil, fmt.Errorf("afpacket: %s: %w", ifi.Name, errors.Join(err, serr))
	}
	// In the calling thread's network namespace, as packet.Listen's.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
		if err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("afpacket: %s: sending socket: %w", ifi.Name, err)
	}
	conn := &Conn{c: c, raw: rc, ifi: ifi, local: ifi.HardwareAddr, rx: newReader()}
	conn.tx.fd = fd
	// As packet(7) asks of a sender: family, protocol (ETH_P_ALL: the
	// kernel takes the frame's own EtherType), interface and address
	// length; the address is each frame's.
	conn.tx.sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_ALL), Ifindex: int32(ifi.Index), Halen: 6}
	return conn, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Interface returns the interface the Conn is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// ReadFrame reads one received frame into b, the outer VLAN tag restored, and
// returns its length. Frames this host sent are skipped, and so is the
// interface going down: reading goes on until it is up again (or, if it was
// deleted, until Close). b should hold at
// least the interface MTU plus 22 bytes (Ethernet header and two tags); a
// longer frame is cut to len(b). ReadFrame is not safe for concurrent use.
func (c *Conn) ReadFrame(b []byte) (int, error) {
	if len(b) < 18 {
		return 0, fmt.Errorf("afpacket: buffer of %d bytes is too small", len(b))
	}
	r := c.rx
	for {
		for r.next < r.n {
			i := r.next
			r.next++
			if n, ok := r.frame(i, b); ok {
				return n, nil
			}
		}
		err := c.raw.Read(r.fill)
		if err == nil {
			err = r.err
		}
		if errors.Is(err, unix.ENETDOWN) {
			// The kernel tells a packet socket once that its interface
			// went down (packet_notifier) and delivers frames again
			// when it is up. A deleted interface says the same and then
			// nothing: whoever follows link events closes the Conn.
			continue
		}
		if err != nil {
			r.n, r.next = 0, 0
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, err
			}
			return 0, fmt.Errorf("afpacket: read on %s: %w", c.ifi.Name, err)
		}
	}
}

// frame copies the i-th frame of the last batch into b, the outer VLAN tag
// put back; false for a frame to skip (one this host sent, or a runt).
func (r *reader) frame(i int, b []byte) (int, bool) {
	if r.names[i].Pkttype == unix.PACKET_OUTGOING {
		return 0, false
	}
	n := int(r.hdrs[i].Len)
	if n < 12 {
		return 0, false
	}
	slot := r.bufs[i*slotSize : i*slotSize+4+n]
	oob := r.oob[i*oobSpace : i*oobSpace+int(r.hdrs[i].Hdr.Controllen)]
	tci, tpid, tagged := auxVLAN(oob)
	if !tagged {
		return copy(b, slot[4:]), true
	}
	// The addresses move to the slot's start, freeing the 4 bytes the
	// tag goes into: the frame as it was on the wire.
	copy(slot[0:12], slot[4:16])
	binary.BigEndian.PutUint16(slot[12:14], tpid)
	binary.BigEndian.PutUint16(slot[14:16], tci)
	return copy(b, slot), true
}

// auxVLAN returns the VLAN tag the kernel took off the frame, if any, from
// the frame's control messages (walked in place: nothing allocated).
func auxVLAN(oob []byte) (tci, tpid uint16, ok bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			return 0, 0, false
		}
		data := oob[unix.CmsgLen(0):l]
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && len(data) >= sizeofAuxdata {
			status := binary.NativeEndian.Uint32(data[0:4])
			tci = binary.NativeEndian.Uint16(data[16:18])
			tpid = binary.NativeEndian.Uint16(data[18:20])
			// A TCI of zero with VLAN_VALID clear means no tag at all.
			if status&unix.TP_STATUS_VLAN_VALID == 0 && tci == 0 {
				return 0, 0, false
			}
			if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 || tpid == 0 {
				tpid = etherTypeVLAN
			}
			return tci, tpid, true
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next <= 0 || next > len(oob) {
			return 0, 0, false
		}
		oob = oob[next:]
	}
	return 0, 0, false
}

// WriteFrame sends one whole Ethernet frame (addresses and any VLAN tags
// included) out of the interface. It keeps no reference to b. It is safe
// for concurrent use: writes do not wait for each other.
func (c *Conn) WriteFrame(b []byte) error {
	if len(b) < 14 {
		return fmt.Errorf("afpacket: frame of %d bytes is shorter than an Ethernet header", len(b))
	}
	if err := c.tx.send(b); err != nil {
		return fmt.Errorf("afpacket: write on %s: %w", c.ifi.Name, err)
	}
	return nil
}

// send is one sendto(2) of b to the address in its first 6 bytes,
// waiting while the send buffer is full.
func (s *sender) send(b []byte) error {
	sa := s.sa
	copy(sa.Addr[:6], b[0:6])
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return net.ErrClosed
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrLinklayer)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
		case unix.EAGAIN: // the send timeout: the buffer is still full
			if s.closing.Load() {
				return net.ErrClosed
			}
		default:
			return os.NewSyscallError("sendto", errno)
		}
	}
}

func (s *sender) close() error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return unix.Close(s.fd)
}

// SetReadDeadline sets the deadline for ReadFrame.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close closes the sockets; a blocked ReadFrame returns, and so does a
// WriteFrame waiting for buffer space.
func (c *Conn) Close() error { return errors.Join(c.tx.close(), c.c.Close()) }

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
