// Package ppptest is for tests that write or read the options of a
// Configure-* packet as a list of typed options (lcp, ipcp, ipv6cp). The
// link never handles such a list: the automaton splits the Data into raw
// options (ppp.ParseOptions) and the negotiators convert one option at a
// time (FromRaw, ToRaw). These helpers compose exactly those calls, so a
// test goes through the codec the wire uses and no other.
package ppptest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// Options parses the Data of a Configure-* packet as the link does, each
// option with fromRaw; the first error is returned with the option's
// offset in the list.
func Options[O any](b []byte, fromRaw func(ppp.Option) (O, error)) ([]O, error) {
	raw, err := ppp.ParseOptions(b)
	if err != nil {
		return nil, err
	}
	out := make([]O, 0, len(raw))
	for i, r := range raw {
		o, err := fromRaw(r)
		if err != nil {
			return nil, fmt.Errorf("option %d: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// Data encodes opts, each with toRaw, as the Data of a Configure-* packet.
func Data[O any](opts []O, toRaw func(O) (ppp.Option, error)) ([]byte, error) {
	raw := make([]ppp.Option, 0, len(opts))
	for _, o := range opts {
		r, err := toRaw(o)
		if err != nil {
			return nil, err
		}
		raw = append(raw, r)
	}
	return ppp.MarshalOptions(raw), nil
}

// RoundTrip parses b as the link does and returns its error if b does not
// parse. Otherwise it encodes the options again and parses that, failing t
// unless the second parse gives the same options and, with exact, unless
// the encoding is b itself (a codec that normalises nothing).
func RoundTrip[O any](t testing.TB, b []byte, exact bool, fromRaw func(ppp.Option) (O, error), toRaw func(O) (ppp.Option, error)) ([]O, error) {
	t.Helper()
	o1, err := Options(b, fromRaw)
	if err != nil {
		return nil, err
	}
	out, err := Data(o1, toRaw)
	if err != nil {
		t.Fatalf("marshal %#v: %v", o1, err)
	}
	if exact && !bytes.Equal(out, b) {
		t.Fatalf("marshal % x, want the input % x", out, b)
	}
	o2, err := Options(out, fromRaw)
	if err != nil || !reflect.DeepEqual(o1, o2) {
		t.Fatalf("round trip of % x: %v\n%#v\n%#v", b, err, o1, o2)
	}
	return o1, nil
}
