package netns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func TestVethAcrossNamespaces(t *testing.T) {
	t.Parallel()
	a, b := New(t), New(t)
	ai, bi := Veth(t, a, "left", b, "right")
	a.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "left")
	b.Run(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "right")
	// A socket opened inside Do lives in that namespace.
	var pc net.PacketConn
	if err := b.Do(t, func() (err error) {
		pc, err = net.ListenPacket("udp4", "192.0.2.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := a.Do(t, func() error {
		c, err := net.Dial("udp4", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || !strings.HasPrefix(from.String(), "192.0.2.1:") {
		t.Fatalf("read %q from %v: %v", buf[:n], from, err)
	}
	if out := a.Run(t, "ip", "-o", "link", "show", "left"); !strings.Contains(out, "state UP") {
		t.Errorf("left not up: %s", out)
	}
	for _, c := range []struct {
		ns    *NS
		name  string
		index int
	}{{a, "left", ai}, {b, "right", bi}} {
		err := c.ns.Do(t, func() error {
			l, err := netlink.LinkByName(c.name)
			if err != nil {
				return err
			}
			if l.Attrs().Index != c.index {
				t.Errorf("%s: index %d, Veth said %d", c.name, l.Attrs().Index, c.index)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The root namespace must not see the test's interfaces.
	if _, err := netlink.LinkByName("left"); err == nil {
		t.Fatal("left leaked into the root namespace")
	}
}

// TestPingStreams: streams to three addresses that answer and one that
// does not, through one socket, beside a second stream set on the same
// address: each destination's answers are counted for it alone, every
// request to a live address is answered and none to the dead one.
func TestPingStreams(t *testing.T) {
	t.Parallel()
	a, b := New(t), New(t)
	Veth(t, a, "left", b, "right")
	a.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "left")
	for _, addr := range []string{"192.0.2.2/24", "192.0.2.3/24", "192.0.2.4/24"} {
		b.Run(t, "ip", "addr", "add", addr, "dev", "right")
	}
	src := netip.MustParseAddr("192.0.2.1")
	dsts := []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"),
		netip.MustParseAddr("192.0.2.4"), netip.MustParseAddr("192.0.2.9")}
	other := a.StartStreams(t, src, dsts[:1], 5*time.Millisecond)
	st := a.StartStreams(t, src, dsts, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	sent, answered := st.Stop()
	for i := range 3 {
		if sent[i] < 2 || answered[i] != sent[i] {
			t.Errorf("%v: %d of %d answered", dsts[i], answered[i], sent[i])
		}
	}
	if answered[3] != 0 {
		t.Errorf("%v, on no host: %d of %d answered", dsts[3], answered[3], sent[3])
	}
	if sent, answered := other.Stop(); answered[0] != sent[0] || sent[0] < 2 {
		t.Errorf("the other stream to %v: %d of %d answered", dsts[0], answered[0], sent[0])
	}
	if got := a.PingEvery(t, src, dsts[1], 3, 10*time.Millisecond); got != 3 {
		t.Errorf("PingEvery: %d of 3 answered", got)
	}
}

// TestPingIPv6: Ping speaks ICMPv6 from an IPv6 source.
func TestPingIPv6(t *testing.T) {
	t.Parallel()
	a, b := New(t), New(t)
	Veth(t, a, "left", b, "right")
	a.Run(t, "ip", "-6", "addr", "add", "2001:db8::1/64", "dev", "left", "nodad")
	b.Run(t, "ip", "-6", "addr", "add", "2001:db8::2/64", "dev", "right", "nodad")
	if got := a.Ping(t, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 3, 56); got != 3 {
		t.Errorf("%d of 3 answered", got)
	}
}
