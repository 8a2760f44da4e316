package daemon

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pppoe-xdp/pppoe-xdp/control/linkwatch"
)

// fakeUplinkSystem records attaches and detaches; attaching to an ifindex
// in refuse fails.
type fakeUplinkSystem struct {
	mu      sync.Mutex
	calls   []string
	refuse  map[int]error
	removed []int
}

func (f *fakeUplinkSystem) AttachUplink(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("attach %d", i))
	return f.refuse[i]
}

func (f *fakeUplinkSystem) DetachInterface(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("detach %d", i))
	return nil
}

func TestUplinksFollowLinks(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	sys := &fakeUplinkSystem{refuse: map[int]error{9: errors.New("foreign XDP program")}}
	u := NewUplinks([]string{"up-absent0"}, sys, zap.New(core))
	u.Start() // not present: nothing attached, a warning
	parts := &LinkParts{Uplinks: u, Detach: sys.DetachInterface, Log: zap.New(core)}
	for _, ev := range []linkwatch.Event{
		{Kind: linkwatch.Appeared, Name: "eth7", Index: 7},       // not an uplink: detached only when it goes
		{Kind: linkwatch.Appeared, Name: "up-absent0", Index: 4}, // attach
		{Kind: linkwatch.Changed, Name: "up-absent0", Index: 4},  // attached already
		{Kind: linkwatch.Gone, Name: "up-absent0", Index: 3},     // not the one attached
		{Kind: linkwatch.Gone, Name: "up-absent0", Index: 4},     // detach
		{Kind: linkwatch.Appeared, Name: "up-absent0", Index: 9}, // refused
		{Kind: linkwatch.Changed, Name: "up-absent0", Index: 9},  // refused again, not logged again
		{Kind: linkwatch.Gone, Name: "eth7", Index: 7},           // programs and pins of any interface that goes
	} {
		parts.HandleLink(ev)
	}
	want := []string{"attach 4", "detach 3", "detach 4", "detach 4", "attach 9", "attach 9", "detach 7"}
	if !reflect.DeepEqual(sys.calls, want) {
		t.Errorf("calls %v, want %v", sys.calls, want)
	}
	u.mu.Lock()
	_, attached := u.attached["up-absent0"]
	u.mu.Unlock()
	if attached {
		t.Error("refused uplink reported attached")
	}
	for msg, n := range map[string]int{"uplink not present: attaching when it appears": 1, "uplink attached": 1,
		"uplink gone: attaching again when it is back": 1} {
		if got := logs.FilterMessage(msg).Len(); got != n {
			t.Errorf("%q logged %d times, want %d", msg, got, n)
		}
	}
	if got := logs.FilterMessageSnippet("downstream fast path not attached").Len(); got != 1 {
		t.Errorf("refusal logged %d times, want once", got)
	}
}
