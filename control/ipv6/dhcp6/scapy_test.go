package dhcp6

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// TestScapyExchange: scapy plays the client, Solicit with IA_PD and the
// DNS option requested; it dissects our Advertise, builds the Request
// from it, and dissects our Reply, checking the UDP checksums as it goes.
func TestScapyExchange(t *testing.T) {
	pd := newPool(t, "2001:db8:100::/40", 56)
	s := newServer(t, ServerConfig{Delegate: pd, DNS: []netip.Addr{dns1}, Preference: 255})
	sol := wire.Scapy(t, `
frames = [IPv6(src="fe80::2", dst="ff02::1:2")/UDP(sport=546, dport=547)/DHCP6_Solicit(trid=0x123456)/
    DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:02"))/DHCP6OptElapsedTime()/
    DHCP6OptIA_PD(iaid=7, iapdopt=[DHCP6OptIAPrefix(prefix="::", plen=56)])/DHCP6OptOptReq(reqopts=[23])]
`)
	res, err := s.Handle(t0, sol[0])
	if err != nil || res.Reply == nil {
		t.Fatalf("Solicit: %v", err)
	}
	checks := `
def check_udp(p):
    sent = p[UDP].chksum
    del p[UDP].chksum
    assert IPv6(bytes(p))[UDP].chksum == sent, "UDP checksum"
`
	req := wire.Scapy(t, checks+fmt.Sprintf(`
adv = IPv6(bytes.fromhex(%q))
assert adv.src == "fe80::1" and adv.dst == "fe80::2" and adv[UDP].sport == 547 and adv[UDP].dport == 546, adv.summary()
check_udp(adv.copy())
a = adv[DHCP6_Advertise]
assert a.trid == 0x123456
assert a[DHCP6OptClientId].duid.lladdr == "02:00:00:00:00:02"
assert a[DHCP6OptPref].prefval == 255
ia = a[DHCP6OptIA_PD]
assert ia.iaid == 7 and ia.T1 == 43200 and ia.T2 == 69120, ia.show(dump=True)
p = ia[DHCP6OptIAPrefix]
assert p.prefix == "2001:db8:100::" and p.plen == 56 and p.validlft == 86400, p.show(dump=True)
assert a[DHCP6OptDNSServers].dnsservers == ["2001:db8:53::1"]
frames = [IPv6(src="fe80::2", dst="ff02::1:2")/UDP(sport=546, dport=547)/DHCP6_Request(trid=0x654321)/
    DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:02"))/a[DHCP6OptServerId]/DHCP6OptElapsedTime()/
    DHCP6OptIA_PD(iaid=7, iapdopt=[DHCP6OptIAPrefix(prefix=p.prefix, plen=56)])/DHCP6OptOptReq(reqopts=[23])]
`, hex.EncodeToString(res.Reply)))
	res, err = s.Handle(t0, req[0])
	if err != nil || res.Reply == nil || len(res.Bound) != 1 {
		t.Fatalf("Request: %v, bound %v", err, res.Bound)
	}
	wire.Scapy(t, checks+fmt.Sprintf(`
rep = IPv6(bytes.fromhex(%q))
check_udp(rep.copy())
r = rep[DHCP6_Reply]
assert r.trid == 0x654321
p = r[DHCP6OptIA_PD][DHCP6OptIAPrefix]
assert p.prefix == "2001:db8:100::" and p.plen == 56 and p.preflft == 86400, p.show(dump=True)
frames = []
`, hex.EncodeToString(res.Reply)))
	if got := s.Delegated(); len(got) != 1 || got[0] != netip.MustParsePrefix("2001:db8:100::/56") {
		t.Fatalf("delegated %v", got)
	}
}
