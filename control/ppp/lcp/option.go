// Package lcp holds typed Link Control Protocol configuration options
// (RFC 1661 §6, RFC 1570, RFC 1990) over the raw ppp.Option form.
//
// Each option is a value type implementing Option; an option type this
// package does not know is kept as Raw so it survives a parse/marshal round
// trip and can be Configure-Rejected byte for byte.
package lcp

import (
	"encoding/binary"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Type is an LCP configuration option type (IANA "PPP LCP Configuration
// Option Types").
type Type uint8

// LCP option types.
const (
	TypeMRU                   Type = 1  // Maximum-Receive-Unit, RFC 1661 §6.1
	TypeACCM                  Type = 2  // Async-Control-Character-Map, RFC 1662 §7.1
	TypeAuthProtocol          Type = 3  // Authentication-Protocol, RFC 1661 §6.2
	TypeQualityProtocol       Type = 4  // Quality-Protocol, RFC 1661 §6.3
	TypeMagicNumber           Type = 5  // Magic-Number, RFC 1661 §6.4
	TypePFC                   Type = 7  // Protocol-Field-Compression, RFC 1661 §6.5
	TypeACFC                  Type = 8  // Address-and-Control-Field-Compression, RFC 1661 §6.6
	TypeMRRU                  Type = 17 // Multilink MRRU, RFC 1990 §5.1.1
	TypeShortSequence         Type = 18 // Multilink Short-Sequence-Number-Header-Format, RFC 1990 §5.1.2
	TypeEndpointDiscriminator Type = 19 // Endpoint-Discriminator, RFC 1990 §5.1.3
)

var typeNames = map[Type]string{
	TypeMRU:                   "MRU",
	TypeACCM:                  "ACCM",
	TypeAuthProtocol:          "Authentication-Protocol",
	TypeQualityProtocol:       "Quality-Protocol",
	TypeMagicNumber:           "Magic-Number",
	TypePFC:                   "PFC",
	TypeACFC:                  "ACFC",
	TypeMRRU:                  "MRRU",
	TypeShortSequence:         "Short-Sequence",
	TypeEndpointDiscriminator: "Endpoint-Discriminator",
}

// String returns the option's RFC name.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Option is one typed LCP configuration option.
type Option interface {
	// Type returns the option's type.
	Type() Type
	// data encodes the option's Data field (without Type and Length).
	data() ([]byte, error)
}

// ToRaw encodes one typed option.
func ToRaw(o Option) (ppp.Option, error) {
	d, err := o.data()
	return ppp.TypedOption("lcp", o.Type(), d, err)
}

// FromRaw decodes one raw option; an unknown type yields Raw. Slices in the
// result alias r.Data.
func FromRaw(r ppp.Option) (Option, error) {
	var (
		o   Option
		err error
	)
	t, d := Type(r.Type), r.Data
	switch t {
	case TypeMRU:
		var v uint16
		v, err = u16(d)
		o = MRU(v)
	case TypeACCM:
		var v uint32
		v, err = u32(d)
		o = ACCM(v)
	case TypeAuthProtocol:
		o, err = parseAuthProtocol(d)
	case TypeQualityProtocol:
		o, err = parseQualityProtocol(d)
	case TypeMagicNumber:
		var v uint32
		v, err = u32(d)
		o = MagicNumber(v)
	case TypePFC:
		o, err = PFC{}, empty(d)
	case TypeACFC:
		o, err = ACFC{}, empty(d)
	case TypeMRRU:
		var v uint16
		v, err = u16(d)
		o = MRRU(v)
	case TypeShortSequence:
		o, err = ShortSequence{}, empty(d)
	case TypeEndpointDiscriminator:
		o, err = parseEndpointDiscriminator(d)
	default:
		o = Raw{T: t, Data: d}
	}
	if err != nil {
		return nil, fmt.Errorf("lcp: option %v: %w", t, err)
	}
	return o, nil
}

func lengthErr(got int, want string) error {
	return fmt.Errorf("length %d, want %s: %w", got+2, want, ppp.ErrOptionLength)
}

func u16(d []byte) (uint16, error) {
	if len(d) != 2 {
		return 0, lengthErr(len(d), "4")
	}
	return binary.BigEndian.Uint16(d), nil
}

func u32(d []byte) (uint32, error) {
	if len(d) != 4 {
		return 0, lengthErr(len(d), "6")
	}
	return binary.BigEndian.Uint32(d), nil
}

func empty(d []byte) error {
	if len(d) != 0 {
		return lengthErr(len(d), "2")
	}
	return nil
}

// Raw is an option this package does not interpret, kept byte for byte.
type Raw struct {
	T    Type
	Data []byte
}

// Type implements Option.
func (r Raw) Type() Type { return r.T }

func (r Raw) data() ([]byte, error) { return r.Data, nil }

// MRU is the Maximum-Receive-Unit option (RFC 1661 §6.1): the largest
// Information field the sender can receive. Over PPPoE at most 1492 unless
// RFC 4638 raised the PPPoE payload.
type MRU uint16

// Type implements Option.
func (MRU) Type() Type { return TypeMRU }

func (m MRU) data() ([]byte, error) { return binary.BigEndian.AppendUint16(nil, uint16(m)), nil }

// ACCM is the Async-Control-Character-Map option (RFC 1662 §7.1). It means
// nothing on a synchronous PPPoE link (RFC 2516 §7 says it must not be
// negotiated) but peers still send it, so it is parsed to be rejected.
type ACCM uint32

// Type implements Option.
func (ACCM) Type() Type { return TypeACCM }

func (a ACCM) data() ([]byte, error) { return binary.BigEndian.AppendUint32(nil, uint32(a)), nil }

// MagicNumber is the Magic-Number option (RFC 1661 §6.4), used to detect
// looped-back links and carried in Echo packets.
type MagicNumber uint32

// Type implements Option.
func (MagicNumber) Type() Type { return TypeMagicNumber }

func (m MagicNumber) data() ([]byte, error) {
	return binary.BigEndian.AppendUint32(nil, uint32(m)), nil
}

// PFC is the Protocol-Field-Compression option (RFC 1661 §6.5).
type PFC struct{}

// Type implements Option.
func (PFC) Type() Type { return TypePFC }

func (PFC) data() ([]byte, error) { return nil, nil }

// ACFC is the Address-and-Control-Field-Compression option (RFC 1661 §6.6);
// PPPoE never carries those fields (RFC 2516 §7), so it too is rejected.
type ACFC struct{}

// Type implements Option.
func (ACFC) Type() Type { return TypeACFC }

func (ACFC) data() ([]byte, error) { return nil, nil }

// MRRU is the Multilink Maximum-Received-Reconstructed-Unit option
// (RFC 1990 §5.1.1); its presence asks for multilink.
type MRRU uint16

// Type implements Option.
func (MRRU) Type() Type { return TypeMRRU }

func (m MRRU) data() ([]byte, error) { return binary.BigEndian.AppendUint16(nil, uint16(m)), nil }

// ShortSequence is the Multilink Short-Sequence-Number-Header-Format option
// (RFC 1990 §5.1.2).
type ShortSequence struct{}

// Type implements Option.
func (ShortSequence) Type() Type { return TypeShortSequence }

func (ShortSequence) data() ([]byte, error) { return nil, nil }
