package ppp

import (
	"fmt"
	"io"
)

// Option is a raw configuration option (RFC 1661 §6):
//
//	Type(1) Length(1) Data(Length-2)
//
// The typed views live in the lcp, ipcp and ipv6cp packages.
type Option struct {
	Type uint8
	Data []byte
}

// ParseOptions splits the Data of a Configure-Request/Ack/Nak/Reject into
// options, in order. A Length below 2 or running past b is an error. Option
// Data aliases b.
func ParseOptions(b []byte) ([]Option, error) {
	// Sized by a first pass: a negotiation parses every Configure packet
	// (and the automaton re-parses what it acked), and growing by
	// doubling cost an allocation per doubling.
	var opts []Option
	if n := countOptions(b); n > 0 {
		opts = make([]Option, 0, n)
	}
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, fmt.Errorf("ppp: option at offset %d: header: %w", off, io.ErrUnexpectedEOF)
		}
		t, n := b[off], int(b[off+1])
		if n < 2 {
			return nil, fmt.Errorf("ppp: option %d at offset %d: length %d below 2", t, off, n)
		}
		if off+n > len(b) {
			return nil, fmt.Errorf("ppp: option %d at offset %d: length %d overruns %d octets: %w",
				t, off, n, len(b)-off, io.ErrUnexpectedEOF)
		}
		opts = append(opts, Option{Type: t, Data: b[off+2 : off+n]})
		off += n
	}
	return opts, nil
}

// countOptions returns how many options ParseOptions will find in b, at
// most one too many when b is malformed (ParseOptions then fails).
func countOptions(b []byte) int {
	n := 0
	for off := 0; off < len(b); n++ {
		if len(b)-off < 2 || b[off+1] < 2 {
			return n + 1
		}
		off += int(b[off+1])
	}
	return n
}

// MarshalOptions encodes opts in order. Data longer than 253 octets cannot
// be expressed in the Length octet; it is truncated there, so callers that
// build options from untrusted input check with OptionsLen first.
func MarshalOptions(opts []Option) []byte {
	b := make([]byte, 0, OptionsLen(opts))
	for _, o := range opts {
		d := o.Data
		if len(d) > MaxOptionData {
			d = d[:MaxOptionData]
		}
		b = append(b, o.Type, byte(2+len(d)))
		b = append(b, d...)
	}
	return b
}

// MaxOptionData is the largest Data an option can carry: Length is one octet
// and counts the 2-octet header.
const MaxOptionData = 0xff - 2

// OptionsLen returns the encoded length of opts.
func OptionsLen(opts []Option) int {
	n := 0
	for _, o := range opts {
		n += 2 + min(len(o.Data), MaxOptionData)
	}
	return n
}

// TypedOption is the raw form of a typed option of protocol proto whose
// type t encoded its Data as data (or failed with err): the error names the
// protocol and the option, and Data over MaxOptionData octets is
// ErrOptionLength.
func TypedOption[T ~uint8](proto string, t T, data []byte, err error) (Option, error) {
	if err != nil {
		return Option{}, fmt.Errorf("%s: option %v: %w", proto, t, err)
	}
	if len(data) > MaxOptionData {
		return Option{}, fmt.Errorf("%s: option %v: %d data octets: %w", proto, t, len(data), ErrOptionLength)
	}
	return Option{Type: uint8(t), Data: data}, nil
}
