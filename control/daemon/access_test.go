package daemon

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestRangePrefixes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, last string
		want        []netip.Prefix
	}{
		{"one address", "10.0.0.7", "10.0.0.7", prefixes("10.0.0.7/32")},
		{"quick example pool", "10.0.0.2", "10.0.0.5", prefixes("10.0.0.2/31", "10.0.0.4/31")},
		{"older example pool", "10.1.1.62", "10.1.1.72", prefixes("10.1.1.62/31", "10.1.1.64/29", "10.1.1.72/32")},
		{"aligned /24", "192.0.2.0", "192.0.2.255", prefixes("192.0.2.0/24")},
		{"odd ends", "192.0.2.1", "192.0.2.254", prefixes("192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/30", "192.0.2.8/29",
			"192.0.2.16/28", "192.0.2.32/27", "192.0.2.64/26", "192.0.2.128/26", "192.0.2.192/27", "192.0.2.224/28",
			"192.0.2.240/29", "192.0.2.248/30", "192.0.2.252/31", "192.0.2.254/32")},
		{"everything", "0.0.0.0", "255.255.255.255", prefixes("0.0.0.0/0")},
		{"top of the space", "255.255.255.254", "255.255.255.255", prefixes("255.255.255.254/31")},
		{"last address", "255.255.255.255", "255.255.255.255", prefixes("255.255.255.255/32")},
		{"backwards", "10.0.0.5", "10.0.0.2", nil},
		{"IPv6", "2001:db8::1", "2001:db8::2", nil},
		{"mixed families", "10.0.0.1", "2001:db8::2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RangePrefixes(netip.MustParseAddr(tc.first), netip.MustParseAddr(tc.last))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RangePrefixes(%s, %s) = %v, want %v", tc.first, tc.last, got, tc.want)
			}
		})
	}
}

// FuzzRangePrefixes checks that the prefixes tile the range exactly, in
// order, each one aligned, and that no two neighbours could merge.
func FuzzRangePrefixes(f *testing.F) {
	f.Add(uint32(0x0a01013e), uint32(0x0a010148))
	f.Add(uint32(0), uint32(0xffffffff))
	f.Add(uint32(0xfffffffe), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, lo, hi uint32) {
		addr := func(v uint32) netip.Addr {
			return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		}
		got := RangePrefixes(addr(lo), addr(hi))
		if hi < lo {
			if got != nil {
				t.Fatalf("backwards range gave %v", got)
			}
			return
		}
		next := uint64(lo)
		for i, p := range got {
			if p != p.Masked() {
				t.Fatalf("%v is not aligned", p)
			}
			if uint64(u32(p.Addr())) != next {
				t.Fatalf("prefix %d %v starts at %v, want %v (gap or overlap)", i, p, p.Addr(), addr(uint32(next)))
			}
			next += uint64(1) << (32 - p.Bits())
			if i > 0 && got[i-1].Bits() == p.Bits() && p.Bits() > 0 {
				if merged := netip.PrefixFrom(got[i-1].Addr(), p.Bits()-1); merged.Masked() == merged {
					t.Fatalf("%v and %v should be one %v", got[i-1], p, merged)
				}
			}
		}
		if next != uint64(hi)+1 {
			t.Fatalf("prefixes end at %d, want %d: %v", next, uint64(hi)+1, got)
		}
	})
}

const quickExample = `/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret
add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server
add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice
`

func load(t *testing.T, s string) *config.Config {
	t.Helper()
	c, err := config.Load(s)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, s)
	}
	return c
}

