package host

import (
	"net"
	"net/netip"
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
		// A netdev the last run left, with its address, whose session is
		// not adopted, is made anew: nothing of the old session is on it.
		left, err := maps.CreateClientDevice("pppoe-out2", 1300)
		if err != nil {
			return err
		}
		if err := maps.AddAddress(left.Index, netip.MustParsePrefix("100.64.0.9/32")); err != nil {
			return err
		}
		n, err := NewClientDataPlane(l.dp, nil, nil).Netdev("pppoe-out2", 1400)
		if err != nil {
			return err
		}
		defer n.Close()
		if n.Ifindex() == left.Index {
			t.Errorf("left netdev kept (ifindex %d), want it made anew", n.Ifindex())
		}
		if mtu, err := linkMTU("pppoe-out2"); err != nil || mtu != 1400 {
			t.Errorf("made anew: MTU %d, %v; want 1400", mtu, err)
		}
		if as := addrsOf(t, "pppoe-out2"); len(as) != 0 {
			t.Errorf("made anew with the old session's addresses %v", as)
		}
		return nil
	})
}

// TestClientNetdevAdopt: a netdev a previous run left with its session
// installed is taken over as it is (same ifindex, MTU, address and
// data-plane entry); one without a session is refused; RemoveNetdev
// takes a left netdev with its session away.
func TestClientNetdevAdopt(t *testing.T) {
	l := newLab(t)
	l.do(t, func() error {
		// The session's Ethernet side: any device carrying XDP will do.
		ethDev, err := maps.CreateClientDevice("eth-x", 1500)
		if err != nil {
			return err
		}
		eth := ethDev.Index
		cdp := NewClientDataPlane(l.dp, nil, nil)
		first, err := cdp.Netdev("pppoe-out1", 1480)
		if err != nil {
			return err
		}
		ethMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}
		if err := first.Install(client.Session{Ifindex: eth, LocalMAC: ethMAC, ACMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			SessionID: 7, Local: netip.MustParseAddr("100.64.0.9"), Remote: netip.MustParseAddr("100.64.0.1"), MTU: 1452, MRU: 1452}); err != nil {
			return err
		}
		dev, err := maps.LookupDevice("pppoe-out1")
		if err != nil {
			return err
		}
		if err := maps.AddAddress(dev.Index, netip.MustParsePrefix("100.64.0.9/32")); err != nil {
			return err
		}
		// The previous run is gone without a word (kill -9): nothing of
		// first is closed.
		ta := cdp.(client.NetdevTakeover)
		n, err := ta.AdoptNetdev("pppoe-out1", eth)
		if err != nil {
			return err
		}
		if n.Ifindex() != first.Ifindex() {
			t.Errorf("adopted ifindex %d, want %d", n.Ifindex(), first.Ifindex())
		}
		if mtu, err := linkMTU("pppoe-out1"); err != nil || mtu != 1452 {
			t.Errorf("adopted MTU %d, %v; want the session's 1452", mtu, err)
		}
		if as := addrsOf(t, "pppoe-out1"); len(as) != 1 {
			t.Errorf("adopted netdev's addresses %v, want the session's", as)
		}
		if _, err := n.Stats(); err != nil {
			t.Errorf("adopted netdev has no session: %v", err)
		}
		if err := ta.RemoveNetdev("pppoe-out1"); err != nil {
			return err
		}
		if _, err := netlink.LinkByName("pppoe-out1"); err == nil {
			t.Error("netdev left after RemoveNetdev")
		}
		if in, err := l.dp.Installed(); err != nil || len(in) != 0 {
			t.Errorf("installed after RemoveNetdev: %v, %v", in, err)
		}
		if err := ta.RemoveNetdev("pppoe-out1"); err != nil {
			t.Errorf("RemoveNetdev of none: %v", err)
		}
		bare, err := cdp.Netdev("pppoe-out3", 1480)
		if err != nil {
			return err
		}
		defer bare.Close()
		if _, err := ta.AdoptNetdev("pppoe-out3", eth); err == nil {
			t.Error("a netdev without a session adopted")
		}
		return nil
	})
}

func addrsOf(t *testing.T, name string) []netlink.Addr {
	t.Helper()
	ln, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := netlink.AddrList(ln, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return as
}
