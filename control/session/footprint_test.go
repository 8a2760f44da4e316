package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
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

// TestLogFootprint: with pppoed's logger (JSON, Info, caller) a session
// holds no logger of its own (zap's With keeps the encoded fields, about
// 1.4 kB a session), yet its lines carry its fields and name the session
// code that wrote them as their caller.
func TestLogFootprint(t *testing.T) {
	var out bytes.Buffer
	enc := zap.NewProductionEncoderConfig()
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&out), zapcore.InfoLevel), zap.AddCaller())
	local, _ := aaa.New(config.New().LocalAAA(), nil)
	heapPer := func(log *zap.Logger) float64 {
		const n = 2000
		st := &Settings{AAA: local, DataPlane: newFakeDP(), Link: link.Config{Methods: []auth.Method{auth.PAP}}, Log: log}
		keep := make([]*Session, n)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range keep {
			s, err := New(Config{Settings: st, ID: ID(i + 1), SessionID: uint16(i + 1), Interface: "ether1",
				Send: func(ppp.Frame) error { return nil }, SendPADT: func(string) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			keep[i] = s
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(keep)
		return float64(m1.HeapAlloc-m0.HeapAlloc) / n
	}
	quiet, logged := heapPer(nil), heapPer(logger)
	if logged-quiet > 256 {
		t.Errorf("a session with a logger holds %.0f bytes more than one without", logged-quiet)
	}

	s, err := New(Config{Settings: &Settings{AAA: local, DataPlane: newFakeDP(), Link: link.Config{Methods: []auth.Method{auth.PAP}}, Log: logger},
		ID: 0x1a, SessionID: 0x1234, Interface: "vlan7",
		Send: func(ppp.Frame) error { return nil }, SendPADT: func(string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	s.log.Info("probe", zap.String("k", "v"))
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if line["session_id"] != float64(0x1234) || line["iface"] != "vlan7" || line["handle"] == nil || line["mac"] == nil || line["k"] != "v" ||
		!strings.HasPrefix(fmt.Sprint(line["caller"]), "session/footprint_test.go:") {
		t.Errorf("line %s", out.Bytes())
	}
}
