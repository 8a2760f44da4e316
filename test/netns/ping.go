package netns

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Ping sends count ICMP echo requests of size data bytes from src to dst
// inside n, one at a time, waiting up to a second for each reply, and
// returns how many were answered. (The machines have no ping binary.)
func (n *NS) Ping(t testing.TB, src, dst netip.Addr, count, size int) int {
	t.Helper()
	var c *icmp.PacketConn
	if err := n.Do(t, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", src.String())
		return err
	}); err != nil {
		t.Fatalf("netns: ping from %v: %v", src, err)
	}
	defer c.Close()
	id := int(time.Now().UnixNano() & 0xffff)
	got := 0
	buf := make([]byte, 65536)
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: bytes.Repeat([]byte{0xa5}, size)}}
		b, err := m.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Logf("ping %v: %v", dst, err)
			continue
		}
		deadline := time.Now().Add(time.Second)
		for c.SetReadDeadline(deadline) == nil {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			r, err := icmp.ParseMessage(1, buf[:k])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply || from.String() != dst.String() {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
				got++
				break
			}
		}
	}
	return got
}

// PingEvery sends count ICMP echo requests from src to dst inside n, one
// every interval whatever the answers, and returns how many distinct ones
// were answered within a second of the last: a stream of traffic with
// its losses counted at the far end, across whatever happens meanwhile.
func (n *NS) PingEvery(t testing.TB, src, dst netip.Addr, count int, interval time.Duration) int {
	t.Helper()
	var c *icmp.PacketConn
	if err := n.Do(t, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", src.String())
		return err
	}); err != nil {
		t.Errorf("netns: ping from %v: %v", src, err)
		return 0
	}
	defer c.Close()
	id := int(time.Now().UnixNano() & 0xffff)
	seen := make(map[int]bool, count)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			r, err := icmp.ParseMessage(1, buf[:k])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply || from.String() != dst.String() {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == id {
				seen[e.Seq] = true
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, 56)}}
		b, err := m.Marshal(nil)
		if err != nil {
			t.Error(err)
			break
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Logf("ping %v: %v", dst, err)
		}
		<-tick.C
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	<-done
	return len(seen)
}
