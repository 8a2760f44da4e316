package lcp

import "fmt"

// Multilink MRRU bounds: RouterOS's mrru takes 512..65535 or "disabled".
const (
	MinMRRU = 512
	// DefaultMRRU is the MRRU a peer that sends no MRRU option but is
	// otherwise doing multilink is assumed to have (RFC 1990 §5.1.1: the
	// default is 1500 octets).
	DefaultMRRU = 1500
	// WindowsMRRU is what Windows asks for, hard-coded, when "Negotiate
	// multi-link for single link connections" is on (RouterOS manual).
	WindowsMRRU = 1614
)

// Verdict is how MultilinkPolicy answers one of the peer's options; the
// values mirror RFC 1661 §5.2-§5.4 (fsm.Ack, fsm.Nak, fsm.Reject), which
// the link maps them to.
type Verdict uint8

// Verdicts.
const (
	Ack Verdict = iota
	Nak
	Reject
)

// String returns the RFC 1661 name.
func (v Verdict) String() string {
	switch v {
	case Ack:
		return "Configure-Ack"
	case Nak:
		return "Configure-Nak"
	case Reject:
		return "Configure-Reject"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// MultilinkPolicy is one link's side of the multilink options (RFC 1990
// §5.1): what we ask for and how we answer the peer. Its methods are pure:
// the link keeps the value and replaces it with what Nak and Rejected
// return.
//
// MRRU 0 is RouterOS mrru=disabled: we ask for nothing and reject the
// peer's MRRU and Short-Sequence options, so a peer that asks for
// multilink connects without it (RFC 1661 §5.4: it must then stop asking).
// Its Endpoint-Discriminator is acked whatever we do: it only names the
// peer (RFC 1990 §5.1.3) and rejecting it gains nothing.
type MultilinkPolicy struct {
	// MRRU is the largest packet we reassemble, 0 = multilink off.
	MRRU uint16
	// ShortSeq asks the peer to send 12-bit sequence numbers (RFC 1990
	// §5.1.2). Off by default, as on Windows and RouterOS.
	ShortSeq bool
	// Endpoint is the Endpoint-Discriminator we send with MRRU, nil for
	// none (RFC 1990 §5.1.3 says SHOULD; a lone link gains nothing by it,
	// but Windows and pppd send one).
	Endpoint *EndpointDiscriminator
}

// NewMultilinkPolicy validates mrru (0 = disabled, else MinMRRU..65535).
func NewMultilinkPolicy(mrru int, endpoint *EndpointDiscriminator) (MultilinkPolicy, error) {
	if mrru != 0 && (mrru < MinMRRU || mrru > 0xffff) {
		return MultilinkPolicy{}, fmt.Errorf("lcp: mrru %d: want disabled or %d..65535", mrru, MinMRRU)
	}
	if endpoint != nil {
		if err := endpoint.Class.check(len(endpoint.Address)); err != nil {
			return MultilinkPolicy{}, fmt.Errorf("lcp: endpoint discriminator: %w", err)
		}
	}
	return MultilinkPolicy{MRRU: uint16(mrru), Endpoint: endpoint}, nil
}

// Request returns the multilink options of our Configure-Request, in the
// order RFC 1990 §5.1 lists them.
func (p MultilinkPolicy) Request() []Option {
	if p.MRRU == 0 {
		return nil
	}
	opts := []Option{MRRU(p.MRRU)}
	if p.ShortSeq {
		opts = append(opts, ShortSequence{})
	}
	if p.Endpoint != nil {
		opts = append(opts, *p.Endpoint)
	}
	return opts
}

// Check answers one multilink option of the peer's Configure-Request; ok
// is false for an option that is not a multilink one (the caller judges
// it). With Nak, hint is the option to suggest.
//
// The peer's MRRU is what it can reassemble: any value that can hold a
// minimal IPv4 packet is acked (RFC 1990 §5.1.1 sets no lower bound; we
// only fragment what the MTU does not carry). Short-Sequence asks us to
// send 12-bit numbers, which we can.
func (p MultilinkPolicy) Check(o Option) (v Verdict, hint Option, ok bool) {
	switch o := o.(type) {
	case MRRU:
		if p.MRRU == 0 {
			return Reject, nil, true
		}
		if o < minPeerMRRU {
			return Nak, MRRU(minPeerMRRU), true
		}
		return Ack, nil, true
	case ShortSequence:
		if p.MRRU == 0 {
			return Reject, nil, true
		}
		return Ack, nil, true
	case EndpointDiscriminator:
		return Ack, nil, true
	}
	return 0, nil, false
}

// minPeerMRRU is the smallest peer MRRU we ack: the smallest datagram
// every IPv4 link must carry (RFC 791).
const minPeerMRRU = 68

// Nak returns the policy after the peer Nak'd our option o with o's value
// (RFC 1661 §5.3): a smaller MRRU within range is taken; anything else
// leaves the policy as it is (the request repeats, and the FSM's
// Max-Failure turns it into a Reject eventually).
func (p MultilinkPolicy) Nak(o Option) MultilinkPolicy {
	if m, ok := o.(MRRU); ok && p.MRRU != 0 && m >= MinMRRU && m < MRRU(p.MRRU) {
		p.MRRU = uint16(m)
	}
	return p
}

// Rejected returns the policy after the peer rejected our option of type t
// (RFC 1661 §5.4). A rejected MRRU means the peer does not do multilink:
// all three options go, and the link comes up without MP.
func (p MultilinkPolicy) Rejected(t Type) MultilinkPolicy {
	switch t {
	case TypeMRRU:
		return MultilinkPolicy{}
	case TypeShortSequence:
		p.ShortSeq = false
	case TypeEndpointDiscriminator:
		p.Endpoint = nil
	}
	return p
}

// Multilink is what the multilink options settled on one link, read from
// the two acked option lists when LCP opens.
type Multilink struct {
	// RecvMRRU is the MRRU the peer acked for us: it may send us MP
	// packets reassembling to at most that (0: it must not send MP).
	RecvMRRU uint16
	// RecvShortSeq: the peer sends 12-bit sequence numbers.
	RecvShortSeq bool
	// SendMRRU is the peer's MRRU we acked: we may send it MP fragments
	// reassembling to at most that (0: we must not send MP).
	SendMRRU uint16
	// SendShortSeq: we send 12-bit sequence numbers.
	SendShortSeq bool
	// PeerEndpoint is the peer's Endpoint-Discriminator, if it sent one.
	PeerEndpoint *EndpointDiscriminator
}

// Active reports whether MP is in effect on the link: both ends announced
// an MRRU and the other acked it, as pppd's and Linux's "doing multilink"
// requires. Packets are MP-encapsulated only then.
func (m Multilink) Active() bool { return m.RecvMRRU != 0 && m.SendMRRU != 0 }

// NegotiatedMultilink reads the multilink outcome from our acked request
// (ours) and the peer's request we acked (theirs). Short sequence numbers
// and the discriminator count only alongside an MRRU; a link that is not
// Active yields the zero Multilink, so the data plane is configured as if
// multilink had never been mentioned.
func NegotiatedMultilink(ours, theirs []Option) Multilink {
	var m Multilink
	for _, o := range ours {
		switch o := o.(type) {
		case MRRU:
			m.RecvMRRU = uint16(o)
		case ShortSequence:
			m.RecvShortSeq = true
		}
	}
	for _, o := range theirs {
		switch o := o.(type) {
		case MRRU:
			m.SendMRRU = uint16(o)
		case ShortSequence:
			m.SendShortSeq = true
		case EndpointDiscriminator:
			e := o
			m.PeerEndpoint = &e
		}
	}
	if !m.Active() {
		return Multilink{}
	}
	return m
}

// ClampUnit is the IP packet size the TCP MSS clamp follows (MSS =
// ClampUnit - 40) on a link whose IPv4 MTU is mtu: with MP active, packets
// up to the smaller of the two MRRUs cross the link whole, fragmented
// below it, so the clamp follows the MRRU as RouterOS's does when MP is up;
// a 1480-byte link with MRRU 1614 both ways then keeps a full 1460-byte MSS
// for Ethernet hosts.
func (m Multilink) ClampUnit(mtu uint16) uint16 {
	if !m.Active() {
		return mtu
	}
	return max(mtu, min(m.RecvMRRU, m.SendMRRU))
}
