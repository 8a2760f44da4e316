package session

import (
	"testing"
	"unsafe"
)

// TestFootprint: a Session is one allocation of at most 2,048 bytes (a
// Go size class), the largest part of what an established session
// costs the access concentrator (issue 18: 8 kB a session in all). What
// its server entry's sessions share stays behind Config.Settings, and
// what only negotiation needs is let go once it is over (see
// TestSlowAAA).
func TestFootprint(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 2048 {
		t.Errorf("Session is %d bytes, more than the 2,048-byte size class", n)
	}
}
