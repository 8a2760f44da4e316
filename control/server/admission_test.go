package server

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// raw plays a subscriber frame by frame, straight into the port's handler
// with a clock of its own: PADRs of a flood, late retransmissions. Nothing
// else may write to the hub while it is used (the port's reader would run
// handle concurrently).
type raw struct {
	r    *rig
	p    *port
	d    *disc
	mac  net.HardwareAddr
	now  time.Time
	ck   pppoe.ACCookie
	seen map[uint16]bool
}

func (r *rig) raw(m net.HardwareAddr) *raw {
	r.srv.mu.RLock()
	p := r.srv.ports["ether1"]
	d := p.discs[stack{}]
	r.srv.mu.RUnlock()
	return &raw{r: r, p: p, d: d, mac: m, now: time.Now()}
}

// padi sends one PADI and keeps the AC-Cookie of the PADO.
func (w *raw) padi() {
	w.r.t.Helper()
	b, err := pppoe.MarshalFrame(ethernet.Broadcast, w.mac, nil, &pppoe.Packet{Code: pppoe.CodePADI,
		Tags: []pppoe.Tag{pppoe.ServiceName("")}})
	if err != nil {
		w.r.t.Fatal(err)
	}
	out := w.d.srv.Handle(b, w.now)
	if len(out) != 1 {
		w.r.t.Fatalf("PADI: %d replies", len(out))
	}
	_, pado, err := pppoe.ParseFrame(out[0])
	if err != nil {
		w.r.t.Fatal(err)
	}
	w.ck, _ = pppoe.FindTag[pppoe.ACCookie](pado.Tags)
}

// padr sends a PADR with the cookie and Host-Uniq hu through the port, as
// the socket reader would, at w.now.
func (w *raw) padr(hu string) {
	w.r.t.Helper()
	b, err := pppoe.MarshalFrame(acMAC, w.mac, nil, &pppoe.Packet{Code: pppoe.CodePADR,
		Tags: []pppoe.Tag{pppoe.ServiceName(""), pppoe.HostUniq(hu), w.ck}})
	if err != nil {
		w.r.t.Fatal(err)
	}
	w.p.handle(b, w.now)
}

// of counts the live sessions of a MAC.
func (r *rig) of(m net.HardwareAddr) int {
	n := 0
	for _, s := range r.srv.Sessions() {
		if s.Circuit.HardwareAddr().String() == m.String() {
			n++
		}
	}
	return n
}

// TestCookieReuseFlood is the half-open flood of one host: one PADI, then
// PADRs reusing its AC-Cookie with a new Host-Uniq each. The host gets a
// bounded number of attempts, and they do not count against max-sessions:
// another subscriber still comes up.
func TestCookieReuseFlood(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no max-sessions=50`)
	w := r.raw(mac(0x66))
	w.padi()
	for i := range 60 {
		w.padr(string(rune('A' + i)))
	}
	if n := r.of(w.mac); n > 2 {
		t.Errorf("the flooding host holds %d half-open sessions", n)
	}
	c, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatalf("a subscriber after the flood: %v", err)
	}
	c.waitUp(t)
}

// TestLatePADRRetransmission: a client that lost the PADS retransmits its
// PADR (same cookie, same Host-Uniq) after the discovery server's
// duplicate window. While that attempt lives it is the same attempt: the
// same session id, no second session.
func TestLatePADRRetransmission(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	w := r.raw(mac(0x42))
	w.padi()
	w.padr("retry")
	first := r.srv.Sessions()
	w.now = w.now.Add(pppoe.DefaultDuplicateWindow + time.Second)
	w.padr("retry")
	again := r.srv.Sessions()
	if len(first) != 1 || len(again) != 1 || again[0].SessionID != first[0].SessionID {
		t.Fatalf("sessions after the PADR %+v, after its late retransmission %+v", first, again)
	}
	// Another Host-Uniq is another attempt.
	w.padr("other")
	if n := r.of(w.mac); n != 2 {
		t.Errorf("%d sessions after a second Host-Uniq, want 2", n)
	}
}

// TestHalfOpenNotCountedForMaxSessions: max-sessions counts established
// sessions. An attempt that never gets past LCP does not take the last
// slot from a subscriber who completes.
func TestHalfOpenNotCountedForMaxSessions(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no max-sessions=1`)
	w := r.raw(mac(0x66))
	w.padi()
	w.padr("silent")
	if n := r.of(w.mac); n != 1 {
		t.Fatalf("%d half-open sessions", n)
	}
	c, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatalf("a subscriber beside a half-open attempt: %v", err)
	}
	c.waitUp(t)
}

