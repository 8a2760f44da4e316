package link

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// magicSeq returns a Magic generator yielding vs, then counting up from
// the last.
func magicSeq(vs ...uint32) func() uint32 {
	i := 0
	return func() uint32 {
		if i < len(vs) {
			i++
			return vs[i-1]
		}
		vs[len(vs)-1]++
		return vs[len(vs)-1]
	}
}

// seeded is a deterministic Rand.
func seeded(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

var testIP = IPConfig{
	Local:  netip.MustParseAddr("10.0.0.1"),
	Remote: netip.MustParseAddr("10.0.0.2"),
	DNS1:   netip.MustParseAddr("192.0.2.53"),
	DNS2:   netip.MustParseAddr("192.0.2.54"),
}

func secrets(user, pw string) Passwords {
	return func(u string) (string, bool) { return pw, u == user }
}

func serverConfig() Config {
	return Config{
		Role:      Authenticator,
		Methods:   []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.CHAP, auth.PAP},
		Verifier:  secrets("alice", "s3cret"),
		Addresses: AddressFunc(func(string) (IPConfig, error) { return testIP, nil }),
		Magic:     magicSeq(0x11110000),
		Rand:      seeded(1),
	}
}

func peerConfig() Config {
	return Config{
		Role:       Peer,
		User:       "alice",
		Password:   "s3cret",
		RequestDNS: true,
		Magic:      magicSeq(0x22220000),
		Rand:       seeded(2),
	}
}

// pair runs an Authenticator and a Peer back to back in memory, every frame
// going through its wire encoding.
type pair struct {
	t          *testing.T
	a, p       *Link
	now        time.Time
	toP, toA   []ppp.Frame // in flight
	sentA      []ppp.Frame // everything a sent
	sentP      []ppp.Frame
	evA, evP   []Event
	dlA, dlP   time.Time
	deliverToP func(ppp.Frame) bool // nil: deliver everything
	deliverToA func(ppp.Frame) bool
}

func newPair(t *testing.T, sc, pc Config) *pair {
	t.Helper()
	a, err := New(sc)
	if err != nil {
		t.Fatalf("New(server): %v", err)
	}
	p, err := New(pc)
	if err != nil {
		t.Fatalf("New(peer): %v", err)
	}
	return &pair{t: t, a: a, p: p, now: t0}
}

func wire(t *testing.T, f ppp.Frame) ppp.Frame {
	t.Helper()
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %v: %v", f.Protocol, err)
	}
	var g ppp.Frame
	if err := g.UnmarshalBinary(bytes.Clone(b)); err != nil {
		t.Fatalf("unmarshal %x: %v", b, err)
	}
	return g
}

func (x *pair) fromA(o Output) {
	for _, f := range o.Send {
		f = wire(x.t, f)
		x.sentA = append(x.sentA, f)
		x.toP = append(x.toP, f)
	}
	x.evA = append(x.evA, o.Events...)
	x.dlA = o.Deadline
}

func (x *pair) fromP(o Output) {
	for _, f := range o.Send {
		f = wire(x.t, f)
		x.sentP = append(x.sentP, f)
		x.toA = append(x.toA, f)
	}
	x.evP = append(x.evP, o.Events...)
	x.dlP = o.Deadline
}

// up brings both sessions up.
func (x *pair) up() {
	x.fromA(x.a.Up(x.now))
	x.fromP(x.p.Up(x.now))
}

// flush delivers frames until none are in flight.
func (x *pair) flush() {
	for i := 0; len(x.toP)+len(x.toA) > 0; i++ {
		if i > 1000 {
			x.t.Fatal("frames never stop flowing")
		}
		if len(x.toP) > 0 {
			f := x.toP[0]
			x.toP = x.toP[1:]
			if x.deliverToP == nil || x.deliverToP(f) {
				x.fromP(x.p.Receive(f, x.now))
			}
		}
		if len(x.toA) > 0 {
			f := x.toA[0]
			x.toA = x.toA[1:]
			if x.deliverToA == nil || x.deliverToA(f) {
				x.fromA(x.a.Receive(f, x.now))
			}
		}
	}
}

// run flushes and advances time to the next deadline, ticks times at most.
func (x *pair) run(ticks int) {
	x.flush()
	for range ticks {
		next := x.dlA
		if next.IsZero() || (!x.dlP.IsZero() && x.dlP.Before(next)) {
			next = x.dlP
		}
		if next.IsZero() {
			return
		}
		x.now = next
		x.fromA(x.a.Tick(x.now))
		x.fromP(x.p.Tick(x.now))
		x.flush()
	}
}

func find[E Event](evs []Event) (E, bool) {
	for _, e := range evs {
		if v, ok := e.(E); ok {
			return v, true
		}
	}
	var zero E
	return zero, false
}

func count[E Event](evs []Event) int {
	n := 0
	for _, e := range evs {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

// packets returns the control packets of proto with code c among fs.
func packets(t *testing.T, fs []ppp.Frame, proto ppp.Protocol, c ppp.Code) []ppp.Packet {
	t.Helper()
	var ps []ppp.Packet
	for _, f := range fs {
		if f.Protocol != proto {
			continue
		}
		var p ppp.Packet
		if err := p.UnmarshalBinary(f.Information); err != nil {
			t.Fatalf("%v frame %x: %v", proto, f.Information, err)
		}
		if p.Code == c {
			ps = append(ps, p)
		}
	}
	return ps
}

func eventsString(evs []Event) string { return fmt.Sprintf("%+v", evs) }
