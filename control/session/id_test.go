package session

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestIDText(t *testing.T) {
	rows := []struct {
		in   string
		id   ID
		want string // String of the parsed id; "" for an error
	}{
		{"*1A", 0x1a, "*1A"},
		{"*1a", 0x1a, "*1A"}, // RouterOS reads hex in either case
		{"*1", 1, "*1"},
		{"*FFFFFFFFFFFFFFFF", 1<<64 - 1, "*FFFFFFFFFFFFFFFF"},
		{"*0001", 1, "*1"},
		// Malformed.
		{"", 0, ""},
		{"*", 0, ""},
		{"1A", 0, ""},                 // no star: an item number, not an id
		{"*0", 0, ""},                 // 0 is no session
		{"*-1", 0, ""},                // no sign
		{"*+1", 0, ""},                // no sign
		{"*1G", 0, ""},                // not hex
		{"**1", 0, ""},                // one star
		{"* 1", 0, ""},                // no space
		{"*1,*2", 0, ""},              // one id
		{"*10000000000000000", 0, ""}, // 65 bits
	}
	for _, row := range rows {
		id, err := ParseID(row.in)
		if row.want == "" {
			if err == nil || !errors.Is(err, ErrBadID) {
				t.Errorf("ParseID(%q) = %v, %v; want ErrBadID", row.in, id, err)
			}
			continue
		}
		if err != nil || id != row.id || id.String() != row.want {
			t.Errorf("ParseID(%q) = %v (%d), %v; want %s", row.in, id, uint64(id), err, row.want)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"*1A", "*1a", "*", "*0", "*FFFFFFFFFFFFFFFF", "*10000000000000000", "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id == 0 {
			t.Fatalf("ParseID(%q) = 0", s)
		}
		again, err := ParseID(id.String())
		if err != nil || again != id || !strings.EqualFold(strings.TrimLeft(s[1:], "0"), id.String()[1:]) {
			t.Fatalf("%q → %v → %v, %v", s, id, again, err)
		}
	})
}

// TestIDsUnique: handles from concurrent callers never repeat and start at
// the seed.
func TestIDsUnique(t *testing.T) {
	ids := NewIDs(0x100)
	if got := ids.Next(); got != 0x100 {
		t.Fatalf("first id %v, want *100", got)
	}
	const workers, each = 8, 1000
	seen := make(chan ID, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				seen <- ids.Next()
			}
		}()
	}
	wg.Wait()
	close(seen)
	got := map[ID]bool{}
	for id := range seen {
		if got[id] || id <= 0x100 {
			t.Fatalf("id %v handed out twice or below the seed", id)
		}
		got[id] = true
	}
	if NewIDs(0).Next() != 1 {
		t.Error("a zero seed does not start at 1")
	}
}
