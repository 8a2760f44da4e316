package radius

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

func TestFromConfig(t *testing.T) {
	c, err := config.Load(`/radius
add service=login address=192.0.2.9 secret=l
add service=ppp address=192.0.2.10 secret=one timeout=1s src-address=192.0.2.1
add service=ppp address=192.0.2.11 secret=off disabled=yes
add service=ppp,login address=2001:db8::10 secret=two authentication-port=1645 accounting-port=1646 require-message-authenticator=no
`)
	if err != nil {
		t.Fatal(err)
	}
	got := ServersFromConfig(c.Radius.Items(), "ppp")
	want := []Server{
		{Address: netip.MustParseAddr("192.0.2.10"), Secret: "one", AuthPort: 1812, AcctPort: 1813, Timeout: time.Second, SrcAddress: netip.MustParseAddr("192.0.2.1")},
		{Address: netip.MustParseAddr("2001:db8::10"), Secret: "two", AuthPort: 1645, AcctPort: 1646, Timeout: 300 * time.Millisecond, AcceptUnsigned: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d servers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("server %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
	clients := DynAuthClientsFromConfig(c.Radius.Items(), nil)
	if len(clients) != 3 || clients[0].Prefix != netip.MustParsePrefix("192.0.2.9/32") ||
		clients[2].Prefix != netip.MustParsePrefix("2001:db8::10/128") || clients[2].Secret != "two" {
		t.Errorf("clients: %+v", clients)
	}
	// /radius incoming address=: only the entries inside it.
	clients = DynAuthClientsFromConfig(c.Radius.Items(), config.AddressList{netip.MustParsePrefix("192.0.2.8/31"), netip.MustParsePrefix("2001:db8::/64")})
	if len(clients) != 2 || clients[0].Prefix != netip.MustParsePrefix("192.0.2.9/32") || clients[1].Prefix != netip.MustParsePrefix("2001:db8::10/128") {
		t.Errorf("clients inside the allow-list: %+v", clients)
	}
}
