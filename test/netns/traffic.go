package netns

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SNMP reads one field of a line ("Ip:", "Icmp:") of /proc/net/snmp in n.
func (n *NS) SNMP(t testing.TB, proto, field string) uint64 {
	t.Helper()
	var names []string
	for _, line := range strings.Split(n.Run(t, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == field && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("/proc/net/snmp has no %s %s", proto, field)
	return 0
}

// TCPExchange sends n random bytes each way over one TCP connection from
// caddr in cn to saddr in sn (IPv4 or IPv6, as saddr is), checks they
// arrive intact, and returns the segment size (TCP_MAXSEG) each end used:
// the MSS the other end announced (as clamped on the way) less the
// options in use.
func TCPExchange(t testing.TB, cn, sn *NS, caddr, saddr netip.Addr, n int) (clientSeg, serverSeg int) {
	t.Helper()
	network := "tcp4"
	if saddr.Is6() {
		network = "tcp6"
	}
	up, down := make([]byte, n), make([]byte, n)
	rand.Read(up)
	rand.Read(down)
	var ln net.Listener
	if err := sn.Do(t, func() (err error) {
		ln, err = net.Listen(network, net.JoinHostPort(saddr.String(), "0"))
		return err
	}); err != nil {
		t.Fatalf("netns: listen on %v: %v", saddr, err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var srvGot []byte
	var srvErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		defer c.Close()
		serverSeg = maxSeg(c)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		wrote := make(chan struct{})
		go func() { c.Write(down); close(wrote) }()
		srvGot, srvErr = io.ReadAll(io.LimitReader(c, int64(n)))
		<-wrote
	}()
	var c net.Conn
	if err := cn.Do(t, func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: caddr.AsSlice()}, Timeout: 5 * time.Second}
		c, err = d.Dial(network, ln.Addr().String())
		return err
	}); err != nil {
		t.Errorf("netns: TCP %v -> %v: %v", caddr, saddr, err)
		ln.Close()
		wg.Wait()
		return 0, 0
	}
	defer c.Close()
	clientSeg = maxSeg(c)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	wrote := make(chan struct{})
	go func() { c.Write(up); close(wrote) }()
	got, err := io.ReadAll(io.LimitReader(c, int64(n)))
	<-wrote
	wg.Wait()
	if err != nil || !bytes.Equal(got, down) {
		t.Errorf("TCP %v -> %v: received %d/%d bytes, %v", saddr, caddr, len(got), n, err)
	}
	if srvErr != nil || !bytes.Equal(srvGot, up) {
		t.Errorf("TCP %v -> %v: received %d/%d bytes, %v", caddr, saddr, len(srvGot), n, srvErr)
	}
	return clientSeg, serverSeg
}

// maxSeg reads a connection's TCP_MAXSEG, 0 if it cannot.
func maxSeg(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	v := 0
	rc.Control(func(fd uintptr) { v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
	return v
}
