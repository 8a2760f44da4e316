package server

import (
	"errors"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// TestDiscoveryLimiter: with Options.DiscoveryLimiter every port's
// discovery server takes its PADIs from the shared Limiter; a PADI flood
// from one MAC gets at most its burst answered and leaves other hosts
// dialling.
func TestDiscoveryLimiter(t *testing.T) {
	cfg, err := config.Load(base + `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, hub: &hub{}, dp: newFakeDP(), aaa: local}
	r.srv, err = New(cfg, Options{
		AAA:              local,
		DataPlane:        r.dp,
		DiscoveryLimiter: pppoe.NewLimiter(pppoe.Limits{MACRate: 1, MACBurst: 2}),
		Open: func(name string) (Port, error) {
			if name != "ether1" {
				return Port{}, errors.New("no such interface")
			}
			return Port{Conn: r.hub.endpoint(), Ifindex: 5, MAC: acMAC}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })

	ep := r.hub.endpoint()
	defer ep.Close()
	padi, _ := pppoe.MarshalFrame(ethernet.Broadcast, mac(7), nil, &pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("")}})
	const flood = 50
	start := time.Now()
	for range flood {
		ep.WriteFrame(padi)
	}
	eventually(t, "every PADI handled", func() bool {
		c := r.srv.Counters().Discovery
		return c.MACLimited+c.PADIReceived == flood
	})
	// One token a second: the burst, plus one per second the flood took.
	c := r.srv.Counters().Discovery
	if most := uint64(2 + time.Since(start).Seconds()); c.PADOSent > most || c.PADOSent < 2 {
		t.Errorf("%d PADOs for %d PADIs from one MAC, want 2 to %d", c.PADOSent, flood, most)
	}
	cl, err := r.dial(mac(8), nil, "internet")
	if err != nil {
		t.Fatalf("another host during the flood: %v", err)
	}
	cl.waitUp(t)
}
