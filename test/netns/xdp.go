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

// GRO turns generic receive offload on or off on ifname in n (ethtool -K
// ifname gro on|off, through the ETHTOOL_SGRO ioctl). A veth takes frames
// XDP-redirected to it (its xdp-features include ndo-xmit) only when its
// peer has an XDP program or GRO on; a test that exists to show the fast
// path turns GRO on at the far end and says so.
func (n *NS) GRO(t testing.TB, ifname string, on bool) {
	t.Helper()
	var v uint32
	if on {
		v = 1
	}
	if err := n.Do(t, func() error { return ethtoolValue(ifname, unix.ETHTOOL_SGRO, v) }); err != nil {
		t.Fatalf("netns: %s gro %v: %v", ifname, on, err)
	}
}

// TagsAside attaches, until the test ends, a program to the egress of
// ifname in n that takes each frame's outer VLAN tag (0x8100 or 0x88a8)
// out of the frame into the packet's metadata, where a VLAN device or a
// bridge on a NIC with tx VLAN offload puts it. A veth hands such a tag to
// its peer beside the frame, as a NIC with rx VLAN offload hands the tag
// it stripped to its driver: XDP on the peer sees the frame untagged.
//
// The helpers move the tag: two pushes of a dummy tag put the first into
// the frame in front of the real one (making the packet's protocol a VLAN
// one), and two pops drop the dummies and leave the real tag in the
// metadata (skb_vlan_pop moves the next tag there).
func (n *NS) TagsAside(t testing.TB, ifname string) {
	t.Helper()
	const tcActOK, tcActShot = 0, 2
	push := asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0x0081), // htons(ETH_P_8021Q)
		asm.Mov.Imm(asm.R3, 0),
		asm.FnSkbVlanPush.Call(),
		asm.JNE.Imm(asm.R0, 0, "broken"),
	}
	pop := asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSkbVlanPop.Call(),
		asm.JNE.Imm(asm.R0, 0, "broken"),
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// bpf_skb_load_bytes(skb, 12, fp-8, 2): the outer ethertype.
		asm.Mov.Imm(asm.R2, 12),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 2),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R7, asm.RFP, -8, asm.Half),
		asm.JEq.Imm(asm.R7, 0x0081, "move"), // 0x8100, as loaded on little-endian
		asm.JEq.Imm(asm.R7, 0xa888, "move"), // 0x88a8
		asm.Ja.Label("out"),
	}
	first := append(asm.Instructions{}, push...)
	first[0] = first[0].WithSymbol("move")
	insns = append(insns, first...)
	insns = append(insns, push...)
	insns = append(insns, pop...)
	insns = append(insns, pop...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("out"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActShot).WithSymbol("broken"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "tags_aside", Type: ebpf.SchedCLS, License: "Dual BSD/GPL", Instructions: insns,
	})
	if err != nil {
		t.Fatalf("netns: tags_aside: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := n.Do(t, func() error {
		ifi, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifi.Attrs().Index, Attach: ebpf.AttachTCXEgress})
		return err
	}); err != nil {
		t.Fatalf("netns: attach tags_aside to %s: %v", ifname, err)
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
	RequireTool(t, "dumpcap")
	c := &Capture{n: n, file: filepath.Join(t.TempDir(), ifname+".pcapng")}
	// dumpcap is what tshark -w runs underneath, without loading every
	// dissector first: on a loaded machine tshark took 13 s to start.
	c.cmd = exec.Command("ip", "netns", "exec", n.Name, "dumpcap", "-q", "-i", ifname, "-w", c.file)
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
		ready <- fmt.Errorf("dumpcap ended: %s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("netns: %v", err)
		}
		// dumpcap reports before its socket sees every frame.
		time.Sleep(time.Second)
	case <-time.After(60 * time.Second):
		// A hang guard, not a timing assertion: on a loaded machine
		// tshark has taken more than 20 s to start.
		t.Fatal("netns: dumpcap did not start capturing")
	}
	return c
}

// Stop ends the capture (flushing the file); it is idempotent.
func (c *Capture) Stop() {
	if c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	// Give the last frames time to reach dumpcap's buffer.
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
	if err := n.Do(t, func() error { return ethtoolValue(ifname, unix.ETHTOOL_STXCSUM, 0) }); err != nil {
		t.Fatalf("netns: %s tx checksum off: %v", ifname, err)
	}
}

// ethtoolValue runs a SIOCETHTOOL command that takes a struct
// ethtool_value, in the calling thread's namespace.
func ethtoolValue(ifname string, cmd, data uint32) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: cmd, data: data}
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
}
