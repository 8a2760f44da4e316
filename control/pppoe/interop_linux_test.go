package pppoe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// Interop with rp-pppoe over a veth pair between two namespaces, through
// real AF_PACKET sockets: rp-pppoe's clients must list and use our AC, and
// our client must discover rp-pppoe's AC.

// need returns the path of an rp-pppoe tool, failing the test when it is
// missing (make test installs it).
func need(t *testing.T, tool string) string {
	t.Helper()
	netns.RequireTool(t, tool)
	p, _ := exec.LookPath(tool)
	return p
}

// link is one end of the veth: its namespace, interface and a socket on it.
type link struct {
	ns   *netns.NS
	ifi  *net.Interface
	conn *afpacket.Conn
}

// pair creates an AC namespace and a client namespace joined by a veth.
func pair(t *testing.T) (ac, cl link) {
	t.Helper()
	ac.ns, cl.ns = netns.New(t), netns.New(t)
	netns.Veth(t, ac.ns, "ac0", cl.ns, "cl0")
	open := func(l *link, name string) {
		err := l.ns.Do(t, func() error {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			l.ifi = ifi
			l.conn, err = afpacket.Listen(ifi)
			return err
		})
		if err != nil {
			t.Fatalf("socket on %s: %v", name, err)
		}
		t.Cleanup(func() { l.conn.Close() })
	}
	open(&ac, "ac0")
	open(&cl, "cl0")
	return ac, cl
}

// admission hands out ids from a SessionIDs and records what it opened.
type admission struct {
	ids    pppoe.SessionIDs
	mu     sync.Mutex
	opened map[uint16]string
}

func (a *admission) Open(c pppoe.Circuit, r pppoe.PADR) (uint16, error) {
	service := r.Service
	sid, err := a.ids.Allocate(c.MAC)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opened == nil {
		a.opened = make(map[uint16]string)
	}
	a.opened[sid] = service
	return sid, nil
}

func (a *admission) Close(c pppoe.Circuit, sid uint16) { a.ids.Release(c.MAC, sid) }

// runServer serves discovery on conn until the test ends.
func runServer(t *testing.T, conn *afpacket.Conn, cfg pppoe.ServerConfig) *admission {
	t.Helper()
	adm := &admission{}
	s := pppoe.NewServer(cfg, adm, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return adm
}

func ourConfig(mac net.HardwareAddr, ifindex int) pppoe.ServerConfig {
	return pppoe.ServerConfig{
		ACName:       "pppoe-xdp",
		MAC:          mac,
		Ifindex:      ifindex,
		ServiceNames: []string{"internet", "voip"},
	}
}

// TestInteropRPPPPoEClientsSeeOurAC: pppoe-discovery and `pppoe -A` list
// our AC name and every service; `pppoe -d` completes discovery with it.
func TestInteropRPPPPoEClientsSeeOurAC(t *testing.T) {
	discovery, rpClient := need(t, "pppoe-discovery"), need(t, "pppoe")
	ac, cl := pair(t)
	adm := runServer(t, ac.conn, ourConfig(ac.ifi.HardwareAddr, ac.ifi.Index))

	wantLines := []string{
		"Access-Concentrator: pppoe-xdp",
		"Service-Name: internet",
		"Service-Name: voip",
		"AC-Ethernet-Address: " + ac.ifi.HardwareAddr.String(),
	}
	for _, cmd := range [][]string{
		{discovery, "-I", "cl0", "-t", "1", "-a", "3"},
		{rpClient, "-A", "-I", "cl0", "-t", "1"},
	} {
		out := cl.ns.Run(t, cmd[0], cmd[1:]...)
		for _, w := range wantLines {
			if !strings.Contains(out, w) {
				t.Errorf("%s output lacks %q:\n%s", cmd[0], w, out)
			}
		}
	}

	// -d runs PADI..PADS and prints "session:ac-mac".
	out := strings.TrimSpace(cl.ns.Run(t, rpClient, "-d", "-I", "cl0", "-t", "1", "-S", "voip"))
	var sid uint16
	var mac string
	if _, err := fmt.Sscanf(out, "%d:%s", &sid, &mac); err != nil {
		t.Fatalf("pppoe -d printed %q: %v", out, err)
	}
	if mac != ac.ifi.HardwareAddr.String() {
		t.Fatalf("pppoe -d session with %s, want %s", mac, ac.ifi.HardwareAddr)
	}
	adm.mu.Lock()
	defer adm.mu.Unlock()
	if adm.opened[sid] != "voip" {
		t.Fatalf("pppoe -d got session %d, AC opened %v", sid, adm.opened)
	}
}

// startRPServer runs rp-pppoe's pppoe-server in the foreground in ns. It
// cannot start pppd here, so every session it confirms ends with a PADT.
func startRPServer(t *testing.T, ns *netns.NS, args ...string) {
	t.Helper()
	need(t, "pppoe-server")
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "pppoe-server", "-F"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The group: pppoe-server forks a child per session.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("pppoe-server output:\n%s", out.String())
		}
	})
}

