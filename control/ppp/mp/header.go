// Package mp is the PPP Multilink Protocol (RFC 1990) over one member link,
// the way RouterOS's mrru uses it: a packet larger than the link's MTU
// crosses it as several MP fragments and is put back together at the other
// end. It holds the MP header codec, a Reassembler for what the peer sends
// and a Fragmenter for what we send. Both are pure (no goroutines, no
// timers: the session loop passes the time in), one per session.
//
// A packet that fits the MTU travels without an MP header from us; the
// peer may still wrap it in one with B and E set, which the data plane
// strips in XDP (bpf/mp.h). Only real fragments reach this package.
package mp

import (
	"errors"
	"fmt"
	"io"
)

// Format is a sequence number format (RFC 1990 §3, §5.1.2): which one the
// receiver gets is what it asked for with the Short-Sequence option.
type Format uint8

// Sequence number formats.
const (
	// Long is the default 24-bit format:
	//	B(1) E(1) reserved(6) | Sequence(24)
	Long Format = iota
	// Short is the 12-bit format (Short-Sequence-Number-Header-Format):
	//	B(1) E(1) reserved(2) Sequence(12)
	Short
)

// String names the format.
func (f Format) String() string {
	if f == Short {
		return "short"
	}
	return "long"
}

// HeaderLen is the MP header's length in octets (after the PPP protocol
// field 0x003d).
func (f Format) HeaderLen() int {
	if f == Short {
		return 2
	}
	return 4
}

// bits is the width of the sequence number.
func (f Format) bits() uint {
	if f == Short {
		return 12
	}
	return 24
}

// mask keeps a sequence number within the format.
func (f Format) mask() uint32 { return 1<<f.bits() - 1 }

// diff is a-b in sequence space, as a signed distance (RFC 1990 §4.1
// compares modulo 2^bits).
func (f Format) diff(a, b uint32) int32 {
	s := 32 - f.bits()
	return int32((a-b)<<s) >> s
}

// Header is an MP header (RFC 1990 §3).
type Header struct {
	Begin bool   // B: first fragment of a packet
	End   bool   // E: last fragment of a packet
	Seq   uint32 // sequence number, 24 or 12 bits
}

// ErrSequence is a sequence number too wide for its format.
var ErrSequence = errors.New("mp: sequence number out of range")

const (
	flagB = 0x80
	flagE = 0x40
)

// ParseHeader reads an MP header of format f at the start of b (the PPP
// information field of a protocol 0x003d packet) and returns it with the
// fragment data after it. Reserved bits are ignored (RFC 1990 says they
// are sent as zero; a receiver gains nothing by refusing them). The
// fragment data aliases b.
func ParseHeader(b []byte, f Format) (Header, []byte, error) {
	n := f.HeaderLen()
	if len(b) < n {
		return Header{}, nil, fmt.Errorf("mp: %v header of %d octets: %w", f, len(b), io.ErrUnexpectedEOF)
	}
	h := Header{Begin: b[0]&flagB != 0, End: b[0]&flagE != 0}
	if f == Short {
		h.Seq = uint32(b[0]&0x0f)<<8 | uint32(b[1])
	} else {
		h.Seq = uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	return h, b[n:], nil
}

// AppendHeader appends h in format f to b.
func AppendHeader(b []byte, h Header, f Format) ([]byte, error) {
	if h.Seq&^f.mask() != 0 {
		return b, fmt.Errorf("mp: %v sequence %d: %w", f, h.Seq, ErrSequence)
	}
	var flags byte
	if h.Begin {
		flags |= flagB
	}
	if h.End {
		flags |= flagE
	}
	if f == Short {
		return append(b, flags|byte(h.Seq>>8), byte(h.Seq)), nil
	}
	return append(b, flags, byte(h.Seq>>16), byte(h.Seq>>8), byte(h.Seq)), nil
}
