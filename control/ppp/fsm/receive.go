package fsm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Reasons a received packet is silently discarded (Output.Discarded).
var (
	ErrStaleID     = errors.New("identifier does not match our last Configure-Request")
	ErrAckMismatch = errors.New("Configure-Ack options differ from our request")
	ErrRejMismatch = errors.New("Configure-Reject options are not a subsequence of our request")
)

// Receive runs a received control packet of this protocol through the
// automaton. p and its Data may be reused by the caller afterwards.
//
// Configure-Ack/Nak/Reject that do not answer our last Configure-Request
// (wrong Identifier, or a second reply to the same one), a Configure-Ack
// whose options are not exactly those requested, a Configure-Reject that
// modifies or reorders them, and malformed options are silently discarded
// (RFC 1661 §5.2-§5.4), with the reason in Output.Discarded. In Closed,
// Closing and Stopping, where the table answers RCR+ and RCR- alike, a
// Configure-Request is not judged (the Negotiator sees nothing) and is
// reported as RCR-.
func (a *Automaton) Receive(p *ppp.Packet) Output {
	discard := func(err error) Output {
		return Output{Event: eventOf(p.Code), From: a.state, To: a.state,
			Discarded: fmt.Errorf("fsm: %v id %d: %w", p.Code, p.Identifier, err)}
	}
	switch p.Code {
	case ppp.ConfigureRequest:
		if a.state != Stopped && !a.state.negotiating() && a.state != Opened {
			return a.event(RCRMinus, p, nil)
		}
		resp, good, err := a.judge(p)
		if err != nil {
			return discard(err)
		}
		if good {
			return a.event(RCRPlus, p, resp)
		}
		return a.event(RCRMinus, p, resp)
	case ppp.ConfigureAck:
		if err := a.checkReply(p); err != nil {
			return discard(err)
		}
		if !bytes.Equal(p.Data, a.req.Data) {
			return discard(ErrAckMismatch)
		}
		a.replied = true
		a.naksRcvd = 0
		if a.applies() {
			a.ours = a.req.Data
		}
		return a.event(RCA, p, nil)
	case ppp.ConfigureNak, ppp.ConfigureReject:
		if err := a.checkReply(p); err != nil {
			return discard(err)
		}
		opts, err := ppp.ParseOptions(p.Data)
		if err != nil {
			return discard(err)
		}
		if p.Code == ppp.ConfigureReject && !subsequence(opts, mustParse(a.req.Data)) {
			return discard(ErrRejMismatch)
		}
		a.replied = true
		if a.applies() {
			if err := a.applyNakRej(p.Code, opts); err != nil {
				o := a.event(Close, nil, nil)
				o.Err = fmt.Errorf("fsm: %v: %w", p.Code, err)
				return o
			}
		}
		return a.event(RCN, p, nil)
	case ppp.TerminateRequest:
		return a.event(RTR, p, nil)
	case ppp.TerminateAck:
		return a.event(RTA, p, nil)
	case ppp.CodeReject:
		if len(p.Data) == 0 {
			return discard(fmt.Errorf("empty Rejected-Packet"))
		}
		// Losing any of the codes every control protocol needs is
		// catastrophic (RFC 1661 §4.3, RXJ-); anything else (an LCP
		// peer that does not do Echo) is not.
		if c := ppp.Code(p.Data[0]); c >= ppp.ConfigureRequest && c <= ppp.CodeReject {
			return a.event(RXJMinus, p, nil)
		}
		return a.event(RXJPlus, p, nil)
	}
	if ext := a.cfg.Extension; ext != nil {
		switch e := ext.Classify(p); e {
		case RXR, RXJPlus, RXJMinus, RUC:
			return a.event(e, p, nil)
		}
	}
	return a.event(RUC, p, nil)
}

