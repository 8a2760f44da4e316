// Package dhcp6 is DHCPv6 on a PPP session (RFC 8415): a server that
// delegates prefixes (IA_PD) from a pool, optionally assigns an address
// (IA_NA) from the session's /64 and hands out DNS servers (RFC 3646); and
// a client that asks for a delegated prefix and keeps it (Renew at T1,
// Rebind at T2, Release at the end). Messages are encoded and decoded by
// github.com/insomniacslk/dhcp/dhcpv6; this package adds the IPv6/UDP
// framing, the validation RFC 8415 §16 asks of a receiver, the bindings
// and the retransmission timers (§15).
//
// The package is named dhcp6 so it does not shadow the codec's dhcpv6.
// Nothing here runs on its own: the session loop hands in received
// packets and the current time and sends what comes back.
package dhcp6

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// UDP ports of RFC 8415 §7.2.
const (
	ClientPort = 546
	ServerPort = 547
)

// hopLimit is what DHCPv6 on a link is sent with; link-scope traffic never
// leaves the session, so any value works, 64 is what hosts use.
const hopLimit = 64

// ErrDropped marks a message RFC 8415 tells the receiver to discard; the
// wrapped text says which rule.
var ErrDropped = errors.New("dhcp6: message discarded")

// received is a DHCPv6 message with the addresses it came with.
type received struct {
	src, dst netip.Addr
	msg      *dhcpv6.Message
}

// parse reads a DHCPv6 message from an IPv6/UDP datagram sent to port.
func parse(b []byte, port uint16) (received, error) {
	p, err := ipv6.Parse(b)
	if err != nil {
		return received{}, fmt.Errorf("dhcp6: %w", err)
	}
	u, err := ipv6.ParseUDP(p)
	if err != nil {
		return received{}, fmt.Errorf("dhcp6: %w", err)
	}
	if u.DstPort != port {
		return received{}, fmt.Errorf("%w: UDP port %d, want %d", ErrDropped, u.DstPort, port)
	}
	m, err := dhcpv6.MessageFromBytes(u.Payload)
	if err != nil {
		return received{}, fmt.Errorf("dhcp6: %w", err)
	}
	return received{src: p.Src, dst: p.Dst, msg: m}, nil
}

// marshal frames m as an IPv6/UDP datagram.
func marshal(m *dhcpv6.Message, src, dst netip.Addr, sport, dport uint16) ([]byte, error) {
	return ipv6.MarshalUDP(src, dst, hopLimit, ipv6.UDP{SrcPort: sport, DstPort: dport, Payload: m.ToBytes()})
}

// sameDUID reports whether a and b are the same DUID, byte for byte
// (RFC 8415 §11: DUIDs are compared as opaque values).
func sameDUID(a, b dhcpv6.DUID) bool {
	if a == nil || b == nil {
		return false
	}
	return string(a.ToBytes()) == string(b.ToBytes())
}

// ipNet converts a prefix to the codec's form.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}
}

// fromIPNet converts the codec's prefix; false for nil or not IPv6.
func fromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || !a.Is6() || a.Is4In6() || bits != 128 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// addrOf converts the codec's address; false when it is not IPv6.
func addrOf(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || !a.Is6() || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// status is a Status Code option (RFC 8415 §21.13).
func status(c iana.StatusCode, msg string) *dhcpv6.OptStatusCode {
	return &dhcpv6.OptStatusCode{StatusCode: c, StatusMessage: msg}
}

// seconds is d as the codec sends it, whole seconds.
func seconds(d time.Duration) time.Duration { return d.Truncate(time.Second) }
