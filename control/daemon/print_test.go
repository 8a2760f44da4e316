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

// A /radius secret is printed only with show-sensitive, as in RouterOS,
// in every print format.
func TestPrintShowSensitive(t *testing.T) {
	h := newHarness(t, baseConfig)
	if _, err := h.exec("/radius add service=ppp address=192.0.2.10 secret=hunter2-radius", false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		script string
		json   bool
		shown  bool
	}{
		{"/radius print", false, false},
		{"/radius print detail", false, false},
		{"/radius print", true, false},
		{"/radius print show-sensitive", false, false}, // the table has no secret column
		{"/radius print detail show-sensitive", false, true},
		{"/radius print show-sensitive detail", true, true},
	} {
		out, err := h.exec(tc.script, tc.json)
		if err != nil {
			t.Fatalf("%s: %v", tc.script, err)
		}
		if !strings.Contains(out, "192.0.2.10") {
			t.Errorf("%s (json %v): the server is not printed:\n%s", tc.script, tc.json, out)
		}
		if got := strings.Contains(out, "hunter2-radius"); got != tc.shown {
			t.Errorf("%s (json %v): secret shown %v, want %v:\n%s", tc.script, tc.json, got, tc.shown, out)
		}
	}
	if _, err := h.exec("/radius print show-sensitive=yes", false); err == nil || !strings.Contains(err.Error(), "unsupported argument") {
		t.Errorf("show-sensitive=yes: %v, want unsupported argument", err)
	}
}

// /ipv6 nd through the CLI: add, set on the built-in entry by RouterOS's
// own selector, print, the single-item /ipv6 nd prefix default, export
// of the menu and its submenu, remove; a bad value is refused whole.
func TestNDThroughCLI(t *testing.T) {
	h := newHarness(t, baseConfig)
	for _, script := range []string{
		"/ipv6 nd add interface=<pppoe-alice> ra-lifetime=none",
		"/ipv6 nd set [ find default=yes ] mtu=1400",
		"/ipv6 nd prefix default set valid-lifetime=1d preferred-lifetime=12h",
	} {
		if _, err := h.exec(script, false); err != nil {
			t.Fatalf("%s: %v", script, err)
		}
	}
	for script, want := range map[string][]string{
		"/ipv6 nd print":                []string{" 0 * all", "1400", "<pppoe-alice>", "none"},
		"/ipv6 nd prefix default print": []string{"valid-lifetime: 1d", "preferred-lifetime: 12h"},
		"/ipv6 nd export":               []string{"set [find interface=all] mtu=1400", "add interface=<pppoe-alice> ra-lifetime=none", "/ipv6 nd prefix default\nset preferred-lifetime=12h valid-lifetime=1d"},
	} {
		out, err := h.exec(script, false)
		for _, w := range want {
			if err != nil || !strings.Contains(out, w) {
				t.Errorf("%s lacks %q (%v):\n%s", script, w, err, out)
			}
		}
	}
	if _, err := h.exec("/ipv6 nd set [find interface=<pppoe-alice>] ra-interval=10m-11m", false); err == nil || !strings.Contains(err.Error(), "ra-interval") {
		t.Fatalf("bad ra-interval: %v", err)
	}
	if _, err := h.exec("/ipv6 nd remove [find interface=<pppoe-alice>]", false); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.exec("/ipv6 nd print", false); strings.Contains(out, "alice") {
		t.Fatalf("removed entry still printed:\n%s", out)
	}
}
