package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReboot: a store opened under another boot drops its session
// records (the pinned maps they describe went with the reboot) and keeps
// what outlives one: the cookie key and the handle ceiling.
func TestReboot(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := s.CookieKey()
	s.Put(full(7), 0)
	s.Close()

	// Same boot: kept.
	s, _ = Open(dir, Options{BootID: "boot-1"})
	if recs, _, _ := s.Sessions(); len(recs) != 1 {
		t.Errorf("same boot: %d records, want 1", len(recs))
	}
	s.Close()

	s, err = Open(dir, Options{BootID: "boot-2"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if recs, _, _ := s.Sessions(); len(recs) != 0 {
		t.Errorf("after a reboot: %d records, want none", len(recs))
	}
	if k, _ := s.CookieKey(); string(k) != string(key) {
		t.Error("the cookie key changed across a reboot")
	}
	if h, _ := s.ReserveHandles(1); h != 8 {
		t.Errorf("handles after a reboot start at %d, want 8", h)
	}
}

// TestDamagedFileMovedAside: a file that is not a bbolt database (what a
// power cut can leave) is moved aside with a warning, and a new store
// starts, instead of pppoed refusing to start.
func TestDamagedFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	garbage := []byte(strings.Repeat("not a bbolt file ", 1000))
	if err := os.WriteFile(filepath.Join(dir, FileName), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var warned string
	s, err := Open(dir, Options{Log: func(m string) { warned = m }})
	if err != nil {
		t.Fatalf("Open over a damaged file: %v", err)
	}
	defer s.Close()
	aside, _ := filepath.Glob(filepath.Join(dir, FileName+".damaged-*"))
	if len(aside) != 1 || !strings.Contains(warned, aside[0]) {
		t.Fatalf("moved aside: %v, warning %q", aside, warned)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != string(garbage) {
		t.Error("the damaged file was changed")
	}
	if err := s.Put(full(1), 0); err != nil {
		t.Errorf("the new store: %v", err)
	}
}
