package ra

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// TestScapyBuilds: a Router Solicitation and a Router Advertisement that
// scapy builds pass our receivers' checks, and autoconfiguration reads
// the values scapy was given.
func TestScapyBuilds(t *testing.T) {
	frames := wire.Scapy(t, `
frames = [
    IPv6(src="fe80::211:22ff:fe33:4455", dst="ff02::2", hlim=255)/ICMPv6ND_RS(),
    IPv6(src="::", dst="ff02::2", hlim=255)/ICMPv6ND_RS(),
    IPv6(src="fe80::1", dst="ff02::1", hlim=255)/ICMPv6ND_RA(routerlifetime=1800, O=1, M=1, chlim=64)/
        ICMPv6NDOptPrefixInfo(prefix="2001:db8:1:2::", prefixlen=64, validlifetime=3600, preferredlifetime=1800)/
        ICMPv6NDOptMTU(mtu=1492)/ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8:53::1", "2001:db8:53::2"]),
    IPv6(src="fe80::211:22ff:fe33:4455", dst="ff02::2", hlim=64)/ICMPv6ND_RS(),
]
`)
	for i, f := range frames[:2] {
		if _, err := ParseSolicitation(f); err != nil {
			t.Errorf("scapy RS %d: %v", i, err)
		}
	}
	if _, err := ParseSolicitation(frames[3]); err == nil {
		t.Error("scapy RS with hop limit 64 accepted")
	}
	ad, err := ParseAdvertisement(frames[2])
	if err != nil {
		t.Fatal(err)
	}
	c := Autoconfigure(ad, clientIID, 1500)
	want := netip.MustParseAddr("2001:db8:1:2:211:22ff:fe33:4455")
	if c.Router != netip.MustParseAddr("fe80::1") || c.RouterLifetime != 30*time.Minute || !c.Managed || !c.Other || c.HopLimit != 64 ||
		len(c.Addresses) != 1 || c.Addresses[0].Addr != want || c.Addresses[0].Valid != time.Hour || c.Addresses[0].Preferred != 30*time.Minute ||
		c.MTU != 1492 || len(c.DNS) != 2 || c.DNS[1] != dns[1] || c.DNSLifetime != 10*time.Minute {
		t.Fatalf("%+v", c)
	}
}

// TestScapyReads: scapy dissects the RA and RS we send with the values we
// gave, and its own checksum computation agrees with ours.
func TestScapyReads(t *testing.T) {
	a := newAdvertiser(t, testConfig())
	rs, err := MarshalSolicitation(ipv6.LinkLocal(clientIID))
	if err != nil {
		t.Fatal(err)
	}
	wire.Scapy(t, fmt.Sprintf(`
ra = IPv6(bytes.fromhex(%q))
assert ra.hlim == 255 and ra.src == "fe80::1" and ra.dst == "ff02::1", ra.summary()
r = ra[ICMPv6ND_RA]
assert r.routerlifetime == 1800 and r.O == 1 and r.M == 0 and r.code == 0, r.show(dump=True)
pi = ra[ICMPv6NDOptPrefixInfo]
assert pi.prefix == "2001:db8:1:2::" and pi.prefixlen == 64 and pi.L == 1 and pi.A == 1, pi.show(dump=True)
assert pi.validlifetime == 30*24*3600 and pi.preferredlifetime == 7*24*3600
assert ra[ICMPv6NDOptMTU].mtu == 1492
d = ra[ICMPv6NDOptRDNSS]
assert d.dns == ["2001:db8:53::1", "2001:db8:53::2"] and d.lifetime == 1800, d.show(dump=True)
sent = r.cksum
del ra[ICMPv6ND_RA].cksum
assert IPv6(bytes(ra))[ICMPv6ND_RA].cksum == sent, "RA checksum"
rs = IPv6(bytes.fromhex(%q))
assert ICMPv6ND_RS in rs and rs.hlim == 255 and rs.dst == "ff02::2" and rs.src == "fe80::211:22ff:fe33:4455", rs.summary()
sent = rs[ICMPv6ND_RS].cksum
del rs[ICMPv6ND_RS].cksum
assert IPv6(bytes(rs))[ICMPv6ND_RS].cksum == sent, "RS checksum"
frames = []
`, hex.EncodeToString(a.ra), hex.EncodeToString(rs)))
}
