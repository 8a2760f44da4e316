package host

import (
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// lab is a namespace and a loaded data plane, what pppoed has at start.
type lab struct {
	ns *netns.NS
	dp *maps.Datapath
}

func newLab(t *testing.T) *lab {
	netns.RequireRoot(t)
	l := &lab{ns: netns.New(t)}
	dp, err := maps.Open(maps.Options{PinPath: filepath.Join(maps.DefaultPinPath+"-test", "host-"+l.ns.Name), MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Unpin(); dp.Close() })
	l.dp = dp
	return l
}

func (l *lab) do(t *testing.T, fn func() error) {
	t.Helper()
	if err := l.ns.Do(t, fn); err != nil {
		t.Fatal(err)
	}
}

func linkMTU(name string) (int, error) {
	ln, err := netlink.LinkByName(name)
	if err != nil {
		return 0, err
	}
	return ln.Attrs().MTU, nil
}

// TestPPPoE0: the first run makes pppoe0 at 1492; multilink raises its
// MTU to an MRRU, never lowers it; a restarted run takes over the device
// the last one left, MTU and all, instead of making another.
func TestPPPoE0(t *testing.T) {
	l := newLab(t)
	l.do(t, func() error {
		p, err := OpenPPPoE0(l.dp, "pppoe0", zap.NewNop())
		if err != nil {
			return err
		}
		index := p.Dev.Index
		if mtu, err := linkMTU("pppoe0"); err != nil || mtu != PPPoE0MTU {
			t.Errorf("new pppoe0 MTU %d, %v; want %d", mtu, err, PPPoE0MTU)
		}
		if err := p.carryMTU(1614); err != nil {
			return err
		}
		if err := p.carryMTU(1500); err != nil {
			return err
		}
		for _, dev := range []string{"pppoe0", "pppoe0-peer"} {
			if mtu, err := linkMTU(dev); err != nil || mtu != 1614 {
				t.Errorf("%s MTU after carrying 1614 then 1500: %d, %v; want 1614", dev, mtu, err)
			}
		}
		if err := p.Close(); err != nil {
			return err
		}

		again, err := OpenPPPoE0(l.dp, "pppoe0", zap.NewNop())
		if err != nil {
			return err
		}
		defer again.Close()
		if again.Dev.Index != index {
			t.Errorf("restart made pppoe0 ifindex %d, want the last run's %d", again.Dev.Index, index)
		}
		if mtu, err := linkMTU("pppoe0"); err != nil || mtu != 1614 {
			t.Errorf("pppoe0 MTU after restart %d, %v; want the last run's 1614", mtu, err)
		}
		return nil
	})
}

// TestClientNetdev: a client's netdev is made at the MTU asked for, or
// taken over and set to it; it runs multilink only with a divert
// dispatcher, and goes with Close.
func TestClientNetdev(t *testing.T) {
	l := newLab(t)
	l.do(t, func() error {
		p, err := OpenPPPoE0(l.dp, "pppoe0", zap.NewNop())
		if err != nil {
			return err
		}
		defer p.Close()
		for _, c := range []struct {
			name string
			dp   client.DataPlane
			mp   bool
		}{
			{"plain", NewClientDataPlane(l.dp, nil, nil), false},
			{"multilink", NewClientDataPlane(l.dp, p.Diverts, nil), true},
		} {
			n, err := c.dp.Netdev("pppoe-out1", 1480)
			if err != nil {
				return err
			}
			if _, mp := n.(client.MPNetdev); mp != c.mp {
				t.Errorf("%s: multilink netdev %v, want %v", c.name, mp, c.mp)
			}
			if mtu, err := linkMTU("pppoe-out1"); err != nil || mtu != 1480 {
				t.Errorf("%s: netdev MTU %d, %v; want 1480", c.name, mtu, err)
			}
			if err := n.Close(); err != nil {
				t.Errorf("%s: Close: %v", c.name, err)
			}
			if _, err := netlink.LinkByName("pppoe-out1"); err == nil {
				t.Errorf("%s: netdev left after Close", c.name)
			}
		}
		// A netdev the last run left is taken over at the MTU asked for now.
		left, err := maps.CreateClientDevice("pppoe-out2", 1300)
		if err != nil {
			return err
		}
		n, err := NewClientDataPlane(l.dp, nil, nil).Netdev("pppoe-out2", 1400)
		if err != nil {
			return err
		}
		defer n.Close()
		if n.Ifindex() != left.Index {
			t.Errorf("taken over: ifindex %d, want the left one's %d", n.Ifindex(), left.Index)
		}
		if mtu, err := linkMTU("pppoe-out2"); err != nil || mtu != 1400 {
			t.Errorf("taken over: MTU %d, %v; want 1400", mtu, err)
		}
		return nil
	})
}
