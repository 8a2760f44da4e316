// Package ethernet encodes and decodes Ethernet II frames carrying up to two
// IEEE 802.1Q / 802.1ad VLAN tags (single tag or QinQ).
//
// It is the framing layer under the PPPoE codec (control/pppoe) and the
// frame builder for BPF and namespace tests. It holds no I/O.
package ethernet

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// EtherType is the 16-bit type field of an Ethernet II frame (IEEE 802.3
// clause 3.2.6, IANA "IEEE 802 Numbers" registry).
type EtherType uint16

// EtherTypes this project reads or writes.
const (
	// EtherTypeIPv4 carries IPv4 (RFC 894).
	EtherTypeIPv4 EtherType = 0x0800
	// EtherTypeARP carries ARP (RFC 826).
	EtherTypeARP EtherType = 0x0806
	// EtherTypeVLAN is the customer VLAN tag protocol identifier (IEEE 802.1Q C-TAG).
	EtherTypeVLAN EtherType = 0x8100
	// EtherTypeServiceVLAN is the service VLAN tag protocol identifier (IEEE 802.1ad S-TAG, QinQ outer tag).
	EtherTypeServiceVLAN EtherType = 0x88a8
	// EtherTypeIPv6 carries IPv6 (RFC 2464).
	EtherTypeIPv6 EtherType = 0x86dd
	// EtherTypePPPoEDiscovery carries the PPPoE discovery stage (RFC 2516 §4).
	EtherTypePPPoEDiscovery EtherType = 0x8863
	// EtherTypePPPoESession carries the PPPoE session stage (RFC 2516 §4).
	EtherTypePPPoESession EtherType = 0x8864
)

// minEtherType is the smallest value that is an EtherType rather than an
// IEEE 802.3 length field (IEEE 802.3 clause 3.2.6).
const minEtherType = 0x0600

// MaxVLANs is how many VLAN tags a Frame may carry: one C-TAG, or an S-TAG
// followed by a C-TAG (IEEE 802.1ad). The BPF data plane parses no deeper.
const MaxVLANs = 2

// ErrTooManyVLANs is returned when a frame carries, or would carry, more than
// MaxVLANs VLAN tags.
var ErrTooManyVLANs = errors.New("ethernet: more than 2 VLAN tags")

// Broadcast is the all-ones destination address (IEEE 802.3 clause 3.2.3).
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String returns a short name for well-known EtherTypes, else the hex value.
func (e EtherType) String() string {
	switch e {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeServiceVLAN:
		return "802.1ad"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypePPPoEDiscovery:
		return "PPPoE-Discovery"
	case EtherTypePPPoESession:
		return "PPPoE-Session"
	}
	return fmt.Sprintf("EtherType(0x%04x)", uint16(e))
}

// isVLANTPID reports whether e introduces a VLAN tag rather than the payload.
func isVLANTPID(e EtherType) bool {
	return e == EtherTypeVLAN || e == EtherTypeServiceVLAN
}

// VLAN is one VLAN tag: the TPID followed by the tag control information
// (IEEE 802.1Q clause 9.6: PCP 3 bits, DEI 1 bit, VID 12 bits).
type VLAN struct {
	// TPID is EtherTypeVLAN or EtherTypeServiceVLAN; zero means
	// EtherTypeVLAN on marshal.
	TPID EtherType
	// Priority is the Priority Code Point, 0-7.
	Priority uint8
	// DropEligible is the Drop Eligible Indicator (formerly CFI).
	DropEligible bool
	// ID is the VLAN identifier, 0-4095 (0 = priority tag only, 4095 reserved).
	ID uint16
}

// tci packs the tag control information, checking field ranges.
func (v VLAN) tci() (uint16, error) {
	if v.Priority > 7 {
		return 0, fmt.Errorf("ethernet: VLAN priority %d out of range 0-7", v.Priority)
	}
	if v.ID > 0x0fff {
		return 0, fmt.Errorf("ethernet: VLAN ID %d out of range 0-4095", v.ID)
	}
	tci := uint16(v.Priority)<<13 | v.ID
	if v.DropEligible {
		tci |= 1 << 12
	}
	return tci, nil
}

// Frame is an Ethernet II frame without preamble and FCS.
type Frame struct {
	// Destination and Source are 6-byte MAC addresses.
	Destination, Source net.HardwareAddr
	// VLANs lists the VLAN tags, outermost first; at most MaxVLANs.
	VLANs []VLAN
	// EtherType is the type of Payload (never a VLAN TPID).
	EtherType EtherType
	// Payload is everything after the EtherType. On parse it includes any
	// Ethernet padding: only the upper layer's length field can tell.
	Payload []byte
}

