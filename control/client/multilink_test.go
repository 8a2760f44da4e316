package client

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/mp"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// TestMultilink: the client offers its mrru (RFC 1990 §5.1) when its
// netdev runs multilink's user-space half; with the AC's too, MP is up:
// monitor shows active-links 1 and the MRRU, the session is installed
// with MP, the clamp following the MRRU and the netdev's MTU the AC's
// MRRU, and diverted packets have somewhere to go. With mrru on one end
// only, or a netdev that cannot do MP, the client connects without it.
func TestMultilink(t *testing.T) {
	for _, tt := range []struct {
		name     string
		client   string
		ac       uint16
		noMP     bool // the netdev is not an MPNetdev
		want     psession.MP
		mss, mtu uint16
	}{
		{name: "both", client: "1614", ac: 1614, want: psession.MP{On: true, MRRU: 1614}, mss: 1574, mtu: 1614},
		{name: "client only", client: "1614", mss: 1420, mtu: 1460},
		{name: "ac only", client: "disabled", ac: 1614, mss: 1420, mtu: 1460},
		{name: "netdev without mp", client: "1614", ac: 1614, noMP: true, mss: 1420, mtu: 1460},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.dp.mp = !tt.noMP
			ac := newTestAC(t, e.hub, acOptions{
				name: "MikroTik", mac: acMAC, services: []string{"pppoeservice"},
				local: "10.0.0.1", pool: []string{"10.0.0.2"},
				secrets: map[string]string{"MT-User": "StrongPass"}, mrru: tt.ac,
			})
			c, _ := e.start(t, loadClient(t, quickExampleClient+" mrru="+tt.client))
			waitFor(t, "connected", connected(c))
			st := c.Monitor()
			if st.ActiveLinks != 1 || st.MRRU != int(tt.want.MRRU) {
				t.Errorf("monitor active-links %d mrru %d, want 1 %d", st.ActiveLinks, st.MRRU, tt.want.MRRU)
			}
			nd, ok := e.dp.get("PPPoE-Out")
			if !ok || nd.session == nil {
				t.Fatalf("no session installed")
			}
			s := *nd.session
			if s.MP != tt.want || s.MSS != tt.mss || s.RouteMTU() != tt.mtu || s.MTU != 1460 {
				t.Errorf("installed MP %+v MSS %d route MTU %d MTU %d, want %+v %d %d 1460", s.MP, s.MSS, s.RouteMTU(), s.MTU, tt.want, tt.mss, tt.mtu)
			}
			if nd.divert != tt.want.On {
				t.Errorf("divert registered %v, want %v", nd.divert, tt.want.On)
			}
			// With MP up, the AC got the client's Endpoint-Discriminator:
			// class 3, the interface's MAC (RFC 1990 §5.1.3).
			ac.mu.Lock()
			for _, as := range ac.sessions {
				ep := as.lk.Info().Multilink.PeerEndpoint
				if tt.want.On && (ep == nil || ep.Class != lcp.ClassMAC || !bytes.Equal(ep.Address, clientMAC)) {
					t.Errorf("the AC saw Endpoint-Discriminator %+v, want class 3 with %v", ep, clientMAC)
				}
			}
			ac.mu.Unlock()
		})
	}
}

// TestMultilinkInjectsIPv6: what the client reassembles from the AC's MP
// fragments goes into the netdev, IPv6 as IPv4, as the data plane hands
// a client's netdev every whole packet of either.
func TestMultilinkInjectsIPv6(t *testing.T) {
	e := newEnv(t)
	e.dp.mp = true
	ac := newTestAC(t, e.hub, acOptions{
		name: "MikroTik", mac: acMAC, services: []string{"pppoeservice"},
		local: "10.0.0.1", pool: []string{"10.0.0.2"},
		secrets: map[string]string{"MT-User": "StrongPass"}, mrru: 1614,
	})
	c, _ := e.start(t, loadClient(t, quickExampleClient+" mrru=1614"))
	waitFor(t, "connected", connected(c))

	fr := mp.NewFragmenter(mp.Long, 1614)
	var frames []ppp.Frame
	for _, x := range []struct {
		proto ppp.Protocol
		first byte
	}{{ppp.ProtocolIPv6, 0x60}, {ppp.ProtocolIPv4, 0x45}} {
		pkt := make([]byte, 1500)
		pkt[0] = x.first
		frags, err := fr.Fragment(x.proto, pkt, 1400)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frags {
			frames = append(frames, ppp.Frame{Protocol: ppp.ProtocolMP, Information: f})
		}
	}
	ac.mu.Lock()
	for k, s := range ac.sessions {
		ac.output(k, s, link.Output{Send: frames})
	}
	ac.mu.Unlock()
	waitFor(t, "two packets injected", func() bool {
		nd, _ := e.dp.get("PPPoE-Out")
		return len(nd.injected) == 2
	})
	nd, _ := e.dp.get("PPPoE-Out")
	if !slices.Equal(nd.injected, []ppp.Protocol{ppp.ProtocolIPv6, ppp.ProtocolIPv4}) {
		t.Fatalf("injected %v, want IPv6 then IPv4", nd.injected)
	}
}
