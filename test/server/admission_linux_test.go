package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestMaxSessionsConcurrent: more hosts than max-sessions dial at once;
// exactly max-sessions get in. max-sessions counts established sessions,
// so the others are refused with an AC-System-Error PADS if the server was
// full at their PADR, or ended with a PADT (reason max-sessions) if it
// filled up while they negotiated; none is ever in the data plane.
func TestMaxSessionsConcurrent(t *testing.T) {
	r := newRig(t, quickServer+" max-sessions=2")
	cfgs := make([]peer.Config, 4)
	for i := range cfgs {
		cfgs[i] = r.peerConfig()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cfgs))
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.tryDial(cfg)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err = c.WaitUp(ctx)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	up, refused, ended := 0, 0, 0
	for _, err := range errs {
		var pe *pppoe.PADSError
		switch {
		case err == nil:
			up++
		case errors.As(err, &pe) && pe.Tag == pppoe.TagACSystemError:
			refused++
		case errors.Is(err, peer.ErrEnded):
			ended++
		default:
			t.Errorf("dial: %v", err)
		}
	}
	if up != 2 || refused+ended != 2 {
		t.Fatalf("%d up, %d refused, %d ended; want 2 up", up, refused, ended)
	}
	eventually(t, 2*time.Second, "two entries", func() bool { return r.dp.Len() == 2 && len(r.srv.Sessions()) == 2 })
	cn := r.srv.Counters()
	if r.aaa.PoolUsed("pppoe-pool") != 2 || cn.Refused != uint64(refused) || cn.Ended[session.ReasonMaxSessions] != uint64(ended) {
		t.Errorf("pool used %d, counters %+v", r.aaa.PoolUsed("pppoe-pool"), cn)
	}
}

