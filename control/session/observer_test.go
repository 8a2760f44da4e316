package session

import (
	"context"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
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
	if stopped.Reason != ReasonAdmin || stopped.Stats != final || stopped.Reason.TerminateCause() != CauseAdminReset {
		t.Errorf("stopped %+v", stopped)
	}
}

func TestTerminateCause(t *testing.T) {
	want := map[Reason]TerminateCause{
		ReasonPADT: CauseUserRequest, ReasonPeerTerminate: CauseUserRequest,
		ReasonKeepalive: CauseLostCarrier, ReasonAdmin: CauseAdminReset,
		ReasonReplaced: CausePortPreempted, ReasonAuthFailed: CauseUserError,
		ReasonNoAddress: CauseServiceUnavailable, ReasonNegotiation: CauseUserError,
		ReasonDataPlane: CauseNASError, ReasonShutdown: CauseAdminReboot,
		ReasonNoAuthMethod: CauseUserError, ReasonSetupTimeout: CauseLostService,
		ReasonMaxSessions: CauseServiceUnavailable, ReasonInterfaceGone: CausePortError,
	}
	for r := ReasonPADT; int(r) < NumReasons; r++ {
		if got, ok := want[r]; !ok || r.TerminateCause() != got {
			t.Errorf("%v: %d, want %d (listed %v)", r, r.TerminateCause(), got, ok)
		}
	}
}
