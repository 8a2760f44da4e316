package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestSessionUpEachMethod brings a session up with every authentication
// method the Quick Example's server offers by default, and checks the
// data-plane entry the session installed.
func TestSessionUpEachMethod(t *testing.T) {
	r := newRig(t, quickServer)
	for _, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
		t.Run(m.String(), func(t *testing.T) {
			cfg := r.peerConfig()
			cfg.Methods = []auth.Method{m}
			c := r.dial(cfg)
			info, err := c.WaitUp(context.Background())
			must(t, err)
			if info.Method != m {
				t.Errorf("authenticated with %v, want %v", info.Method, m)
			}
			if !poolNet.Contains(info.IP.Local) || info.IP.Local == acLocal || info.IP.Remote != acLocal {
				t.Errorf("IPCP gave local %v remote %v", info.IP.Local, info.IP.Remote)
			}
			if c.Session().ACName != "test-ac" || c.Session().ServiceName != "pppoeservice" {
				t.Errorf("discovery %+v", c.Session())
			}
			s, _ := r.entry(t, c)
			if s.IPv4 != info.IP.Local || s.MTU != info.MTU || s.ACMAC.String() != r.accMAC.String() || s.MSS != info.MTU-40 {
				t.Errorf("maps entry %+v for link %+v", s, info)
			}
			eventually(t, 2*time.Second, "session up in print", func() bool {
				ss := r.srv.Sessions()
				return len(ss) == 1 && ss[0].State == session.StateUp
			})
			ss := r.srv.Sessions()
			if ss[0].Name != "MT-User" || ss[0].Address != info.IP.Local || ss[0].MTU != info.MRU {
				t.Errorf("sessions %+v, link %+v", ss, info)
			}
			must(t, c.SendPADT())
			r.clean(t)
		})
	}
}

// TestForwarding sends ICMP and UDP both ways between the subscriber and
// the core through the maps, and checks the session's counters moved. The
// far ends are plain veths, which cannot take XDP frames: the kernel
// forwards what the fast paths would redirect, both ways.
func TestForwarding(t *testing.T) {
	r := newRig(t, quickServer)
	c := r.dial(r.peerConfig())
	info, _ := c.WaitUp(context.Background())
	me := info.IP.Local
	_, idx := r.entry(t, c)
	before, err := r.dp.Stats(idx)
	must(t, err)

	t.Run("ICMP echo subscriber to core", func(t *testing.T) {
		data := []byte("pppoe-xdp ping")
		reply := exchange(t, c, peer.ICMPEcho(me, coreAddr, 0x4242, 1, data), func(p peer.Packet) bool {
			return p.Proto == peer.ProtoICMP && p.Src == coreAddr && len(p.Payload) >= 8 && p.Payload[0] == 0 &&
				binary.BigEndian.Uint16(p.Payload[4:]) == 0x4242
		})
		if reply.Dst != me || !bytes.Equal(reply.Payload[8:], data) {
			t.Errorf("echo reply %+v", reply)
		}
	})

	t.Run("UDP subscriber to core", func(t *testing.T) {
		var conn *net.UDPConn
		must(t, r.core.Do(t, func() (err error) {
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: coreAddr.AsSlice(), Port: 4000})
			return err
		}))
		defer conn.Close()
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			must(t, c.SendIPv4(peer.UDP(netip.AddrPortFrom(me, 5000), netip.AddrPortFrom(coreAddr, 4000), []byte("up"))))
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, from, err := conn.ReadFromUDP(buf)
			if err == nil {
				if string(buf[:n]) != "up" || from.AddrPort() != netip.AddrPortFrom(me, 5000) {
					t.Errorf("core got %q from %v", buf[:n], from)
				}
				break
			}
			if i == 10 {
				t.Fatal("no UDP datagram reached the core")
			}
		}
	})

	t.Run("UDP core to subscriber", func(t *testing.T) {
		var conn *net.UDPConn
		must(t, r.core.Do(t, func() (err error) {
			conn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: me.AsSlice(), Port: 6000})
			return err
		}))
		defer conn.Close()
		for i := 0; ; i++ {
			_, err := conn.Write([]byte("down"))
			must(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			b, err := c.RecvIPv4(ctx)
			cancel()
			if err == nil {
				p, err := peer.ParseIPv4(b)
				must(t, err)
				if p.Proto != peer.ProtoUDP || p.Src != coreAddr || p.Dst != me || string(p.Payload[8:]) != "down" ||
					binary.BigEndian.Uint16(p.Payload[2:]) != 6000 {
					t.Errorf("subscriber got %+v", p)
				}
				break
			}
			if i == 10 {
				t.Fatal("no UDP datagram reached the subscriber")
			}
		}
	})

	after, err := r.dp.Stats(idx)
	must(t, err)
	if after.PacketsUp <= before.PacketsUp || after.PacketsDown <= before.PacketsDown || after.LastSeen <= before.LastSeen {
		t.Errorf("stats before %+v after %+v", before, after)
	}
	ss := r.srv.Sessions()
	if len(ss) != 1 || ss[0].Stats.PacketsUp != after.PacketsUp {
		t.Errorf("sessions %+v, maps stats %+v", ss, after)
	}
	counters, err := r.dp.Counters()
	must(t, err)
	if counters[maps.ReasonPassNoXDPXmit] < 4 || counters[maps.ReasonSlowUp] == 0 || counters[maps.ReasonSlowDown] == 0 ||
		counters[maps.ReasonFastUp] != 0 || counters[maps.ReasonFastDown] != 0 {
		t.Errorf("data plane counters %v: want the kernel's path both ways", counters)
	}
}

// exchange sends pkt up the session until a packet matching want comes
// down, and returns it.
func exchange(t *testing.T, c *peer.Client, pkt []byte, want func(peer.Packet) bool) peer.Packet {
	t.Helper()
	for i := 0; i < 10; i++ {
		must(t, c.SendIPv4(pkt))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		for {
			b, err := c.RecvIPv4(ctx)
			if err != nil {
				break
			}
			if p, err := peer.ParseIPv4(b); err == nil && want(p) {
				cancel()
				return p
			}
		}
		cancel()
	}
	t.Fatal("no answer came down the session")
	return peer.Packet{}
}
