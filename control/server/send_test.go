package server

import (
	"bytes"
	"sync"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// recordConn keeps a copy of every frame written.
type recordConn struct {
	mu     sync.Mutex
	frames [][]byte
}

func (c *recordConn) ReadFrame([]byte) (int, error) { select {} }
func (c *recordConn) Close() error                  { return nil }
func (c *recordConn) WriteFrame(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, append([]byte(nil), b...))
	return nil
}

// TestSendFunc: a session's frames, built from its header encoded once
// in a pooled buffer, are byte for byte what encoding each frame whole
// gives (RFC 2516 §6: Ethernet with the circuit's tags, PPPoE with the
// session id and LENGTH, the PPP protocol, the information), one after
// another with different lengths, so that no byte of a longer earlier
// frame stays in a reused buffer.
func TestSendFunc(t *testing.T) {
	client := [6]byte{0x02, 0, 0, 0, 0, 9}
	circuits := map[string]pppoe.Circuit{
		"untagged": {Ifindex: 5, MAC: client},
		"802.1Q":   {Ifindex: 5, MAC: client, NumVLANs: 1, VLANs: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}}},
		"QinQ": {Ifindex: 5, MAC: client, NumVLANs: 2,
			VLANs: [2]ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 200}, {TPID: ethernet.EtherTypeVLAN, ID: 7}}},
	}
	frames := []ppp.Frame{
		{Protocol: ppp.ProtocolLCP, Information: bytes.Repeat([]byte{0xa5}, 300)}, // longer than the pool's first buffers
		{Protocol: ppp.ProtocolIPCP, Information: []byte{1, 1, 0, 10, 3, 6, 10, 0, 0, 1}},
		{Protocol: ppp.ProtocolLCP, Information: nil},
	}
	for name, c := range circuits {
		t.Run(name, func(t *testing.T) {
			conn := &recordConn{}
			p := &port{Port: Port{Conn: conn, Ifindex: 5, MAC: acMAC}}
			send := sendFunc(p, c, 0x1234)
			for _, f := range frames {
				if err := send(f); err != nil {
					t.Fatal(err)
				}
			}
			if len(conn.frames) != len(frames) {
				t.Fatalf("%d frames written, want %d", len(conn.frames), len(frames))
			}
			for i, f := range frames {
				payload, _ := f.MarshalBinary()
				want, err := pppoe.MarshalFrame(c.HardwareAddr(), acMAC, c.VLANList(),
					&pppoe.Packet{Code: pppoe.CodeSession, SessionID: 0x1234, Payload: payload})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(conn.frames[i], want) {
					t.Errorf("frame %d:\n got % x\nwant % x", i, conn.frames[i], want)
				}
			}
		})
	}
}
