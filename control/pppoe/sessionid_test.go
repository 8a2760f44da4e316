package pppoe

import (
	"errors"
	"sync"
	"testing"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xaa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xbb}
)

func TestSessionIDsNeverReservedAndUniquePerMAC(t *testing.T) {
	s := NewSessionIDs()
	seen := make(map[uint16]bool)
	// Every usable id once: 0xfffe of them (RFC 2516 §4 forbids 0 and 0xffff).
	for i := range 0xfffe {
		id, err := s.Allocate(macA)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if id == 0 || id == SessionIDReserved {
			t.Fatalf("allocation %d returned reserved id 0x%04x", i, id)
		}
		if seen[id] {
			t.Fatalf("allocation %d returned 0x%04x twice", i, id)
		}
		seen[id] = true
	}
	if _, err := s.Allocate(macA); !errors.Is(err, ErrNoSessionID) {
		t.Fatalf("allocation past the id space: err %v, want ErrNoSessionID", err)
	}
	// Another client has its own id space (unique per pair of addresses).
	if _, err := s.Allocate(macB); err != nil {
		t.Fatalf("other MAC: %v", err)
	}
	if got, want := s.Len(), 0xfffe+1; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	// A released id is the only free one, so it comes back.
	s.Release(macA, 0x1234)
	if s.InUse(macA, 0x1234) {
		t.Fatal("0x1234 still in use after Release")
	}
	if id, err := s.Allocate(macA); err != nil || id != 0x1234 {
		t.Fatalf("Allocate after Release = 0x%04x, %v; want 0x1234", id, err)
	}
}

func TestSessionIDsNotReusedImmediately(t *testing.T) {
	s := NewSessionIDs()
	first, _ := s.Allocate(macA)
	s.Release(macA, first)
	for i := range 1000 {
		id, err := s.Allocate(macA)
		if err != nil {
			t.Fatal(err)
		}
		if id == first {
			t.Fatalf("released id 0x%04x reused after %d allocations", first, i)
		}
		s.Release(macA, id)
	}
}

func TestSessionIDsReleaseUnknownIsHarmless(t *testing.T) {
	s := NewSessionIDs()
	id, _ := s.Allocate(macA)
	s.Release(macB, id)   // other MAC
	s.Release(macA, id+1) // never allocated
	if !s.InUse(macA, id) || s.Len() != 1 {
		t.Fatalf("stray Release changed state: InUse %v Len %d", s.InUse(macA, id), s.Len())
	}
	s.Release(macA, id)
	s.Release(macA, id) // twice: a PADT racing a timeout
	if s.Len() != 0 {
		t.Fatalf("Len = %d after double release, want 0", s.Len())
	}
}

func TestSessionIDsWrapSkipsReserved(t *testing.T) {
	var s SessionIDs // zero value is ready
	s.next = 0xfffd
	var got []uint16
	for range 3 {
		id, err := s.Allocate(macA)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	// 0xfffe, then 0xffff and 0 are skipped.
	if want := []uint16{0xfffe, 1, 2}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("ids across the wrap = %#04x, want %#04x", got, want)
	}
}

func TestSessionIDsConcurrent(t *testing.T) {
	s := NewSessionIDs()
	const workers, each = 8, 500
	ids := make(chan uint16, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				id, err := s.Allocate(macA)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := make(map[uint16]bool)
	for id := range ids {
		if seen[id] {
			t.Fatalf("id 0x%04x handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
}

func TestSessionIDsCursorAndReserve(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	s := NewSessionIDs()
	s.SetCursor(0x41)
	// An adopted session keeps its id; a new one skips it.
	if err := s.Reserve(mac, 0x42); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(mac, 0x42); err == nil {
		t.Error("an id reserved twice")
	}
	for _, id := range []uint16{0, SessionIDReserved} {
		if err := s.Reserve(mac, id); err == nil {
			t.Errorf("reserved %#x, which is no session id", id)
		}
	}
	id, err := s.Allocate(mac)
	if err != nil || id != 0x43 {
		t.Errorf("Allocate = %#x, %v; want 0x43 (after the cursor, past the reserved id)", id, err)
	}
	if c := s.Cursor(); c != 0x43 {
		t.Errorf("Cursor = %#x, want 0x43", c)
	}
	if s.Len() != 2 || !s.InUse(mac, 0x42) {
		t.Errorf("Len %d, 0x42 in use %v", s.Len(), s.InUse(mac, 0x42))
	}
	s.Release(mac, 0x42)
	if s.Len() != 1 {
		t.Errorf("Len after release %d", s.Len())
	}
}

// TestSessionIDsSetupAllocatesNothing: a session id for a new client MAC
// costs an entry in a table that has room, not a map of its own (the AC
// allocates one on every setup).
func TestSessionIDsSetupAllocatesNothing(t *testing.T) {
	s := NewSessionIDs()
	n := 0
	setup := func() {
		mac := [6]byte{0x02, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}
		n++
		id, err := s.Allocate(mac)
		if err != nil {
			t.Fatal(err)
		}
		if !s.InUse(mac, id) {
			t.Fatal("an id not in use after Allocate")
		}
		s.Release(mac, id)
	}
	setup() // the table
	if got := testing.AllocsPerRun(1000, setup); got != 0 {
		t.Errorf("Allocate and Release for a new MAC: %v allocations, want 0", got)
	}
	if s.Len() != 0 {
		t.Errorf("Len %d after every id was released", s.Len())
	}
}
