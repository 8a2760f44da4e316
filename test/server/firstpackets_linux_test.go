package server_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestFirstPacketsArrive: traffic starts the instant a subscriber's IPCP
// opens, both ways: the subscriber sends before reading anything else (a
// CPE with traffic queued) and the core sends to the new address at the
// same moment (a network-side flow of a BNG tester). The AC installs the
// session before the frame that opens IPCP leaves, so every first packet
// finds it: the core and the subscriber get them all, and the data plane
// counts no unknown session and no unknown destination.
func TestFirstPacketsArrive(t *testing.T) {
	r := newRig(t, quickServer)
	var conn *net.UDPConn
	must(t, r.core.Do(t, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: coreAddr.AsSlice(), Port: 4000})
		return err
	}))
	defer conn.Close()
	before, err := r.dp.Counters()
	must(t, err)

	// Sessions one after the other, each its own race between the AC's
	// install and the first packets.
	const sessions, burst = 12, 3
	down := 0
	for i := range sessions {
		cfg := r.peerConfig()
		cfg.OnUp = func(info link.Info) [][]byte {
			to := &net.UDPAddr{IP: info.IP.Local.AsSlice(), Port: 6000}
			for j := range burst {
				conn.WriteToUDP([]byte{byte(i), byte(j)}, to)
			}
			var pkts [][]byte
			for j := range burst {
				src := netip.AddrPortFrom(info.IP.Local, uint16(5000+j))
				pkts = append(pkts, peer.UDP(src, netip.AddrPortFrom(coreAddr, 4000), []byte{byte(i), byte(j)}))
			}
			return pkts
		}
		c := r.dial(cfg)
		r.entry(t, c)
		for range burst {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := c.RecvIPv4(ctx)
			cancel()
			if err != nil {
				break
			}
			down++
		}
		must(t, c.SendPADT())
		r.clean(t)
	}

	up := 0
	buf := make([]byte, 64)
	for up < sessions*burst {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			break
		}
		up++
	}
	after, err := r.dp.Counters()
	must(t, err)
	unknownSession := after[maps.ReasonUnknownSession] - before[maps.ReasonUnknownSession]
	unknownDest := after[maps.ReasonUnknownDest] - before[maps.ReasonUnknownDest]
	if up != sessions*burst || down != sessions*burst || unknownSession != 0 || unknownDest != 0 {
		t.Errorf("of %d first packets each way, the core got %d and the subscribers %d; "+
			"the data plane counted %d for an unknown session, %d for an unknown destination",
			sessions*burst, up, down, unknownSession, unknownDest)
	}
}
