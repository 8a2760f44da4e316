package link

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

// errNoMethod is the give-up reason when the peer refused every method we
// offer.
var errNoMethod = errors.New("no authentication method acceptable to both ends")

// lcpNegotiator is LCP's fsm.Negotiator (RFC 1661 §6, RFC 2516 §7).
type lcpNegotiator struct {
	role Role
	// mru is the MRU we ask for (0: stop asking); maxMTU the largest
	// peer MRU we Ack.
	mru, maxMTU uint16
	// limit is the largest MRU PPPoE can carry: 1492 or PPP-Max-Payload.
	limit uint16
	// magic is our Magic-Number (0: stop asking); newMagic draws another.
	magic    uint32
	newMagic func() uint32
	// methods: Authenticator, offered in order; Peer, the allow list.
	methods []auth.Method
	// method is the one the Authenticator asks for now, tried those it
	// has asked for.
	method auth.Method
	tried  []auth.Method
	// refused: the peer takes none of methods; suggested is what its
	// last Nak named (0 for a Reject or a method not implemented).
	refused   bool
	suggested auth.Method
	// ml is what we ask for and accept of multilink (Config.Multilink),
	// narrowed by the peer's Nak and Reject.
	ml lcp.MultilinkPolicy
}

func (n *lcpNegotiator) Request() []ppp.Option {
	ml := n.ml.Request()
	// Room for all of them at once: the request is built again for every
	// Configure-Request sent.
	opts := make([]ppp.Option, 0, 3+len(ml))
	if n.mru != 0 {
		opts = append(opts, lcpOption(lcp.MRU(n.mru)))
	}
	if n.role == Authenticator && n.method != 0 {
		opts = append(opts, lcpOption(authOption(n.method)))
	}
	if n.magic != 0 {
		opts = append(opts, lcpOption(lcp.MagicNumber(n.magic)))
	}
	for _, o := range ml {
		opts = append(opts, lcpOption(o))
	}
	return opts
}

// lcpOption encodes o with the lcp codec: what we send is what the codec
// (tested against tshark and fuzzed) writes. The options built here have
// fixed sizes, so encoding cannot fail.
func lcpOption(o lcp.Option) ppp.Option {
	r, _ := lcp.ToRaw(o)
	return r
}

// authOption is m's Authentication-Protocol option (RFC 1661 §6.2, RFC
// 1994 §3 for CHAP's algorithm).
func authOption(m auth.Method) lcp.AuthProtocol {
	a := lcp.AuthProtocol{Protocol: m.Protocol()}
	if alg, ok := m.Algorithm(); ok {
		a.Algorithm = lcp.Algorithm(alg)
	}
	return a
}

func (n *lcpNegotiator) Check(o ppp.Option) (fsm.Verdict, []byte) {
	t, err := lcp.FromRaw(o)
	if err != nil {
		// A known option of a length its RFC forbids cannot be Nak'd
		// meaningfully.
		return fsm.Reject, nil
	}
	switch t := t.(type) {
	case lcp.MRU:
		switch {
		case uint16(t) > n.maxMTU:
			return fsm.Nak, lcpOption(lcp.MRU(n.maxMTU)).Data // RFC 1661 §6.1; RFC 2516 §7
		case t < MinMRU:
			return fsm.Nak, lcpOption(lcp.MRU(MinMRU)).Data
		}
		return fsm.Ack, nil
	case lcp.MagicNumber:
		// RFC 1661 §6.4: zero MUST be Nak'd; our own value means the
		// link may be looped back, and the Nak MUST carry another.
		if t == 0 || (n.magic != 0 && uint32(t) == n.magic) {
			return fsm.Nak, lcpOption(lcp.MagicNumber(n.newMagic())).Data
		}
		return fsm.Ack, nil
	case lcp.AuthProtocol:
		if n.role == Authenticator {
			// We never authenticate ourselves to a subscriber.
			return fsm.Reject, nil
		}
		m, err := auth.MethodFromOptionData(o.Data)
		if err == nil && slices.Contains(n.methods, m) {
			return fsm.Ack, nil
		}
		// RFC 1661 §6.2: Nak with a protocol we accept.
		return fsm.Nak, lcpOption(authOption(n.methods[0])).Data
	case lcp.MRRU, lcp.ShortSequence, lcp.EndpointDiscriminator:
		// RFC 1990 §5.1: disabled rejects MRRU and Short-Sequence, so a
		// peer asking for MP comes up without it.
		v, hint, _ := n.ml.Check(t)
		switch v {
		case lcp.Ack:
			return fsm.Ack, nil
		case lcp.Nak:
			return fsm.Nak, lcpOption(hint).Data
		}
		return fsm.Reject, nil
	}
	// ACCM, PFC, ACFC must not be negotiated over PPPoE (RFC 2516 §7);
	// Quality-Protocol and anything unknown we do not implement.
	return fsm.Reject, nil
}