// awaitPADT reads conn until the PADT of s arrives or d passes.
func awaitPADT(t *testing.T, conn *afpacket.Conn, s pppoe.Session, d time.Duration) bool {
	t.Helper()
	defer conn.SetReadDeadline(time.Time{})
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 2048)
	for {
		n, err := conn.ReadFrame(buf)
		if err != nil {
			return false
		}
		f, p, err := pppoe.ParseFrame(buf[:n])
		if err == nil && p.Code == pppoe.CodePADT && p.SessionID == s.SessionID && f.Source.String() == s.ACMAC.String() {
			return true
		}
	}
}

// TestInteropDiscoverRPServer: our client discovers rp-pppoe's AC, and a
// scan lists rp-pppoe's AC and ours side by side.
func TestInteropDiscoverRPServer(t *testing.T) {
	ac, cl := pair(t)
	startRPServer(t, ac.ns, "-I", "ac0", "-C", "rpac", "-S", "rpsvc")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := pppoe.ClientConfig{MAC: cl.ifi.HardwareAddr, ServiceName: "rpsvc", Timeout: 200 * time.Millisecond, MaxTimeout: time.Second}
	s, err := pppoe.Discover(ctx, cl.conn, cfg)
	if err != nil {
		t.Fatalf("Discover against pppoe-server: %v", err)
	}
	if s.ACName != "rpac" || s.ServiceName != "rpsvc" || s.SessionID == 0 || s.ACMAC.String() != ac.ifi.HardwareAddr.String() {
		t.Fatalf("session %+v, want rpac/rpsvc from %v", s, ac.ifi.HardwareAddr)
	}
	// pppoe-server cannot start pppd here and ends the session with a PADT,
	// which Discover has left for the session owner.
	if !awaitPADT(t, cl.conn, s, 3*time.Second) {
		t.Errorf("no PADT for session %d from pppoe-server", s.SessionID)
	}

	// Our AC on the same wire, under an address of its own.
	ours := net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x99}
	runServer(t, ac.conn, ourConfig(ours, ac.ifi.Index))
	cfg.ServiceName = ""
	offers, err := pppoe.Scan(ctx, cl.conn, 1500*time.Millisecond, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range offers {
		got[o.ACName+"/"+o.Service+"/"+o.MACAddress.String()] = true
	}
	for _, w := range []string{
		"rpac/rpsvc/" + ac.ifi.HardwareAddr.String(),
		"pppoe-xdp/internet/" + ours.String(),
		"pppoe-xdp/voip/" + ours.String(),
	} {
		if !got[w] {
			t.Errorf("scan %v lacks %s", offers, w)
		}
	}
	if len(offers) != 3 {
		t.Errorf("scan listed %d rows, want 3: %+v", len(offers), offers)
	}
}