// TestOneSessionPerHostConcurrent: hosts re-dial at the same time, each
// several times; every re-dial replaces the host's old session, so each
// host ends with exactly one session, one entry and one address.
func TestOneSessionPerHostConcurrent(t *testing.T) {
	r := newRig(t, quickServer+" one-session-per-host=yes")
	const hosts, dials = 4, 3
	cfgs := make([]peer.Config, hosts)
	for i := range cfgs {
		cfgs[i] = r.peerConfig()
	}
	var wg sync.WaitGroup
	last := make([]*peer.Client, hosts)
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range dials {
				c, err := r.tryDial(cfgs[i])
				if err != nil {
					t.Errorf("host %d: %v", i, err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = c.WaitUp(ctx)
				cancel()
				if err != nil {
					t.Errorf("host %d: %v", i, err)
					return
				}
				last[i] = c
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	eventually(t, 3*time.Second, "one session per host", func() bool {
		return r.dp.Len() == hosts && len(r.srv.Sessions()) == hosts && r.aaa.PoolUsed("pppoe-pool") == hosts
	})
	for i, c := range last {
		s, _ := r.entry(t, c)
		if s.SessionID != c.Session().SessionID {
			t.Errorf("host %d: entry for session %d, want the newest %d", i, s.SessionID, c.Session().SessionID)
		}
	}
}

// TestVLANServer: the server's interface is a VLAN of the access veth
// (/interface vlan, no kernel VLAN device): the AC attaches to the parent
// and answers only frames carrying the tag, and the session's traffic
// flows tagged through the maps.
func TestVLANServer(t *testing.T) {
	r := newRig(t, `
/interface vlan add name=vlan100 vlan-id=100 interface=acc0
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=vlan100 service-name=pppoeservice
`)
	untagged := r.peerConfig()
	untagged.PADRAttempts = 1
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := peer.Dial(ctx, r.mux, untagged); err == nil {
		t.Fatal("an untagged client got a session from a VLAN server")
	}

	cfg := r.peerConfig()
	cfg.VLANs = []ethernet.VLAN{{ID: 100}}
	c := r.dial(cfg)
	info, _ := c.WaitUp(context.Background())
	s, _ := r.entry(t, c)
	if s.OuterVLAN != 100 || s.InnerVLAN != 0 {
		t.Errorf("entry %+v", s)
	}
	ss := r.srv.Sessions()
	if len(ss) != 1 || ss[0].Interface != "vlan100" {
		t.Errorf("sessions %+v", ss)
	}
	exchange(t, c, peer.ICMPEcho(info.IP.Local, coreAddr, 7, 1, []byte("tagged")), func(p peer.Packet) bool {
		return p.Proto == peer.ProtoICMP && p.Src == coreAddr && p.Payload[0] == 0
	})
	must(t, c.SendPADT())
	r.clean(t)
}

// TestTwoServicesOneInterface: two servers with different service names on
// one interface; each client gets the service it asked for, and rp-pppoe's
// pppoe-discovery lists the AC with both.
func TestTwoServicesOneInterface(t *testing.T) {
	r := newRig(t, `
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=acc0 service-name=internet
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=acc0 service-name=iptv
`)
	for _, service := range []string{"internet", "iptv"} {
		cfg := r.peerConfig()
		cfg.ServiceName = service
		c := r.dial(cfg)
		if c.Session().ServiceName != service {
			t.Errorf("asked %q, got %q", service, c.Session().ServiceName)
		}
	}
	eventually(t, 2*time.Second, "two sessions", func() bool { return r.dp.Len() == 2 })
	got := map[string]bool{}
	for _, s := range r.srv.Sessions() {
		got[s.ServiceName] = true
	}
	if !got["internet"] || !got["iptv"] {
		t.Errorf("sessions by service %v", got)
	}

	netns.RequireTool(t, "pppoe-discovery")
	out, err := r.sub.Output("pppoe-discovery", "-I", "eth0", "-t", "1", "-a", "1")
	if err != nil || !outputHas(out, "Access-Concentrator: test-ac", "Service-Name: internet", "Service-Name: iptv") {
		t.Errorf("pppoe-discovery: %v\n%s", err, out)
	}
	netns.RequireTool(t, "pppoe")
	out, err = r.sub.Output("pppoe", "-A", "-I", "eth0", "-t", "1")
	if !strings.Contains(out, "test-ac") || !outputHas(out, "internet", "iptv") {
		t.Errorf("pppoe -A: %v\n%s", err, out)
	}
}

// TestJumboMRU: RFC 4638 over a veth with MTU 1508: PPP-Max-Payload 1500
// agreed in discovery reaches the link, the session's MTU is 1500 and a
// 1500-byte packet crosses the maps both ways.
func TestJumboMRU(t *testing.T) {
	r := newRig(t, quickServer+" max-mtu=1500 max-mru=1500", withAccessMTU(1508))
	cfg := r.peerConfig()
	cfg.MaxPayload, cfg.MRU = 1500, 1500
	c := r.dial(cfg)
	info, _ := c.WaitUp(context.Background())
	if c.Session().MaxPayload != 1500 || info.MTU != 1500 || info.MRU != 1500 {
		t.Fatalf("discovery %+v link %+v", c.Session(), info)
	}
	s, _ := r.entry(t, c)
	if s.MTU != 1500 {
		t.Errorf("entry MTU %d", s.MTU)
	}
	data := make([]byte, 1500-20-8)
	for i := range data {
		data[i] = byte(i)
	}
	reply := exchange(t, c, peer.ICMPEcho(info.IP.Local, coreAddr, 9, 1, data), func(p peer.Packet) bool {
		return p.Proto == peer.ProtoICMP && p.Src == coreAddr && p.Payload[0] == 0
	})
	if len(reply.Payload) != 1500-20 {
		t.Errorf("reply of %d bytes of ICMP, want %d", len(reply.Payload), 1500-20)
	}
}

// TestPriorityTagged: a client that puts a priority tag (VLAN id 0, IEEE
// 802.1Q §9.6) on every frame is on the untagged circuit: it gets a session
// from the untagged server, and its priority-tagged data takes the fast
// path both ways (so the far ends can take XDP frames: withFastFarEnds).
func TestPriorityTagged(t *testing.T) {
	r := newRig(t, quickServer, withFastFarEnds())
	cfg := r.peerConfig()
	cfg.VLANs = []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, Priority: 5}}
	c := r.dial(cfg)
	info, err := c.WaitUp(context.Background())
	must(t, err)
	s, _ := r.entry(t, c)
	if s.OuterVLAN != 0 || s.OuterTPID != 0 {
		t.Errorf("entry %+v: want the untagged circuit", s)
	}
	before, err := r.dp.Counters()
	must(t, err)
	exchange(t, c, peer.ICMPEcho(info.IP.Local, coreAddr, 7, 1, []byte("priority")), func(p peer.Packet) bool {
		return p.Proto == peer.ProtoICMP && p.Src == coreAddr && p.Payload[0] == 0
	})
	after, err := r.dp.Counters()
	must(t, err)
	if after[maps.ReasonFastUp] == before[maps.ReasonFastUp] || after[maps.ReasonFastDown] == before[maps.ReasonFastDown] {
		t.Errorf("the echo did not take the fast path both ways: %v -> %v", before, after)
	}
	must(t, c.SendPADT())
	r.clean(t)
}