func (n *lcpNegotiator) Nak(opts []ppp.Option) error {
	for _, o := range opts {
		t, err := lcp.FromRaw(o)
		if err != nil {
			continue
		}
		switch t := t.(type) {
		case lcp.MRU:
			if n.mru != 0 && uint16(t) >= MinMRU && uint16(t) <= n.limit {
				n.mru = uint16(t)
			}
		case lcp.MagicNumber:
			// RFC 1661 §6.4: a Nak'd magic means a possible loop;
			// pick a new random one rather than the suggestion.
			if n.magic != 0 {
				n.magic = n.newMagic()
			}
		case lcp.AuthProtocol:
			if n.role != Authenticator {
				continue
			}
			if err := n.nextMethod(o.Data); err != nil {
				return err
			}
		default:
			n.ml = n.ml.Nak(t)
		}
	}
	return nil
}

// nextMethod moves the Authenticator to the method the peer suggested in
// its Nak if we offer it, else to the next one we offer that was not tried.
func (n *lcpNegotiator) nextMethod(suggested []byte) error {
	n.tried = append(n.tried, n.method)
	m, err := auth.MethodFromOptionData(suggested)
	if err == nil && slices.Contains(n.methods, m) && !slices.Contains(n.tried, m) {
		n.method = m
		return nil
	}
	for _, m := range n.methods {
		if !slices.Contains(n.tried, m) {
			n.method = m
			return nil
		}
	}
	n.refused, n.suggested = true, m
	return errNoMethod
}

func (n *lcpNegotiator) Reject(opts []ppp.Option) error {
	for _, o := range opts {
		switch lcp.Type(o.Type) {
		case lcp.TypeMRU:
			n.mru = 0
		case lcp.TypeMagicNumber:
			n.magic = 0
		case lcp.TypeAuthProtocol:
			if n.role == Authenticator {
				n.refused, n.suggested = true, 0
				return fmt.Errorf("authentication-protocol: %w", fsm.ErrRequired)
			}
		case lcp.TypeMRRU, lcp.TypeShortSequence, lcp.TypeEndpointDiscriminator:
			n.ml = n.ml.Rejected(lcp.Type(o.Type))
		}
	}
	return nil
}

// lcpExtension handles LCP's codes 8-11 (RFC 1661 §5.7, §5.8).
type lcpExtension struct{ magic func() uint32 }

func (x lcpExtension) Classify(p *ppp.Packet) fsm.Event {
	switch p.Code {
	case ppp.ProtocolReject:
		var d ppp.ProtocolRejectData
		if err := d.UnmarshalBinary(p.Data); err != nil {
			return fsm.RUC
		}
		// RFC 1661 §4.3: rejecting LCP itself is catastrophic.
		if d.Protocol == ppp.ProtocolLCP {
			return fsm.RXJMinus
		}
		return fsm.RXJPlus
	case ppp.EchoRequest, ppp.EchoReply, ppp.DiscardRequest:
		return fsm.RXR
	}
	return fsm.RUC
}

func (x lcpExtension) Reply(p *ppp.Packet) *ppp.Packet {
	if p.Code != ppp.EchoRequest {
		return nil
	}
	var e ppp.EchoData
	if err := e.UnmarshalBinary(p.Data); err != nil {
		return nil
	}
	e.Magic = x.magic()
	b, err := e.MarshalBinary()
	if err != nil {
		return nil
	}
	return &ppp.Packet{Code: ppp.EchoReply, Identifier: p.Identifier, Data: b}
}

// lcpResult reads the negotiated values out of the acked options.
func lcpResult(ours, theirs []ppp.Option, maxMTU uint16) (mru, mtu uint16, localMagic, peerMagic uint32, method auth.Method, peerMethod auth.Method) {
	mru, mtu = fsm.DefaultPeerMRU, fsm.DefaultPeerMRU
	for _, o := range ours {
		switch t, _ := lcp.FromRaw(o); t := t.(type) {
		case lcp.MRU:
			mru = uint16(t)
		case lcp.MagicNumber:
			localMagic = uint32(t)
		case lcp.AuthProtocol:
			method, _ = auth.MethodFromOptionData(o.Data)
		}
	}
	for _, o := range theirs {
		switch t, _ := lcp.FromRaw(o); t := t.(type) {
		case lcp.MRU:
			mtu = uint16(t)
		case lcp.MagicNumber:
			peerMagic = uint32(t)
		case lcp.AuthProtocol:
			peerMethod, _ = auth.MethodFromOptionData(o.Data)
		}
	}
	return mru, min(mtu, maxMTU), localMagic, peerMagic, method, peerMethod
}

// multilinkResult reads the multilink outcome (RFC 1990 §5.1) out of the
// acked options.
func multilinkResult(ours, theirs []ppp.Option) lcp.Multilink {
	typed := func(raw []ppp.Option) []lcp.Option {
		var opts []lcp.Option
		for _, o := range raw {
			if t, err := lcp.FromRaw(o); err == nil {
				opts = append(opts, t)
			}
		}
		return opts
	}
	return lcp.NegotiatedMultilink(typed(ours), typed(theirs))
}
