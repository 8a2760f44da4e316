package session

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// exchangeUntil runs the exchange as exchange does until the session sends
// a frame cut accepts: that frame and everything after it never reach the
// client, as if it had stopped listening right there.
func (r *rig) exchangeUntil(peerOut link.Output, cut func(ppp.Frame) bool) bool {
	r.t.Helper()
	pending := peerOut.Send
	for i := 0; i < 100; i++ {
		for _, f := range pending {
			r.s.receive(f, r.now)
		}
		pending = nil
		for _, f := range r.takeOut() {
			if cut(f) {
				return true
			}
			pending = append(pending, r.peer.Receive(f, r.now).Send...)
		}
		if len(pending) == 0 {
			return false
		}
	}
	r.t.Fatal("exchange does not settle")
	return false
}

// isCode reports whether f is a packet of protocol p with code c.
func isCode(p ppp.Protocol, c ppp.Code) func(ppp.Frame) bool {
	return func(f ppp.Frame) bool {
		return f.Protocol == p && len(f.Information) > 0 && ppp.Code(f.Information[0]) == c
	}
}

// clientEnds are the ways a client goes after the AC has refused it.
var clientEnds = []struct {
	name string
	end  func(r *rig)
	padt bool // the AC sends PADT
}{
	{"client sends PADT", func(r *rig) { r.s.finish(ReasonPADT, "", r.now) }, false},
	{"client sends Terminate-Request", func(r *rig) {
		b, _ := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 99}).MarshalBinary()
		r.s.receive(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b}, r.now)
		r.untilDown()
	}, true},
	{"client falls silent", func(r *rig) { r.untilDown() }, true},
}

// untilDown moves the clock on without answering until the session ends.
func (r *rig) untilDown() {
	for i := 1; i <= 60 && r.s.Reason() == ReasonNone; i++ {
		r.mu.Lock()
		r.now = r.now.Add(time.Second)
		r.mu.Unlock()
		r.s.wake(r.now)
		r.takeOut()
	}
}

// TestEndReasonIsTheFirstCause: whatever the client does after the AC
// refused it (PADT at once, its own Terminate-Request, nothing), the
// session's reason is the refusal, logged at Info with the method.
func TestEndReasonIsTheFirstCause(t *testing.T) {
	refusals := []struct {
		name   string
		opt    rigOpt
		cut    func(ppp.Frame) bool
		reason string
		fields map[string]string
	}{
		{"CHAP wrong password", func(c *Config, p *link.Config) {
			p.Password = "not the password"
			p.Methods = []auth.Method{auth.CHAP}
		}, isCode(ppp.ProtocolCHAP, 4), // Failure, RFC 1994 §4.4
			"auth-failed", map[string]string{"method": "chap"}},
		{"no common method", func(c *Config, p *link.Config) {
			c.Link.Methods = []auth.Method{auth.CHAP}
			p.Methods = []auth.Method{auth.PAP}
		}, isCode(ppp.ProtocolLCP, ppp.TerminateRequest),
			"no-auth-method", map[string]string{"offered": "chap", "peer_wants": "pap"}},
	}
	for _, ref := range refusals {
		for _, ce := range clientEnds {
			t.Run(ref.name+"/"+ce.name, func(t *testing.T) {
				r := newRig(t, "alice", "wonderland", ref.opt)
				r.s.start(r.now)
				if !r.exchangeUntil(r.peer.Up(r.now), ref.cut) {
					t.Fatal("the AC never refused the client")
				}
				ce.end(r)
				lines := r.downLine()
				if len(lines) != 1 {
					t.Fatalf("%d session down lines", len(lines))
				}
				f := lines[0].ContextMap()
				if lines[0].Level != zapcore.InfoLevel || f["reason"] != ref.reason {
					t.Errorf("session down at %v with %v, want reason %s", lines[0].Level, f, ref.reason)
				}
				for k, v := range ref.fields {
					if f[k] != v {
						t.Errorf("field %s = %v, want %s (%v)", k, f[k], v, f)
					}
				}
			})
		}
	}
}

// TestSetupDeadline: a client that answers nothing after its PADR is
// gone within the setup deadline, not after LCP's ten Configure-Requests.
func TestSetupDeadline(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	r.s.start(r.now)
	r.untilDown()
	f := r.downLine()
	if len(f) != 1 || f[0].ContextMap()["reason"] != "setup-timeout" {
		t.Fatalf("session down lines %v", f)
	}
	if d := f[0].ContextMap()["duration"].(time.Duration); d > 20*time.Second {
		t.Errorf("a silent client held its session for %v", d)
	}
}

