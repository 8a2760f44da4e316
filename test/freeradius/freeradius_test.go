package freeradius

import (
	"strings"
	"testing"
)

// The README's example must keep every line the tests change, once each
// (twice for the listen address): a README edit that moves one fails
// here rather than leaving tests on a configuration the README no longer
// shows.
func TestREADMEExampleEditable(t *testing.T) {
	conf, users, err := readme()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Client: "127.0.0.1", Listen: "127.0.0.1", AuthPort: 40001, AcctPort: 40002}
	got, err := edit(conf, "/tmp/x", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"confdir = /tmp/x\n", "port = 40001\n", "port = 40002\n", "ipaddr = 127.0.0.1\n", "secret = " + Secret + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("edited configuration lacks %q", want)
		}
	}
	if strings.Contains(got, "/etc/freeradius/pppoe-xdp\n") || strings.Contains(got, "ipaddr = *") {
		t.Error("an operator's path or listen address survived the edit")
	}
	if !strings.HasPrefix(users, "# /etc/freeradius/pppoe-xdp/users\n") || !strings.Contains(users, "alice\tCleartext-Password") {
		t.Errorf("users block: %q", users)
	}
	// A line gone from the README is an error, not a silent no-op.
	if _, err := edit(strings.Replace(conf, "port = 1813\n", "port = 1814\n", 1), "/tmp/x", o); err == nil {
		t.Error("a moved port line was not noticed")
	}
}
