package client

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

func TestNetlinkRoutes(t *testing.T) {
	netns.RequireTool(t, "ip")
	ns, other := netns.New(t), netns.New(t)
	idx, _ := netns.Veth(t, ns, "pppoe-out1", other, "peer0")
	addr := Address{Ifindex: idx, Local: netip.MustParseAddr("10.0.0.2"), Peer: netip.MustParseAddr("10.0.0.1")}
	dev := Route{Ifindex: idx, Dst: netip.MustParsePrefix("0.0.0.0/0"), Metric: 5}
	demand := Route{Ifindex: idx, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.112.112.1"), Metric: 7}
	var r NetlinkRoutes
	if err := ns.Do(t, func() error {
		if err := r.AddAddress(addr); err != nil {
			return err
		}
		if err := r.AddRoute(dev); err != nil {
			return err
		}
		return r.AddRoute(demand)
	}); err != nil {
		t.Fatal(err)
	}
	addrs := ns.Run(t, "ip", "-4", "addr", "show", "dev", "pppoe-out1")
	if !strings.Contains(addrs, "inet 10.0.0.2 peer 10.0.0.1/32") {
		t.Errorf("ip addr:\n%s", addrs)
	}
	routes := ns.Run(t, "ip", "-4", "route", "show", "default")
	for _, want := range []string{"default dev pppoe-out1 scope link metric 5",
		"default via 10.112.112.1 dev pppoe-out1 metric 7 onlink"} {
		if !strings.Contains(routes, want) {
			t.Errorf("ip route lacks %q:\n%s", want, routes)
		}
	}
	if err := ns.Do(t, func() error {
		if err := r.AddRoute(dev); err == nil {
			t.Errorf("duplicate route added")
		}
		if err := r.DelRoute(demand); err != nil {
			return err
		}
		if err := r.DelRoute(dev); err != nil {
			return err
		}
		return r.DelAddress(addr)
	}); err != nil {
		t.Fatal(err)
	}
	if out := ns.Run(t, "ip", "-4", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("routes left: %s", out)
	}
	if out := ns.Run(t, "ip", "-4", "addr", "show", "dev", "pppoe-out1"); strings.Contains(out, "10.0.0.2") {
		t.Errorf("address left: %s", out)
	}
}

// Scan over a veth between namespaces, against pppoe.Server on AF_PACKET;
// two Attachments of one interface share one socket.
func TestSystemInterfacesScan(t *testing.T) {
	cns, acns := netns.New(t), netns.New(t)
	netns.Veth(t, cns, "ether1", acns, "ether2")
	// The first PADI goes out at once and the next only after a second:
	// wait for carrier so it is not lost.
	waitFor(t, "veth carrier", func() bool {
		return strings.Contains(cns.Run(t, "ip", "link", "show", "ether1"), "state UP") &&
			strings.Contains(acns.Run(t, "ip", "link", "show", "ether2"), "state UP")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acConn *afpacket.Conn
	if err := acns.Do(t, func() error {
		ifi, err := net.InterfaceByName("ether2")
		if err != nil {
			return err
		}
		acConn, err = afpacket.Listen(ifi)
		if err != nil {
			return err
		}
		srv := pppoe.NewServer(pppoe.ServerConfig{ACName: "pppoe-xdp", MAC: ifi.HardwareAddr, Ifindex: ifi.Index,
			ServiceNames: []string{"pppoeservice"}}, nil, nil)
		go srv.Serve(ctx, acConn)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acConn.Close() })

	ifs := &SystemInterfaces{}
	var offers []Offer
	if err := cns.Do(t, func() error {
		a, err := ifs.Attach("ether1")
		if err != nil {
			return err
		}
		b, err := ifs.Attach("ether1")
		if err != nil {
			return err
		}
		if len(ifs.muxes) != 1 {
			t.Errorf("%d sockets for one interface", len(ifs.muxes))
		}
		offers, err = ScanConn(ctx, a, 300*time.Millisecond)
		a.Conn.Close()
		b.Conn.Close()
		if len(ifs.muxes) != 0 {
			t.Errorf("socket left open after the last Close")
		}
		if _, err := ifs.Attach("nonexistent0"); err == nil {
			t.Errorf("attached a missing interface")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(offers) != 1 || offers[0].Service != "pppoeservice" || offers[0].ACName != "pppoe-xdp" {
		t.Errorf("offers %+v", offers)
	}
}
