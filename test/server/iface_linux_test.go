package server_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestAccessInterfaceRecreated deletes the access interface under live
// sessions and creates it again (a driver reload, a rebuilt VLAN or bond,
// a restarted container): the sessions end without leaking an entry or an
// address, and once the interface is back under its name, with a new
// ifindex and MAC, new sessions come up and forward through it.
func TestAccessInterfaceRecreated(t *testing.T) {
	r := newRig(t, quickServer)
	cs := []*peer.Client{r.dial(r.peerConfig()), r.dial(r.peerConfig())}
	for _, c := range cs {
		r.entry(t, c)
	}
	before := r.ended(session.ReasonInterfaceGone)
	oldIdx, oldMAC := r.acc0, r.accMAC

	// The veth goes, both ends: the subscriber's side is rebuilt too.
	r.mux.Close()
	r.ac.Run(t, "ip", "link", "del", "acc0")
	if n, ok := r.srv.InterfaceGone("acc0", oldIdx); n != 2 || !ok {
		t.Fatalf("InterfaceGone = %d, %v; want 2 sessions ended", n, ok)
	}
	r.clean(t)
	if got := r.ended(session.ReasonInterfaceGone); got != before+2 {
		t.Errorf("ended interface-gone %d, want %d", got, before+2)
	}
	for _, c := range cs {
		if c.GotPADT() {
			t.Error("PADT sent to a client behind a deleted interface")
		}
	}
	// Told twice, or about an ifindex it does not hold: nothing happens.
	if n, ok := r.srv.InterfaceGone("acc0", oldIdx); n != 0 || ok {
		t.Errorf("second InterfaceGone = %d, %v", n, ok)
	}

	_, r.acc0 = netns.Veth(t, r.sub, "eth0", r.ac, "acc0")
	r.accMAC = r.hwaddr(r.ac, "acc0")
	if r.acc0 == oldIdx || r.accMAC.String() == oldMAC.String() {
		t.Fatalf("re-created acc0 has the old ifindex %d or MAC %v", r.acc0, r.accMAC)
	}
	must(t, r.sub.Do(t, func() (err error) {
		r.mux, err = peer.Listen("eth0")
		return err
	}))
	t.Cleanup(func() { r.mux.Close() })
	opened, err := r.srv.InterfaceAppeared("acc0", r.acc0)
	if err != nil || !opened {
		t.Fatalf("InterfaceAppeared = %v, %v", opened, err)
	}
	if opened, err := r.srv.InterfaceAppeared("acc0", r.acc0); opened || err != nil {
		t.Errorf("second InterfaceAppeared = %v, %v; want nothing done", opened, err)
	}

	c := r.dial(r.peerConfig())
	if c.Session().ACMAC.String() != r.accMAC.String() {
		t.Errorf("PADS from %v, want the new interface's MAC %v", c.Session().ACMAC, r.accMAC)
	}
	r.entry(t, c)
	info, _ := c.WaitUp(context.Background())
	exchange(t, c, peer.ICMPEcho(info.IP.Local, coreAddr, 0x4243, 1, []byte("back")), func(p peer.Packet) bool {
		return p.Proto == peer.ProtoICMP && p.Src == coreAddr && len(p.Payload) >= 8 && p.Payload[0] == 0 &&
			binary.BigEndian.Uint16(p.Payload[4:]) == 0x4243
	})
	must(t, c.SendPADT())
	r.clean(t)
}

// TestAccessInterfaceGoneKeepsConfig: while a server's interface is gone,
// a reload still applies (the server stays configured), and the interface
// is served again when it is back.
func TestAccessInterfaceGoneKeepsConfig(t *testing.T) {
	r := newRig(t, quickServer)
	r.mux.Close()
	old := r.acc0
	r.ac.Run(t, "ip", "link", "del", "acc0")
	r.srv.InterfaceGone("acc0", old)
	cfg, err := config.Load(quickExample + quickServer + "\n/ppp secret add name=second password=x profile=for-pppoe\n")
	must(t, err)
	if err := r.srv.Apply(cfg); err != nil {
		t.Fatalf("reload while the interface is gone: %v", err)
	}
	_, r.acc0 = netns.Veth(t, r.sub, "eth0", r.ac, "acc0")
	r.accMAC = r.hwaddr(r.ac, "acc0")
	must(t, r.sub.Do(t, func() (err error) {
		r.mux, err = peer.Listen("eth0")
		return err
	}))
	t.Cleanup(func() { r.mux.Close() })
	if _, err := r.srv.InterfaceAppeared("acc0", r.acc0); err != nil {
		t.Fatal(err)
	}
	cfgPeer := r.peerConfig()
	cfgPeer.User, cfgPeer.Password = "second", "x"
	c := r.dial(cfgPeer)
	r.entry(t, c)
	must(t, c.SendPADT())
	r.clean(t)
}
