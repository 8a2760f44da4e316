// Package ipcp holds typed IP Control Protocol configuration options
// (RFC 1332 §3, RFC 1877 §1) over the raw ppp.Option form. Unknown options,
// including the deprecated IP-Addresses (type 1), are kept as Raw.
package ipcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Type is an IPCP configuration option type (IANA "IP Control Protocol
// (IPCP) Configuration Option Types").
type Type uint8

// IPCP option types.
const (
	TypeIPAddresses   Type = 1   // IP-Addresses, RFC 1172 (deprecated, kept raw)
	TypeCompression   Type = 2   // IP-Compression-Protocol, RFC 1332 §3.2
	TypeIPAddress     Type = 3   // IP-Address, RFC 1332 §3.3
	TypePrimaryDNS    Type = 129 // Primary DNS Server Address, RFC 1877 §1.1
	TypePrimaryNBNS   Type = 130 // Primary NBNS Server Address, RFC 1877 §1.2
	TypeSecondaryDNS  Type = 131 // Secondary DNS Server Address, RFC 1877 §1.3
	TypeSecondaryNBNS Type = 132 // Secondary NBNS Server Address, RFC 1877 §1.4
)

var typeNames = map[Type]string{
	TypeIPAddresses:   "IP-Addresses",
	TypeCompression:   "IP-Compression-Protocol",
	TypeIPAddress:     "IP-Address",
	TypePrimaryDNS:    "Primary-DNS",
	TypePrimaryNBNS:   "Primary-NBNS",
	TypeSecondaryDNS:  "Secondary-DNS",
	TypeSecondaryNBNS: "Secondary-NBNS",
}

// String returns the option's RFC name.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Option is one typed IPCP configuration option.
type Option interface {
	// Type returns the option's type.
	Type() Type
	// data encodes the option's Data field (without Type and Length).
	data() ([]byte, error)
}

// ToRaw encodes one typed option.
func ToRaw(o Option) (ppp.Option, error) {
	d, err := o.data()
	return ppp.TypedOption("ipcp", o.Type(), d, err)
}

// FromRaw decodes one raw option; an unknown type yields Raw. Slices in the
// result alias r.Data.
func FromRaw(r ppp.Option) (Option, error) {
	t, d := Type(r.Type), r.Data
	switch t {
	case TypeCompression:
		if len(d) < 2 {
			return nil, fmt.Errorf("ipcp: option %v: length %d, want at least 4: %w", t, len(d)+2, ppp.ErrOptionLength)
		}
		return Compression{Protocol: ppp.Protocol(binary.BigEndian.Uint16(d)), Data: d[2:]}, nil
	case TypeIPAddress, TypePrimaryDNS, TypePrimaryNBNS, TypeSecondaryDNS, TypeSecondaryNBNS:
		if len(d) != 4 {
			return nil, fmt.Errorf("ipcp: option %v: length %d, want 6: %w", t, len(d)+2, ppp.ErrOptionLength)
		}
		a := netip.AddrFrom4([4]byte(d))
		switch t {
		case TypeIPAddress:
			return IPAddress{a}, nil
		case TypePrimaryDNS:
			return PrimaryDNS{a}, nil
		case TypePrimaryNBNS:
			return PrimaryNBNS{a}, nil
		case TypeSecondaryDNS:
			return SecondaryDNS{a}, nil
		default:
			return SecondaryNBNS{a}, nil
		}
	}
	return Raw{T: t, Data: d}, nil
}

// Raw is an option this package does not interpret, kept byte for byte.
type Raw struct {
	T    Type
	Data []byte
}

// Type implements Option.
func (r Raw) Type() Type { return r.T }

func (r Raw) data() ([]byte, error) { return r.Data, nil }

// Compression is the IP-Compression-Protocol option (RFC 1332 §3.2):
//
//	IP-Compression-Protocol(2) Data(rest)
//
// Van Jacobson compression (0x002d) carries Max-Slot-Id and Comp-Slot-Id in
// Data; this project never compresses, so Data stays raw for the Reject.
type Compression struct {
	Protocol ppp.Protocol
	Data     []byte
}

// Type implements Option.
func (Compression) Type() Type { return TypeCompression }

func (c Compression) data() ([]byte, error) {
	return append(binary.BigEndian.AppendUint16(nil, uint16(c.Protocol)), c.Data...), nil
}

func addr4(a netip.Addr) ([]byte, error) {
	if !a.Is4() {
		return nil, fmt.Errorf("address %v is not IPv4", a)
	}
	b := a.As4()
	return b[:], nil
}

// IPAddress is the IP-Address option (RFC 1332 §3.3): the sender's address,
// 0.0.0.0 asking the peer to assign one in a Configure-Nak.
type IPAddress struct{ Addr netip.Addr }

// Type implements Option.
func (IPAddress) Type() Type { return TypeIPAddress }

func (o IPAddress) data() ([]byte, error) { return addr4(o.Addr) }

// PrimaryDNS is the Primary DNS Server Address option (RFC 1877 §1.1).
type PrimaryDNS struct{ Addr netip.Addr }

// Type implements Option.
func (PrimaryDNS) Type() Type { return TypePrimaryDNS }

func (o PrimaryDNS) data() ([]byte, error) { return addr4(o.Addr) }

// PrimaryNBNS is the Primary NBNS Server Address option (RFC 1877 §1.2).
type PrimaryNBNS struct{ Addr netip.Addr }

// Type implements Option.
func (PrimaryNBNS) Type() Type { return TypePrimaryNBNS }

func (o PrimaryNBNS) data() ([]byte, error) { return addr4(o.Addr) }

// SecondaryDNS is the Secondary DNS Server Address option (RFC 1877 §1.3).
type SecondaryDNS struct{ Addr netip.Addr }

// Type implements Option.
func (SecondaryDNS) Type() Type { return TypeSecondaryDNS }

func (o SecondaryDNS) data() ([]byte, error) { return addr4(o.Addr) }

// SecondaryNBNS is the Secondary NBNS Server Address option (RFC 1877 §1.4).
type SecondaryNBNS struct{ Addr netip.Addr }

// Type implements Option.
func (SecondaryNBNS) Type() Type { return TypeSecondaryNBNS }

func (o SecondaryNBNS) data() ([]byte, error) { return addr4(o.Addr) }
