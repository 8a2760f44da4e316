package pppoe

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogs: one Debug line per discovery event, nothing at Info or above
// (a PADI flood must not flood the logs), and the fixed snake_case keys.
func TestLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := &hub{}
	s := NewServer(testConfig(), &fakeAdm{}, zap.New(core))
	p := h.port()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, p) }()
	cfg := clientConfig(subMAC)
	// One line per event is asserted, so nothing may be retransmitted: the
	// tests' 20 ms first wait does expire on a loaded machine (a second
	// PADI, a second PADO), the default one second does not.
	cfg.Timeout, cfg.MaxTimeout = 0, 0
	cfg.Log = zap.New(core)
	sess, err := Discover(discoverCtx(t), h.port(), cfg)
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range logs.All() {
		if e.Level != zapcore.DebugLevel {
			t.Errorf("%v line %q, want Debug only", e.Level, e.Message)
		}
		msgs = append(msgs, e.Message)
	}
	want := []string{"padi sent", "pado sent", "pado received", "padr sent", "pads sent", "pads received"}
	if len(msgs) != len(want) {
		t.Fatalf("log lines %q, want %q", msgs, want)
	}
	for _, w := range want {
		if logs.FilterMessage(w).Len() != 1 {
			t.Fatalf("log lines %q, want one %q", msgs, w)
		}
	}
	e := logs.FilterMessage("pads sent").All()[0].ContextMap()
	if fmt.Sprint(e["session_id"]) != fmt.Sprint(sess.SessionID) || e["circuit"] != circuitFor(subMAC, nil).String() {
		t.Fatalf("pads sent fields %v", e)
	}
}
