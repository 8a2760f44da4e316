package pppoe

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"
)

// TagType is the TAG_TYPE of a discovery tag (RFC 2516 Appendix A).
type TagType uint16

// Tag types of RFC 2516 Appendix A and RFC 4638 §4.
const (
	// TagEndOfList ends the tag list; its length is always zero (RFC 2516 Appendix A).
	TagEndOfList TagType = 0x0000
	// TagServiceName names a service; empty means any (RFC 2516 Appendix A).
	TagServiceName TagType = 0x0101
	// TagACName names the access concentrator (RFC 2516 Appendix A).
	TagACName TagType = 0x0102
	// TagHostUniq is opaque host data echoed by the AC (RFC 2516 Appendix A).
	TagHostUniq TagType = 0x0103
	// TagACCookie is opaque AC data echoed by the host in PADR (RFC 2516 Appendix A).
	TagACCookie TagType = 0x0104
	// TagVendorSpecific carries a vendor id and vendor data (RFC 2516 Appendix A).
	TagVendorSpecific TagType = 0x0105
	// TagRelaySessionID is added by relays and echoed unmodified (RFC 2516 Appendix A).
	TagRelaySessionID TagType = 0x0110
	// TagPPPMaxPayload negotiates a PPP payload above 1492 bytes (RFC 4638 §4).
	TagPPPMaxPayload TagType = 0x0120
	// TagServiceNameError refuses the requested service (RFC 2516 Appendix A).
	TagServiceNameError TagType = 0x0201
	// TagACSystemError reports an AC failure such as resource exhaustion (RFC 2516 Appendix A).
	TagACSystemError TagType = 0x0202
	// TagGenericError reports any other error (RFC 2516 Appendix A).
	TagGenericError TagType = 0x0203
)

// String returns the RFC's name for t.
func (t TagType) String() string {
	switch t {
	case TagEndOfList:
		return "End-Of-List"
	case TagServiceName:
		return "Service-Name"
	case TagACName:
		return "AC-Name"
	case TagHostUniq:
		return "Host-Uniq"
	case TagACCookie:
		return "AC-Cookie"
	case TagVendorSpecific:
		return "Vendor-Specific"
	case TagRelaySessionID:
		return "Relay-Session-Id"
	case TagPPPMaxPayload:
		return "PPP-Max-Payload"
	case TagServiceNameError:
		return "Service-Name-Error"
	case TagACSystemError:
		return "AC-System-Error"
	case TagGenericError:
		return "Generic-Error"
	}
	return fmt.Sprintf("TagType(0x%04x)", uint16(t))
}

// tagHeaderLen is TAG_TYPE (2) plus TAG_LENGTH (2) (RFC 2516 §4).
const tagHeaderLen = 4

// maxTagValue is the largest TAG_VALUE the 16-bit TAG_LENGTH can describe.
const maxTagValue = 0xffff

// Tag is one discovery tag (RFC 2516 §4, Appendix A). The types in this
// package implement it; RawTag carries any other type so that unknown tags
// survive a round trip in order.
type Tag interface {
	// Type returns the TAG_TYPE.
	Type() TagType
	// Value returns the TAG_VALUE as sent on the wire.
	Value() []byte
}

// EndOfList is the End-Of-List tag (RFC 2516 Appendix A). Parsing stops at
// it: anything after it in the packet is ignored, as the RFC says no further
// tags follow.
type EndOfList struct{}

// ServiceName is the Service-Name tag, UTF-8 without NUL; empty requests any
// service (RFC 2516 Appendix A).
type ServiceName string

// ACName is the AC-Name tag, the access concentrator's name (RFC 2516 Appendix A).
type ACName string

// HostUniq is the Host-Uniq tag, opaque to the AC and echoed by it (RFC 2516 Appendix A).
type HostUniq []byte

// ACCookie is the AC-Cookie tag, opaque to the host and echoed in PADR (RFC 2516 Appendix A).
type ACCookie []byte

// VendorSpecific is the Vendor-Specific tag: a 4-byte vendor id (zero high
// octet, then the SMI enterprise number) and vendor data (RFC 2516 Appendix A).
type VendorSpecific struct {
	VendorID uint32
	Data     []byte
}

// RelaySessionID is the Relay-Session-Id tag, opaque and echoed unmodified
// by host and AC (RFC 2516 Appendix A).
type RelaySessionID []byte

// PPPMaxPayload is the PPP-Max-Payload tag, the largest PPP payload the
// sender can handle (RFC 4638 §4).
type PPPMaxPayload uint16

// ServiceNameError is the Service-Name-Error tag; the value is an optional
// UTF-8 explanation (RFC 2516 Appendix A).
type ServiceNameError string

