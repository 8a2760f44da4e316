package maps

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInjector: a 1500-byte packet (larger than pppoe0's 1492, as a
// reassembled one is) injected into pppoe0 reaches a socket on the box
// with the subscriber's source address, as if it had come from the session.
func TestInjector(t *testing.T) {
	e := newEnv(t)
	var (
		conn *net.UDPConn
		in   *Injector
	)
	if err := e.ns.Do(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: localAddr.AsSlice(), Port: 4000})
		if err != nil {
			return err
		}
		// pppoe0's MTU bounds what its ingress takes; a deployment that
		// runs MP raises it to the largest MRRU (see README).
		peer, err := peerOf(e.pppoe0)
		if err != nil {
			return err
		}
		if err := SetDeviceMTU(&Device{Name: "pppoe0", Index: e.pppoe0, PeerIndex: peer}, 1614); err != nil {
			return err
		}
		in, err = OpenInjector(&Device{Name: "pppoe0", Index: e.pppoe0, MAC: e.pppoe0MAC, PeerIndex: peer})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer in.Close()

	payload := udpDatagram(40000, 4000, 1500-20)
	ip := ipv4{src: subUntagged, dst: localAddr, ttl: 64, proto: unix.IPPROTO_UDP, payload: payload}.marshal()
	if err := in.Inject(0x0021, ip); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1500-28 || from.Addr() != subUntagged || from.Port() != 40000 {
		t.Fatalf("received %d bytes from %v, want %d from %v:40000", n, from, 1500-28, subUntagged)
	}
	for _, c := range []struct {
		proto uint16
		ip    []byte
	}{{0x0021, nil}, {0x0021, make([]byte, 40)}, {0x0057, ip}, {0xc021, ip}} {
		if err := in.Inject(c.proto, c.ip); err == nil {
			t.Errorf("injected protocol %#04x of %d bytes", c.proto, len(c.ip))
		}
	}
}

// udpDatagram is a UDP header (checksum 0: none, RFC 768) and n-8 zero
// bytes.
func udpDatagram(sport, dport uint16, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(n))
	return b
}
