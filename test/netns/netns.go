// Package netns gives tests throw-away network namespaces: create one,
// join them with veth pairs, run Go code or a command inside. Everything is
// removed through t.Cleanup, and names are unique per process and test so
// tests can run in parallel. It needs root.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var seq atomic.Uint64

// uniq returns a short name unique in this process (interface names are
// limited to 15 bytes).
func uniq(prefix string) string {
	return fmt.Sprintf("%s%x%x", prefix, os.Getpid()&0xffff, seq.Add(1))
}

// NS is a named network namespace (visible to `ip netns`).
type NS struct {
	Name string
}

// New creates a namespace with loopback up, deleted when the test ends.
// It fails the test when not root or without iproute2.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "ip")
	n := &NS{Name: uniq("pxt")}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("netns: add %s: %v: %s", n.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("netns: del %s: %v: %s", n.Name, err, out)
		}
	})
	n.Run(t, "ip", "link", "set", "lo", "up")
	return n
}

// Do runs f on a locked OS thread inside the namespace. Netlink calls,
// sockets opened and BPF_PROG_TEST_RUN (whose fib lookups use the calling
// thread's namespace) all act inside it.
func (n *NS) Do(t testing.TB, f func() error) error {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open %s: %w", n.Name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", n.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it when the
		// goroutine ends, so no other goroutine runs in the namespace.
		t.Errorf("netns: leave %s: %v", n.Name, err)
		return ferr
	}
	runtime.UnlockOSThread()
	return ferr
}

// Run runs a command inside the namespace (`ip netns exec`) and returns its
// combined output; a failure fails the test.
func (n *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Output(name, args...)
	if err != nil {
		t.Fatalf("netns %s: %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Output runs a command inside the namespace and returns its combined
// output and error, for commands that may fail.
func (n *NS) Output(name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Veth creates a veth pair with end aName in a and end bName in b, both up,
// and returns their ifindexes (each in its own namespace).
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) (aIndex, bIndex int) {
	t.Helper()
	tmp := uniq("pxv")
	hb, err := netns.GetFromName(b.Name)
	if err != nil {
		t.Fatalf("netns: open %s: %v", b.Name, err)
	}
	defer hb.Close()
	err = a.Do(t, func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: tmp, PeerNamespace: netlink.NsFd(hb)}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s: %w", aName, err)
		}
		l, err := netlink.LinkByName(aName)
		if err != nil {
			return err
		}
		aIndex = l.Attrs().Index
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	err = b.Do(t, func() error {
		l, err := netlink.LinkByName(tmp)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetName(l, bName); err != nil {
			return fmt.Errorf("rename %s: %w", bName, err)
		}
		bIndex = l.Attrs().Index
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	return aIndex, bIndex
}
