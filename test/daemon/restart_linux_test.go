package daemon

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// exitRestart is pppoed's exit status after a planned restart.
const exitRestart = 75

// waitExit waits for a daemon to exit and returns its status.
func waitExit(t *testing.T, d *daemon) int {
	t.Helper()
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not exit", d.name)
		return -1
	}
}

// TestPlannedRestart: SIGUSR2 (the unit's RestartKillSignal, what
// "systemctl restart pppoed" sends) makes the AC exit at once with status
// 75, no PADT, the session left installed: it keeps forwarding while no
// daemon runs. The next pppoed, on the same --state-dir, knows it was a
// planned restart and, as it cannot adopt sessions yet, sweeps the one it
// finds with a PADT to the stored MAC and session id (on the wire,
// tshark); the client dials again at once.
func TestPlannedRestart(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", stateDir)
	cl := startDaemon(t, l.cl, "client", quickClient, l.pins)
	waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
	l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
	sub := netip.MustParseAddr("10.0.0.2")
	sid := ac.active()[0]["session-id"]
	capture := l.cl.StartCapture(t, "ether2")

	must(t, ac.cmd.Process.Signal(syscall.SIGUSR2))
	if code := waitExit(t, ac); code != exitRestart {
		t.Fatalf("AC exited with %d after SIGUSR2, want %d:\n%s", code, exitRestart, ac.log.String())
	}
	if n := pinnedEntries(t, filepath.Join(ac.pins, "sessions")); n != 1 {
		t.Fatalf("%d sessions pinned after the planned restart's exit, want 1", n)
	}
	// No daemon: the data plane forwards both ways all the same.
	if got := l.cl.Ping(t, sub, coreAddr, 3, 200); got != 3 {
		t.Errorf("client → core with the AC down: %d/3 replies", got)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("core → client with the AC down: %d/3 replies", got)
	}
	if cl.monitor("PPPoE-Out")["status"] != "connected" {
		t.Error("the client noticed the AC's exit")
	}

	ac2 := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", stateDir)
	log := ac2.log.String()
	if !strings.Contains(log, "previous run") || !strings.Contains(log, `"ended": "restart"`) {
		t.Errorf("the new AC does not say the last run was a planned restart:\n%s", log)
	}
	if !strings.Contains(log, `"adopted": 1`) || strings.Contains(log, "session swept at start") {
		t.Errorf("the session was not adopted:\n%s", log)
	}
	rows := ac2.active()
	if len(rows) != 1 || rows[0]["session-id"] != sid || rows[0]["name"] != "MT-User" {
		t.Errorf("active after the restart %v, want session %s of MT-User", rows, sid)
	}
	if got := l.core.Ping(t, coreAddr, sub, 3, 200); got != 3 {
		t.Errorf("core → client after the restart: %d/3 replies", got)
	}
	if rows := capture.Fields(t, "pppoe.code == 0xa7", "eth.src", "eth.dst", "pppoe.session_id"); len(rows) != 0 {
		t.Errorf("PADTs across a planned restart: %v", rows)
	}
}

// TestDiscoveryAcrossRestart: a PADR answering a PADO of the previous run
// is accepted after a restart (pppoectl /system restart), because the
// AC-Cookie key is in the state store; an AC with another state directory
// refuses that cookie.
func TestDiscoveryAcrossRestart(t *testing.T) {
	t.Parallel()
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	stateDir := t.TempDir()
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", stateDir)
	d := newDiscoverer(t, l.cl, "ether2")

	pado := d.exchange(t, pppoe.CodePADI, nil, nil, pppoe.CodePADO)
	if pado == nil {
		t.Fatal("no PADO")
	}
	cookie, ok := pppoe.FindTag[pppoe.ACCookie](pado.pkt.Tags)
	if !ok {
		t.Fatal("PADO without an AC-Cookie")
	}
	if out, err := ac.ctlErr("/system restart"); err != nil || !strings.Contains(out, "restarting") {
		t.Errorf("/system restart: %q, %v", out, err)
	}
	if code := waitExit(t, ac); code != exitRestart {
		t.Fatalf("AC exited with %d after /system restart, want %d", code, exitRestart)
	}
	ac2 := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", stateDir)
	pads := d.exchange(t, pppoe.CodePADR, pado.src, cookie, pppoe.CodePADS)
	if pads == nil || pads.pkt.SessionID == 0 {
		t.Fatalf("PADR with the previous run's cookie: %+v, want a PADS with a session id", pads)
	}
	ac2.stop()

	// Another state directory, another key: the same PADR is refused
	// (dropped as a bad cookie), which is what the store prevents.
	startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "one"), l.pins, "--uplink", "up0", "--state-dir", t.TempDir())
	if pads := d.exchange(t, pppoe.CodePADR, pado.src, cookie, pppoe.CodePADS); pads != nil {
		t.Errorf("an AC with a fresh state directory accepted the old cookie: %+v", pads)
	}
}

// discoverer sends discovery frames from a client namespace.
type discoverer struct {
	ns       *netns.NS
	conn     *afpacket.Conn
	mac      net.HardwareAddr
	hostUniq []byte
}

type reply struct {
	src net.HardwareAddr
	pkt pppoe.Packet
}

func newDiscoverer(t *testing.T, ns *netns.NS, ifname string) *discoverer {
	d := &discoverer{ns: ns, hostUniq: make([]byte, 8)}
	rand.Read(d.hostUniq)
	err := ns.Do(t, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		d.mac = ifi.HardwareAddr
		d.conn, err = afpacket.Listen(ifi)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.conn.Close() })
	return d
}

// exchange sends a PADI (broadcast) or a PADR (to ac, with cookie) and
// returns the first answer of code want to our Host-Uniq within 3 s, nil
// if none.
func (d *discoverer) exchange(t *testing.T, code pppoe.Code, ac net.HardwareAddr, cookie pppoe.ACCookie, want pppoe.Code) *reply {
	t.Helper()
	tags := []pppoe.Tag{pppoe.ServiceName("pppoeservice"), pppoe.HostUniq(d.hostUniq)}
	dst := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if code == pppoe.CodePADR {
		dst = ac
		tags = append(tags, cookie)
	}
	b, err := pppoe.MarshalFrame(dst, d.mac, nil, &pppoe.Packet{Code: code, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.conn.WriteFrame(b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	d.conn.SetReadDeadline(deadline)
	buf := make([]byte, 1600)
	for {
		n, err := d.conn.ReadFrame(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || time.Now().After(deadline) {
				return nil
			}
			t.Fatal(err)
		}
		f, p, err := pppoe.ParseFrame(buf[:n])
		if err != nil || p.Code != want {
			continue
		}
		if hu, ok := pppoe.FindTag[pppoe.HostUniq](p.Tags); !ok || !bytes.Equal(hu, d.hostUniq) {
			continue
		}
		return &reply{src: f.Source, pkt: p}
	}
}

func linkMAC(t *testing.T, ns *netns.NS, name string) string {
	t.Helper()
	var mac string
	must(t, ns.Do(t, func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	}))
	return mac
}

// hexNum parses "0x1A" as /ppp active print and tshark show session ids.
func hexNum(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
