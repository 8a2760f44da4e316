package client

import (
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	psession "github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// FuzzHandle feeds arbitrary frames to a session's receive path, which
// parses whatever the segment carries: no panic, and only a PADT of this
// session from its AC ends it. The codecs it calls have their own
// parse→marshal→parse fuzz targets in pppoe and ppp.
func FuzzHandle(f *testing.F) {
	ps := pppoe.Session{ACMAC: acMAC, LocalMAC: clientMAC, SessionID: 0x1234}
	padt, _ := ps.PADT("")
	copy(padt[0:6], clientMAC) // AC → client
	copy(padt[6:12], acMAC)
	lcp, _ := (&ppp.Frame{Protocol: ppp.ProtocolLCP, Information: []byte{
		0x01,       // Code: Configure-Request
		0x01,       // Identifier
		0x00, 0x0a, // Length 10
		0x05, 0x06, 0x11, 0x22, 0x33, 0x44, // Magic-Number 0x11223344
	}}).MarshalBinary()
	sessFrame, _ := pppoe.MarshalFrame(clientMAC, acMAC, nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: 0x1234, Payload: lcp})
	f.Add(padt)
	f.Add(sessFrame)
	f.Add(sessFrame[:20]) // truncated inside the PPPoE header
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &env{dp: newFakeDP(), routes: newFakeRoutes()}
		c, err := New(loadClientNoT(quickExampleClient), Deps{Interfaces: &fakeInterfaces{}, DataPlane: e.dp, Routes: e.routes, Timing: fastTiming}, nil)
		if err != nil {
			t.Fatal(err)
		}
		lk, err := link.New(link.Config{Role: link.Peer, User: "u", Password: "p", Magic: func() uint32 { return 1 }})
		if err != nil {
			t.Fatal(err)
		}
		nd, _ := e.dp.Netdev("x", 1460)
		s := &session{c: c, att: Attachment{Conn: discard{}, MAC: clientMAC}, nd: nd, ps: ps, lk: lk, log: c.log,
			eng: psession.NewEngine(lk, time.Now, frameQueue)}
		now := time.Unix(1000, 0)
		s.Start(now)
		s.handle(b)
		s.eng.Step(s, now)
		fr, p, perr := pppoe.ParseFrame(b)
		isOurPADT := perr == nil && len(fr.VLANs) == 0 && p.Code == pppoe.CodePADT && p.SessionID == ps.SessionID &&
			string(b[0:6]) == string(clientMAC) && string(b[6:12]) == string(acMAC)
		if s.padtFromAC != isOurPADT {
			t.Errorf("padtFromAC=%v for a frame that is our PADT: %v", s.padtFromAC, isOurPADT)
		}
	})
}

type discard struct{}

func (discard) ReadFrame([]byte) (int, error)   { return 0, ErrClosed }
func (discard) WriteFrame([]byte) error         { return nil }
func (discard) SetReadDeadline(time.Time) error { return nil }
func (discard) Close() error                    { return nil }
