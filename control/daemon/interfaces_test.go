package daemon

import (
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// TestInterfacesFollowDaemon: Interfaces made before their daemon resolve
// /interface vlan names against its running configuration once given to
// it, and the daemon's scan goes through them.
func TestInterfacesFollowDaemon(t *testing.T) {
	ifs := NewInterfaces()
	defer ifs.Close()
	if _, err := ifs.Attach("v10"); err == nil || !strings.Contains(err.Error(), "no daemon") {
		t.Errorf("Attach before a daemon: %v, want an error saying there is none", err)
	}
	d := New(Options{Interfaces: ifs})
	if d.opts.Scan == nil {
		t.Error("a daemon with Interfaces has no scan")
	}
	cmds, err := config.Parse("/interface vlan add name=v10 vlan-id=10 interface=absent-eth9")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New().Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(cfg); err != nil {
		t.Fatal(err)
	}
	// v10 is resolved to its parent, which does not exist.
	if _, err := ifs.Attach("v10"); err == nil || !strings.Contains(err.Error(), "absent-eth9") {
		t.Errorf("Attach(v10): %v, want its parent absent-eth9 looked up", err)
	}
}