func TestPPPoE0Layout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        string
		wantAddrs  []netip.Addr
		wantRoutes []netip.Prefix
	}{
		{name: "no server", cfg: "/ip pool add name=p ranges=10.0.0.2-10.0.0.5\n/ppp profile add name=x local-address=10.0.0.1 remote-address=p"},
		{name: "server disabled", cfg: quickExample + "/interface pppoe-server server disable [find]"},
		{name: "quick example", cfg: quickExample,
			wantAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, wantRoutes: prefixes("10.0.0.2/31", "10.0.0.4/31")},
		{name: "next-pool chain, shared local address", cfg: quickExample + `/ip pool add name=more ranges=10.9.0.0/24
/ip pool set pppoe-pool next-pool=more
/ppp profile add name=second local-address=10.0.0.1 remote-address=more`,
			wantAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, wantRoutes: prefixes("10.0.0.2/31", "10.0.0.4/31", "10.9.0.0/24")},
		{name: "static addresses of secrets and profiles", cfg: quickExample + `/ppp profile add name=static local-address=192.0.2.1 remote-address=192.0.2.9
/ppp secret add name=fixed password=x local-address=198.51.100.1 remote-address=198.51.100.7
/ppp secret add name=off password=x remote-address=198.51.100.8 disabled=yes`,
			wantAddrs:  []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")},
			wantRoutes: prefixes("10.0.0.2/31", "10.0.0.4/31", "192.0.2.9/32", "198.51.100.7/32")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs, routes := PPPoE0Layout(load(t, tc.cfg))
			if !reflect.DeepEqual(addrs, tc.wantAddrs) || !reflect.DeepEqual(routes, tc.wantRoutes) {
				t.Errorf("got %v %v, want %v %v", addrs, routes, tc.wantAddrs, tc.wantRoutes)
			}
		})
	}
}

// blockConn is an access interface that never receives a frame.
type blockConn struct {
	once   sync.Once
	closed chan struct{}
}

func (c *blockConn) ReadFrame(b []byte) (int, error) { <-c.closed; return 0, net.ErrClosed }
func (c *blockConn) WriteFrame(b []byte) error       { return nil }
func (c *blockConn) Close() error                    { c.once.Do(func() { close(c.closed) }); return nil }

// fakeSystem records what the access concentrator asked of the host:
// addrs and routes are what pppoe0 carries, sorted.
type fakeSystem struct {
	mu        sync.Mutex
	attached  []int
	attachErr error
	addrs     []netip.Addr
	routes    []netip.Prefix
	syncs     int
	updates   int
	failNext  error // the next pppoe0 call fails with it, changing nothing
}

func (f *fakeSystem) AttachAccess(ifindex int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached = append(f.attached, ifindex)
	return f.attachErr
}

func (f *fakeSystem) SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	f.addrs, f.routes = slices.Clone(addrs), slices.Clone(routes)
	f.syncs++
	return nil
}

func (f *fakeSystem) UpdatePPPoE0(add, del PPPoE0Set) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	for _, a := range del.Addrs {
		f.addrs = slices.DeleteFunc(f.addrs, func(x netip.Addr) bool { return x == a })
	}
	for _, r := range del.Routes {
		f.routes = slices.DeleteFunc(f.routes, func(x netip.Prefix) bool { return x == r })
	}
	for _, a := range add.Addrs {
		if !slices.Contains(f.addrs, a) {
			f.addrs = append(f.addrs, a)
		}
	}
	for _, r := range add.Routes {
		if !slices.Contains(f.routes, r) {
			f.routes = append(f.routes, r)
		}
	}
	sortLayout(f.addrs, f.routes)
	if len(f.addrs) == 0 {
		f.addrs = nil
	}
	if len(f.routes) == 0 {
		f.routes = nil
	}
	f.updates++
	return nil
}

func (f *fakeSystem) layout() ([]netip.Addr, []netip.Prefix) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs), slices.Clone(f.routes)
}

type nopDataPlane struct{}

func (nopDataPlane) Install(e session.Entry) (session.Handle, error) { return nil, nil }
func (nopDataPlane) Remove(h session.Handle) error                   { return nil }
func (nopDataPlane) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	return h, nil
}
func (nopDataPlane) Stats(h session.Handle) (session.Stats, error) { return session.Stats{}, nil }

func newTestAC(t *testing.T, sys *fakeSystem) (*AccessConcentrator, map[string]*blockConn) {
	t.Helper()
	l, err := aaa.New(config.New().LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]*blockConn{}
	var mu sync.Mutex
	open := func(name string) (server.Port, error) {
		mu.Lock()
		defer mu.Unlock()
		if name != "ether3" {
			return server.Port{}, errors.New("no such interface")
		}
		c := &blockConn{closed: make(chan struct{})}
		conns[name] = c
		return server.Port{Conn: c, Ifindex: 7, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 7}}, nil
	}
	return NewAccessConcentrator(server.Options{AAA: l, DataPlane: nopDataPlane{}, Open: open}, sys), conns
}

