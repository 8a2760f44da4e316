package daemon

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
)

// benchScript is a BNG's configuration with n secrets, as /export writes
// it: one pool, one profile, one server, and n users, one in ten with a
// static address (a route on pppoe0 each).
func benchScript(n int) string {
	var b strings.Builder
	b.WriteString("/ip pool\nadd name=subs ranges=10.64.0.0/12\n")
	b.WriteString("/ppp profile\nadd local-address=10.0.0.1 name=for-pppoe remote-address=subs dns-server=10.0.0.1\n")
	b.WriteString("/ppp secret\n")
	for i := range n {
		fmt.Fprintf(&b, "add name=user%06d password=pw%d profile=for-pppoe service=pppoe", i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, " remote-address=%s", netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}))
		}
		b.WriteByte('\n')
	}
	b.WriteString("/interface pppoe-server server\nadd default-profile=for-pppoe disabled=no interface=ether3 service-name=internet\n")
	return b.String()
}

// mapSystem is an AccessSystem whose own cost is O(1) per address or
// route, so that a benchmark measures the daemon, not the fake.
type mapSystem struct {
	addrs  map[netip.Addr]bool
	routes map[netip.Prefix]bool
}

func (m *mapSystem) AttachAccess(int) error { return nil }

func (m *mapSystem) SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error {
	m.addrs, m.routes = map[netip.Addr]bool{}, map[netip.Prefix]bool{}
	return m.UpdatePPPoE0(PPPoE0Set{Addrs: addrs, Routes: routes}, PPPoE0Set{})
}

func (m *mapSystem) UpdatePPPoE0(add, del PPPoE0Set) error {
	for _, a := range del.Addrs {
		delete(m.addrs, a)
	}
	for _, r := range del.Routes {
		delete(m.routes, r)
	}
	for _, a := range add.Addrs {
		m.addrs[a] = true
	}
	for _, r := range add.Routes {
		m.routes[r] = true
	}
	return nil
}

var benchSizes = []int{1_000, 10_000, 100_000}

// BenchmarkCLIChange is one pppoectl command against a running pppoed
// with n secrets, through Daemon.Exec as the control socket runs it:
// parse, apply, validate, diff, and the real access concentrator (server,
// AAA, pppoe0's layout) taking the new configuration. It should grow as
// log n, not n.
func BenchmarkCLIChange(b *testing.B) {
	for _, n := range benchSizes {
		l, err := aaa.New(config.New().LocalAAA(), nil)
		if err != nil {
			b.Fatal(err)
		}
		links := &hostLinks{present: map[string]int{"ether3": 3}}
		ac := NewAccessConcentrator(server.Options{AAA: l, DataPlane: nopDataPlane{}, Open: links.open},
			&mapSystem{addrs: map[netip.Addr]bool{}, routes: map[netip.Prefix]bool{}})
		d := New(Options{Servers: ac})
		cfg, err := config.Load(benchScript(n))
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(cfg); err != nil {
			b.Fatal(err)
		}
		mid := fmt.Sprintf("user%06d", n/2)
		for _, c := range []struct {
			name   string
			script func(i int) string
		}{
			{"set", func(i int) string { return fmt.Sprintf("/ppp secret set [find name=%s] password=x%d", mid, i) }},
			{"add-remove", func(i int) string {
				if i%2 == 0 {
					return "/ppp secret add name=bench password=x profile=for-pppoe remote-address=100.127.0.1"
				}
				return "/ppp secret remove bench"
			}},
		} {
			b.Run(fmt.Sprintf("%s/secrets=%d", c.name, n), func(b *testing.B) {
				if _, ok := d.Config().Secrets.Get("bench"); ok { // a run before ended on an add
					if err := d.Exec(context.Background(), api.Request{Script: "/ppp secret remove bench"}, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; b.Loop(); i++ {
					if err := d.Exec(context.Background(), api.Request{Script: c.script(i)}, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		d.Close()
	}
}

// BenchmarkLoadFile is pppoed reading its config file of n secrets: the
// read, parse, apply and validate of a start or a reload.
func BenchmarkLoadFile(b *testing.B) {
	for _, n := range benchSizes {
		path := filepath.Join(b.TempDir(), "pppoed.rsc")
		if err := os.WriteFile(path, []byte(benchScript(n)), 0o644); err != nil {
			b.Fatal(err)
		}
		old := time.Now().Add(-time.Minute) // settled: no wait in readStable
		os.Chtimes(path, old, old)
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := LoadFileContext(context.Background(), path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReload is /system reload of an unchanged file of n secrets on a
// running pppoed: the load, and the diff against the running
// configuration, which shares nothing with the file's (nothing to commit).
func BenchmarkReload(b *testing.B) {
	for _, n := range benchSizes {
		path := filepath.Join(b.TempDir(), "pppoed.rsc")
		if err := os.WriteFile(path, []byte(benchScript(n)), 0o644); err != nil {
			b.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		os.Chtimes(path, old, old)
		l, err := aaa.New(config.New().LocalAAA(), nil)
		if err != nil {
			b.Fatal(err)
		}
		links := &hostLinks{present: map[string]int{"ether3": 3}}
		ac := NewAccessConcentrator(server.Options{AAA: l, DataPlane: nopDataPlane{}, Open: links.open},
			&mapSystem{addrs: map[netip.Addr]bool{}, routes: map[netip.Prefix]bool{}})
		d := New(Options{Servers: ac, ConfigPath: path})
		cfg, err := LoadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(cfg); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if changes, err := d.Reload(context.Background()); err != nil || len(changes) != 0 {
					b.Fatal(changes, err)
				}
			}
		})
		d.Close()
	}
}
