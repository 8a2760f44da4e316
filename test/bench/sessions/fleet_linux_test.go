package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// TestMain lets the test binary be the bench's AC child: newBenchEnv
// starts os.Executable() with -role=server.
func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if a == "-role=server" {
			main()
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// TestFleetAgainstAC brings subscribers up and down through the fleet
// against the bench's AC (control/server with the data plane, in its own
// process and namespace): each is up only once the AC has it installed,
// and a PADT from each leaves the AC with nothing. With a wrong password
// none comes up: the fleet counts what the AC granted, not what it sent.
func TestFleetAgainstAC(t *testing.T) {
	netns.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		method   auth.Method
		password string
		up       bool
	}{
		{"pap", auth.PAP, "StrongPass", true},
		{"chap", auth.CHAP, "StrongPass", true},
		{"wrong password", auth.PAP, "WrongPass", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 40
			env, err := newBenchEnv(n, "local", false)
			if err != nil {
				t.Fatal(err)
			}
			defer env.close()
			fl := newFleet(env.conn, n, 8, tc.method)
			defer fl.close()
			fl.password = tc.password
			if !tc.up {
				// Each dial retries until the AC ends it; a short limit
				// keeps the test short.
				fl.limit = 5 * time.Second
			}
			fl.dial(0, n)
			failed, firstErr, _ := fl.outcome()
			stat := func() []int64 {
				s, err := env.child.ask("stat")
				if err != nil {
					t.Fatal(err)
				}
				return ints(s) // rss_kB cpu_ns sessions entries leases
			}
			if !tc.up {
				if failed != n || len(fl.live()) != 0 {
					t.Fatalf("wrong password: %d of %d failed, %d up", failed, n, len(fl.live()))
				}
				if firstErr == nil || !strings.Contains(firstErr.Error(), "authentication failed") && !strings.Contains(firstErr.Error(), "link down") {
					t.Errorf("first failure %v, want the AC's refusal", firstErr)
				}
				return
			}
			if failed != 0 {
				t.Fatalf("%d of %d failed, first: %v", failed, n, firstErr)
			}
			live := fl.live()
			if len(live) != n {
				t.Fatalf("%d up, want %d", len(live), n)
			}
			seen := map[string]bool{}
			for _, s := range live {
				if seen[s.addr.String()] {
					t.Fatalf("address %v given twice", s.addr)
				}
				seen[s.addr.String()] = true
			}
			waitStat(t, stat, func(v []int64) bool { return v[2] == n && v[3] == n && v[4] == n }, "every session, maps entry and lease")
			for _, s := range live {
				if err := fl.hangUp(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := fl.hangUp(live[0]); err != nil {
				t.Fatal(err) // gone already: nothing sent
			}
			waitStat(t, stat, func(v []int64) bool { return v[2] == 0 && v[3] == 0 && v[4] == 0 }, "no session, maps entry or lease")
		})
	}
}

// waitStat polls the AC until ok or 20 s.
func waitStat(t *testing.T, stat func() []int64, ok func([]int64) bool, what string) {
	t.Helper()
	var v []int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if v = stat(); ok(v) {
			return
		}
	}
	t.Fatalf("AC: want %s, have (rss_kB cpu_ns sessions entries leases) %v", what, v)
}
