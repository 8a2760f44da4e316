package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A user name is whatever the peer sent in its PAP Authenticate-Request,
// before any check: in /ppp active print it must neither reach the
// terminal raw (escape sequences) nor break the table (newlines, tabs).
func TestActivePrintEscapes(t *testing.T) {
	h := newHarness(t, baseConfig)
	evil := "x\x1b[2J\x1b]0;pwned\a\nroot\tadmin\x9b31m\xff"
	h.srv.add("veth1/s1", Active{ID: "c", Name: evil, Service: "pppoe", CallerID: "02:00:00:00:00:0C",
		Address: netip.MustParseAddr("10.0.0.4"), Uptime: time.Second, SessionID: 0x13, State: "up"})
	for _, script := range []string{"/ppp active print", "/ppp active print detail"} {
		out, err := h.exec(script, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\uFFFD' {
				t.Fatalf("%s: control character %U reaches the terminal:\n%q", script, r, out)
			}
		}
		if !strings.Contains(out, `"x\x1b[2J\x1b]0;pwned\a\nroot\tadmin\x9b31m\xff"`) {
			t.Errorf("%s: the name is not shown escaped:\n%s", script, out)
		}
		if script == "/ppp active print" {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("table of 3 sessions has %d lines:\n%s", len(lines), out)
			}
			// Every row's columns line up with the header's.
			col := strings.Index(lines[0], "SERVICE")
			for _, l := range lines[1:] {
				if l[col:col+5] != "pppoe" {
					t.Errorf("column SERVICE moved in %q", l)
				}
			}
		}
	}
	// JSON carries the name as it is: JSON escapes it already.
	out, err := h.exec("/ppp active print", true)
	if err != nil || !strings.Contains(out, `"x\u001b[2J\u001b]0;pwned\u0007\nroot\tadmin`) {
		t.Errorf("JSON: %v\n%s", err, out)
	}
}
