package maps

import (
	"fmt"
	"net"

	"github.com/mdlayher/packet"
)

// Injector hands the kernel packets that user space produced for a
// session, as if they had arrived on dev (pppoe0 for the server, or a
// client netdev): the packets the multilink reassembler (control/ppp/mp)
// puts back together from fragments, which never took the data plane's
// decap path. It writes them as Ethernet frames addressed to dev on dev's
// veth peer, whose egress is dev's ingress; the TC programs there run on
// the peer's ingress, so they do not see them. The caller has checked the
// source address (the anti-spoof the data plane does for whole packets).
type Injector struct {
	c   *packet.Conn
	dev *Device
}

// OpenInjector opens an Injector on dev. It needs CAP_NET_RAW and must be
// called in dev's network namespace.
func OpenInjector(dev *Device) (*Injector, error) {
	peer, err := net.InterfaceByIndex(dev.PeerIndex)
	if err != nil {
		return nil, fmt.Errorf("maps: injector on %s: peer: %w", dev.Name, err)
	}
	// Protocol 0: the socket sends only, it never queues a received frame.
	c, err := packet.Listen(peer, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("maps: injector on %s: %w", dev.Name, err)
	}
	return &Injector{c: c, dev: dev}, nil
}

// Inject gives the kernel one IP packet of PPP protocol proto (0x0021 IPv4,
// 0x0057 IPv6) as received on the Injector's device.
func (in *Injector) Inject(proto uint16, ip []byte) error {
	var et uint16
	switch {
	case proto == 0x0021 && len(ip) >= 20 && ip[0]>>4 == 4:
		et = 0x0800
	case proto == 0x0057 && len(ip) >= 40 && ip[0]>>4 == 6:
		et = 0x86dd
	default:
		return fmt.Errorf("maps: inject into %s: PPP protocol %#04x with a %d-byte packet: not IPv4 or IPv6", in.dev.Name, proto, len(ip))
	}
	f := make([]byte, 14+len(ip))
	copy(f[0:], in.dev.MAC)
	copy(f[6:], in.dev.MAC)
	f[12], f[13] = byte(et>>8), byte(et)
	copy(f[14:], ip)
	if _, err := in.c.WriteTo(f, &packet.Addr{HardwareAddr: in.dev.MAC}); err != nil {
		return fmt.Errorf("maps: inject into %s: %w", in.dev.Name, err)
	}
	return nil
}

// Close closes the socket.
func (in *Injector) Close() error { return in.c.Close() }
