package server

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// interfaces are the host's access interfaces as the server opens them:
// each an in-memory segment, present or not.
type interfaces struct {
	mu      sync.Mutex
	hubs    map[string]*hub
	present map[string]bool
	mac     map[string]net.HardwareAddr // default acMAC
}

func (f *interfaces) open(name string) (Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.present[name] {
		return Port{}, errors.New("no such network interface")
	}
	mac, ok := f.mac[name]
	if !ok {
		mac = acMAC
	}
	return Port{Conn: f.hubs[name].endpoint(), Ifindex: 5, MAC: mac}, nil
}

func (f *interfaces) appear(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.present[name] = true
}

// TestApplyMissingInterface is RouterOS's invalid server: a server on an
// interface that does not exist is kept, not an error; the servers on
// other interfaces and everything else of the configuration apply; later
// changes apply; and once the interface appears, OpenMissing serves it.
func TestApplyMissingInterface(t *testing.T) {
	ifs := &interfaces{hubs: map[string]*hub{"ether1": {}, "ether2": {}}, present: map[string]bool{"ether1": true}}
	servers := `
/interface pppoe-server server add service-name=a interface=ether1 disabled=no
/interface pppoe-server server add service-name=b interface=ether2 disabled=no`
	cfg, err := config.Load(base + servers)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(config.New().LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, hub: ifs.hubs["ether1"], dp: newFakeDP(), aaa: local}
	r.srv, err = New(cfg, Options{AAA: local, DataPlane: r.dp, Open: ifs.open})
	if err != nil {
		t.Fatalf("New with a missing interface: %v", err)
	}
	t.Cleanup(func() { r.srv.Close() })
	inv := r.srv.Invalid()
	if len(inv) != 1 || inv["ether2/b"] == nil || !strings.Contains(inv["ether2/b"].Error(), "ether2: no such network interface") {
		t.Fatalf("Invalid = %v, want ether2/b with why", inv)
	}
	if _, ok := local.Profile("p"); !ok {
		t.Error("the configuration's profile is not in use")
	}
	a, err := r.dial(mac(1), nil, "a")
	if err != nil {
		t.Fatalf("the server on the present interface: %v", err)
	}
	a.waitUp(t)

	// An unrelated change applies, and keeps a's session.
	more := base + servers + "\n/ppp secret add name=bob password=builder profile=p"
	if err := r.apply(strings.TrimPrefix(more, base)); err != nil {
		t.Fatalf("a later change failed because of the missing interface: %v", err)
	}
	if len(r.srv.Sessions()) != 1 {
		t.Error("the later change ended a session")
	}
	if got := r.srv.OpenMissing(); got != nil {
		t.Errorf("OpenMissing opened %v while ether2 is still missing", got)
	}

	// ether2 appears.
	ifs.appear("ether2")
	if got := r.srv.OpenMissing(); !slices.Equal(got, []string{"ether2"}) {
		t.Fatalf("OpenMissing = %v, want [ether2]", got)
	}
	if inv := r.srv.Invalid(); len(inv) != 0 {
		t.Errorf("Invalid = %v after the interface appeared", inv)
	}
	r2 := *r
	r2.hub = ifs.hubs["ether2"]
	b, err := r2.dial(mac(2), nil, "b")
	if err != nil {
		t.Fatalf("the server on the interface that appeared: %v", err)
	}
	b.waitUp(t)
	if len(r.srv.Sessions()) != 2 {
		t.Errorf("sessions %+v", r.srv.Sessions())
	}
}

// An interface with no Ethernet address (a tun device) cannot carry
// discovery: its servers are invalid, the rest applies.
func TestApplyInterfaceWithoutMAC(t *testing.T) {
	ifs := &interfaces{hubs: map[string]*hub{"ether1": {}, "tun0": {}}, present: map[string]bool{"ether1": true, "tun0": true},
		mac: map[string]net.HardwareAddr{"tun0": nil}}
	cfg, err := config.Load(base + `
/interface pppoe-server server add service-name=a interface=ether1 disabled=no
/interface pppoe-server server add service-name=l interface=tun0 disabled=no`)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(config.New().LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{AAA: local, DataPlane: newFakeDP(), Open: ifs.open})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if inv := srv.Invalid(); len(inv) != 1 || inv["tun0/l"] == nil || !strings.Contains(inv["tun0/l"].Error(), "MAC") {
		t.Errorf("Invalid = %v, want tun0/l for its missing MAC", inv)
	}
}
