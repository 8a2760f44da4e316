package pppoe

import (
	"errors"
	"fmt"
	"net"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// ParseFrame decodes an Ethernet frame carrying PPPoE: EtherType 0x8863 with
// a discovery code or 0x8864 with CODE 0 (RFC 2516 §4). Other EtherTypes and
// a code on the wrong EtherType are errors. The Ethernet payload in the
// returned frame still holds the PPPoE packet and any padding. Per-code rules
// are left to Validate and ValidateFrame.
func ParseFrame(b []byte) (ethernet.Frame, Packet, error) {
	var f ethernet.Frame
	var p Packet
	if err := f.UnmarshalBinary(b); err != nil {
		return f, p, fmt.Errorf("pppoe: %w", err)
	}
	switch f.EtherType {
	case ethernet.EtherTypePPPoEDiscovery, ethernet.EtherTypePPPoESession:
	default:
		return f, p, fmt.Errorf("pppoe: EtherType %v is not PPPoE", f.EtherType)
	}
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return f, p, err
	}
	if want := etherTypeFor(p.Code); f.EtherType != want {
		return f, p, fmt.Errorf("pppoe: %v in a %v frame, want %v", p.Code, f.EtherType, want)
	}
	return f, p, nil
}

// etherTypeFor returns the EtherType of the stage code belongs to (RFC 2516 §4).
func etherTypeFor(c Code) ethernet.EtherType {
	if c == CodeSession {
		return ethernet.EtherTypePPPoESession
	}
	return ethernet.EtherTypePPPoEDiscovery
}

// MarshalFrame encodes p inside an Ethernet frame from src to dst with the
// given VLAN tags (outermost first), choosing the EtherType from p.Code.
func MarshalFrame(dst, src net.HardwareAddr, vlans []ethernet.VLAN, p *Packet) ([]byte, error) {
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{Destination: dst, Source: src, VLANs: vlans, EtherType: etherTypeFor(p.Code), Payload: body}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("pppoe: %v frame: %w", p.Code, err)
	}
	return b, nil
}

// ValidateFrame checks the Ethernet addressing rules of RFC 2516 §5 on top of
// p.Validate: the source is always unicast; a PADI goes to the broadcast
// address (§5.1), every other packet to a unicast address (§5.2-§5.5, §6).
func ValidateFrame(f *ethernet.Frame, p *Packet) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if f.EtherType != etherTypeFor(p.Code) {
		return fmt.Errorf("pppoe: %v in a %v frame: %w", p.Code, f.EtherType, ErrInvalid)
	}
	if err := unicast(f.Source); err != nil {
		return fmt.Errorf("pppoe: %v source %v: %w: %w", p.Code, f.Source, ErrInvalid, err)
	}
	if p.Code == CodePADI {
		if !isBroadcast(f.Destination) {
			return fmt.Errorf("pppoe: PADI to %v, must be broadcast (§5.1): %w", f.Destination, ErrInvalid)
		}
		return nil
	}
	if err := unicast(f.Destination); err != nil {
		return fmt.Errorf("pppoe: %v destination %v: %w: %w", p.Code, f.Destination, ErrInvalid, err)
	}
	return nil
}

func isBroadcast(a net.HardwareAddr) bool {
	return len(a) == 6 && a[0]&a[1]&a[2]&a[3]&a[4]&a[5] == 0xff
}

func unicast(a net.HardwareAddr) error {
	if len(a) != 6 {
		return fmt.Errorf("address of %d bytes", len(a))
	}
	if a[0]&1 != 0 {
		return errors.New("group address where unicast is required (§5)")
	}
	return nil
}
