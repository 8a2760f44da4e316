package link

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// FuzzReceive feeds arbitrary frames to an Authenticator that has just
// sent its Configure-Request, then connects a real Peer. Nothing may panic,
// and the garbage must leave the link either dead (it may legitimately be
// told to terminate) or able to complete a negotiation up to NetworkUp.
//
// Input: a sequence of records Protocol(2) Length(1) Information(Length).
func FuzzReceive(f *testing.F) {
	seed := func(recs ...[]byte) []byte {
		var b []byte
		for _, r := range recs {
			b = append(b, r...)
		}
		return b
	}
	f.Add(seed([]byte{0xc0, 0x21, 4, 0x02, 0x01, 0x00, 0x04}))                               // Configure-Ack id 1, empty
	f.Add(seed([]byte{0xc0, 0x21, 4, 0x05, 0x07, 0x00, 0x04}))                               // Terminate-Request
	f.Add(seed([]byte{0xc0, 0x21, 8, 0x01, 0x09, 0x00, 0x08, 0x05, 0x04, 0x00, 0}))          // Configure-Request, magic short
	f.Add(seed([]byte{0xc0, 0x21, 6, 0x09, 0x01, 0x00, 0x06, 0x00, 0x00}))                   // Echo-Request short
	f.Add(seed([]byte{0x80, 0x21, 4, 0x01, 0x01, 0x00, 0x04}))                               // IPCP before Network
	f.Add(seed([]byte{0xc2, 0x23, 5, 0x02, 0x01, 0x00, 0x05, 0x00}))                         // CHAP Response early
	f.Add(seed([]byte{0xc0, 0x21, 8, 0x08, 0x01, 0x00, 0x08, 0x80, 0x21, 0x01, 0}))          // Protocol-Reject IPCP
	f.Add(seed([]byte{0xc0, 0x21, 4, 0x03, 0x01, 0x00, 0x04}))                               // Configure-Nak id 1, empty
	f.Add(seed([]byte{0xc0, 0x21, 9, 0x04, 0x01, 0x00, 0x09, 0x03, 0x05, 0xc2, 0x23, 0x81})) // Reject of auth
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang is a bug too: crash so the fuzzer keeps the input.
		guard := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("hang on % x", data)) })
		defer guard.Stop()
		x := newPair(t, serverConfig(), peerConfig())
		x.fromA(x.a.Up(x.now))
		x.toP = nil // the garbage comes first
		for len(data) >= 3 {
			proto := ppp.Protocol(binary.BigEndian.Uint16(data))
			n := min(int(data[2]), len(data)-3)
			info := data[3 : 3+n]
			data = data[3+n:]
			x.fromA(x.a.Receive(ppp.Frame{Protocol: proto, Information: info}, x.now))
		}
		x.toP = nil
		if x.a.Phase() == PhaseDead {
			if _, ok := find[Down](x.evA); !ok {
				t.Fatal("dead without Down")
			}
			return
		}
		x.fromP(x.p.Up(x.now))
		x.run(40)
		_, upA := find[NetworkUp](x.evA)
		_, downA := find[Down](x.evA)
		if !upA && !downA {
			t.Fatalf("stuck in %v (LCP %v): %s", x.a.Phase(), x.a.lcp.State(), eventsString(x.evA))
		}
		if count[Down](x.evA) > 1 {
			t.Fatal("Down reported twice")
		}
	})
}
