package maps

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// TestOpenWithoutBPFFS opens the data plane where no bpffs is mounted
// anywhere, as on a host nobody prepared: the test runs itself again in a
// private mount namespace and unmounts every bpffs there first, so it
// proves this whatever the machine has mounted.
func TestOpenWithoutBPFFS(t *testing.T) {
	requireBPF(t)
	if os.Getenv("PPPOE_XDP_NO_BPFFS") == "" {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Fatal("unshare (util-linux) missing")
		}
		cmd := exec.Command("unshare", "--mount", "--propagation", "private",
			os.Args[0], "-test.run=^TestOpenWithoutBPFFS$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "PPPOE_XDP_NO_BPFFS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestOpenWithoutBPFFS") {
			t.Fatalf("in a private mount namespace: %v\n%s", err, out)
		}
		return
	}
	unmountBPFFS(t)
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(core)

	// Below /sys/fs/bpf, two levels that do not exist yet: bpffs goes on
	// /sys/fs/bpf, where bpftool looks.
	pin := filepath.Join(sysBPF, "pppoe-xdp-test", "nested", "pins")
	dp, err := Open(Options{PinPath: pin, MaxSessions: 64, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := isBPFFS(sysBPF); !ok {
		t.Error("/sys/fs/bpf is not a bpffs after Open")
	}
	if err := dp.Unpin(); err != nil {
		t.Error(err)
	}
	dp.Close()
	// This namespace is not init's, so a bpffs mounted here dies with it.
	if n := logs.FilterMessageSnippet("private mount namespace").Len(); n != 1 {
		t.Errorf("%d private-namespace warnings, want 1: %v", n, logs.All())
	}
	unmountBPFFS(t)

	// Elsewhere: on the pin directory itself, never over its parent, which
	// holds the operator's files (mounting there once hid a config and the
	// control socket).
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pppoed.rsc")
	if err := os.WriteFile(cfg, []byte("# config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pin = filepath.Join(dir, "pins")
	dp, err = Open(Options{PinPath: pin, MaxSessions: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Errorf("file next to the pin directory: %v", err)
	}
	if ok, _ := isBPFFS(dir); ok {
		t.Errorf("%s became a bpffs", dir)
	}
	if ok, _ := isBPFFS(pin); !ok {
		t.Errorf("%s is not a bpffs", pin)
	}
	// Reopened: the mount is found, not stacked.
	dp.Close()
	if dp, err = Open(Options{PinPath: pin, MaxSessions: 64}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if n := countBPFFS(t); n != 1 {
		t.Errorf("%d bpffs mounts after reopening, want 1", n)
	}
	if err := dp.Unpin(); err != nil {
		t.Error(err)
	}
	dp.Close()

	// A directory with files in it, not on a bpffs: refused, files kept.
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(full, "keep")
	if err := os.WriteFile(keep, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{PinPath: full, MaxSessions: 64}); err == nil || !strings.Contains(err.Error(), "holds files") {
		t.Errorf("Open over a directory with files: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("file in the refused directory: %v", err)
	}
	unmountBPFFS(t)
}

// unmountBPFFS detaches every bpffs of this mount namespace.
func unmountBPFFS(t *testing.T) {
	t.Helper()
	for _, m := range bpffsMounts(t) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Fatalf("unmount %s: %v", m, err)
		}
	}
	if n := countBPFFS(t); n != 0 {
		t.Fatalf("%d bpffs still mounted", n)
	}
}

func countBPFFS(t *testing.T) int { return len(bpffsMounts(t)) }

// bpffsMounts lists the mount points of type bpf, deepest first.
func bpffsMounts(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if fs := strings.Fields(post); ok && len(fs) > 0 && fs[0] == "bpf" {
			ms = append([]string{strings.Fields(pre)[4]}, ms...)
		}
	}
	return ms
}
