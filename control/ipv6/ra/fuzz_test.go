package ra

import (
	"testing"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// FuzzParseSolicitation: any input is an RS or an error, never a panic;
// an accepted RS re-encodes and parses again.
func FuzzParseSolicitation(f *testing.F) {
	rs, _ := MarshalSolicitation(ipv6.LinkLocal(clientIID))
	f.Add(rs)
	f.Add(rs[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSolicitation(b)
		if err != nil {
			return
		}
		again, err := marshalND(s.Message, s.Src, ipv6.AllRouters)
		if err != nil {
			t.Fatalf("accepted RS does not re-encode: %v", err)
		}
		if _, err := ParseSolicitation(again); err != nil {
			t.Fatalf("re-encoded RS rejected: %v", err)
		}
	})
}

// FuzzParseAdvertisement: any input is an RA or an error; autoconfiguring
// from an accepted one never panics and only yields addresses inside
// advertised /64s; an accepted RA re-encodes to one that parses equal.
func FuzzParseAdvertisement(f *testing.F) {
	a, _ := NewAdvertiser(testConfig())
	f.Add(a.ra)
	f.Add(a.ra[:56])
	f.Fuzz(func(t *testing.T, b []byte) {
		ad, err := ParseAdvertisement(b)
		if err != nil {
			return
		}
		c := Autoconfigure(ad, clientIID, 1500)
		for _, addr := range c.Addresses {
			if !addr.Prefix.Contains(addr.Addr) || addr.Prefix.Bits() != 64 {
				t.Fatalf("address %v outside %v", addr.Addr, addr.Prefix)
			}
		}
		again, err := marshalND(ad.Message, ad.Src, ipv6.AllNodes)
		if err != nil {
			return // ndp refuses to send some values it accepts (a raw option's shape)
		}
		ad2, err := ParseAdvertisement(again)
		if err != nil {
			t.Fatalf("re-encoded RA rejected: %v", err)
		}
		b1, _ := ndp.MarshalMessage(ad.Message)
		b2, _ := ndp.MarshalMessage(ad2.Message)
		if string(b1) != string(b2) {
			t.Fatalf("RA changed in a round trip:\n%x\n%x", b1, b2)
		}
	})
}
