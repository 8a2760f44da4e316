package dhcp6

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// seedMessages are DHCPv6 payloads of a real exchange, our client's.
func seedMessages(f *testing.F) [][]byte {
	c, _ := NewClient(ClientConfig{DUID: clientID, LocalID: clientIID, IAID: [4]byte{0, 0, 0, 1}, RequestPrefix: true, RequestAddress: true, RapidCommit: true}, nil)
	c.Start(t0)
	pkt, _, _ := c.Step(t0.Add(time.Second))
	p, _ := ipv6.Parse(pkt)
	u, _ := ipv6.ParseUDP(p)
	return [][]byte{u.Payload}
}

// FuzzServerHandle feeds the server any DHCPv6 message from the client's
// link-local address: never a panic, and whatever it did, Close returns
// every prefix to the pool.
func FuzzServerHandle(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		pd := newPoolF(t)
		s, err := NewServer(ServerConfig{ServerID: serverID, LocalID: serverIID, Delegate: pd, Link: link64, DNS: []netip.Addr{dns1}, RapidCommit: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := ipv6.MarshalUDP(ipv6.LinkLocal(clientIID), ipv6.AllDHCPRelayAgentsAndServers, 1, ipv6.UDP{SrcPort: ClientPort, DstPort: ServerPort, Payload: payload})
		if err != nil {
			return
		}
		res, err := s.Handle(t0, pkt)
		if err == nil && res.Reply != nil {
			if _, err := parse(res.Reply, ClientPort); err != nil {
				t.Fatalf("our reply does not parse: %v", err)
			}
		}
		s.Close()
		if pd.Used() != 0 {
			t.Fatalf("%d prefixes left in use after Close", pd.Used())
		}
	})
}

// FuzzClientHandle feeds a soliciting and a bound client any message: no
// panic, and a lease it takes has a prefix.
func FuzzClientHandle(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := NewClient(ClientConfig{DUID: clientID, LocalID: clientIID, IAID: [4]byte{0, 0, 0, 1}, RequestPrefix: true, RapidCommit: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Start(t0)
		c.Step(t0.Add(time.Second))
		if len(payload) >= 4 {
			// Let the fuzzer hit the transaction without guessing it.
			copy(payload[1:4], c.ex.msg.TransactionID[:])
		}
		pkt, err := ipv6.MarshalUDP(ipv6.LinkLocal(serverIID), ipv6.LinkLocal(clientIID), 64, ipv6.UDP{SrcPort: ServerPort, DstPort: ClientPort, Payload: payload})
		if err != nil {
			return
		}
		if _, _, err := c.Handle(t0.Add(time.Second), pkt); err != nil && errors.Is(err, ErrDropped) {
			return
		}
		if l, ok := c.Lease(); ok && !l.Prefix.IsValid() {
			t.Fatalf("lease without a prefix: %+v", l)
		}
	})
}
