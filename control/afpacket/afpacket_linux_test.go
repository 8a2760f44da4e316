package afpacket

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func listenIn(t *testing.T, ns *netns.NS, name string) *Conn {
	t.Helper()
	var c *Conn
	if err := ns.Do(t, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		c, err = Listen(ifi)
		return err
	}); err != nil {
		t.Fatalf("listen on %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitCarrier sends f from tx until rx reads a frame: a fresh veth drops
// what is sent before its carrier is up.
func waitCarrier(t *testing.T, tx, rx *Conn, f, buf []byte) {
	t.Helper()
	for i := 0; ; i++ {
		if err := tx.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		rx.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := rx.ReadFrame(buf); err == nil {
			return
		} else if i == 40 {
			t.Fatalf("no frame through the veth: %v", err)
		}
	}
}

func frame(t *testing.T, vlans []ethernet.VLAN, et ethernet.EtherType, payload []byte) []byte {
	t.Helper()
	f := ethernet.Frame{Destination: macB, Source: macA, VLANs: vlans, EtherType: et, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pppoePayload(t *testing.T, p pppoe.Packet) []byte {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sessionPayload(t *testing.T, proto ppp.Protocol, info []byte) []byte {
	t.Helper()
	f := ppp.Frame{Protocol: proto, Information: info}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return pppoePayload(t, pppoe.Packet{Code: pppoe.CodeSession, SessionID: 0x1234, Payload: b})
}

// TestControlFrames sends frames between two namespaces over veth and checks
// that exactly the PPPoE control frames arrive, byte for byte, with the VLAN
// tags the kernel strips into metadata put back.
func TestControlFrames(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "acc0", b, "acc1")
	a.Run(t, "ip", "link", "set", "acc0", "address", macA.String())
	b.Run(t, "ip", "link", "set", "acc1", "address", macB.String())
	tx := listenIn(t, a, "acc0")
	rx := listenIn(t, b, "acc1")

	padi := pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("svc")}})
	lcp := sessionPayload(t, ppp.ProtocolLCP, []byte{0x09, 0x01, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef})
	ipv4 := sessionPayload(t, ppp.ProtocolIPv4, bytes.Repeat([]byte{0x45}, 20))
	// The first of two MP fragments (RFC 1990 §3, long format: B, sequence 1).
	mpFrag := sessionPayload(t, ppp.ProtocolMP, append([]byte{0x80, 0, 0, 1, 0x00, 0x21}, bytes.Repeat([]byte{0x45}, 20)...))
	ipv6 := sessionPayload(t, ppp.ProtocolIPv6, bytes.Repeat([]byte{0x60}, 40))
	// IPv6 headers to a destination (bytes 24..39) the control plane
	// answers (RS to ff02::2, DHCPv6 to fe80::) or not (global, site-local).
	ipv6To := func(dst string) []byte {
		h := bytes.Repeat([]byte{0x60}, 40)
		copy(h[24:], netip.MustParseAddr(dst).AsSlice())
		return sessionPayload(t, ppp.ProtocolIPv6, h)
	}
	rs, dhcp6 := ipv6To("ff02::2"), ipv6To("fe80::1")
	global, siteLocal := ipv6To("2001:db8::1"), ipv6To("fec0::1")
	cut := sessionPayload(t, ppp.ProtocolIPv6, bytes.Repeat([]byte{0x60}, 20)) // ends before the destination
	q100 := []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100, Priority: 3}}
	qinq := []ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 200}, {TPID: ethernet.EtherTypeVLAN, ID: 300}}
	dot1qx2 := []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}}

	tests := []struct {
		name   string
		vlans  []ethernet.VLAN
		frame  []byte
		passes bool
	}{
		{"PADI untagged", nil, frame(t, nil, ethernet.EtherTypePPPoEDiscovery, padi), true},
		{"PADI 802.1Q", q100, frame(t, q100, ethernet.EtherTypePPPoEDiscovery, padi), true},
		{"PADI QinQ 802.1ad", qinq, frame(t, qinq, ethernet.EtherTypePPPoEDiscovery, padi), true},
		{"PADI two 802.1Q tags", dot1qx2, frame(t, dot1qx2, ethernet.EtherTypePPPoEDiscovery, padi), true},
		{"LCP untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, lcp), true},
		{"LCP 802.1Q", q100, frame(t, q100, ethernet.EtherTypePPPoESession, lcp), true},
		{"LCP QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, lcp), true},
		{"IPv4 data untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, ipv4), false},
		{"IPv4 data 802.1Q", q100, frame(t, q100, ethernet.EtherTypePPPoESession, ipv4), false},
		{"IPv4 data QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, ipv4), false},
		{"MP fragment untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, mpFrag), true},
		{"MP fragment 802.1Q", q100, frame(t, q100, ethernet.EtherTypePPPoESession, mpFrag), true},
		{"MP fragment QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, mpFrag), true},
		{"IPv6 data QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, ipv6), false},
		{"IPv6 to all-routers untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, rs), true},
		{"IPv6 to all-routers QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, rs), true},
		{"IPv6 to link-local 802.1Q", q100, frame(t, q100, ethernet.EtherTypePPPoESession, dhcp6), true},
		{"IPv6 to link-local QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, dhcp6), true},
		{"IPv6 to global untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, global), false},
		{"IPv6 to global QinQ", qinq, frame(t, qinq, ethernet.EtherTypePPPoESession, global), false},
		{"IPv6 to site-local untagged", nil, frame(t, nil, ethernet.EtherTypePPPoESession, siteLocal), false},
		{"IPv6 cut before destination", nil, frame(t, nil, ethernet.EtherTypePPPoESession, cut), false},
		{"plain IPv4", nil, frame(t, nil, ethernet.EtherTypeIPv4, bytes.Repeat([]byte{0x45}, 20)), false},
		{"ARP 802.1Q", q100, frame(t, q100, ethernet.EtherTypeARP, make([]byte, 28)), false},
	}
	buf := make([]byte, 2048)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tx.WriteFrame(tt.frame); err != nil {
				t.Fatal(err)
			}
			// A marker that always passes follows every frame, so a filtered
			// frame is told apart from a slow one without waiting on a
			// timeout. It carries the same tags: veth may reorder frames
			// with different tags.
			marker := frame(t, tt.vlans, ethernet.EtherTypePPPoEDiscovery,
				pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADT, SessionID: 7}))
			if err := tx.WriteFrame(marker); err != nil {
				t.Fatal(err)
			}
			rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := rx.ReadFrame(buf)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			got := buf[:n]
			if tt.passes {
				if !bytes.Equal(got, tt.frame) {
					t.Fatalf("received\n% x\nwant\n% x", got, tt.frame)
				}
				n, err = rx.ReadFrame(buf)
				if err != nil {
					t.Fatalf("read marker: %v", err)
				}
				got = buf[:n]
			}
			if !bytes.Equal(got, marker) {
				t.Fatalf("received\n% x\nwant the marker\n% x", got, marker)
			}
		})
	}

	// Frames this side sends are not read back from its own socket.
	tx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := tx.ReadFrame(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("sender read back %d bytes (% x), err %v; want a deadline error", n, buf[:n], err)
	}
}

func TestWriteFrameTooShort(t *testing.T) {
	c := &Conn{ifi: &net.Interface{Name: "x"}}
	if err := c.WriteFrame([]byte{1, 2, 3}); err == nil {
		t.Fatal("WriteFrame of 3 bytes succeeded")
	}
}

// TestReceiveBuffer checks that a burst of control frames larger than the
// kernel's default socket buffer arrives whole while nobody reads.
func TestReceiveBuffer(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "acc0", b, "acc1")
	tx := listenIn(t, a, "acc0")
	rx := listenIn(t, b, "acc1")

	// Several times what the default 212 kB holds. The sender pauses every
	// 100 frames so veth's backlog queue (netdev_max_backlog) drains: the
	// receiving socket, which nobody reads, is what is under test.
	const burst = 1000
	padi := frame(t, nil, ethernet.EtherTypePPPoEDiscovery,
		pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("svc")}}))
	buf := make([]byte, 2048)
	waitCarrier(t, tx, rx, padi, buf)
	for i := 0; i < burst; i++ {
		if err := tx.WriteFrame(padi); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := 0; i < burst; i++ {
		rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := rx.ReadFrame(buf); err != nil {
			t.Fatalf("read %d of %d: %v", i, burst, err)
		}
	}
}

// TestInterfaceDownAndUp: the kernel reports an interface going down to
// its packet sockets once, as an ENETDOWN read error, and delivers its
// frames again once it is up. A Conn keeps reading through that: a link
// flap must not end an access concentrator's or client's reader.
func TestInterfaceDownAndUp(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "acc0", b, "acc1")
	tx := listenIn(t, a, "acc0")
	rx := listenIn(t, b, "acc1")
	padi := frame(t, nil, ethernet.EtherTypePPPoEDiscovery,
		pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("svc")}}))

	b.Run(t, "ip", "link", "set", "acc1", "down")
	b.Run(t, "ip", "link", "set", "acc1", "up")
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		rx.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := rx.ReadFrame(buf)
		if err == nil && !bytes.Equal(buf[:n], padi) {
			err = errors.New("another frame")
		}
		got <- err
	}()
	// The carrier of a veth brought up again takes a moment: send until
	// the reader has its frame.
	for {
		if err := tx.WriteFrame(padi); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("read after down and up: %v", err)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBatchedReads: frames queued while nobody reads come out of the
// batched reads (recvmmsg, readBatch at a time) one by one, in the order
// sent and byte for byte, each with its own VLAN tags put back, and a
// buffer too small for a frame gets the frame cut to its length rather
// than another frame's bytes.
func TestBatchedReads(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "acc0", b, "acc1")
	tx := listenIn(t, a, "acc0")
	rx := listenIn(t, b, "acc1")
	padi := frame(t, nil, ethernet.EtherTypePPPoEDiscovery,
		pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("svc")}}))
	buf := make([]byte, 2048)
	waitCarrier(t, tx, rx, padi, buf)
	// Tagged and untagged frames with the same tags throughout (veth may
	// reorder frames with different tags), each one's LCP identifier its
	// number, some longer than others.
	q100 := []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100, Priority: 3}}
	const count = 3*readBatch + 5
	for _, vlans := range [][]ethernet.VLAN{nil, q100} {
		var sent [][]byte
		for i := 0; i < count; i++ {
			info := append([]byte{0x09, byte(i), 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef}, bytes.Repeat([]byte{byte(i)}, i*7)...)
			f := frame(t, vlans, ethernet.EtherTypePPPoESession, sessionPayload(t, ppp.ProtocolLCP, info))
			if err := tx.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, f)
		}
		for i, want := range sent {
			rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := rx.ReadFrame(buf)
			if err != nil {
				t.Fatalf("vlans %v: read %d of %d: %v", vlans, i, count, err)
			}
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("vlans %v: frame %d\n got % x\nwant % x", vlans, i, buf[:n], want)
			}
		}
	}
	// A buffer shorter than the frame: the frame's first bytes, and the
	// next read the next frame.
	long := frame(t, q100, ethernet.EtherTypePPPoESession, sessionPayload(t, ppp.ProtocolLCP, bytes.Repeat([]byte{0x42}, 100)))
	padi100 := frame(t, q100, ethernet.EtherTypePPPoEDiscovery,
		pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("svc")}}))
	for _, f := range [][]byte{long, padi100} {
		if err := tx.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	small := make([]byte, 40)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := rx.ReadFrame(small)
	if err != nil || !bytes.Equal(small[:n], long[:40]) {
		t.Fatalf("short buffer: %d bytes % x, err %v; want % x", n, small[:n], err, long[:40])
	}
	n, err = rx.ReadFrame(buf)
	if err != nil || !bytes.Equal(buf[:n], padi100) {
		t.Fatalf("after the cut frame: % x, err %v; want the PADI", buf[:n], err)
	}
}

