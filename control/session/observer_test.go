package session

import (
	"context"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
)

// interimAAA is the local secrets with an accounting interval in every
// answer, as a RADIUS server's Acct-Interim-Interval.
type interimAAA struct {
	local *aaa.Local
	every time.Duration
}

func (a interimAAA) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	a.local.Authenticate(ctx, req, func(ans aaa.Answer) {
		ans.InterimInterval = a.every
		reply(ans)
	})
}

// seen records what an observer was told, and what the data plane held
// when it was told Stopping.
type seen struct {
	events          []Event
	entriesAtStop   int
	statsAtStopping Stats
}

// TestObserverLifecycle: an observer gets the session's life in order,
// an interim tick at the answer's interval with the counters so far, an
// Update, and at the end the final counters read while the data-plane
// entry was still there.
func TestObserverLifecycle(t *testing.T) {
	var obs seen
	var r *rig
	r = newRig(t, "alice", "wonderland", func(c *Config, _ *link.Config) {
		c.AAA = interimAAA{local: c.AAA.(*aaa.Local), every: 30 * time.Second}
		c.KeepaliveTimeout = 0
		c.Observers = []Observer{ObserverFunc(func(s *Session, at time.Time, e Event) {
			obs.events = append(obs.events, e)
			if st, ok := e.(Stopping); ok {
				obs.entriesAtStop = len(r.dp.entries())
				obs.statsAtStopping = st.Stats
			}
		})}
	})
	r.up()
	traffic := Stats{PacketsUp: 10, BytesUp: 1000, PacketsDown: 20, BytesDown: 4000}
	r.dp.setStats(traffic)
	r.at(30 * time.Second)
	if err := r.s.update(func(e Entry) Entry { e.MTU = 1400; return e }, r.now); err != nil {
		t.Fatal(err)
	}
	if es := r.dp.entries(); len(es) != 1 || es[0].MTU != 1400 {
		t.Fatalf("data plane after Update: %+v", es)
	}
	final := Stats{PacketsUp: 15, BytesUp: 1500, PacketsDown: 25, BytesDown: 5000}
	r.dp.setStats(final)
	r.s.finish(ReasonAdmin, "", r.now)
	r.checkDown(ReasonAdmin, true)

	var kinds []string
	var interim Interim
	var stopped Stopped
	for _, e := range obs.events {
		switch e := e.(type) {
		case Started:
			kinds = append(kinds, "started")
		case Authenticated:
			kinds = append(kinds, "authenticated")
			if e.User != "alice" || e.Answer.InterimInterval != 30*time.Second || !e.Answer.Accept {
				t.Errorf("authenticated %+v", e)
			}
		case NetworkUp:
			kinds = append(kinds, "network-up")
			if e.Protocol != ppp.ProtocolIPCP || !e.Entry.IPv4.IsValid() {
				t.Errorf("network up %+v", e)
			}
		case Interim:
			kinds = append(kinds, "interim")
			interim = e
		case Updated:
			kinds = append(kinds, "updated")
		case Stopping:
			kinds = append(kinds, "stopping")
		case Stopped:
			kinds = append(kinds, "stopped")
			stopped = e
		}
	}
	want := []string{"started", "authenticated", "network-up", "interim", "updated", "stopping", "stopped"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	if interim.Stats != traffic {
		t.Errorf("interim stats %+v, want %+v", interim.Stats, traffic)
	}
	if obs.entriesAtStop != 1 || obs.statsAtStopping != final {
		t.Errorf("Stopping saw %d entries and %+v, want the entry and %+v", obs.entriesAtStop, obs.statsAtStopping, final)
	}
	if stopped.Reason != ReasonAdmin || stopped.Stats != final || stopped.Reason.TerminateCause() != radius.CauseAdminReset {
		t.Errorf("stopped %+v", stopped)
	}
}

func TestTerminateCause(t *testing.T) {
	want := map[Reason]radius.TerminateCause{
		ReasonPADT: radius.CauseUserRequest, ReasonPeerTerminate: radius.CauseUserRequest,
		ReasonKeepalive: radius.CauseLostCarrier, ReasonAdmin: radius.CauseAdminReset,
		ReasonReplaced: radius.CausePortPreempted, ReasonAuthFailed: radius.CauseUserError,
		ReasonNoAddress: radius.CauseServiceUnavailable, ReasonNegotiation: radius.CauseUserError,
		ReasonDataPlane: radius.CauseNASError, ReasonShutdown: radius.CauseAdminReboot,
		ReasonNoAuthMethod: radius.CauseUserError, ReasonSetupTimeout: radius.CauseLostService,
		ReasonMaxSessions: radius.CauseServiceUnavailable, ReasonInterfaceGone: radius.CausePortError,
		ReasonSessionTimeout: radius.CauseSessionTimeout, ReasonIdleTimeout: radius.CauseIdleTimeout,
	}
	for r := ReasonPADT; int(r) < NumReasons; r++ {
		if got, ok := want[r]; !ok || r.TerminateCause() != got {
			t.Errorf("%v: %d, want %d (listed %v)", r, r.TerminateCause(), got, ok)
		}
	}
}

// ipv6AAA is the local secrets with IPv6 switched on, as a profile with
// IPv6 pools will be.
type ipv6AAA struct{ local *aaa.Local }

func (a ipv6AAA) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	a.local.Authenticate(ctx, req, func(ans aaa.Answer) {
		ans.IPv6 = true
		reply(ans)
	})
}

// TestIPv6CPBesideIPCP: an answer that enables IPv6 runs IPv6CP beside
// IPCP; the peer terminating IPv6CP leaves the IPv4 session up, its
// entry in the data plane.
func TestIPv6CPBesideIPCP(t *testing.T) {
	var got []Event
	r := newRig(t, "alice", "wonderland", func(c *Config, pc *link.Config) {
		c.AAA = ipv6AAA{local: c.AAA.(*aaa.Local)}
		pc.IPv6 = func() bool { return true }
		c.Observers = []Observer{ObserverFunc(func(_ *Session, _ time.Time, e Event) {
			switch e.(type) {
			case NetworkUp, NetworkDown:
				got = append(got, e)
			}
		})}
	})
	r.up()
	if len(got) != 2 || r.s.State() != StateUp || len(r.dp.entries()) != 1 {
		t.Fatalf("after setup: %+v, state %v, %d entries", got, r.s.State(), len(r.dp.entries()))
	}
	term, _ := (&ppp.Packet{Code: ppp.TerminateRequest, Identifier: 3}).MarshalBinary()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: term}, r.now)
	r.exchange(link.Output{})
	r.at(10 * time.Second) // IPv6CP's restart timer runs out: it is Stopped
	if len(got) != 3 {
		t.Fatalf("events %+v", got)
	}
	if d, ok := got[2].(NetworkDown); !ok || d.Protocol != ppp.ProtocolIPv6CP {
		t.Fatalf("third event %+v, want IPv6CP down", got[2])
	}
	if r.s.State() != StateUp || len(r.dp.entries()) != 1 || r.s.ended {
		t.Fatalf("IPv4 went with IPv6: state %v, %d entries", r.s.State(), len(r.dp.entries()))
	}
}