// eventOf names the event a code would be, for discard reports.
func eventOf(c ppp.Code) Event {
	switch c {
	case ppp.ConfigureRequest:
		return RCRMinus
	case ppp.ConfigureAck:
		return RCA
	case ppp.ConfigureNak, ppp.ConfigureReject:
		return RCN
	}
	return RUC
}

// applies reports whether a reply's contents matter in the current state:
// only while a request of ours is being negotiated.
func (a *Automaton) applies() bool {
	return a.state.negotiating() || a.state == Opened
}

// checkReply enforces RFC 1661 §5.2-§5.4: a Configure-Ack/Nak/Reject must
// carry the Identifier of our last Configure-Request, and only its first
// valid reply counts (§5.1: the Identifier changes once a reply arrived).
func (a *Automaton) checkReply(p *ppp.Packet) error {
	if a.req == nil || p.Identifier != a.req.Identifier || a.replied {
		return ErrStaleID
	}
	return nil
}

// applyNakRej hands a Nak or Reject to the Negotiator. Past Max-Failure
// Naks in a row the options we sent that the peer keeps Naking are dropped
// as if Rejected.
func (a *Automaton) applyNakRej(code ppp.Code, opts []ppp.Option) error {
	opts = cloneOptions(opts)
	if code == ppp.ConfigureReject {
		return a.neg.Reject(opts)
	}
	a.naksRcvd++
	if a.naksRcvd <= a.cfg.MaxFailure {
		return a.neg.Nak(opts)
	}
	var drop []ppp.Option
	for _, o := range mustParse(a.req.Data) {
		for _, n := range opts {
			if n.Type == o.Type {
				drop = append(drop, ppp.Option{Type: o.Type, Data: bytes.Clone(o.Data)})
				break
			}
		}
	}
	if len(drop) == 0 {
		return ErrNotConverging
	}
	return a.neg.Reject(drop)
}

// subsequence reports whether every option of sub appears unmodified in req
// in the same order (RFC 1661 §5.4: a Reject must not reorder or modify).
func subsequence(sub, req []ppp.Option) bool {
	i := 0
	for _, o := range sub {
		for i < len(req) && !(req[i].Type == o.Type && bytes.Equal(req[i].Data, o.Data)) {
			i++
		}
		if i == len(req) {
			return false
		}
		i++
	}
	return true
}

// judge builds our answer to the peer's Configure-Request (RFC 1661
// §5.2-§5.4): Reject wins over Nak, Nak over Ack; after Max-Failure Naks
// without an Ack the options we would Nak are Rejected instead. good
// reports a Configure-Ack (RCR+). A malformed request is an error: it is
// silently discarded.
func (a *Automaton) judge(p *ppp.Packet) (resp *ppp.Packet, good bool, err error) {
	opts, err := ppp.ParseOptions(p.Data)
	if err != nil {
		return nil, false, err
	}
	var rej, nak, nakked []ppp.Option
	for _, o := range opts {
		switch v, suggest := a.neg.Check(o); v {
		case Ack:
		case Nak:
			nak = append(nak, ppp.Option{Type: o.Type, Data: bytes.Clone(suggest)})
			nakked = append(nakked, o)
		default:
			rej = append(rej, o)
		}
	}
	if len(rej) == 0 && len(nakked) > 0 && a.naksSent >= a.cfg.MaxFailure {
		rej, nak = nakked, nil
	}
	if len(rej) == 0 {
		if req, ok := a.neg.(Requirer); ok {
			nak = append(nak, req.Missing(opts)...)
		}
	}
	reply := func(c ppp.Code, data []byte) *ppp.Packet {
		return &ppp.Packet{Code: c, Identifier: p.Identifier, Data: data}
	}
	switch {
	case len(rej) > 0:
		return reply(ppp.ConfigureReject, ppp.MarshalOptions(rej)), false, nil
	case len(nak) > 0:
		return reply(ppp.ConfigureNak, ppp.MarshalOptions(nak)), false, nil
	}
	return reply(ppp.ConfigureAck, bytes.Clone(p.Data)), true, nil
}
