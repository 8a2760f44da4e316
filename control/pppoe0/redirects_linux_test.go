package pppoe0

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// sysctl reads a net.ipv4.conf value in the fixture's namespace.
func (f *fixture) sysctl(dev, key string) string {
	f.t.Helper()
	return strings.TrimSpace(f.ns.Run(f.t, "sysctl", "-n", fmt.Sprintf("net.ipv4.conf.%s.%s", dev, key)))
}

// TestNoRedirects: with all=1 (the kernel's default) pppoe0's own 0 would
// not count, so all goes to 0, with a warning naming the interfaces that
// stop sending redirects; those with their own 1 and the default for new
// ones are left alone.
func TestNoRedirects(t *testing.T) {
	f := newFixture(t, func(n *netns.NS) {
		n.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=1")
		n.Run(t, "sysctl", "-qw", "net.ipv4.conf.default.send_redirects=1")
		for i, own := range []string{"0", "1"} {
			n.Run(t, "ip", "link", "add", fmt.Sprintf("eth%d", i), "type", "veth", "peer", "name", fmt.Sprintf("peer%d", i))
			n.Run(t, "sysctl", "-qw", fmt.Sprintf("net.ipv4.conf.eth%d.send_redirects=%s", i, own))
		}
	})
	for _, c := range []struct{ dev, want string }{
		{"pppoe0", "0"}, {"all", "0"}, {"default", "1"}, {"eth0", "0"}, {"eth1", "1"}, {"peer0", "1"},
	} {
		if got := f.sysctl(c.dev, "send_redirects"); got != c.want {
			t.Errorf("net.ipv4.conf.%s.send_redirects = %s, want %s", c.dev, got, c.want)
		}
	}
	warns := f.logs.FilterMessageSnippet("net.ipv4.conf.all.send_redirects=0").All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings about all.send_redirects, want 1: %v", len(warns), f.logs.All())
	}
	if got := warns[0].ContextMap()["own_value_0"]; !reflect.DeepEqual(got, []any{"eth0"}) {
		t.Errorf("warning names %v as silenced, want [eth0]", got)
	}
}

// TestNoRedirectsAllOff: with all=0 already, pppoe0's own 0 is enough and
// nothing else changes or is logged.
func TestNoRedirectsAllOff(t *testing.T) {
	f := newFixture(t, func(n *netns.NS) {
		n.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0")
	})
	if got := f.sysctl("pppoe0", "send_redirects"); got != "0" {
		t.Errorf("pppoe0 send_redirects = %s, want 0", got)
	}
	if got := f.sysctl("all", "send_redirects"); got != "0" {
		t.Errorf("all send_redirects = %s, want 0", got)
	}
	if n := f.logs.Len(); n != 0 {
		t.Errorf("logged %v, want nothing", f.logs.All())
	}
}