// TestRemoveEndsOnlyTheNamedSession: PPPoE session ids are unique per
// client MAC only (RFC 2516 §4) and the allocator wraps, so two
// subscribers can hold the same id. Removing one leaves the other up.
func TestRemoveEndsOnlyTheNamedSession(t *testing.T) {
	r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
	c1, err := r.dial(mac(1), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c1.waitUp(t)
	// Walk the allocator's cursor round: mac(2) gets mac(1)'s id.
	dummy := [6]byte{0x02, 0xff}
	for range 0xfffd {
		id, err := r.srv.ids.Allocate(dummy)
		if err != nil {
			t.Fatal(err)
		}
		r.srv.ids.Release(dummy, id)
	}
	c2, err := r.dial(mac(2), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c2.waitUp(t)
	if c1.sess.SessionID != c2.sess.SessionID {
		t.Fatalf("session ids %d and %d: the test needs them equal", c1.sess.SessionID, c2.sess.SessionID)
	}
	var h2 session.ID
	for _, s := range r.srv.Sessions() {
		if s.CallerID == "02:00:00:00:00:02" {
			h2 = s.ID
		}
	}
	if n := r.srv.Remove(h2); n != 1 {
		t.Fatalf("Remove(%v) = %d", h2, n)
	}
	c2.waitPADT(t)
	ss := r.srv.Sessions()
	if len(ss) != 1 || ss[0].CallerID != "02:00:00:00:00:01" {
		t.Fatalf("after removing mac 2's session: %+v", ss)
	}
	select {
	case <-c1.padt:
		t.Fatal("mac 1's session got a PADT")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestHalfOpenLogLines: sessions that never came up do not write an Info
// line each (a flood would write one per PADR): a few do, the rest are
// summed up in one line.
func TestHalfOpenLogLines(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	r := newRigWith(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`,
		func(o *Options) { o.Log = zap.New(core) })
	const hosts = 200
	for i := range hosts {
		w := r.raw(net.HardwareAddr{0x02, 0x66, 0, 0, byte(i >> 8), byte(i)})
		w.padi()
		w.padr("x")
	}
	if n := len(r.srv.Sessions()); n != hosts {
		t.Fatalf("%d half-open sessions, want %d", n, hosts)
	}
	r.srv.Close()
	down := logs.FilterMessage("session down").Len()
	if down > 50 || logs.Len() > 60 {
		t.Errorf("%d half-open sessions wrote %d session down lines, %d lines in all", hosts, down, logs.Len())
	}
}

// TestPADRFlood sends 20,000 PADRs with valid cookies, from one host with a
// Host-Uniq each and from 20,000 hosts, and checks that the half-open
// sessions, their goroutines and the memory they hold stay bounded by
// max-starting. The figures it logs are the README's.
func TestPADRFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 PADRs")
	}
	const padrs = 20000
	for _, hosts := range []int{1, padrs} {
		t.Run(fmt.Sprintf("%d hosts", hosts), func(t *testing.T) {
			r := newRig(t, `/interface pppoe-server server add service-name=internet interface=ether1 disabled=no`)
			goBefore, memBefore := usage()
			start := time.Now()
			var w *raw
			for i := range padrs {
				if i%(padrs/hosts) == 0 {
					w = r.raw(net.HardwareAddr{0x02, 0x66, 0, byte(i >> 16), byte(i >> 8), byte(i)})
					w.padi()
				}
				w.padr(fmt.Sprint(i))
			}
			took := time.Since(start)
			sessions := len(r.srv.Sessions())
			goAfter, memAfter := usage()
			grew := (int64(memAfter) - int64(memBefore)) / 1e6
			t.Logf("%d PADRs from %d hosts in %v: %d half-open sessions, %d goroutines more, heap and stacks %+d MB",
				padrs, hosts, took.Round(time.Millisecond), sessions, goAfter-goBefore, grew)
			// Before the bounds: 20,000 sessions, 20,000 goroutines, +200 MB.
			if limit := DefaultMaxStarting; sessions > limit || goAfter-goBefore > limit+10 || grew > 64 {
				t.Errorf("%d sessions, %d goroutines, %d MB: max-starting is %d", sessions, goAfter-goBefore, grew, limit)
			}
			if cn := r.srv.Counters(); cn.HalfOpen != sessions || cn.Refused != uint64(padrs-sessions) {
				t.Errorf("counters %+v", cn)
			}
		})
	}
}

// usage returns the goroutines, and the live heap plus the goroutine stacks
// after a collection.
func usage() (int, uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc + m.StackInuse
}
