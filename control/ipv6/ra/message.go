// Package ra is Router Discovery on a PPP session (RFC 4861 §6): the
// server's Router Advertisements with the session's /64, M/O flags, MTU
// and RDNSS (RFC 8106), answers to Router Solicitations and the periodic
// unsolicited schedule; and the client's Router Solicitations with their
// retransmission and stateless address autoconfiguration from an RA
// (RFC 4862). Messages are encoded and decoded by github.com/mdlayher/ndp;
// this package adds the IPv6 header, the checks RFC 4861 asks of a
// receiver, and the timers.
//
// Nothing here runs on its own: the session loop hands in received
// packets and the current time and sends what comes back, and asks when
// to call again. A packet in or out is the IPv6 datagram a session carries
// in PPP protocol 0x0057.
package ra

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// ndHopLimit is the hop limit every ND message is sent with and must
// arrive with (RFC 4861 §6.1), proof it was not forwarded by a router.
const ndHopLimit = 255

// ICMPv6 types of Router Discovery (RFC 4861 §4.1, §4.2).
const (
	icmpRouterSolicitation  = 133
	icmpRouterAdvertisement = 134
)

// Errors a received packet is dropped with; RFC 4861 §6.1 says such
// packets are silently discarded, callers may count them.
var (
	ErrHopLimit    = errors.New("ra: hop limit is not 255")
	ErrCode        = errors.New("ra: ICMP code is not 0")
	ErrNotICMPv6   = errors.New("ra: not ICMPv6")
	ErrMessageType = errors.New("ra: unexpected ICMPv6 type")
	ErrSource      = errors.New("ra: source address not allowed")
)

// parseND checks the IPv6 and ICMPv6 framing common to RS and RA (RFC 4861
// §6.1.1, §6.1.2: hop limit 255, checksum, code 0, ICMP length) and
// returns the ND message of type want.
func parseND(b []byte, want uint8, minLen int) (ipv6.Packet, ndp.Message, error) {
	p, err := ipv6.Parse(b)
	if err != nil {
		return p, nil, err
	}
	if p.NextHeader != ipv6.ProtoICMPv6 {
		return p, nil, fmt.Errorf("%w: next header %d", ErrNotICMPv6, p.NextHeader)
	}
	if p.HopLimit != ndHopLimit {
		return p, nil, fmt.Errorf("%w: %d", ErrHopLimit, p.HopLimit)
	}
	if len(p.Payload) < minLen {
		return p, nil, fmt.Errorf("ra: ICMPv6 length %d, want at least %d: %w", len(p.Payload), minLen, io.ErrUnexpectedEOF)
	}
	if p.Payload[0] != want {
		return p, nil, fmt.Errorf("%w: %d, want %d", ErrMessageType, p.Payload[0], want)
	}
	if p.Payload[1] != 0 {
		return p, nil, fmt.Errorf("%w: %d", ErrCode, p.Payload[1])
	}
	if err := p.VerifyChecksum(); err != nil {
		return p, nil, fmt.Errorf("ra: ICMPv6: %w", err)
	}
	m, err := ndp.ParseMessage(p.Payload)
	if err != nil {
		return p, nil, fmt.Errorf("ra: %w", err)
	}
	return p, m, nil
}

// marshalND encodes m from src to dst with hop limit 255 and the ICMPv6
// checksum.
func marshalND(m ndp.Message, src, dst netip.Addr) ([]byte, error) {
	icmp, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, fmt.Errorf("ra: %v: %w", m.Type(), err)
	}
	return ipv6.Packet{NextHeader: ipv6.ProtoICMPv6, HopLimit: ndHopLimit, Src: src, Dst: dst, Payload: icmp}.Marshal()
}

// Solicitation is a validated Router Solicitation.
type Solicitation struct {
	// Src is the solicitor's address; unspecified when it has none yet.
	Src netip.Addr
	// Message is the RS as ndp decoded it.
	Message *ndp.RouterSolicitation
}

// ParseSolicitation validates a Router Solicitation as RFC 4861 §6.1.1
// asks: hop limit 255, valid checksum, code 0, ICMP length of at least 8,
// every option of non-zero length (ndp rejects those), and no
// source link-layer address option when the source is unspecified.
func ParseSolicitation(b []byte) (Solicitation, error) {
	p, m, err := parseND(b, icmpRouterSolicitation, 8)
	if err != nil {
		return Solicitation{}, err
	}
	rs := m.(*ndp.RouterSolicitation)
	if p.Src.IsUnspecified() {
		for _, o := range rs.Options {
			if ll, ok := o.(*ndp.LinkLayerAddress); ok && ll.Direction == ndp.Source {
				return Solicitation{}, fmt.Errorf("%w: unspecified source with a source link-layer address option", ErrSource)
			}
		}
	}
	return Solicitation{Src: p.Src, Message: rs}, nil
}

// MarshalSolicitation builds a Router Solicitation from src to all-routers.
// On PPP there is no link-layer address, so it carries no options.
func MarshalSolicitation(src netip.Addr) ([]byte, error) {
	return marshalND(&ndp.RouterSolicitation{}, src, ipv6.AllRouters)
}

// Advertisement is a validated Router Advertisement.
type Advertisement struct {
	// Src is the router's link-local address: the default router.
	Src     netip.Addr
	Message *ndp.RouterAdvertisement
}

// ParseAdvertisement validates a Router Advertisement as RFC 4861 §6.1.2
// asks: link-local source, hop limit 255, valid checksum, code 0, ICMP
// length of at least 16, options of non-zero length.
func ParseAdvertisement(b []byte) (Advertisement, error) {
	p, m, err := parseND(b, icmpRouterAdvertisement, 16)
	if err != nil {
		return Advertisement{}, err
	}
	if !p.Src.IsLinkLocalUnicast() {
		return Advertisement{}, fmt.Errorf("%w: RA from %v, want link-local", ErrSource, p.Src)
	}
	return Advertisement{Src: p.Src, Message: m.(*ndp.RouterAdvertisement)}, nil
}
