package netns

import (
	"net"
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