// TestInstallBeforeIPCPOpens: the entry is in the data plane before the
// Configure-Ack that opens IPCP leaves, so the client's first packets,
// sent the instant it sees that Ack, find their session.
func TestInstallBeforeIPCPOpens(t *testing.T) {
	r := newRig(t, "alice", "wonderland")
	sentAtInstall := -1
	r.dp.onInstall = func() {
		r.mu.Lock()
		sentAtInstall = len(r.sent)
		r.mu.Unlock()
	}
	r.up()
	if r.s.State() != StateUp {
		t.Fatalf("state %v", r.s.State())
	}
	lastAck := -1
	for i, f := range r.sent {
		if isCode(ppp.ProtocolIPCP, ppp.ConfigureAck)(f) {
			lastAck = i
		}
	}
	if lastAck < 0 || sentAtInstall < 0 || sentAtInstall > lastAck {
		t.Errorf("installed after %d frames; the IPCP Configure-Ack that opened IPCP was frame %d", sentAtInstall, lastAck)
	}
}

// TestEstablishRefused: the server reached max-sessions while this session
// negotiated: it ends instead of opening IPCP, never in the data plane, and
// the Configure-Ack that would have opened IPCP is not sent.
func TestEstablishRefused(t *testing.T) {
	asked := 0
	r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
		c.Establish = func() bool { asked++; return false }
	})
	r.up()
	r.checkDown(ReasonMaxSessions, true)
	if asked != 1 || r.dp.next != 0 {
		t.Errorf("asked %d times, %d installs", asked, r.dp.next)
	}
	for _, f := range r.sent {
		if isCode(ppp.ProtocolIPCP, ppp.ConfigureAck)(f) {
			t.Error("an IPCP Configure-Ack left a refused session")
		}
	}
}

// TestEstablishOnce: Establish is asked the first time IPCP opens only; a
// renegotiated IPCP keeps the slot it has.
func TestEstablishOnce(t *testing.T) {
	asked := 0
	r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
		c.Establish = func() bool { asked++; return true }
	})
	r.up()
	// The client renegotiates IPCP (RFC 1661 §4.3: RCR in Opened).
	b, _ := (&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 77}).MarshalBinary()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: b}, r.now)
	r.exchange(link.Output{})
	if asked != 1 || r.s.Reason() != ReasonNone || r.dp.next != 2 || len(r.dp.entries()) != 1 || r.s.State() != StateUp {
		t.Errorf("asked %d times, reason %v, %d installs, %d entries, state %v", asked, r.s.Reason(), r.dp.next, len(r.dp.entries()), r.s.State())
	}
}

func TestHalfOpenLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h := NewHalfOpenLog(zap.New(core), 1, 2)
	steps := []struct {
		at   time.Duration
		r    Reason
		want bool
	}{
		{0, ReasonSetupTimeout, true}, // the burst
		{0, ReasonSetupTimeout, true},
		{0, ReasonSetupTimeout, false},
		{500 * time.Millisecond, ReasonAuthFailed, false},
		{1500 * time.Millisecond, ReasonAuthFailed, true}, // 1.5 tokens back
		{1500 * time.Millisecond, ReasonSetupTimeout, false},
	}
	for i, st := range steps {
		if got := h.allow(st.r, t0.Add(st.at)); got != st.want {
			t.Errorf("step %d: allow = %v", i, got)
		}
	}
	h.Flush()
	h.Flush() // nothing held since
	lines := logs.All()
	if len(lines) != 1 {
		t.Fatalf("%d summary lines", len(lines))
	}
	f := lines[0].ContextMap()
	by, _ := f["by_reason"].(map[string]uint64)
	if f["sessions"] != uint64(3) || by["setup-timeout"] != 2 || by["auth-failed"] != 1 || f["over"] != 1500*time.Millisecond {
		t.Errorf("summary %v", f)
	}
}

// TestHalfOpenLogSparesUpSessions: the line of a session that was up is
// always written, however many half-open ones went before.
func TestHalfOpenLogSparesUpSessions(t *testing.T) {
	closed := NewHalfOpenLog(nil, 0, 0) // lets nothing through
	r := newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) { c.HalfOpenLog = closed })
	r.up()
	r.s.finish(ReasonAdmin, "", r.now)
	r.checkDown(ReasonAdmin, true)

	r = newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) { c.HalfOpenLog = closed })
	r.s.start(r.now)
	r.s.finish(ReasonAdmin, "", r.now)
	if n := r.logs.FilterMessage("session down").FilterLevelExact(zapcore.InfoLevel).Len(); n != 0 {
		t.Errorf("%d Info lines for a half-open session past the limit", n)
	}
	if n := r.logs.FilterMessage("session down").FilterLevelExact(zapcore.DebugLevel).Len(); n != 1 {
		t.Errorf("%d Debug lines for it, want 1", n)
	}
}