func TestAccessConcentrator(t *testing.T) {
	sys := &fakeSystem{}
	ac, conns := newTestAC(t, sys)
	if ac.Sessions() != nil || ac.Counters().AuthFailures != nil {
		t.Error("a server not started yet has sessions or counters")
	}
	if err := ac.Remove("1"); err == nil {
		t.Error("Remove before start succeeded")
	}

	if err := ac.Apply(load(t, quickExample)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sys.attached, []int{7}) {
		t.Errorf("attached %v, want the data plane on ifindex 7 (ether3)", sys.attached)
	}
	if !reflect.DeepEqual(sys.addrs, []netip.Addr{netip.MustParseAddr("10.0.0.1")}) ||
		!reflect.DeepEqual(sys.routes, prefixes("10.0.0.2/31", "10.0.0.4/31")) {
		t.Errorf("pppoe0 %v %v, want the Quick Example's local-address and pool", sys.addrs, sys.routes)
	}
	if got := ac.Sessions(); len(got) != 0 {
		t.Errorf("sessions %v, want none", got)
	}
	for _, id := range []string{"x", "70000", "-1", "5", "*", "*0", "*zz", "*10000000000000000"} {
		if err := ac.Remove(id); err == nil || !strings.Contains(err.Error(), "not a session .id") {
			t.Errorf("Remove(%q): %v", id, err)
		}
	}
	if err := ac.Remove("*5"); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("Remove of an unknown session: %v", err)
	}
	if c := ac.Counters(); c.AuthFailures == nil {
		t.Error("counters of a running server have no auth failure map")
	}

	// The server disabled: pppoe0 loses everything, the socket closes.
	if err := ac.Apply(load(t, quickExample+"/interface pppoe-server server disable [find]")); err != nil {
		t.Fatal(err)
	}
	if sys.addrs != nil || sys.routes != nil {
		t.Errorf("pppoe0 keeps %v %v with no server enabled", sys.addrs, sys.routes)
	}

	// A server on a missing interface is kept, invalid, as in RouterOS;
	// the rest of the configuration applies.
	missing := load(t, quickExample+"/interface pppoe-server server add interface=ether9 service-name=x disabled=no")
	if err := ac.Apply(missing); err != nil {
		t.Fatalf("a server on a missing interface: %v", err)
	}
	if inv := ac.Invalid(); len(inv) != 1 || inv["ether9/x"] == nil {
		t.Errorf("Invalid = %v, want ether9/x", inv)
	}
	if got := ac.Retry(); got != nil {
		t.Errorf("Retry opened %v", got)
	}
	if err := ac.Apply(load(t, quickExample)); err != nil {
		t.Fatal(err)
	}
	if inv := ac.Invalid(); len(inv) != 0 {
		t.Errorf("Invalid = %v after the server went", inv)
	}
	if err := ac.Close(); err != nil {
		t.Fatal(err)
	}
	if sys.addrs != nil || sys.routes != nil {
		t.Errorf("pppoe0 keeps %v %v after Close", sys.addrs, sys.routes)
	}
	select {
	case <-conns["ether3"].closed:
	default:
		t.Error("Close left the access socket open")
	}
}

// An interface the data plane cannot attach to is not served: its servers
// are invalid, with the reason, and served once the attach works.
func TestAccessConcentratorAttachFails(t *testing.T) {
	sys := &fakeSystem{attachErr: errors.New("no XDP here")}
	ac, conns := newTestAC(t, sys)
	defer ac.Close()
	if err := ac.Apply(load(t, quickExample)); err != nil {
		t.Fatal(err)
	}
	if inv := ac.Invalid(); inv["ether3/pppoeservice"] == nil || !strings.Contains(inv["ether3/pppoeservice"].Error(), "no XDP here") {
		t.Errorf("Invalid = %v, want ether3's server with the attach error", inv)
	}
	select {
	case <-conns["ether3"].closed:
	default:
		t.Error("the socket of an interface without data plane stays open")
	}
	sys.mu.Lock()
	sys.attachErr = nil
	sys.mu.Unlock()
	if got := ac.Retry(); !slices.Equal(got, []string{"ether3"}) {
		t.Errorf("Retry = %v, want [ether3]", got)
	}
	if inv := ac.Invalid(); len(inv) != 0 {
		t.Errorf("Invalid = %v after the attach worked", inv)
	}
}

