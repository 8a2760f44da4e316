package server

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// TestSlowStoreEchoAnswered: while the state store cannot take a write
// (its writer held, as a slow disk holds it), a session whose record is
// waiting to be written still answers an LCP Echo-Request at once: the
// record's write is queued for the state.Writer, never done on the
// session's event loop. Once the store moves again the record is in it.
func TestSlowStoreEchoAnswered(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	gate, holding := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := state.NewWriter(store, state.WriterOptions{BeforeCommit: func() {
		once.Do(func() { close(holding) })
		<-gate
	}})
	defer w.Close()
	released := sync.OnceFunc(func() { close(gate) })
	defer released()
	r := newRigWith(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`, func(o *Options) {
		o.State = w
	})
	c, err := r.dial(mac(1), nil, "internet")
	if err != nil {
		t.Fatal(err)
	}
	info := c.waitUp(t)
	select {
	case <-holding:
	case <-time.After(3 * time.Second):
		t.Fatal("the session's record never reached the writer")
	}
	// The client's loop would answer for us: stop it, keep its socket.
	close(c.stop)
	<-c.done
	echo := []byte{0xc0, 0x21, 0x09, 0x2a, 0x00, 0x08, 0, 0, 0, 0} // LCP Echo-Request id 42, magic below
	binary.BigEndian.PutUint32(echo[6:], info.LocalMagic)
	frame, _ := pppoe.MarshalFrame(c.sess.ACMAC, c.mac, nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: c.sess.SessionID, Payload: echo})
	sent := time.Now()
	c.ep.WriteFrame(frame)
	c.ep.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	for {
		n, err := c.ep.ReadFrame(buf)
		if err != nil {
			t.Fatalf("no Echo-Reply while the store is held: %v", err)
		}
		f, p, err := pppoe.ParseFrame(buf[:n])
		if err != nil || f.Destination.String() != c.mac.String() || p.Code != pppoe.CodeSession || len(p.Payload) < 4 {
			continue
		}
		if pl := p.Payload; pl[0] == 0xc0 && pl[1] == 0x21 && pl[2] == 0x0a && pl[3] == 0x2a {
			break
		}
	}
	// Generous for a loaded machine; the store stays held far longer.
	if d := time.Since(sent); d > time.Second {
		t.Errorf("Echo-Reply after %v", d)
	}
	if recs, _, _ := store.Sessions(); len(recs) != 0 {
		t.Fatalf("%d records in the file while the writer is held", len(recs))
	}
	released()
	w.Flush()
	if recs, _, _ := store.Sessions(); len(recs) != 1 || recs[0].SessionID != c.sess.SessionID {
		t.Errorf("records after the store moved: %+v", recs)
	}
}