// length returns the encoded size of f:
//
//	6 destination
//	6 source
//	4 per VLAN tag (TPID 2, TCI 2)
//	2 EtherType
//	n payload
func (f *Frame) length() int {
	return 6 + 6 + 4*len(f.VLANs) + 2 + len(f.Payload)
}

// MarshalBinary encodes f. It adds no padding to the 60-byte minimum: the
// kernel pads on transmit, and BPF tests want the exact bytes.
func (f *Frame) MarshalBinary() ([]byte, error) {
	return f.AppendBinary(make([]byte, 0, f.length()))
}

// AppendBinary appends the encoding of f to b (encoding.BinaryAppender).
func (f *Frame) AppendBinary(b []byte) ([]byte, error) {
	if len(f.Destination) != 6 {
		return nil, fmt.Errorf("ethernet: destination address has %d bytes, want 6", len(f.Destination))
	}
	if len(f.Source) != 6 {
		return nil, fmt.Errorf("ethernet: source address has %d bytes, want 6", len(f.Source))
	}
	if len(f.VLANs) > MaxVLANs {
		return nil, fmt.Errorf("ethernet: %d VLAN tags: %w", len(f.VLANs), ErrTooManyVLANs)
	}
	if f.EtherType < minEtherType || isVLANTPID(f.EtherType) {
		// A length field or a TPID here would make the parser read a
		// different frame back.
		return nil, fmt.Errorf("ethernet: payload EtherType %v is not a payload type", f.EtherType)
	}
	b = append(b, f.Destination...)
	b = append(b, f.Source...)
	for i, v := range f.VLANs {
		tpid := v.TPID
		if tpid == 0 {
			tpid = EtherTypeVLAN
		}
		if !isVLANTPID(tpid) {
			return nil, fmt.Errorf("ethernet: VLAN tag %d: TPID %v is neither 0x8100 nor 0x88a8", i, tpid)
		}
		tci, err := v.tci()
		if err != nil {
			return nil, fmt.Errorf("ethernet: VLAN tag %d: %w", i, err)
		}
		b = append(b, byte(tpid>>8), byte(tpid), byte(tci>>8), byte(tci))
	}
	b = append(b, byte(f.EtherType>>8), byte(f.EtherType))
	return append(b, f.Payload...), nil
}

// UnmarshalBinary decodes an Ethernet II frame from b, following up to
// MaxVLANs VLAN tags (TPID 0x8100 or 0x88a8, in any order). f does not alias
// b. Short input returns an error wrapping io.ErrUnexpectedEOF; a third VLAN
// tag returns ErrTooManyVLANs; an IEEE 802.3 length field in place of the
// EtherType is rejected.
func (f *Frame) UnmarshalBinary(b []byte) error {
	if len(b) < 14 {
		return fmt.Errorf("ethernet: frame of %d bytes, header needs 14: %w", len(b), io.ErrUnexpectedEOF)
	}
	// One allocation for addresses and payload, so f outlives a reused
	// receive buffer.
	buf := make([]byte, len(b))
	copy(buf, b)
	*f = Frame{Destination: buf[0:6:6], Source: buf[6:12:12]}
	off := 12
	et := EtherType(uint16(buf[off])<<8 | uint16(buf[off+1]))
	for isVLANTPID(et) {
		if len(f.VLANs) == MaxVLANs {
			return fmt.Errorf("ethernet: VLAN tag at offset %d: %w", off, ErrTooManyVLANs)
		}
		if len(buf) < off+6 {
			return fmt.Errorf("ethernet: VLAN tag at offset %d: frame ends at %d, tag and next type need %d: %w",
				off, len(buf), off+6, io.ErrUnexpectedEOF)
		}
		tci := uint16(buf[off+2])<<8 | uint16(buf[off+3])
		f.VLANs = append(f.VLANs, VLAN{
			TPID:         et,
			Priority:     uint8(tci >> 13),
			DropEligible: tci&(1<<12) != 0,
			ID:           tci & 0x0fff,
		})
		off += 4
		et = EtherType(uint16(buf[off])<<8 | uint16(buf[off+1]))
	}
	if et < minEtherType {
		return fmt.Errorf("ethernet: type field at offset %d is an 802.3 length (%d), not an EtherType", off, uint16(et))
	}
	f.EtherType = et
	f.Payload = buf[off+2:]
	return nil
}
