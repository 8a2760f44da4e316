// Package binrec is the field encoding of pppoed's binary records (the
// state store's session records and the saved links inside them):
// big-endian integers, uvarint-length strings and length-prefixed
// addresses, read with a sticky error so a decoder checks once at the
// end and damaged input is an error, never a panic or a huge allocation.
package binrec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// AppendString appends s as a uvarint length and its bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendAddr appends a as a length byte (0 for none, 4 or 16) and its
// bytes.
func AppendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, 0)
	}
	s := a.AsSlice()
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// Reader reads fields from B; the first fault is kept in Err, after which
// every read returns zero. Short input is io.ErrUnexpectedEOF.
type Reader struct {
	B   []byte
	Err error
}

// Fail records err unless a fault was recorded already.
func (r *Reader) Fail(err error) {
	if r.Err == nil {
		r.Err = err
	}
}

// Take returns the next n bytes (aliasing B).
func (r *Reader) Take(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || len(r.B) < n {
		r.Err, r.B = io.ErrUnexpectedEOF, nil
		return nil
	}
	out := r.B[:n:n]
	r.B = r.B[n:]
	return out
}

func (r *Reader) U8() byte {
	if b := r.Take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *Reader) U16() uint16 {
	if b := r.Take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *Reader) U32() uint32 {
	if b := r.Take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *Reader) U64() uint64 {
	if b := r.Take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Count is a uvarint length or list count, checked against what is left
// (every item takes a byte at least), so a damaged count cannot make a
// huge slice.
func (r *Reader) Count() int {
	if r.Err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.B)
	if k == 0 { // the input ends inside the length
		r.Err, r.B = io.ErrUnexpectedEOF, nil
		return 0
	}
	if k < 0 {
		r.Err = errors.New("bad length")
		return 0
	}
	if n > uint64(len(r.B)-k) {
		r.Err, r.B = io.ErrUnexpectedEOF, nil
		return 0
	}
	r.B = r.B[k:]
	return int(n)
}

// String is a length-prefixed string.
func (r *Reader) String() string {
	return string(r.Take(r.Count()))
}

// Bytes is a length-prefixed byte string copied out of the input (which
// may be a store's memory, valid only in its transaction); nil when
// empty.
func (r *Reader) Bytes() []byte {
	b := r.Take(r.Count())
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Addr is an address AppendAddr wrote.
func (r *Reader) Addr() netip.Addr {
	switch n := r.U8(); n {
	case 0:
		return netip.Addr{}
	case 4, 16:
		a, _ := netip.AddrFromSlice(r.Take(int(n)))
		return a
	default:
		r.Fail(fmt.Errorf("address of %d bytes", n))
		return netip.Addr{}
	}
}
