package fsm

import (
	"bytes"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// FuzzReceive drives an automaton with a script: each step is an opcode
// octet, and opcode 0 is followed by a control packet as on the wire. It
// checks nothing panics, the state reported is the state held, every packet
// sent survives marshal → unmarshal → marshal, a Configure-Ack echoes the
// request it answers, a Nak/Reject carries well-formed options, and the
// restart timer runs exactly in the states RFC 1661 §4.2 says.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{4, 2, 0, 1, 1, 0, 7, 1, 3, 50}) // Open, Up, Configure-Request id 1 [number 50]
	f.Add([]byte{4, 2, 0, 2, 1, 0, 7, 1, 3, 7})  // Open, Up, Configure-Ack id 1 [number 7]
	f.Add([]byte{4, 2, 0, 3, 1, 0, 7, 1, 3, 99, 0, 1, 1, 0, 4, 0, 2, 1, 0, 4, 0, 9, 3, 0, 8, 0, 0, 0, 0})
	f.Add([]byte{4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1})
	f.Add([]byte{4, 2, 0, 5, 2, 0, 4, 3, 0, 7, 1, 0, 4, 0, 6, 1, 0, 4})
	f.Fuzz(func(t *testing.T, script []byte) {
		n := newNeg(7)
		n.lo, n.hi, n.prefer = 0, 100, 100
		a := New(requirer{n}, Config{MaxFailure: 2, PeerMRU: 64, Extension: echoExt{magic: []byte{1, 2, 3, 4}}})
		timer := false
		for len(script) > 0 {
			op := script[0] % 6
			script = script[1:]
			var o Output
			var in *ppp.Packet
			switch op {
			case 0:
				var p ppp.Packet
				if err := p.UnmarshalBinary(script); err != nil {
					return
				}
				length := ppp.HeaderLen + len(p.Data)
				p.Data = bytes.Clone(p.Data)
				in = &p
				script = script[length:]
				o = a.Receive(in)
			case 1:
				o = a.Timeout()
			case 2:
				o = a.Up()
			case 3:
				o = a.Down()
			case 4:
				o = a.Open()
			case 5:
				o = a.Close()
			}
			if o.To != a.State() {
				t.Fatalf("output says %v, automaton is in %v", o.To, a.State())
			}
			switch o.Timer {
			case TimerStart:
				timer = true
			case TimerStop:
				timer = false
			}
			if timer != a.State().timed() {
				t.Fatalf("%v -> %v (%v): timer running=%v", o.From, o.To, actions(o), timer)
			}
			for _, p := range o.Packets() {
				b, err := p.MarshalBinary()
				if err != nil {
					t.Fatalf("marshal %v: %v", p.Code, err)
				}
				var q ppp.Packet
				if err := q.UnmarshalBinary(b); err != nil {
					t.Fatalf("unmarshal own %v: %v", p.Code, err)
				}
				if b2, _ := q.MarshalBinary(); !bytes.Equal(b, b2) {
					t.Fatalf("%v: % x re-marshals to % x", p.Code, b, b2)
				}
				switch p.Code {
				case ppp.ConfigureAck:
					if in == nil || in.Code != ppp.ConfigureRequest || p.Identifier != in.Identifier || !bytes.Equal(p.Data, in.Data) {
						t.Fatalf("Configure-Ack % x does not echo the request", p.Data)
					}
				case ppp.ConfigureNak, ppp.ConfigureReject, ppp.ConfigureRequest:
					if _, err := ppp.ParseOptions(p.Data); err != nil {
						t.Fatalf("own %v carries bad options % x: %v", p.Code, p.Data, err)
					}
				case ppp.CodeReject:
					if len(p.Data) > 64-ppp.HeaderLen {
						t.Fatalf("Code-Reject of %d octets exceeds the peer MRU", len(p.Data))
					}
				}
			}
		}
	})
}
