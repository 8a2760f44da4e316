package daemon

import (
	"net"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestAdoptIPv6OnlyRejectsIPCP: an AC offering IPv6 alone rejects its
// subscriber's IPCP (RFC 1661 §5.7 Protocol-Reject); after a kill -9 and
// the adoption of the session, an IPCP Configure-Request from the
// subscriber is Protocol-Rejected as before, and the session goes on.
// Before, the adopted link had forgotten there was no IPv4 and dropped
// it unanswered.
func TestAdoptIPv6OnlyRejectsIPCP(t *testing.T) {
	t.Parallel()
	netns.RequireTool(t, "tshark")
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	l.ipv6Core(t)
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", v6OnlyServer, l.pins, "--uplink", "up0", "--state-dir", stateDir)
	var mux *peer.Mux
	must(t, l.cl.Do(t, func() (err error) { mux, err = peer.Listen("ether2"); return err }))
	defer mux.Close()
	// A subscriber running IPCP too: the AC rejects it, IPv6CP opens.
	one := dial6(t, mux, net.HardwareAddr{0x02, 0xd6, 0, 0, 0, 2}, "one", "p1", false)
	before := ac.active()
	if len(before) != 1 || before[0]["address"] != "" {
		t.Fatalf("active %v, want one session without IPv4", before)
	}

	ac2 := crashAndAdopt(t, l, ac, v6OnlyServer, stateDir, 1)
	capture := l.cl.StartCapture(t, "ether2")
	req, err := (&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 0x51, Data: []byte{3, 6, 0, 0, 0, 0}}).MarshalBinary()
	must(t, err)
	must(t, one.c.SendPPP(ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: req}))
	time.Sleep(time.Second)
	capture.Stop()
	acMAC := linkMAC(t, l.ac, "ether3")
	rejects := 0
	for _, r := range capture.Fields(t, "lcp.rej_proto == 0x8021", "eth.src") {
		if r[0] == acMAC {
			rejects++
		}
	}
	if rejects != 1 {
		t.Errorf("%d Protocol-Rejects of IPCP from the adopted AC, want 1", rejects)
	}
	after := ac2.active()
	if len(after) != 1 || after[0][".id"] != before[0][".id"] || after[0]["address"] != "" {
		t.Errorf("active after %v, before %v", after, before)
	}
	if one.c.GotPADT() {
		t.Error("the subscriber got a PADT")
	}
}
