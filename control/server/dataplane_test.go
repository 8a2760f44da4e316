package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

func TestMapsSession(t *testing.T) {
	client := [6]byte{0x02, 0, 0, 0, 0, 9}
	circuit := func(vlans ...ethernet.VLAN) pppoe.Circuit {
		c := pppoe.Circuit{Ifindex: 7, MAC: client, NumVLANs: uint8(len(vlans))}
		copy(c.VLANs[:], vlans)
		return c
	}
	entry := func(c pppoe.Circuit) session.Entry {
		return session.Entry{
			Circuit:   c,
			SessionID: 0x1234,
			ACMAC:     acMAC,
			IPv4:      netip.MustParseAddr("10.0.0.2"),
			MTU:       1492,
			MSS:       1452,
		}
	}
	want := func(outer, otpid, inner, itpid uint16) maps.Session {
		return maps.Session{
			Key: maps.Key{
				Ifindex:   7,
				OuterVLAN: outer,
				InnerVLAN: inner,
				SessionID: 0x1234,
				ClientMAC: net.HardwareAddr(client[:]),
			},
			OuterTPID: otpid,
			InnerTPID: itpid,
			ACMAC:     acMAC,
			IPv4:      netip.MustParseAddr("10.0.0.2"),
			MTU:       1492,
			MSS:       1452,
		}
	}
	for _, tc := range []struct {
		name string
		in   session.Entry
		want maps.Session
	}{
		{"untagged", entry(circuit()), want(0, 0, 0, 0)},
		{"802.1Q", entry(circuit(ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: 100})), want(100, 0x8100, 0, 0)},
		{"QinQ", entry(circuit(
			ethernet.VLAN{TPID: ethernet.EtherTypeServiceVLAN, ID: 200},
			ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: 7},
		)), want(200, 0x88a8, 7, 0x8100)},
		{"rate limit, shaped download", limited(entry(circuit())), limitedWant(want(0, 0, 0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mapsSession(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mapsSession =\n%+v, want\n%+v", got, tc.want)
			}
		})
	}
}

// limited gives an entry the rate-limit "10M/50M 20M/100M 8M/40M 16" with a
// shaped download; limitedWant is what the maps must get for it.
func limited(e session.Entry) session.Entry {
	l, err := ratelimit.Parse("10M/50M 20M/100M 8M/40M 16")
	if err != nil {
		panic(err)
	}
	e.RateLimit, e.ShapeTx = l, true
	return e
}

func limitedWant(s maps.Session) maps.Session {
	s.Limit = maps.RateLimit{
		Rx: maps.Rate{Rate: 10e6, BurstRate: 20e6, BurstThreshold: 8e6, BurstTime: 16 * time.Second},
		Tx: maps.Rate{Rate: 50e6, BurstRate: 100e6, BurstThreshold: 40e6, BurstTime: 16 * time.Second, Shape: true},
	}
	return s
}

func TestDataPlaneForeignHandle(t *testing.T) {
	dp := NewDataPlane(nil)
	if err := dp.Remove(3); err == nil {
		t.Error("Remove of a foreign handle succeeded")
	}
	if _, err := dp.Stats(3); err == nil {
		t.Error("Stats of a foreign handle succeeded")
	}
}

// TestDataPlaneUpdate: a live session's Update through the
// session.DataPlane reaches the BPF tables: the entry found by its key
// has the new address, MTU and MSS, under the same index (so the same
// counters), and the old address no longer finds it.
func TestDataPlaneUpdate(t *testing.T) {
	pin := filepath.Join(maps.DefaultPinPath+"-test", fmt.Sprintf("server-update-%d", os.Getpid()))
	d, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unpin(); err != nil {
			t.Error(err)
		}
		d.Close()
	})
	dp := NewDataPlane(d)
	e := session.Entry{
		Circuit:   pppoe.Circuit{Ifindex: 7, MAC: [6]byte{0x02, 0, 0, 0, 0, 9}},
		SessionID: 0x1234,
		ACMAC:     acMAC,
		IPv4:      netip.MustParseAddr("10.0.0.2"),
		MTU:       1492,
		MSS:       1452,
	}
	h, err := dp.Install(e)
	if err != nil {
		t.Fatal(err)
	}
	key := mapsSession(e).Key
	_, idx, err := d.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	moved := e
	moved.IPv4, moved.MTU, moved.MSS = netip.MustParseAddr("10.0.0.77"), 1400, 1360
	h2, err := dp.Update(h, moved)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, idx2, err := d.Lookup(key)
	if err != nil || got.IPv4 != moved.IPv4 || got.MTU != 1400 || got.MSS != 1360 || idx2 != idx {
		t.Fatalf("after Update the maps hold %+v at %d (%v), want %v/1400/1360 at %d", got, idx2, err, moved.IPv4, idx)
	}
	if _, err := dp.Stats(h2); err != nil {
		t.Errorf("stats through the new handle: %v", err)
	}
	other := moved
	other.SessionID = 0x99
	if _, err := dp.Update(h2, other); err == nil {
		t.Error("Update moved a session to another key")
	}
	if err := dp.Remove(h2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Lookup(key); err == nil {
		t.Error("entry still there after Remove")
	}
}

