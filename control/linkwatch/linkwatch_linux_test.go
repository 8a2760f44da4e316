package linkwatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	nsutil "github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// events collects a Watcher's events.
type events struct {
	ch   chan Event
	seen []Event
	used []bool
}

// watch starts a Watcher on n whose events the returned events collects.
func watch(t *testing.T, n *nsutil.NS) (*Watcher, *events) {
	t.Helper()
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	evs := &events{ch: make(chan Event, 1024)}
	w, err := Start(Options{Namespace: &h}, func(e Event) { evs.ch <- e })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, evs
}

// expect returns the next event of name not returned yet, skipping
// Changed ones unless kind is Changed, and its position among all
// events; the test fails if it is not of kind.
func (evs *events) expect(t *testing.T, kind Kind, name string) (Event, int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := 0; ; i++ {
		for i >= len(evs.seen) {
			select {
			case e := <-evs.ch:
				evs.seen, evs.used = append(evs.seen, e), append(evs.used, false)
			case <-timeout:
				t.Fatalf("no %v event for %s within 10s (seen %v)", kind, name, evs.seen)
			}
		}
		e := evs.seen[i]
		if evs.used[i] || e.Name != name || (e.Kind == Changed && kind != Changed) {
			continue
		}
		evs.used[i] = true
		if e.Kind != kind {
			t.Fatalf("%s: got %v (ifindex %d), want %v", name, e.Kind, e.Index, kind)
		}
		return e, i
	}
}

func index(t *testing.T, n *nsutil.NS, name string) int {
	t.Helper()
	var idx int
	out := n.Run(t, "cat", "/sys/class/net/"+name+"/ifindex")
	if _, err := fmt.Sscan(out, &idx); err != nil {
		t.Fatalf("ifindex of %s: %q: %v", name, out, err)
	}
	return idx
}

func TestWatcher(t *testing.T) {
	n := nsutil.New(t)
	n.Run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	first := index(t, n, "eth0")
	w, evs := watch(t, n)
	if idx, ok := w.Index("eth0"); !ok || idx != first {
		t.Fatalf("Index(eth0) = %d, %v; want %d, true", idx, ok, first)
	}

	// Deleted: gone, with the ifindex that went.
	n.Run(t, "ip", "link", "del", "eth0")
	if e, _ := evs.expect(t, Gone, "eth0"); e.Index != first {
		t.Errorf("gone: ifindex %d, want %d", e.Index, first)
	}
	if _, ok := w.Index("eth0"); ok {
		t.Error("Index(eth0) still known after it went")
	}

	// Re-created: appears under its name with a new ifindex.
	n.Run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	second := index(t, n, "eth0")
	if e, _ := evs.expect(t, Appeared, "eth0"); e.Index != second || e.Index == first || len(e.MAC) != 6 {
		t.Errorf("appeared: %+v, want ifindex %d (not %d) with a MAC", e, second, first)
	}

	// A change of the same interface.
	n.Run(t, "ip", "link", "set", "eth0", "up")
	if e, _ := evs.expect(t, Changed, "eth0"); e.Index != second {
		t.Errorf("changed: ifindex %d, want %d", e.Index, second)
	}

	// Renamed: the old name goes, the new one appears, same ifindex.
	n.Run(t, "ip", "link", "set", "eth0", "down")
	n.Run(t, "ip", "link", "set", "eth0", "name", "wan0")
	gone, gi := evs.expect(t, Gone, "eth0")
	app, ai := evs.expect(t, Appeared, "wan0")
	if gone.Index != second || app.Index != second || gi > ai {
		t.Errorf("renamed: gone %+v (#%d), appeared %+v (#%d); want both ifindex %d, gone first", gone, gi, app, ai, second)
	}

	// Deleted and re-created faster than the events are read: the name's
	// old interface goes before its new one appears.
	w.mu.Lock() // holds the watcher's goroutine at its next event
	n.Run(t, "ip", "link", "del", "wan0")
	n.Run(t, "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "wan0p")
	third := index(t, n, "wan0")
	w.mu.Unlock()
	if e, _ := evs.expect(t, Gone, "wan0"); e.Index != second {
		t.Errorf("quick re-create: gone ifindex %d, want %d", e.Index, second)
	}
	if e, _ := evs.expect(t, Appeared, "wan0"); e.Index != third {
		t.Errorf("quick re-create: appeared ifindex %d, want %d", e.Index, third)
	}
	if idx, _ := w.Index("wan0"); idx != third {
		t.Errorf("Index(wan0) = %d, want %d", idx, third)
	}
}

// TestWatcherResync: after the event socket failed, the interfaces are
// listed again and what changed meanwhile is reported.
func TestWatcherResync(t *testing.T) {
	n := nsutil.New(t)
	n.Run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	first := index(t, n, "eth0")
	w, evs := watch(t, n)
	// What the lost events said, seen only by the listing: eth0 replaced.
	w.mu.Lock()
	w.byName["eth0"] = state{index: first + 100}
	w.mu.Unlock()
	if err := w.resync(true); err != nil {
		t.Fatal(err)
	}
	if e, _ := evs.expect(t, Gone, "eth0"); e.Index != first+100 {
		t.Errorf("gone: ifindex %d, want %d", e.Index, first+100)
	}
	if e, _ := evs.expect(t, Appeared, "eth0"); e.Index != first {
		t.Errorf("appeared: ifindex %d, want %d", e.Index, first)
	}
}
