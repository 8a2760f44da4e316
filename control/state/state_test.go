package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// full is a record with every field set.
func full(h uint64) Session {
	return Session{
		Handle: h, Role: RoleServer, Phase: PhaseUp, SessionID: uint16(h),
		PeerMAC: MAC{0x02, 0, 0, 0, byte(h >> 8), byte(h)}, LocalMAC: MAC{0x02, 0xac, 0, 0, 0, 1},
		Iface:  Interface{Name: "vlan100", Parent: "ether3", Ifindex: 7, VLANs: []VLAN{{TPID: 0x88a8, ID: 100}, {TPID: 0x8100, ID: 42}}},
		Client: "", MagicLocal: 0xdeadbeef, MagicPeer: 0x01020304, MRU: 1492, MTU: 1480, MSS: 1440, MPSeq: 0x123456,
		User: "alice", Profile: "for-pppoe", Service: "internet", Pool: "subs",
		LocalIPv4: netip.MustParseAddr("10.0.0.1"), PeerIPv4: netip.MustParseAddr("10.64.0.9"),
		DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		IPv6: &IPv6{Link: netip.MustParsePrefix("2001:db8:1::/64"), Delegated: []netip.Prefix{netip.MustParsePrefix("2001:db8:ff00::/56")},
			Fixed: netip.MustParsePrefix("2001:db8:ff00::/56"), PDPool: "pd",
			DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53")},
			Bindings: []DHCPv6Binding{
				{DUID: []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 9}, IAID: [4]byte{0, 0, 0, 1}, PD: true, Fixed: true,
					Prefix: netip.MustParsePrefix("2001:db8:ff00::/56"), Expires: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)},
				{DUID: []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 9}, IAID: [4]byte{0, 0, 0, 2},
					Prefix: netip.MustParsePrefix("2001:db8:1::9/128"), Expires: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)},
			}},
		Started: time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC),
		Counters: Counters{PacketsUp: 1, BytesUp: 2, PacketsDown: 3, BytesDown: 4,
			Base: &Counters{PacketsUp: 10, BytesUp: 20}, LastInterim: time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC)},
		RADIUSClass:    [][]byte{{0, 1, 2, 0xff}},
		RADIUSAttrs:    []byte{26, 12, 0, 0, 0x37, 0x2a, 1, 6, 0, 0, 0, 1},
		SessionTimeout: time.Hour, IdleTimeout: 10 * time.Minute, InterimInterval: 5 * time.Minute, ChangeTCPMSS: true,
		Link: json.RawMessage(`{"Info":{"MRU":1492}}`),
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := []Session{full(1), full(2), {Handle: 1 << 40, Role: RoleClient, Phase: PhaseStarting, Client: "pppoe-out1",
		SessionID: 9, Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	for _, r := range want {
		if err := s.Put(r, 77); err != nil {
			t.Fatal(err)
		}
	}
	// Replace one, delete none of it: Put overwrites by handle.
	want[1].Phase, want[1].User = PhaseStarting, "bob"
	if err := s.Put(want[1], 78); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir)
	got, bad, err := s.Sessions()
	if err != nil || len(bad) != 0 {
		t.Fatalf("Sessions: %v, bad %v", err, bad)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	one, ok, err := s.Session(2)
	if err != nil || !ok || !reflect.DeepEqual(one, want[1]) {
		t.Errorf("Session(2) = %+v, %v, %v", one, ok, err)
	}
	if c, err := s.SIDCursor(); err != nil || c != 78 {
		t.Errorf("cursor %d, %v; want 78", c, err)
	}
	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(2); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
	if _, ok, _ := s.Session(2); ok {
		t.Error("record 2 still there after Delete")
	}
	if err := s.Put(Session{}, 0); err == nil {
		t.Error("a record without a handle was accepted")
	}
}

func TestCircuit(t *testing.T) {
	r := full(5)
	want := Circuit{Ifindex: 7, OuterVLAN: 100, InnerVLAN: 42, SessionID: 5, PeerMAC: r.PeerMAC}
	if got := r.Circuit(); got != want {
		t.Errorf("Circuit() = %+v, want %+v", got, want)
	}
}

func TestCookieKeyKept(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	k1, err := s.CookieKey()
	if err != nil || len(k1) != 32 || bytes.Equal(k1, make([]byte, 32)) {
		t.Fatalf("CookieKey = %x, %v", k1, err)
	}
	s.Close()
	s = open(t, dir)
	k2, err := s.CookieKey()
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("key after reopen %x (%v), want %x", k2, err, k1)
	}
	other := open(t, t.TempDir())
	if k3, _ := other.CookieKey(); bytes.Equal(k1, k3) {
		t.Error("two state directories drew the same key")
	}
}

func TestHandles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	first, err := s.ReserveHandles(100)
	if err != nil || first != 1 {
		t.Fatalf("first block at %d (%v), want 1", first, err)
	}
	// A record above the block raises the ceiling.
	if err := s.Put(Session{Handle: 500}, 0); err != nil {
		t.Fatal(err)
	}
	// One below does not lower it.
	if err := s.Put(Session{Handle: 3}, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	if next, err := s.ReserveHandles(100); err != nil || next != 501 {
		t.Errorf("next block at %d (%v), want 501", next, err)
	}
	if next, err := s.ReserveHandles(1); err != nil || next != 601 {
		t.Errorf("next block at %d (%v), want 601", next, err)
	}
}