// TestDataPlaneQueueDrops: the data plane answers session.QueueDropper
// with what the HTB class of each shaped session dropped, by the handle
// Install gave; 0 for a session HTB does not shape and for a foreign
// handle. The drops are made as maps' TestHTBClassDrops makes them:
// frames from a packet socket whose priority names the class, more than
// its bucket and leaf take at 1M.
func TestDataPlaneQueueDrops(t *testing.T) {
	ns := netns.New(t)
	pin := filepath.Join(maps.DefaultPinPath+"-test", fmt.Sprintf("server-queuedrops-%d", os.Getpid()))
	d, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 64, Shaper: maps.ShaperHTB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unpin(); err != nil {
			t.Error(err)
		}
		d.Close()
	})
	dp := NewDataPlane(d)
	qd, ok := dp.(session.QueueDropper)
	if !ok {
		t.Fatalf("%T is no session.QueueDropper", dp)
	}
	lim, err := ratelimit.Parse("1M/1M")
	if err != nil {
		t.Fatal(err)
	}
	var shaped, policed session.Handle
	var minor uint16
	var acc int
	const sent = 300
	var refused int
	if err := ns.Do(t, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "acc0"}, PeerName: "acc0p"}); err != nil {
			return err
		}
		for _, n := range []string{"acc0", "acc0p"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			if n == "acc0" {
				acc = l.Attrs().Index
			}
		}
		e := session.Entry{Circuit: pppoe.Circuit{Ifindex: acc, MAC: [6]byte{0x02, 0, 0, 0, 0, 9}}, SessionID: 0x1234,
			ACMAC: acMAC, IPv4: netip.MustParseAddr("10.0.0.2"), MTU: 1492, MSS: 1452, RateLimit: lim, ShapeTx: true}
		if shaped, err = dp.Install(e); err != nil {
			return err
		}
		e.SessionID, e.IPv4, e.ShapeTx = 0x1235, netip.MustParseAddr("10.0.0.3"), false
		if policed, err = dp.Install(e); err != nil {
			return err
		}
		_, idx, err := d.Lookup(mapsSession(e).Key)
		if err != nil {
			return err
		}
		if d.HTBClass(idx) != 0 {
			return fmt.Errorf("the policed session has HTB class %x", d.HTBClass(idx))
		}
		e.SessionID = 0x1234
		if _, idx, err = d.Lookup(mapsSession(e).Key); err != nil {
			return err
		}
		minor = d.HTBClass(idx)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, maps.HTBMajor<<16|int(minor)); err != nil {
			return err
		}
		frame := make([]byte, 1514)
		frame[0], frame[12], frame[13] = 0x02, 0x88, 0x64
		to := &unix.SockaddrLinklayer{Ifindex: acc, Protocol: 0x6488} // network order
		for range sent {
			switch err := unix.Sendto(fd, frame, unix.MSG_DONTWAIT, to); {
			case errors.Is(err, unix.ENOBUFS): // the leaf refused it
				refused++
			case errors.Is(err, unix.EAGAIN): // the socket's buffer is full: not sent
			case err != nil:
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if minor == 0 || refused < sent/2 {
		t.Fatalf("class %x: %d of %d frames refused at 1M", minor, refused, sent)
	}
	var drops func(session.Handle) uint64
	if err := ns.Do(t, func() (err error) { drops, err = qd.QueueDrops(); return err }); err != nil {
		t.Fatal(err)
	}
	if n := drops(shaped); n != uint64(refused) {
		t.Errorf("shaped session: %d drops, want %d", n, refused)
	}
	if n := drops(policed); n != 0 {
		t.Errorf("policed session: %d drops, want 0", n)
	}
	if n := drops(3); n != 0 {
		t.Errorf("foreign handle: %d drops, want 0", n)
	}
	if err := ns.Do(t, func() error { return errors.Join(dp.Remove(shaped), dp.Remove(policed)) }); err != nil {
		t.Fatal(err)
	}
}
