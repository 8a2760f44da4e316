package mp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		in   []byte
		want Header
		rest []byte
	}{
		// RFC 1990 §3 long format: B E 0 0 0 0 0 0 | 24-bit sequence.
		{name: "long B&E", f: Long, in: []byte{0xc0, 0x00, 0x00, 0x01, 0x00, 0x21}, want: Header{Begin: true, End: true, Seq: 1}, rest: []byte{0x00, 0x21}},
		{name: "long B", f: Long, in: []byte{0x80, 0x12, 0x34, 0x56, 0xaa}, want: Header{Begin: true, Seq: 0x123456}, rest: []byte{0xaa}},
		{name: "long E", f: Long, in: []byte{0x40, 0xff, 0xff, 0xff}, want: Header{End: true, Seq: 0xffffff}, rest: []byte{}},
		{name: "long middle", f: Long, in: []byte{0x00, 0x00, 0x00, 0x07, 0xbb}, want: Header{Seq: 7}, rest: []byte{0xbb}},
		{name: "long reserved bits ignored", f: Long, in: []byte{0xff, 0x00, 0x00, 0x02}, want: Header{Begin: true, End: true, Seq: 2}, rest: []byte{}},
		// RFC 1990 §3 short format: B E 0 0 | 12-bit sequence.
		{name: "short B&E", f: Short, in: []byte{0xc0, 0x01, 0x00, 0x21}, want: Header{Begin: true, End: true, Seq: 1}, rest: []byte{0x00, 0x21}},
		{name: "short B max", f: Short, in: []byte{0x8f, 0xff}, want: Header{Begin: true, Seq: 0xfff}, rest: []byte{}},
		{name: "short E", f: Short, in: []byte{0x4a, 0xbc, 0x01}, want: Header{End: true, Seq: 0xabc}, rest: []byte{0x01}},
		{name: "short reserved bits ignored", f: Short, in: []byte{0x30, 0x05}, want: Header{Seq: 5}, rest: []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, err := ParseHeader(tt.in, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want || !bytes.Equal(rest, tt.rest) {
				t.Fatalf("got %+v % x, want %+v % x", h, rest, tt.want, tt.rest)
			}
			b, err := AppendHeader(nil, h, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			canon := append([]byte{tt.in[0] &^ reserved(tt.f)}, tt.in[1:tt.f.HeaderLen()]...)
			if !bytes.Equal(b, canon) {
				t.Fatalf("append % x, want % x", b, canon)
			}
		})
	}
}

func reserved(f Format) byte {
	if f == Short {
		return 0x30
	}
	return 0x3f
}

func TestParseHeaderShort(t *testing.T) {
	for _, c := range []struct {
		f  Format
		in []byte
	}{
		{Long, nil}, {Long, []byte{0xc0}}, {Long, []byte{0xc0, 0, 0}},
		{Short, nil}, {Short, []byte{0xc0}},
	} {
		if _, _, err := ParseHeader(c.in, c.f); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v % x: err %v, want ErrUnexpectedEOF", c.f, c.in, err)
		}
	}
}

func TestAppendHeaderRange(t *testing.T) {
	if _, err := AppendHeader(nil, Header{Seq: 0x1000}, Short); !errors.Is(err, ErrSequence) {
		t.Fatalf("short 0x1000: %v", err)
	}
	if _, err := AppendHeader(nil, Header{Seq: 0x1000000}, Long); !errors.Is(err, ErrSequence) {
		t.Fatalf("long 0x1000000: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		f    Format
		a, b uint32
		want int32
	}{
		{Long, 5, 3, 2}, {Long, 3, 5, -2}, {Long, 0, 0xffffff, 1}, {Long, 0xffffff, 0, -1},
		{Short, 0, 0xfff, 1}, {Short, 0xfff, 0, -1}, {Short, 0x7ff, 0, 0x7ff}, {Short, 0x800, 0, -0x800},
	} {
		if got := c.f.diff(c.a, c.b); got != c.want {
			t.Errorf("%v diff(%#x, %#x) = %d, want %d", c.f, c.a, c.b, got, c.want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0xc0, 0, 0, 1, 0, 0x21}, false)
	f.Add([]byte{0x8f, 0xff, 0x45}, true)
	f.Fuzz(func(t *testing.T, b []byte, short bool) {
		fm := Long
		if short {
			fm = Short
		}
		h, rest, err := ParseHeader(b, fm)
		if err != nil {
			return
		}
		out, err := AppendHeader(nil, h, fm)
		if err != nil {
			t.Fatalf("%+v: %v", h, err)
		}
		h2, rest2, err := ParseHeader(append(out, rest...), fm)
		if err != nil || h2 != h || !bytes.Equal(rest, rest2) {
			t.Fatalf("round trip %+v -> %+v (%v)", h, h2, err)
		}
	})
}