// TestPPPoE0Follows changes the configuration as an operator would and
// checks after each step that pppoe0 carries exactly PPPoE0Layout, and
// that a change of secrets reached it as a change (UpdatePPPoE0), not a
// rewrite of everything.
func TestPPPoE0Follows(t *testing.T) {
	sys := &fakeSystem{}
	ac, _ := newTestAC(t, sys)
	defer ac.Close()
	cfg := load(t, quickExample)
	steps := []struct {
		script string
		update bool // must go through UpdatePPPoE0
	}{
		{"", false},
		{"/ppp secret add name=s1 password=x remote-address=198.51.100.7 local-address=198.51.100.1", true},
		{"/ppp secret add name=s2 password=x remote-address=198.51.100.7", false}, // the same route twice
		{"/ppp secret remove s1", true}, // s2 keeps it
		{"/ppp secret set s2 disabled=yes", true},
		{"/ppp secret set s2 disabled=no remote-address=198.51.100.9", true},
		{"/ppp secret set s2 password=y", false}, // nothing for pppoe0
		{"/ip pool add name=more ranges=10.9.0.0/24\n/ppp profile set for-pppoe remote-address=more", true},
		{"/ppp profile add name=static local-address=10.0.0.1 remote-address=192.0.2.9", true}, // 10.0.0.1 twice
		{"/ppp profile set for-pppoe local-address=10.0.0.254", true},
		{"/interface pppoe-server server disable [find]", false},
		{"/ppp secret add name=s3 password=x remote-address=198.51.100.3", false},
		{"/interface pppoe-server server enable [find]", false},
		{"/ppp secret remove [find]", true},
	}
	for _, st := range steps {
		if st.script != "" {
			cmds, err := config.Parse(st.script)
			if err != nil {
				t.Fatal(err)
			}
			if cfg, err = cfg.Apply(cmds); err != nil {
				t.Fatalf("%s: %v", st.script, err)
			}
		}
		updates := sys.updates
		if err := ac.Apply(cfg); err != nil {
			t.Fatalf("%s: %v", st.script, err)
		}
		addrs, routes := sys.layout()
		wantA, wantR := PPPoE0Layout(cfg)
		if !reflect.DeepEqual(addrs, wantA) || !reflect.DeepEqual(routes, wantR) {
			t.Fatalf("after %q pppoe0 has %v %v, want %v %v", st.script, addrs, routes, wantA, wantR)
		}
		if got := sys.updates > updates; got != st.update {
			t.Errorf("after %q: updated %v, want %v", st.script, got, st.update)
		}
	}

	// A failure leaves the configuration applied and is made good in full
	// at the next Apply.
	sys.mu.Lock()
	sys.failNext = errors.New("netlink: no buffer space")
	sys.mu.Unlock()
	cmds, _ := config.Parse("/ppp secret add name=s4 password=x remote-address=198.51.100.4")
	next, err := cfg.Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	var ae *AppliedError
	if err := ac.Apply(next); !errors.As(err, &ae) || !strings.Contains(err.Error(), "no buffer space") {
		t.Fatalf("Apply = %v, want an AppliedError with the cause", err)
	}
	syncs := sys.syncs
	if err := ac.Apply(next); err != nil || sys.syncs != syncs+1 {
		t.Fatalf("Apply after a failure = %v, %d syncs (want one more than %d)", err, sys.syncs, syncs)
	}
	addrs, routes := sys.layout()
	if wantA, wantR := PPPoE0Layout(next); !reflect.DeepEqual(addrs, wantA) || !reflect.DeepEqual(routes, wantR) {
		t.Fatalf("after recovery pppoe0 has %v %v, want %v %v", addrs, routes, wantA, wantR)
	}
}

// /ppp active print answers while a configuration change is under way
// (here one waiting for an interface to open).
func TestSessionsDuringApply(t *testing.T) {
	l, err := aaa.New(config.New().LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	open := func(name string) (server.Port, error) {
		if name == "ether5" {
			close(entered)
			<-release
		}
		return server.Port{Conn: &blockConn{closed: make(chan struct{})}, Ifindex: 5, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 5}}, nil
	}
	ac := NewAccessConcentrator(server.Options{AAA: l, DataPlane: nopDataPlane{}, Open: open}, &fakeSystem{})
	defer ac.Close()
	if err := ac.Apply(load(t, quickExample)); err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	go func() {
		applied <- ac.Apply(load(t, quickExample+"/interface pppoe-server server add interface=ether5 service-name=x disabled=no"))
	}()
	<-entered
	answered := make(chan struct{})
	go func() { ac.Sessions(); ac.Counters(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Error("Sessions waited for the configuration change")
	}
	close(release)
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
}