// ACSystemError is the AC-System-Error tag; the value is an optional UTF-8
// explanation (RFC 2516 Appendix A).
type ACSystemError string

// GenericError is the Generic-Error tag; the value is an optional UTF-8
// explanation (RFC 2516 Appendix A).
type GenericError string

// RawTag is a tag of any type kept as bytes: types this package does not
// decode (for example the RFC 4937 PADM/PADN tags) parse to RawTag.
type RawTag struct {
	T    TagType
	Data []byte
}

// Type implements Tag.
func (EndOfList) Type() TagType { return TagEndOfList }

// Value implements Tag; End-Of-List has no value.
func (EndOfList) Value() []byte { return nil }

// Type implements Tag.
func (ServiceName) Type() TagType { return TagServiceName }

// Value implements Tag.
func (t ServiceName) Value() []byte { return []byte(t) }

// Type implements Tag.
func (ACName) Type() TagType { return TagACName }

// Value implements Tag.
func (t ACName) Value() []byte { return []byte(t) }

// Type implements Tag.
func (HostUniq) Type() TagType { return TagHostUniq }

// Value implements Tag.
func (t HostUniq) Value() []byte { return t }

// Type implements Tag.
func (ACCookie) Type() TagType { return TagACCookie }

// Value implements Tag.
func (t ACCookie) Value() []byte { return t }

// Type implements Tag.
func (VendorSpecific) Type() TagType { return TagVendorSpecific }

// Value implements Tag.
func (t VendorSpecific) Value() []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(t.Data)), t.VendorID), t.Data...)
}

// Type implements Tag.
func (RelaySessionID) Type() TagType { return TagRelaySessionID }

// Value implements Tag.
func (t RelaySessionID) Value() []byte { return t }

// Type implements Tag.
func (PPPMaxPayload) Type() TagType { return TagPPPMaxPayload }

// Value implements Tag.
func (t PPPMaxPayload) Value() []byte { return []byte{byte(t >> 8), byte(t)} }

// Type implements Tag.
func (ServiceNameError) Type() TagType { return TagServiceNameError }

// Value implements Tag.
func (t ServiceNameError) Value() []byte { return []byte(t) }

// Type implements Tag.
func (ACSystemError) Type() TagType { return TagACSystemError }

// Value implements Tag.
func (t ACSystemError) Value() []byte { return []byte(t) }

// Type implements Tag.
func (GenericError) Type() TagType { return TagGenericError }

// Value implements Tag.
func (t GenericError) Value() []byte { return []byte(t) }

// Type implements Tag.
func (t RawTag) Type() TagType { return t.T }

// Value implements Tag.
func (t RawTag) Value() []byte { return t.Data }

// appendTag appends TAG_TYPE, TAG_LENGTH and TAG_VALUE of t to b.
func appendTag(b []byte, t Tag) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("nil tag")
	}
	n := valueLen(t)
	if n > maxTagValue {
		return nil, fmt.Errorf("%v value of %d bytes exceeds the 16-bit TAG_LENGTH", t.Type(), n)
	}
	if t.Type() == TagEndOfList && n != 0 {
		return nil, fmt.Errorf("%v with a %d-byte value (its length is always 0)", t.Type(), n)
	}
	typ := t.Type()
	b = append(b, byte(typ>>8), byte(typ), byte(n>>8), byte(n))
	return appendValue(b, t), nil
}

// valueLen is len(t.Value()). Value converts a string or number tag into
// a new slice each call; a PADO or PADS is sized, checked and encoded
// from its tags, so for this package's types it is read off directly.
func valueLen(t Tag) int {
	switch v := t.(type) {
	case ServiceName:
		return len(v)
	case ACName:
		return len(v)
	case ServiceNameError:
		return len(v)
	case ACSystemError:
		return len(v)
	case GenericError:
		return len(v)
	case PPPMaxPayload:
		return 2
	case VendorSpecific:
		return 4 + len(v.Data)
	}
	return len(t.Value())
}

// appendValue appends t.Value() to b, without the intermediate slice for
// this package's string and number tags (see valueLen).
func appendValue(b []byte, t Tag) []byte {
	switch v := t.(type) {
	case ServiceName:
		return append(b, v...)
	case ACName:
		return append(b, v...)
	case ServiceNameError:
		return append(b, v...)
	case ACSystemError:
		return append(b, v...)
	case GenericError:
		return append(b, v...)
	case PPPMaxPayload:
		return binary.BigEndian.AppendUint16(b, uint16(v))
	case VendorSpecific:
		return append(binary.BigEndian.AppendUint32(b, v.VendorID), v.Data...)
	}
	return append(b, t.Value()...)
}

