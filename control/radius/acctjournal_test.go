package radius

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// mapJournal is a Journal over a map, each record through its JSON as a
// file-backed journal keeps it.
type mapJournal struct {
	mu   sync.Mutex
	recs map[uint64][]byte
}

func (j *mapJournal) Save(k uint64, r SavedRecord) {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs[k] = b
}

func (j *mapJournal) Drop(k uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.recs, k)
}

func (j *mapJournal) load(t *testing.T) map[uint64]SavedRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[uint64]SavedRecord{}
	for k, b := range j.recs {
		var r SavedRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out[k] = r
	}
	return out
}

// TestAccountingJournalRestore: records queued while the server is down
// outlive the sender that queued them (a pppoed killed, then started
// again): the next sender restores them from the journal and delivers
// them to a real FreeRADIUS in their order, and a session that goes on
// goes on with its restored accounting: its Interim-Update replaces the
// restored one, no second Start is sent, and its Stop is sent once.
func TestAccountingJournalRestore(t *testing.T) {
	r := startRadiusd(t)
	r.Stop()
	j := &mapJournal{recs: map[uint64][]byte{}}
	srv := realServer(r)
	srv.Timeout = time.Second
	opts := AccountingOptions{RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond, Journal: j}

	first := NewAccounting(testClient(t, srv), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = first.Run(ctx) }()
	stays, ends := aliceSession, aliceSession
	ends.Port.AcctSessionID = "81000003"
	s1, s2 := first.Session(stays), first.Session(ends)
	for _, err := range []error{s1.Start(), s1.Interim(Usage{InOctets: 10, Time: 10 * time.Second}), s2.Start(),
		s2.Stop(Usage{InOctets: 7, Time: 3 * time.Second}, CauseUserRequest), first.On()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(j.load(t)); n != 4 {
		t.Fatalf("journal holds %d records, want the sessions' 4 (not Accounting-On)", n)
	}
	// The process ends with nothing delivered.
	cancel()
	<-done

	second := NewAccounting(testClient(t, srv), opts)
	restored := second.Restore(j.load(t))
	if len(restored) != 2 || restored[ends.Port.AcctSessionID] == nil || !restored[ends.Port.AcctSessionID].Stopped() {
		t.Fatalf("restored %v, want both sessions, the second stopped", restored)
	}
	s := restored[stays.Port.AcctSessionID].Resumed(Usage{InOctets: 10, Time: 10 * time.Second})
	if err := s.Start(); err == nil {
		t.Error("a restored session started again")
	}
	if err := s.Interim(Usage{InOctets: 25, Time: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if second.Len() != 4 {
		t.Fatalf("%d queued, want both Starts, the ended session's Stop and one Interim-Update", second.Len())
	}
	runAccounting(t, second)
	r.Start()
	waitFor(t, "delivery of the restored records", func() bool { return second.Len() == 0 })
	if err := s.Stop(Usage{InOctets: 30, Time: 25 * time.Second}, CauseAdminReboot); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Stop", func() bool { return second.Len() == 0 })

	// In order per session (sessions' records go out side by side).
	got := map[string][]string{}
	for _, rec := range r.Records() {
		id := rec["Acct-Session-Id"]
		got[id] = append(got[id], rec["Acct-Status-Type"]+" "+rec["Acct-Input-Octets"])
	}
	want := map[string][]string{
		"81000002": {"Start ", "Interim-Update 25", "Stop 30"},
		"81000003": {"Start ", "Stop 7"},
	}
	for id, w := range want {
		if fmt.Sprint(got[id]) != fmt.Sprint(w) {
			t.Errorf("session %s: records %q, want %q", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records of %d sessions, want %d:\n%s", len(got), len(want), r.Detail())
	}
	if n := len(j.load(t)); n != 0 {
		t.Errorf("journal holds %d records after delivery, want none", n)
	}
}
