// Package ipv6cp holds typed IPv6 Control Protocol configuration options
// (RFC 5072 §4) over the raw ppp.Option form. Unknown options, including
// IPv6-Compression-Protocol, are kept as Raw.
package ipv6cp

import (
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Type is an IPv6CP configuration option type (IANA "IPv6 Control Protocol
// Configuration Option Types").
type Type uint8

// IPv6CP option types.
const (
	TypeInterfaceID Type = 1 // Interface-Identifier, RFC 5072 §4.1
	TypeCompression Type = 2 // IPv6-Compression-Protocol, RFC 5072 §4.2 (kept raw)
)

// String returns the option's RFC name.
func (t Type) String() string {
	switch t {
	case TypeInterfaceID:
		return "Interface-Identifier"
	case TypeCompression:
		return "IPv6-Compression-Protocol"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Option is one typed IPv6CP configuration option.
type Option interface {
	// Type returns the option's type.
	Type() Type
	// data encodes the option's Data field (without Type and Length).
	data() ([]byte, error)
}

// ToRaw encodes one typed option.
func ToRaw(o Option) (ppp.Option, error) {
	d, err := o.data()
	return ppp.TypedOption("ipv6cp", o.Type(), d, err)
}

// FromRaw decodes one raw option; an unknown type yields Raw. Raw.Data
// aliases r.Data.
func FromRaw(r ppp.Option) (Option, error) {
	t := Type(r.Type)
	if t == TypeInterfaceID {
		if len(r.Data) != 8 {
			return nil, fmt.Errorf("ipv6cp: option %v: length %d, want 10: %w", t, len(r.Data)+2, ppp.ErrOptionLength)
		}
		return InterfaceID(r.Data), nil
	}
	return Raw{T: t, Data: r.Data}, nil
}

// Raw is an option this package does not interpret, kept byte for byte.
type Raw struct {
	T    Type
	Data []byte
}

// Type implements Option.
func (r Raw) Type() Type { return r.T }

func (r Raw) data() ([]byte, error) { return r.Data, nil }

// InterfaceID is the Interface-Identifier option (RFC 5072 §4.1): the
// 64-bit identifier that forms the link-local address fe80::/64 + id. All
// zeros asks the peer to suggest one in a Configure-Nak.
type InterfaceID [8]byte

// Type implements Option.
func (InterfaceID) Type() Type { return TypeInterfaceID }

func (i InterfaceID) data() ([]byte, error) { return i[:], nil }

// String formats the identifier as the low half of an IPv6 address.
func (i InterfaceID) String() string {
	return fmt.Sprintf("%x:%x:%x:%x", uint16(i[0])<<8|uint16(i[1]), uint16(i[2])<<8|uint16(i[3]),
		uint16(i[4])<<8|uint16(i[5]), uint16(i[6])<<8|uint16(i[7]))
}

// LinkLocal returns the link-local address fe80::/64 + i (RFC 5072 §5).
func (i InterfaceID) LinkLocal() netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	copy(a[8:], i[:])
	return netip.AddrFrom16(a)
}
