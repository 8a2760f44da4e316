package netns

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// XDPPass attaches a program that passes every frame (native mode) to the
// interface ifname in n, until the test ends. A veth delivers frames that
// its peer's XDP program redirected to it only when it has an XDP program
// itself (or GRO on), so the far end of a path the data plane's XDP
// redirects into needs one.
func (n *NS) XDPPass(t testing.TB, ifname string) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xdp_pass", Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		t.Fatalf("netns: xdp_pass: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := n.Do(t, func() error {
		ifi, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Attrs().Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		t.Fatalf("netns: attach xdp_pass to %s: %v", ifname, err)
	}
	t.Cleanup(func() { l.Close() })
}

// Capture is a tshark capture running on one interface of a namespace.
type Capture struct {
	n    *NS
	file string
	cmd  *exec.Cmd
}

// StartCapture starts tshark on ifname in n and returns once it captures.
// The capture ends with Stop, or when the test ends.
func (n *NS) StartCapture(t testing.TB, ifname string) *Capture {
	t.Helper()
	RequireTool(t, "tshark")
	c := &Capture{n: n, file: filepath.Join(t.TempDir(), ifname+".pcapng")}
	c.cmd = exec.Command("ip", "netns", "exec", n.Name, "tshark", "-i", ifname, "-w", c.file)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("netns: tshark: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "Capturing on") {
				ready <- nil
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("tshark ended: %s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("netns: %v", err)
		}
		// dumpcap reports before its socket sees every frame.
		time.Sleep(time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("netns: tshark did not start capturing")
	}
	return c
}

// Stop ends the capture (flushing the file); it is idempotent.
func (c *Capture) Stop() {
	if c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	// Give the last frames time to reach tshark's buffer.
	time.Sleep(300 * time.Millisecond)
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// File stops the capture and returns the pcapng file's path.
func (c *Capture) File() string {
	c.Stop()
	return c.file
}

// Fields stops the capture and returns, per frame matching the display
// filter, the values of the given tshark fields (-T fields).
func (c *Capture) Fields(t testing.TB, filter string, fields ...string) [][]string {
	t.Helper()
	c.Stop()
	args := []string{"-r", c.file, "-Y", filter, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("netns: tshark -r: %v: %s", err, stderr.String())
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

// TxChecksumOff turns transmit checksum offload off on ifname in n
// (ethtool -K ifname tx off, through the ETHTOOL_STXCSUM ioctl). A veth
// otherwise hands its peer CHECKSUM_PARTIAL skbs, whose checksum an XDP
// redirect on the receiving side loses; a physical NIC never receives
// such packets, so tests emulate it by having senders compute checksums.
func (n *NS) TxChecksumOff(t testing.TB, ifname string) {
	t.Helper()
	if err := n.Do(t, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: 0x17 /* ETHTOOL_STXCSUM */, data: 0}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data uintptr
			_    [16]byte
		}
		copy(ifr.name[:], ifname)
		ifr.data = uintptr(unsafe.Pointer(&val))
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&val)
		if errno != 0 {
			return errno
		}
		return nil
	}); err != nil {
		t.Fatalf("netns: %s tx checksum off: %v", ifname, err)
	}
}
