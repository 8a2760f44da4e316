package state

import "testing"

// TestServerUUIDKept: the DHCPv6 server's UUID is drawn once, is a version
// 4 UUID, survives reopening the store and a reboot, and differs between
// two state directories.
func TestServerUUIDKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	u1, err := s.ServerUUID()
	if err != nil || u1 == [16]byte{} || u1[6]>>4 != 4 || u1[8]>>6 != 2 {
		t.Fatalf("ServerUUID = %x, %v: want a version 4 UUID", u1, err)
	}
	s.Close()
	for _, boot := range []string{"boot-1", "boot-2"} {
		s, err := Open(dir, Options{BootID: boot})
		if err != nil {
			t.Fatal(err)
		}
		u2, err := s.ServerUUID()
		s.Close()
		if err != nil || u2 != u1 {
			t.Errorf("after reopening under %s: %x (%v), want %x", boot, u2, err, u1)
		}
	}
	if u3, _ := open(t, t.TempDir()).ServerUUID(); u3 == u1 {
		t.Error("two state directories drew the same UUID")
	}
}