func TestExit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if e, fresh, err := s.TakeExit(); err != nil || !fresh || e.Kind != ExitCrash {
		t.Errorf("new store: %+v fresh %v %v", e, fresh, err)
	}
	s.ReserveHandles(1)
	if e, fresh, _ := s.TakeExit(); fresh || e.Kind != ExitCrash {
		t.Errorf("used store, nothing recorded: %+v fresh %v, want a crash", e, fresh)
	}
	at := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	if err := s.RecordExit(Exit{Kind: ExitRestart, At: at, PID: 42}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	if e, _, err := s.TakeExit(); err != nil || e.Kind != ExitRestart || !e.At.Equal(at) || e.PID != 42 {
		t.Errorf("TakeExit = %+v, %v", e, err)
	}
	// Taken: a crash of this run is not mistaken for that restart.
	if e, _, _ := s.TakeExit(); e.Kind != ExitCrash {
		t.Errorf("second TakeExit = %+v, want crash", e)
	}
}

// setFormat writes a format version as another pppoed would have.
func setFormat(t *testing.T, dir string, v uint32) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint32(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFormatTooNew(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Put(full(1), 0)
	s.Close()
	setFormat(t, dir, FormatVersion+1)
	before, _ := os.ReadFile(filepath.Join(dir, FileName))
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrFormatTooNew) {
		t.Fatalf("Open of a newer format: %v, want ErrFormatTooNew", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !bytes.Equal(before, after) {
		t.Error("a refused file was changed")
	}
}

func TestFormatMigration(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	// A format 0 file and a migration from it: Open runs it and stamps
	// the current version; without one it refuses, changing nothing.
	setFormat(t, dir, 0)
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a format with no migration opened")
	}
	ran := false
	migrations[0] = func(tx *bolt.Tx) error { ran = true; return nil }
	defer delete(migrations, 0)
	s = open(t, dir)
	s.Close()
	if !ran {
		t.Error("the migration did not run")
	}
	migrations[0] = func(tx *bolt.Tx) error { t.Error("migration ran twice"); return nil }
	open(t, dir).Close()
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a second Open of an open store succeeded")
	}
}

func TestBadRecordSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Put(full(1), 0)
	s.Put(full(2), 0)
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put(handleKey(2), []byte("{not json")) })
	got, bad, err := s.Sessions()
	if err != nil || len(got) != 1 || got[0].Handle != 1 || !reflect.DeepEqual(bad, []uint64{2}) {
		t.Errorf("Sessions = %v, bad %v, %v; want record 1 and bad [2]", got, bad, err)
	}
}

// TestCrashSafety writes records from a child process with many writers
// at once, kills it with SIGKILL mid-writes, and reopens the file: it
// must open, pass bbolt's consistency check, and hold every record whose
// Put had returned before the kill (the child prints each handle after
// its Put returns), each complete.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a writer process")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$")
		cmd.Env = append(os.Environ(), "STATE_CRASH_DIR="+dir, "STATE_CRASH_BASE="+strconv.Itoa(round*1_000_000))
		out := &lockedBuffer{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has written a few hundred records, mid-stream.
		deadline := time.Now().Add(30 * time.Second)
		for bytes.Count(out.Bytes(), []byte("\n")) < 300 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		acked := bytes.Fields(out.Bytes())
		if len(acked) < 300 {
			t.Fatalf("round %d: the writer acknowledged only %d records in 30 s", round, len(acked))
		}

		db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("round %d: consistency check: %v", round, err)
		}
		s := open(t, dir)
		recs, bad, err := s.Sessions()
		if err != nil || len(bad) > 0 {
			t.Fatalf("round %d: Sessions: %v, bad %v", round, err, bad)
		}
		have := map[uint64]Session{}
		for _, r := range recs {
			have[r.Handle] = r
		}
		deleted := 0
		for _, f := range acked {
			if g, ok := bytes.CutPrefix(f, []byte("-")); ok {
				h, _ := strconv.ParseUint(string(g), 10, 64)
				if _, ok := have[h]; ok {
					t.Fatalf("round %d: record %d deleted before the kill is back", round, h)
				}
				deleted++
				continue
			}
			h, _ := strconv.ParseUint(string(f), 10, 64)
			r, ok := have[h]
			if !ok {
				t.Fatalf("round %d: record %d acknowledged before the kill is gone (%d of %d kept)", round, h, len(recs), len(acked))
			}
			if w := full(h); !reflect.DeepEqual(r, w) {
				t.Fatalf("round %d: record %d damaged:\n got %+v\nwant %+v", round, h, r, w)
			}
		}
		t.Logf("round %d: %d writes acknowledged before SIGKILL (%d deletes), %d records in the file", round, len(acked), deleted, len(recs))
		s.Close()
	}
}

// TestCrashWriter is TestCrashSafety's child: 32 writers putting records
// until killed, each handle printed once its Put returned.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv("STATE_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	base, _ := strconv.ParseUint(os.Getenv("STATE_CRASH_BASE"), 10, 64)
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range uint64(32) {
		wg.Go(func() {
			for i := uint64(1); ; i++ {
				h := base + w*10_000 + i
				if err := s.Put(full(h), uint16(h)); err != nil {
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("%d\n", h)
				mu.Unlock()
				if i%3 == 0 { // a session that ends: put, then deleted
					gone := h | 1<<62
					if s.Put(full(gone), 0) != nil || s.Delete(gone) != nil {
						os.Exit(3)
					}
					mu.Lock()
					fmt.Printf("-%d\n", gone)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
