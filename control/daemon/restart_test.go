package daemon

import (
	"errors"
	"strings"
	"testing"
)

// TestSystemRestart: "/system restart" answers first, then calls
// Options.Restart (pppoed's planned restart); a daemon without one says it
// is not available.
func TestSystemRestart(t *testing.T) {
	h := newHarness(t, baseConfig)
	if _, err := h.exec("/system restart", false); err == nil || !errors.Is(err, errNotAvailable) {
		t.Errorf("without Restart: %v, want not available", err)
	}
	calls := 0
	h.d.opts.Restart = func() error { calls++; return nil }
	out, err := h.exec("/system restart", false)
	if err != nil || !strings.Contains(out, "restarting") || calls != 1 {
		t.Errorf("/system restart: %q, %v, %d calls", out, err, calls)
	}
}
