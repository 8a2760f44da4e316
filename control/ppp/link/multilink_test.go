package link

import (
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
)

// TestMultilinkNegotiation runs both roles against each other with mrru on
// both ends, on one, on neither (RFC 1990 §5.1.1): MP is up only when both
// asked and both acked, and the link comes up either way.
func TestMultilinkNegotiation(t *testing.T) {
	win := uint16(lcp.WindowsMRRU)
	tests := []struct {
		name         string
		server, peer lcp.MultilinkPolicy
		// want is the server's outcome; the peer's is its mirror.
		want lcp.Multilink
		// rejected: the MRRU option the server (or peer) sent was
		// Configure-Rejected.
		serverRejected, peerRejected bool
	}{
		{name: "both", server: lcp.MultilinkPolicy{MRRU: win}, peer: lcp.MultilinkPolicy{MRRU: win},
			want: lcp.Multilink{RecvMRRU: win, SendMRRU: win}},
		{name: "different mrru", server: lcp.MultilinkPolicy{MRRU: 1600}, peer: lcp.MultilinkPolicy{MRRU: 4000},
			want: lcp.Multilink{RecvMRRU: 1600, SendMRRU: 4000}},
		{name: "peer short sequence", server: lcp.MultilinkPolicy{MRRU: win},
			peer: lcp.MultilinkPolicy{MRRU: win, ShortSeq: true, Endpoint: &lcp.EndpointDiscriminator{Class: lcp.ClassNull}},
			want: lcp.Multilink{RecvMRRU: win, SendMRRU: win, SendShortSeq: true,
				PeerEndpoint: &lcp.EndpointDiscriminator{Class: lcp.ClassNull}}},
		{name: "server only", server: lcp.MultilinkPolicy{MRRU: win}, serverRejected: true},
		{name: "peer only", peer: lcp.MultilinkPolicy{MRRU: win}, peerRejected: true},
		{name: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, pc := serverConfig(), peerConfig()
			sc.Multilink, pc.Multilink = tt.server, tt.peer
			x := newPair(t, sc, pc)
			x.up()
			x.run(5)
			upA, okA := find[NetworkUp](x.evA)
			upP, okP := find[NetworkUp](x.evP)
			if !okA || !okP {
				t.Fatalf("link not up: server %s, peer %s", eventsString(x.evA), eventsString(x.evP))
			}
			got := upA.Info.Multilink
			if got.RecvMRRU != tt.want.RecvMRRU || got.SendMRRU != tt.want.SendMRRU ||
				got.RecvShortSeq != tt.want.RecvShortSeq || got.SendShortSeq != tt.want.SendShortSeq ||
				(got.PeerEndpoint == nil) != (tt.want.PeerEndpoint == nil) {
				t.Errorf("server multilink %+v, want %+v", got, tt.want)
			}
			mirror := lcp.Multilink{RecvMRRU: tt.want.SendMRRU, SendMRRU: tt.want.RecvMRRU,
				RecvShortSeq: tt.want.SendShortSeq, SendShortSeq: tt.want.RecvShortSeq}
			if p := upP.Info.Multilink; p.RecvMRRU != mirror.RecvMRRU || p.SendMRRU != mirror.SendMRRU ||
				p.RecvShortSeq != mirror.RecvShortSeq || p.SendShortSeq != mirror.SendShortSeq {
				t.Errorf("peer multilink %+v, want %+v", p, mirror)
			}
			if a := upA.Info.Multilink.Active(); a != (tt.want.RecvMRRU != 0) {
				t.Errorf("server Active %v", a)
			}
			if r := rejectsMRRU(t, x.sentP); r != tt.serverRejected {
				t.Errorf("peer rejected the server's MRRU: %v, want %v", r, tt.serverRejected)
			}
			if r := rejectsMRRU(t, x.sentA); r != tt.peerRejected {
				t.Errorf("server rejected the peer's MRRU: %v, want %v", r, tt.peerRejected)
			}
		})
	}
}

// TestMultilinkNak: a peer that Naks our MRRU lower gets it (RFC 1661
// §5.3), and MP comes up at the lower value.
func TestMultilinkNak(t *testing.T) {
	sc, pc := serverConfig(), peerConfig()
	sc.Multilink = lcp.MultilinkPolicy{MRRU: 4000}
	pc.Multilink = lcp.MultilinkPolicy{MRRU: lcp.WindowsMRRU}
	x := newPair(t, sc, pc)
	// The peer's answer to the server's first request is replaced by a
	// Nak suggesting MRRU 1600, as a peer with a smaller buffer sends.
	naked := false
	x.deliverToA = func(f ppp.Frame) bool {
		var p ppp.Packet
		if naked || f.Protocol != ppp.ProtocolLCP || p.UnmarshalBinary(f.Information) != nil || p.Code != ppp.ConfigureAck {
			return true
		}
		naked = true
		nak := ppp.Packet{Code: ppp.ConfigureNak, Identifier: p.Identifier, Data: []byte{17, 4, 0x06, 0x40}} // MRRU 1600
		b, _ := nak.MarshalBinary()
		x.fromA(x.a.Receive(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b}, x.now))
		return false
	}
	x.up()
	x.run(5)
	upA, ok := find[NetworkUp](x.evA)
	if !ok || !naked {
		t.Fatalf("not up (naked %v): %s", naked, eventsString(x.evA))
	}
	if m := upA.Info.Multilink; m.RecvMRRU != 1600 || m.SendMRRU != uint16(lcp.WindowsMRRU) {
		t.Errorf("server multilink %+v, want receive 1600 send 1614", m)
	}
}

// rejectsMRRU reports whether fs hold an LCP Configure-Reject of an MRRU.
func rejectsMRRU(t *testing.T, fs []ppp.Frame) bool {
	t.Helper()
	for _, p := range packets(t, fs, ppp.ProtocolLCP, ppp.ConfigureReject) {
		opts, err := ppp.ParseOptions(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range opts {
			if lcp.Type(o.Type) == lcp.TypeMRRU {
				return true
			}
		}
	}
	return false
}
