package daemon

import (
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// TestDiscoveryFlood: pppoed hands its --padi-limit and
// --discovery-mac-limit to xdp_access_in, which drops a PADI flood from
// random MACs and a PADR flood from one MAC and counts them in the
// metrics; the Quick Example client still connects.
func TestDiscoveryFlood(t *testing.T) {
	// Not parallel: it floods the AC and counts what its token buckets let
	// through.
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	const padiRate, macBurst = 20, 4
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0",
		"--padi-limit", fmt.Sprint(padiRate), "--discovery-mac-limit", fmt.Sprintf("2/%d", macBurst))

	// A flooder next to the client, on its segment.
	var conn *packet.Conn
	must(t, l.cl.Do(t, func() error {
		ifi, err := net.InterfaceByName("ether2")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, 0, nil) // sends, receives nothing
		return err
	}))
	defer conn.Close()
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: net.HardwareAddr(b[:6])}); err != nil {
			t.Fatal(err)
		}
	}
	flooder := net.HardwareAddr{0x02, 0xf1, 0, 0, 0, 1}
	const padis, padrs = 200, 50
	start := time.Now()
	for range padis {
		var src [6]byte
		rand.Read(src[:])
		src[0] = src[0]&0xfc | 0x02
		b, err := pppoe.MarshalFrame(ethernet.Broadcast, src[:], nil, &pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("")}})
		must(t, err)
		send(b)
	}
	var acMAC net.HardwareAddr
	must(t, l.ac.Do(t, func() error {
		ifi, err := net.InterfaceByName("ether3")
		if err == nil {
			acMAC = ifi.HardwareAddr
		}
		return err
	}))
	for i := range padrs {
		b, err := pppoe.MarshalFrame(acMAC, flooder, nil, &pppoe.Packet{Code: pppoe.CodePADR,
			Tags: []pppoe.Tag{pppoe.ServiceName("pppoeservice"), pppoe.ACCookie(make([]byte, 16)), pppoe.HostUniq{byte(i)}}})
		must(t, err)
		send(b)
	}
	elapsed := time.Since(start)

	// The first PADR was the flooder's first contact; its burst took the
	// next; the rest are over its limit, less what refilled meanwhile.
	refill := int(elapsed.Seconds()*padiRate) + 1
	var m map[string]float64
	waitFor(t, 10*time.Second, "the flood counted", func() bool {
		m = ac.metrics()
		return m[`pppoe_dataplane_packets_total{reason="discovery_mac_limit"}`]+
			m[`pppoe_dataplane_packets_total{reason="discovery_global_limit"}`] > 0
	})
	if got, least := m[`pppoe_dataplane_packets_total{reason="discovery_mac_limit"}`], padrs-macBurst-refill; got < float64(least) || got > padrs-macBurst {
		t.Errorf("%v PADRs from one MAC dropped per MAC, want %d to %d", got, least, padrs-macBurst)
	}
	if got, least := m[`pppoe_dataplane_packets_total{reason="discovery_global_limit"}`], padis+1-padiRate-refill; got < float64(least) {
		t.Errorf("%v PADIs from random MACs dropped globally, want at least %d", got, least)
	}
	if got := m["pppoe_discovery_padi_received_total"]; got > padiRate+float64(refill) {
		t.Errorf("pppoed handled %v PADIs of the flood, want at most %d", got, padiRate+refill)
	}

	// The subscriber connects through its own MAC's bucket (and the
	// retransmission bucket if the flood left no first-contact token).
	cl := startDaemon(t, l.cl, "client", quickClient, l.pins)
	waitFor(t, 15*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
}
