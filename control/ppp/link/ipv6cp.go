package link

import (
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
)

// IPv6Config is what IPv6CP negotiated (RFC 5072 §4.1): the two
// Interface-Identifiers, from which the link-local addresses follow.
type IPv6Config struct {
	Local, Remote ipv6cp.InterfaceID
}

// ipv6cpNegotiator is IPv6CP's fsm.Negotiator for either role (RFC 5072
// §4.1): it asks for its own non-zero Interface-Identifier, Naks a zero or
// colliding one of the peer's with a suggestion, and takes a suggestion
// for its own.
type ipv6cpNegotiator struct {
	id     ipv6cp.InterfaceID
	sendID bool // false once the peer rejected the option
	peer   ipv6cp.InterfaceID
	newID  func() ipv6cp.InterfaceID
}

func newIPv6CP(newID func() ipv6cp.InterfaceID) *ipv6cpNegotiator {
	return &ipv6cpNegotiator{id: newID(), sendID: true, newID: newID}
}

func (n *ipv6cpNegotiator) Request() []ppp.Option {
	if !n.sendID {
		return nil
	}
	o, _ := ipv6cp.ToRaw(n.id) // 8 octets: never fails
	return []ppp.Option{o}
}

// suggest draws an identifier for the peer other than ours.
func (n *ipv6cpNegotiator) suggest() ipv6cp.InterfaceID {
	for {
		if id := n.newID(); id != n.id {
			return id
		}
	}
}

func (n *ipv6cpNegotiator) Check(o ppp.Option) (fsm.Verdict, []byte) {
	t, err := ipv6cp.FromRaw(o)
	if err != nil {
		return fsm.Reject, nil
	}
	id, ok := t.(ipv6cp.InterfaceID)
	if !ok {
		return fsm.Reject, nil // IPv6-Compression-Protocol, unknown
	}
	if id == (ipv6cp.InterfaceID{}) || id == n.id {
		// RFC 5072 §4.1: zero asks for a suggestion; equal ones collide.
		s := n.suggest()
		return fsm.Nak, s[:]
	}
	n.peer = id
	return fsm.Ack, nil
}

func (n *ipv6cpNegotiator) Nak(opts []ppp.Option) error {
	for _, o := range opts {
		if t, err := ipv6cp.FromRaw(o); err == nil {
			if id, ok := t.(ipv6cp.InterfaceID); ok {
				if id != (ipv6cp.InterfaceID{}) && id != n.peer {
					n.id = id
				} else {
					n.id = n.suggest()
				}
			}
		}
	}
	return nil
}

func (n *ipv6cpNegotiator) Reject(opts []ppp.Option) error {
	for _, o := range opts {
		if ipv6cp.Type(o.Type) == ipv6cp.TypeInterfaceID {
			n.sendID = false
		}
	}
	return nil
}

// result reads the identifiers out of the acked options.
func (n *ipv6cpNegotiator) result(ours, theirs []ppp.Option) IPv6Config {
	var c IPv6Config
	for _, o := range ours {
		if t, err := ipv6cp.FromRaw(o); err == nil {
			if id, ok := t.(ipv6cp.InterfaceID); ok {
				c.Local = id
			}
		}
	}
	for _, o := range theirs {
		if t, err := ipv6cp.FromRaw(o); err == nil {
			if id, ok := t.(ipv6cp.InterfaceID); ok {
				c.Remote = id
			}
		}
	}
	return c
}
