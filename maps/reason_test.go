package maps

import "testing"

// TestNamedCounters: the metrics' view of the counters is Counters under
// each reason's name, so a frame moves exactly the counter of its reason,
// and the HTB shaper's drops (the kernel's) beside them.
func TestNamedCounters(t *testing.T) {
	e := newEnv(t)
	before, err := e.dp.NamedCounters()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(Reasons())+1 {
		t.Fatalf("%d named counters, want one per reason (%d) and %s", len(before), len(Reasons()), ReasonNameHTBDrop)
	}
	if n, ok := before[ReasonNameHTBDrop]; !ok || n != 0 {
		t.Errorf("%s = %d (present %v), want 0 with no HTB qdisc", ReasonNameHTBDrop, n, ok)
	}
	// An IPv4 frame on the access side is not PPPoE: the kernel's.
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x00
	e.runOne(t, "xdp_access_in", frame)
	after, err := e.dp.NamedCounters()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Reasons() {
		d, want := after[r.String()]-before[r.String()], uint64(0)
		if r == ReasonPassOther {
			want = 1
		}
		if d != want {
			t.Errorf("%v moved by %d, want %d", r, d, want)
		}
	}
}
