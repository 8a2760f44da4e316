package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// TestTeardown ends a session every way a session can end and checks that
// nothing leaks: no maps entry, the address back in the pool, the session
// gone, the AC's PADT sent unless the client sent one, and the reason
// counted.
func TestTeardown(t *testing.T) {
	r := newRig(t, quickServer, withKeepalive(300*time.Millisecond, 50*time.Millisecond))
	tests := []struct {
		name     string
		end      func(t *testing.T, c *peer.Client)
		reason   session.Reason
		wantPADT bool // the AC sends PADT
	}{
		{"client PADT", func(t *testing.T, c *peer.Client) { must(t, c.SendPADT()) }, session.ReasonPADT, false},
		{"LCP Terminate-Request", func(t *testing.T, c *peer.Client) { c.Terminate() }, session.ReasonPeerTerminate, true},
		{"keepalive", func(t *testing.T, c *peer.Client) { c.Silence() }, session.ReasonKeepalive, true},
		{"admin remove", func(t *testing.T, c *peer.Client) {
			ss := r.srv.Sessions()
			if len(ss) != 1 {
				t.Fatalf("sessions %+v", ss)
			}
			if n := r.srv.Remove(ss[0].ID); n != 1 {
				t.Errorf("Remove = %d", n)
			}
		}, session.ReasonAdmin, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.ended(tc.reason)
			c := r.dial(r.peerConfig())
			r.entry(t, c)
			if r.aaa.PoolUsed("pppoe-pool") != 1 {
				t.Fatalf("pool used %d", r.aaa.PoolUsed("pppoe-pool"))
			}
			tc.end(t, c)
			r.clean(t)
			if got := r.ended(tc.reason); got != before+1 {
				t.Errorf("ended %v: %d, want %d (counters %+v)", tc.reason, got, before+1, r.srv.Counters().Ended)
			}
			if tc.wantPADT {
				select {
				case <-c.Done():
				case <-time.After(2 * time.Second):
				}
				if !c.GotPADT() {
					t.Error("no PADT from the AC")
				}
			}
		})
	}

	t.Run("auth failure", func(t *testing.T) {
		before := r.ended(session.ReasonAuthFailed)
		cfg := r.peerConfig()
		cfg.Password = "WrongPass"
		c, err := r.tryDial(cfg)
		must(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := c.WaitUp(ctx); err == nil {
			t.Fatal("session came up with a wrong password")
		}
		r.clean(t)
		if !c.AuthFailed() {
			t.Error("client saw no authentication failure")
		}
		if got := r.ended(session.ReasonAuthFailed); got != before+1 {
			t.Errorf("ended auth-failed %d, want %d", got, before+1)
		}
	})

	t.Run("auth failure, client hangs up with PADT", func(t *testing.T) {
		// A client that sends PADT the moment its CHAP Response is refused
		// ends the session, but the failure is what ended it.
		before := r.ended(session.ReasonAuthFailed)
		cfg := r.peerConfig()
		cfg.Password = "WrongPass"
		cfg.Methods = []auth.Method{auth.CHAP}
		cfg.PADTOnAuthFailure = true
		c, err := r.tryDial(cfg)
		must(t, err)
		select {
		case <-c.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("the client did not hang up")
		}
		r.clean(t)
		if !c.AuthFailed() || c.GotPADT() {
			t.Errorf("client: auth failed %v, PADT from the AC %v", c.AuthFailed(), c.GotPADT())
		}
		if got := r.ended(session.ReasonAuthFailed); got != before+1 {
			t.Errorf("ended auth-failed %d, want %d (counters %v)", got, before+1, r.srv.Counters().Ended)
		}
	})

	t.Run("keepalive spares a live client", func(t *testing.T) {
		c := r.dial(r.peerConfig())
		r.entry(t, c)
		time.Sleep(900 * time.Millisecond) // three keepalive timeouts
		if c.Echoes() == 0 {
			t.Error("no LCP Echo-Request reached an idle client")
		}
		if len(r.srv.Sessions()) != 1 || r.dp.Len() != 1 {
			t.Fatalf("a client answering echoes was dropped")
		}
		must(t, c.SendPADT())
		r.clean(t)
	})

	t.Run("shutdown", func(t *testing.T) {
		cs := []*peer.Client{r.dial(r.peerConfig()), r.dial(r.peerConfig()), r.dial(r.peerConfig())}
		for _, c := range cs {
			r.entry(t, c)
		}
		before := r.ended(session.ReasonShutdown)
		must(t, r.srv.Close())
		if r.dp.Len() != 0 || r.aaa.PoolUsed("pppoe-pool") != 0 || len(r.srv.Sessions()) != 0 {
			t.Errorf("after Close: %d entries, %d leases, %d sessions", r.dp.Len(), r.aaa.PoolUsed("pppoe-pool"), len(r.srv.Sessions()))
		}
		if got := r.ended(session.ReasonShutdown); got != before+3 {
			t.Errorf("ended shutdown %d, want %d", got, before+3)
		}
		for _, c := range cs {
			select {
			case <-c.Done():
			case <-time.After(2 * time.Second):
			}
			if !c.GotPADT() {
				t.Errorf("session %d: no PADT at shutdown", c.Session().SessionID)
			}
		}
	})
}
