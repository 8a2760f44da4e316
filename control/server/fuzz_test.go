package server

import (
	"net"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// FuzzHandle feeds arbitrary frames to a port's dispatcher: no panic, and
// nothing but a PADR with a valid cookie may create a session.
func FuzzHandle(f *testing.F) {
	padi, _ := pppoe.MarshalFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac(1), nil, &pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName("")}})
	sess, _ := pppoe.MarshalFrame(acMAC, mac(1), nil, &pppoe.Packet{Code: pppoe.CodeSession, SessionID: 1, Payload: []byte{0xc0, 0x21, 1, 1, 0, 4}})
	padt, _ := pppoe.MarshalFrame(acMAC, mac(1), nil, &pppoe.Packet{Code: pppoe.CodePADT, SessionID: 1})
	for _, seed := range [][]byte{padi, sess, padt, {}, padi[:14], sess[:20]} {
		f.Add(seed)
	}
	r := newRig(f, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	defer r.srv.Close()
	p := r.srv.ports["ether1"]
	f.Fuzz(func(t *testing.T, frame []byte) {
		p.handle(frame, time.Now())
		if n := len(r.srv.Sessions()); n != 0 {
			t.Fatalf("%d sessions from a forged frame", n)
		}
	})
}
