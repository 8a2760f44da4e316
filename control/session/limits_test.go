package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// limitsAAA is the local secrets with Session-Timeout and Idle-Timeout in
// every answer, as a RADIUS Access-Accept carries them.
type limitsAAA struct {
	local         *aaa.Local
	session, idle time.Duration
}

func (a limitsAAA) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	a.local.Authenticate(ctx, req, func(ans aaa.Answer) {
		ans.SessionTimeout, ans.IdleTimeout = a.session, a.idle
		reply(ans)
	})
}

func limitsRig(t *testing.T, session, idle time.Duration) *rig {
	return newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
		c.AAA = limitsAAA{local: c.AAA.(*aaa.Local), session: session, idle: idle}
		c.KeepaliveTimeout = 0
	})
}

func TestSessionTimeout(t *testing.T) {
	r := limitsRig(t, time.Minute, 0)
	r.up()
	r.at(59 * time.Second)
	if r.s.Reason() != ReasonNone {
		t.Fatalf("ended early: %v", r.s.Reason())
	}
	if !r.s.next().Equal(t0.Add(time.Minute)) {
		t.Errorf("next wake %v, want the Session-Timeout at %v", r.s.next(), t0.Add(time.Minute))
	}
	r.at(time.Minute)
	r.checkDown(ReasonSessionTimeout, true)
	if ReasonSessionTimeout.TerminateCause() != radius.CauseSessionTimeout {
		t.Error("Acct-Terminate-Cause of a Session-Timeout")
	}
}

// Idle is judged from the data plane: upstream packets keep the session;
// LCP echoes (the keepalive's) do not.
func TestIdleTimeoutFromDataPlane(t *testing.T) {
	r := limitsRig(t, 0, 30*time.Second)
	r.up()
	for s := 10; s <= 90; s += 10 {
		r.dp.setStats(Stats{PacketsUp: uint64(s), LastSeen: time.Duration(s) * time.Second})
		r.at(time.Duration(s) * time.Second)
	}
	if r.s.Reason() != ReasonNone {
		t.Fatalf("a busy session ended: %v", r.s.Reason())
	}
	// Traffic stops at 90 s (the last change seen at the 90 s check).
	r.at(110 * time.Second)
	if r.s.Reason() != ReasonNone {
		t.Fatalf("ended %v after 20 s idle", r.s.Reason())
	}
	r.at(120 * time.Second)
	r.checkDown(ReasonIdleTimeout, true)
	if ReasonIdleTimeout.TerminateCause() != radius.CauseIdleTimeout {
		t.Error("Acct-Terminate-Cause of an Idle-Timeout")
	}
}

// A CoA's limits: a new Session-Timeout counts from now, zero removes a
// limit, and a session not up refuses.
func TestSetLimits(t *testing.T) {
	r := limitsRig(t, time.Hour, 0)
	if err := r.s.setLimits(Limits{}, r.now); !errors.Is(err, ErrNotUp) {
		t.Fatalf("before up: %v, want ErrNotUp", err)
	}
	r.up()
	r.at(10 * time.Minute)
	two, zero, idle := 2*time.Minute, time.Duration(0), 30*time.Second
	if err := r.s.setLimits(Limits{SessionTimeout: &two}, r.now); err != nil {
		t.Fatal(err)
	}
	if !r.s.next().Equal(t0.Add(12 * time.Minute)) {
		t.Errorf("next wake %v, want 2 minutes after the CoA", r.s.next())
	}
	if err := r.s.setLimits(Limits{SessionTimeout: &zero}, r.now); err != nil {
		t.Fatal(err)
	}
	r.at(12 * time.Minute)
	if r.s.Reason() != ReasonNone {
		t.Fatalf("a removed Session-Timeout still ended the session: %v", r.s.Reason())
	}
	// No traffic at all: idle since the network came up; 30 s of it is
	// long past, so the first check ends the session.
	if err := r.s.setLimits(Limits{IdleTimeout: &idle}, r.now); err != nil {
		t.Fatal(err)
	}
	r.at(12*time.Minute + time.Millisecond)
	r.checkDown(ReasonIdleTimeout, true)
	if err := r.s.setLimits(Limits{SessionTimeout: &two}, r.now); !errors.Is(err, ErrNotUp) {
		t.Errorf("after the end: %v, want ErrNotUp", err)
	}
}
