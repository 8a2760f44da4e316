package link

import (
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipcp"
)

var zero4 = netip.IPv4Unspecified()

// addrOption encodes an address option of type t with the ipcp codec.
func addrOption(t ipcp.Type, a netip.Addr) ppp.Option {
	var o ipcp.Option
	switch t {
	case ipcp.TypePrimaryDNS:
		o = ipcp.PrimaryDNS{Addr: a}
	case ipcp.TypeSecondaryDNS:
		o = ipcp.SecondaryDNS{Addr: a}
	default:
		o = ipcp.IPAddress{Addr: a}
	}
	r, _ := ipcp.ToRaw(o) // IPv4 addresses: never fails
	return r
}

// ipcpServer is the Authenticator's IPCP fsm.Negotiator (RFC 1332, RFC
// 1877): it asks for its own address and Naks the peer to the addresses
// the AddressPolicy gave.
type ipcpServer struct{ ip IPConfig }

func (n *ipcpServer) Request() []ppp.Option {
	return []ppp.Option{addrOption(ipcp.TypeIPAddress, n.ip.Local)}
}

// want is the value we assign for an address option, invalid if we have
// none to give.
func (n *ipcpServer) want(t ipcp.Type) netip.Addr {
	switch t {
	case ipcp.TypeIPAddress:
		return n.ip.Remote
	case ipcp.TypePrimaryDNS:
		return n.ip.DNS1
	case ipcp.TypeSecondaryDNS:
		return n.ip.DNS2
	case ipcp.TypePrimaryNBNS:
		return n.ip.NBNS1
	case ipcp.TypeSecondaryNBNS:
		return n.ip.NBNS2
	}
	return netip.Addr{}
}

func (n *ipcpServer) Check(o ppp.Option) (fsm.Verdict, []byte) {
	t, err := ipcp.FromRaw(o)
	if err != nil {
		return fsm.Reject, nil
	}
	var got netip.Addr
	switch t := t.(type) {
	case ipcp.IPAddress:
		got = t.Addr
	case ipcp.PrimaryDNS:
		got = t.Addr
	case ipcp.SecondaryDNS:
		got = t.Addr
	case ipcp.PrimaryNBNS:
		got = t.Addr
	case ipcp.SecondaryNBNS:
		got = t.Addr
	default:
		// IP-Compression-Protocol (we never compress), the deprecated
		// IP-Addresses, anything unknown.
		return fsm.Reject, nil
	}
	want := n.want(t.Type())
	switch {
	case !want.IsValid():
		return fsm.Reject, nil // RFC 1877 §1: nothing to offer
	case got != want:
		b := want.As4()
		return fsm.Nak, b[:]
	}
	return fsm.Ack, nil
}

// Missing prompts a peer that did not ask for an address (RFC 1332 §3.3).
func (n *ipcpServer) Missing(req []ppp.Option) []ppp.Option {
	for _, o := range req {
		if o.Type == uint8(ipcp.TypeIPAddress) {
			return nil
		}
	}
	return []ppp.Option{addrOption(ipcp.TypeIPAddress, n.ip.Remote)}
}

// Nak: the peer has no say in our own address; keep asking, and the
// automaton drops the option after Max-Failure.
func (n *ipcpServer) Nak([]ppp.Option) error { return nil }

// Reject: a peer that rejects our address can still be served.
func (n *ipcpServer) Reject([]ppp.Option) error { return nil }

// ipcpClient is the Peer's IPCP fsm.Negotiator: it asks for 0.0.0.0 (and
// DNS 0.0.0.0) and takes what the server Naks (RFC 1332 §3.3, RFC 1877).
type ipcpClient struct {
	addr       netip.Addr
	dns1, dns2 netip.Addr // invalid: not asked for
}

func newIPCPClient(requestDNS bool) *ipcpClient {
	c := &ipcpClient{addr: zero4}
	if requestDNS {
		c.dns1, c.dns2 = zero4, zero4
	}
	return c
}

func (n *ipcpClient) Request() []ppp.Option {
	opts := []ppp.Option{addrOption(ipcp.TypeIPAddress, n.addr)}
	if n.dns1.IsValid() {
		opts = append(opts, addrOption(ipcp.TypePrimaryDNS, n.dns1))
	}
	if n.dns2.IsValid() {
		opts = append(opts, addrOption(ipcp.TypeSecondaryDNS, n.dns2))
	}
	return opts
}

func (n *ipcpClient) Check(o ppp.Option) (fsm.Verdict, []byte) {
	t, err := ipcp.FromRaw(o)
	if err != nil {
		return fsm.Reject, nil
	}
	if a, ok := t.(ipcp.IPAddress); ok && a.Addr != zero4 {
		return fsm.Ack, nil
	}
	// A server asking us for its address, compression, DNS servers it
	// wants from us, anything unknown.
	return fsm.Reject, nil
}

func (n *ipcpClient) Nak(opts []ppp.Option) error {
	for _, o := range opts {
		t, err := ipcp.FromRaw(o)
		if err != nil {
			continue
		}
		switch t := t.(type) {
		case ipcp.IPAddress:
			n.addr = t.Addr
		case ipcp.PrimaryDNS:
			if n.dns1.IsValid() {
				n.dns1 = t.Addr
			}
		case ipcp.SecondaryDNS:
			if n.dns2.IsValid() {
				n.dns2 = t.Addr
			}
		}
	}
	return nil
}

func (n *ipcpClient) Reject(opts []ppp.Option) error {
	for _, o := range opts {
		switch ipcp.Type(o.Type) {
		case ipcp.TypeIPAddress:
			return fmt.Errorf("ip-address: %w", fsm.ErrRequired)
		case ipcp.TypePrimaryDNS:
			n.dns1 = netip.Addr{}
		case ipcp.TypeSecondaryDNS:
			n.dns2 = netip.Addr{}
		}
	}
	return nil
}

// ipcpResult reads the addresses out of the acked options: ours first.
func ipcpResult(ours, theirs []ppp.Option) (ip IPConfig) {
	for _, o := range ours {
		t, err := ipcp.FromRaw(o)
		if err != nil {
			continue
		}
		switch t := t.(type) {
		case ipcp.IPAddress:
			ip.Local = t.Addr
		case ipcp.PrimaryDNS:
			ip.DNS1 = t.Addr
		case ipcp.SecondaryDNS:
			ip.DNS2 = t.Addr
		case ipcp.PrimaryNBNS:
			ip.NBNS1 = t.Addr
		case ipcp.SecondaryNBNS:
			ip.NBNS2 = t.Addr
		}
	}
	for _, o := range theirs {
		if t, err := ipcp.FromRaw(o); err == nil {
			if a, ok := t.(ipcp.IPAddress); ok {
				ip.Remote = a.Addr
			}
		}
	}
	return ip
}