// parseTags decodes the tag list in body; base is body's offset in the PPPoE
// packet, so errors point at the wire. Tag values alias body, and the
// string-typed ones (Service-Name, AC-Name, the errors) share its bytes
// instead of copying them, so body must be the packet's own copy that
// nothing writes to afterwards.
func parseTags(body []byte, base int) ([]Tag, error) {
	// Sized by a first pass, so a PADR's four or five tags cost one
	// allocation for the slice rather than one per doubling.
	var tags []Tag
	if n := countTags(body); n > 0 {
		tags = make([]Tag, 0, n)
	}
	for off := 0; off < len(body); {
		if len(body)-off < tagHeaderLen {
			return nil, fmt.Errorf("tag %d at offset %d: %d bytes left, tag header needs %d: %w",
				len(tags), base+off, len(body)-off, tagHeaderLen, io.ErrUnexpectedEOF)
		}
		typ := TagType(binary.BigEndian.Uint16(body[off:]))
		n := int(binary.BigEndian.Uint16(body[off+2:]))
		off += tagHeaderLen
		if len(body)-off < n {
			return nil, fmt.Errorf("tag %d (%v) at offset %d: TAG_LENGTH %d exceeds the %d bytes left in LENGTH: %w",
				len(tags), typ, base+off-tagHeaderLen, n, len(body)-off, io.ErrUnexpectedEOF)
		}
		v := body[off : off+n : off+n]
		t, err := decodeTag(typ, v)
		if err != nil {
			return nil, fmt.Errorf("tag %d (%v) at offset %d: %w", len(tags), typ, base+off-tagHeaderLen, err)
		}
		tags = append(tags, t)
		off += n
		if typ == TagEndOfList {
			break
		}
	}
	return tags, nil
}

// countTags returns how many tags parseTags will find in body, counting a
// truncated last one (parseTags then fails on it).
func countTags(body []byte) int {
	n := 0
	for off := 0; off < len(body); n++ {
		if len(body)-off < tagHeaderLen {
			return n + 1
		}
		typ := TagType(binary.BigEndian.Uint16(body[off:]))
		off += tagHeaderLen + int(binary.BigEndian.Uint16(body[off+2:]))
		if typ == TagEndOfList {
			return n + 1
		}
	}
	return n
}

// aliasString returns v as a string sharing v's bytes: parseTags' values
// come from a body no one writes to, so the string stays what it was.
func aliasString(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

// decodeTag builds the typed tag for typ from its value v, which it
// aliases (see parseTags).
func decodeTag(typ TagType, v []byte) (Tag, error) {
	switch typ {
	case TagEndOfList:
		if len(v) != 0 {
			return nil, fmt.Errorf("TAG_LENGTH %d, must be 0", len(v))
		}
		return EndOfList{}, nil
	case TagServiceName:
		return ServiceName(aliasString(v)), nil
	case TagACName:
		return ACName(aliasString(v)), nil
	case TagHostUniq:
		return HostUniq(v), nil
	case TagACCookie:
		return ACCookie(v), nil
	case TagVendorSpecific:
		if len(v) < 4 {
			return nil, fmt.Errorf("TAG_LENGTH %d, vendor id needs 4", len(v))
		}
		return VendorSpecific{VendorID: binary.BigEndian.Uint32(v), Data: v[4:]}, nil
	case TagRelaySessionID:
		return RelaySessionID(v), nil
	case TagPPPMaxPayload:
		if len(v) != 2 {
			return nil, fmt.Errorf("TAG_LENGTH %d, must be 2", len(v))
		}
		return PPPMaxPayload(binary.BigEndian.Uint16(v)), nil
	case TagServiceNameError:
		return ServiceNameError(aliasString(v)), nil
	case TagACSystemError:
		return ACSystemError(aliasString(v)), nil
	case TagGenericError:
		return GenericError(aliasString(v)), nil
	}
	return RawTag{T: typ, Data: v}, nil
}

// FindTag returns the first tag of Go type T in tags, for example
// FindTag[ServiceName](p.Tags). Use FindTags for repeated tags (a PADO may
// offer several Service-Names) and CountTags to check multiplicity.
func FindTag[T Tag](tags []Tag) (T, bool) {
	for _, t := range tags {
		if v, ok := t.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// FindTags returns every tag of Go type T in tags, in wire order.
func FindTags[T Tag](tags []Tag) []T {
	var out []T
	for _, t := range tags {
		if v, ok := t.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// CountTags returns how many tags in tags have TAG_TYPE typ, whether typed
// or RawTag.
func CountTags(tags []Tag, typ TagType) int {
	n := 0
	for _, t := range tags {
		if t != nil && t.Type() == typ {
			n++
		}
	}
	return n
}
