package pppoe

import (
	"errors"
	"fmt"
)

// MaxPADILen is the largest PADI, PPPoE header included, so that a relay can
// still add a 12-byte Relay-Session-Id (RFC 2516 §5.1).
const MaxPADILen = 1484

// MaxDiscoveryLen is the largest discovery packet, PPPoE header included: the
// Ethernet payload MTU (RFC 2516 §4, RFC 894). RFC 4638 raises the session
// MTU only, never the discovery one.
const MaxDiscoveryLen = 1500

// ErrInvalid is wrapped by every error Validate returns, so a receiver can
// tell a rule violation from a programming error.
var ErrInvalid = errors.New("violates RFC 2516")

// Validate checks p against the per-code rules of RFC 2516 §5 (discovery)
// and §4/§6 (session ids). It does not see the Ethernet header; see
// ValidateFrame for the address rules.
//
//   - PADI: SESSION_ID 0, exactly one Service-Name, at most MaxPADILen bytes.
//   - PADO: SESSION_ID 0, exactly one AC-Name, at least one Service-Name.
//   - PADR: SESSION_ID 0, exactly one Service-Name.
//   - PADS: a SESSION_ID other than 0 and 0xffff with exactly one
//     Service-Name, or SESSION_ID 0 with a Service-Name-Error,
//     AC-System-Error or Generic-Error tag (the refusal, §5.4).
//   - PADT: the SESSION_ID of the session, so neither 0 nor 0xffff.
//   - PADM, PADN (RFC 4937 §3): the SESSION_ID of the session.
//   - Session: a SESSION_ID other than 0 and 0xffff, no tags, a non-empty
//     PPP frame.
//
// Every discovery packet: no payload, at most MaxDiscoveryLen bytes,
// End-Of-List only as the last tag, Vendor-Specific ids with a zero high
// octet (RFC 2516 Appendix A). Unknown codes are invalid.
func (p *Packet) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("pppoe: %v session 0x%04x: %w: %w", p.Code, p.SessionID, ErrInvalid, err)
	}
	return nil
}

func (p *Packet) validate() error {
	if p.Code == CodeSession {
		if len(p.Tags) > 0 {
			return fmt.Errorf("%d tags in a session packet", len(p.Tags))
		}
		if len(p.Payload) == 0 {
			return errors.New("empty PPP frame, the protocol field is missing (§6)")
		}
		return liveSessionID(p.SessionID)
	}
	if len(p.Payload) > 0 {
		return fmt.Errorf("%d-byte payload in a discovery packet", len(p.Payload))
	}
	if err := p.validateTags(); err != nil {
		return err
	}
	if n := p.length(); n > MaxDiscoveryLen {
		return fmt.Errorf("%d bytes exceed the %d-byte Ethernet payload", n, MaxDiscoveryLen)
	}
	switch p.Code {
	case CodePADI:
		if n := p.length(); n > MaxPADILen {
			return fmt.Errorf("%d bytes exceed %d, leaving no room for a Relay-Session-Id (§5.1)", n, MaxPADILen)
		}
		if err := zeroSessionID(p.SessionID); err != nil {
			return err
		}
		return p.exactlyOne(TagServiceName)
	case CodePADO:
		if err := zeroSessionID(p.SessionID); err != nil {
			return err
		}
		if err := p.exactlyOne(TagACName); err != nil {
			return err
		}
		if CountTags(p.Tags, TagServiceName) == 0 {
			return errors.New("no Service-Name tag (§5.2)")
		}
		return nil
	case CodePADR:
		if err := zeroSessionID(p.SessionID); err != nil {
			return err
		}
		return p.exactlyOne(TagServiceName)
	case CodePADS:
		if p.SessionID == 0 {
			if CountTags(p.Tags, TagServiceNameError)+CountTags(p.Tags, TagACSystemError)+
				CountTags(p.Tags, TagGenericError) == 0 {
				return errors.New("SESSION_ID 0 without an error tag (§5.4)")
			}
			return nil
		}
		if err := liveSessionID(p.SessionID); err != nil {
			return err
		}
		return p.exactlyOne(TagServiceName)
	case CodePADT, CodePADM, CodePADN:
		return liveSessionID(p.SessionID)
	}
	return errors.New("unknown CODE")
}

// validateTags applies the rules every discovery tag list follows.
func (p *Packet) validateTags() error {
	for i, t := range p.Tags {
		if t == nil {
			return fmt.Errorf("tag %d is nil", i)
		}
		if n := valueLen(t); n > maxTagValue {
			return fmt.Errorf("tag %d (%v): %d-byte value exceeds TAG_LENGTH", i, t.Type(), n)
		}
		switch t.Type() {
		case TagEndOfList:
			if i != len(p.Tags)-1 {
				return fmt.Errorf("tag %d: End-Of-List followed by %d tags", i, len(p.Tags)-1-i)
			}
			if n := valueLen(t); n != 0 {
				return fmt.Errorf("tag %d: End-Of-List with a %d-byte value", i, n)
			}
		case TagVendorSpecific:
			v := t.Value()
			if len(v) < 4 {
				return fmt.Errorf("tag %d: Vendor-Specific value of %d bytes, vendor id needs 4", i, len(v))
			}
			if v[0] != 0 {
				return fmt.Errorf("tag %d: Vendor-Specific vendor id 0x%02x%02x%02x%02x has a non-zero high octet",
					i, v[0], v[1], v[2], v[3])
			}
		case TagPPPMaxPayload:
			if n := valueLen(t); n != 2 {
				return fmt.Errorf("tag %d: PPP-Max-Payload value of %d bytes, want 2", i, n)
			}
		}
	}
	return nil
}

// exactlyOne requires a single tag of type typ.
func (p *Packet) exactlyOne(typ TagType) error {
	if n := CountTags(p.Tags, typ); n != 1 {
		return fmt.Errorf("%d %v tags, want exactly 1 (§5)", n, typ)
	}
	return nil
}

// zeroSessionID is the rule for PADI, PADO and PADR (§5.1-§5.3).
func zeroSessionID(id uint16) error {
	if id != 0 {
		return fmt.Errorf("SESSION_ID 0x%04x, must be 0 before PADS (§5)", id)
	}
	return nil
}

// liveSessionID is the rule for an established session's id (§4, §5.4).
func liveSessionID(id uint16) error {
	switch id {
	case 0:
		return errors.New("SESSION_ID 0 names no session (§5.4)")
	case SessionIDReserved:
		return errors.New("SESSION_ID 0xffff is reserved (§4)")
	}
	return nil
}