// TestConcurrentWritesAndClose: frames written from many goroutines at
// once (the AC's session loops share one Conn) all arrive, whole, on the
// other end and none comes back to the sender; after Close a write fails
// with net.ErrClosed instead of using a closed (or reused) descriptor.
func TestConcurrentWritesAndClose(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "acc0", b, "acc1")
	tx := listenIn(t, a, "acc0")
	rx := listenIn(t, b, "acc1")
	buf := make([]byte, 2048)
	warm := frame(t, nil, ethernet.EtherTypePPPoEDiscovery,
		pppoePayload(t, pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("warm")}}))
	waitCarrier(t, tx, rx, warm, buf)
	// Drain any warm-up frame still queued.
	for {
		rx.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := rx.ReadFrame(buf); err != nil {
			break
		}
	}
	const writers, each = 8, 50
	want := make(map[string]bool)
	frames := make([][][]byte, writers)
	for w := range writers {
		for i := range each {
			f := frame(t, nil, ethernet.EtherTypePPPoESession,
				sessionPayload(t, ppp.ProtocolLCP, []byte{0x09, byte(i), 0x00, 0x08, byte(w), byte(i), 0, 0}))
			frames[w] = append(frames[w], f)
			want[string(f)] = true
		}
	}
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for _, f := range frames[w] {
				if err := tx.WriteFrame(f); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	for n := 0; n < writers*each; n++ {
		rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		m, err := rx.ReadFrame(buf)
		if err != nil {
			t.Fatalf("read %d of %d: %v", n, writers*each, err)
		}
		if !want[string(buf[:m])] {
			t.Fatalf("frame %d: % x is none sent, or came twice", n, buf[:m])
		}
		delete(want, string(buf[:m]))
	}
	tx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := tx.ReadFrame(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("sender read back %d bytes (% x), err %v; want a deadline error", n, buf[:n], err)
	}
	if err := tx.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := tx.WriteFrame(warm); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteFrame after Close: %v, want net.ErrClosed", err)
	}
}
