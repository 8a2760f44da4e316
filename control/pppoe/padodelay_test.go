package pppoe

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

var bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// TestRespondPADODelay: the PADODelay hook sets a PADO's After, may
// silence the PADI, sees the services offered, and leaves PADS alone.
func TestRespondPADODelay(t *testing.T) {
	var asked [][]string
	delay, answer := 250*time.Millisecond, true
	cfg := testConfig()
	cfg.PADODelay = func(services []string) (time.Duration, bool) {
		asked = append(asked, slices.Clone(services))
		return delay, answer
	}
	adm := &fakeAdm{}
	s := NewServer(cfg, adm, nil)
	padi := buildFrame(t, bcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}})

	rs := s.Respond(padi, t0)
	if len(rs) != 1 || rs[0].After != delay {
		t.Fatalf("Respond(PADI) = %+v, want one PADO after %v", rs, delay)
	}
	_, p, err := ParseFrame(rs[0].Frame)
	if err != nil || p.Code != CodePADO {
		t.Fatalf("reply %v %v, want a PADO", p.Code, err)
	}
	if len(asked) != 1 || !slices.Equal(asked[0], []string{"internet", "voip"}) {
		t.Errorf("PADODelay asked with %v, want the offered services", asked)
	}
	// A PADR is never delayed: the client chose this AC already.
	rs = s.Respond(padrFrame(t, subMAC, nil, ServiceName("internet"), cookieFor(subMAC, nil, t0)), t0)
	if len(rs) != 1 || rs[0].After != 0 {
		t.Fatalf("Respond(PADR) = %+v, want a PADS now", rs)
	}
	if len(asked) != 1 {
		t.Errorf("PADODelay asked for a PADR")
	}
	answer = false
	if rs := s.Respond(padi, t0); len(rs) != 0 {
		t.Fatalf("silenced PADI answered: %+v", rs)
	}
	// A PADI for a service not offered is unserved, not silenced.
	if rs := s.Respond(buildFrame(t, bcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("tv")}}), t0); len(rs) != 0 {
		t.Fatalf("unserved PADI answered: %+v", rs)
	}
	s.DropPADO()
	c := s.Counters()
	if c.PADOSent != 1 || c.PADODelayed != 1 || c.PADISilenced != 1 || c.PADIUnserved != 1 || c.PADODropped != 1 {
		t.Errorf("counters %+v", c)
	}
	// Handle returns the frames of Respond: without a hook, all at once.
	s2 := NewServer(testConfig(), &fakeAdm{}, nil)
	if out := s2.Handle(padi, t0); len(out) != 1 {
		t.Fatalf("Handle(PADI) = %d frames", len(out))
	}
	if rs := s2.Respond(padi, t0); len(rs) != 1 || rs[0].After != 0 {
		t.Fatalf("no hook: %+v, want a PADO now", rs)
	}
}

// recorder is a write function that notes what it got and when.
type recorder struct {
	mu   sync.Mutex
	got  [][]byte
	at   []time.Time
	fail bool
	more chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 100)} }

func (r *recorder) write(b []byte) error {
	r.mu.Lock()
	r.got = append(r.got, b)
	r.at = append(r.at, time.Now())
	fail := r.fail
	r.mu.Unlock()
	r.more <- struct{}{}
	if fail {
		return errors.New("no buffer space")
	}
	return nil
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.more:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d frames written", len(r.got))
		}
	}
}

// TestLater: frames go out in order of due time, not of arrival, no
// earlier than asked; a full queue refuses; Close drops what waits.
func TestLater(t *testing.T) {
	rec := newRecorder()
	l := NewLater(rec.write, 3)
	start := time.Now()
	ms := time.Millisecond
	if !l.Send([]byte("c"), 300*ms) || !l.Send([]byte("a"), 100*ms) || !l.Send([]byte("b"), 200*ms) {
		t.Fatal("Send refused below max")
	}
	if l.Send([]byte("x"), 0) {
		t.Fatal("Send took a frame over max")
	}
	rec.wait(t, 3)
	rec.mu.Lock()
	got := bytes.Join(rec.got, nil)
	for i, want := range []time.Duration{100 * ms, 200 * ms, 300 * ms} {
		if d := rec.at[i].Sub(start); d < want {
			t.Errorf("frame %d out after %v, want at least %v", i, d, want)
		}
	}
	rec.mu.Unlock()
	if string(got) != "abc" {
		t.Errorf("order %q, want abc", got)
	}
	if l.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", l.Dropped())
	}
	// Equal due times keep their order; failed writes are counted.
	rec.mu.Lock()
	rec.got, rec.at, rec.fail = nil, nil, true
	rec.mu.Unlock()
	l.Send([]byte("1"), 0)
	l.Send([]byte("2"), 0)
	rec.wait(t, 2)
	if got := string(bytes.Join(rec.got, nil)); got != "12" || l.WriteErrors() != 2 {
		t.Errorf("got %q with %d errors, want 12 with 2", got, l.WriteErrors())
	}
	l.Send([]byte("late"), time.Hour)
	l.Close()
	l.Close()
	if l.Send([]byte("closed"), 0) {
		t.Error("Send after Close took the frame")
	}
}
