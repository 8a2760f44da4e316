package state

import (
	"sync"
	"testing"
	"time"
)

func records(t *testing.T, s *Store, bucket string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	if err := s.Records(bucket, func(k uint64, v []byte) error { out[k] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriter: writes queued while the writer is held coalesce per key
// (the newest wins, a removal included) and go in together once it
// moves; Flush waits for them; the handle ceiling and the session-id
// cursor move with the records as Put moves them; a full queue makes a
// new key wait for room, never drops it.
func TestWriter(t *testing.T) {
	s, err := Open(t.TempDir(), Options{BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gate := make(chan struct{})
	var commits int
	var mu sync.Mutex
	w := NewWriter(s, WriterOptions{Limit: 4, BeforeCommit: func() {
		<-gate
		mu.Lock()
		commits++
		mu.Unlock()
	}})
	defer w.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first write takes the writer, which then waits at the gate.
	must(w.PutIn("other", 9, []byte("first")))
	for w.Queued() != 0 {
		time.Sleep(time.Millisecond)
	}
	a, b := full(7), full(8)
	must(w.Put(a, 0x10))
	a.User = "changed"
	must(w.Put(a, 0x11))
	must(w.Put(b, 0))
	must(w.Delete(8))
	must(w.PutIn("other", 1, []byte("x")))
	must(w.PutIn("other", 1, []byte("y")))
	if n := w.Queued(); n != 3 {
		t.Fatalf("%d keys queued, want 3 (coalesced)", n)
	}
	must(w.PutIn("other", 2, nil))
	// The queue is full (4 keys): a fifth waits for the writer.
	fifth := make(chan error)
	go func() { fifth <- w.PutIn("other", 3, []byte("z")) }()
	select {
	case err := <-fifth:
		t.Fatalf("a fifth key was queued past the limit (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	must(<-fifth)
	w.Flush()
	recs, bad, err := s.Sessions()
	if err != nil || len(bad) != 0 || len(recs) != 1 || recs[0].Handle != 7 || recs[0].User != "changed" {
		t.Fatalf("sessions %+v, bad %v, %v: want handle 7 as last put", recs, bad, err)
	}
	if got := records(t, s, "other"); len(got) != 4 || got[9] != "first" || got[1] != "y" || got[2] != "" || got[3] != "z" {
		t.Errorf("other bucket %v", got)
	}
	if cur, _ := s.SIDCursor(); cur != 0x11 {
		t.Errorf("cursor %#x, want the last put's 0x11", cur)
	}
	if first, _ := s.ReserveHandles(1); first != 8 {
		t.Errorf("next handle %d, want 8: above the highest record written (8 was put and removed in one batch)", first)
	}
	mu.Lock()
	if commits != 3 {
		t.Errorf("%d commits, want 3: the first write, the coalesced batch, the key that waited", commits)
	}
	mu.Unlock()
	if err := w.PutIn("sessions", 1, nil); err == nil {
		t.Error("PutIn into the sessions bucket accepted")
	}
}

// TestOtherBucketsSurviveReboot: a reboot drops the session records
// (their sessions went with the pinned maps) but keeps the other
// buckets: what they hold, such as accounting not yet delivered, is
// still owed.
func TestOtherBucketsSurviveReboot(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s, WriterOptions{})
	if err := w.Put(full(3), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.PutIn("owed", 5, []byte("stop")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s.Close()
	if s, err = Open(dir, Options{BootID: "boot-2"}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if recs, _, _ := s.Sessions(); len(recs) != 0 {
		t.Errorf("%d session records after a reboot", len(recs))
	}
	if got := records(t, s, "owed"); got[5] != "stop" {
		t.Errorf("other bucket after a reboot: %v", got)
	}
}

// TestWriterGathers: writes arriving while the writer waits out its
// Delay share one commit (a commit per write took a CPU from the session
// loops on every setup), and Flush and Close do not wait out the Delay.
func TestWriterGathers(t *testing.T) {
	s, err := Open(t.TempDir(), Options{BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var commits int
	// A Delay no test run reaches: only Flush and Close end the wait.
	w := NewWriter(s, WriterOptions{Delay: time.Hour, BeforeCommit: func() {
		mu.Lock()
		commits++
		mu.Unlock()
	}})
	for h := uint64(1); h <= 100; h++ {
		if err := w.Put(full(h), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.Queued(); n != 100 {
		t.Fatalf("%d writes queued during the Delay, want 100", n)
	}
	w.Flush()
	mu.Lock()
	if commits != 1 {
		t.Errorf("100 writes in %d commits, want 1", commits)
	}
	mu.Unlock()
	recs, _, err := s.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 100 {
		t.Fatalf("%d records in the file after Flush, want 100", len(recs))
	}
	if err := w.Delete(1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Session(1); err != nil || ok {
		t.Fatalf("record 1 after Close: ok %v, %v; want removed", ok, err)
	}
}
