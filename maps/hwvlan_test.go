package maps

import (
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// activeFeatures reads whether named offload features are on (ethtool -k).
func activeFeatures(t *testing.T, dev string, names ...string) map[string]bool {
	t.Helper()
	all, err := featureNames(dev)
	if err != nil {
		t.Fatal(err)
	}
	n := (len(all) + 31) / 32
	get := make([]byte, 8+n*featureBlockSz)
	binary.NativeEndian.PutUint32(get, unix.ETHTOOL_GFEATURES)
	binary.NativeEndian.PutUint32(get[4:], uint32(n))
	if err := ethtoolIoctl(dev, get); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for bit, name := range all {
		for _, want := range names {
			if name == want {
				active := binary.NativeEndian.Uint32(get[8+(bit/32)*featureBlockSz+8:])
				out[name] = active&(1<<(bit%32)) != 0
			}
		}
	}
	if len(out) != len(names) {
		t.Fatalf("%s: features %v, found %v", dev, names, out)
	}
	return out
}

// attachedXDP is the name of the program on the device's pinned XDP link.
func attachedXDP(t *testing.T, dp *Datapath, ifindex int) string {
	t.Helper()
	l, err := link.LoadPinnedLink(dp.linkPath(ifindex, dataplaneProgXdpAccessIn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	li, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgramFromID(li.Program)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pi, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	return pi.Name
}

// TestAccessVLANTags: how AttachAccess makes VLAN tags the device strips
// visible to XDP. A veth hands XDP such a tag as metadata, so it gets
// xdp_access_in_hwvlan bound to it and its rx VLAN offload is left alone;
// in generic XDP (no metadata) the offload is turned off instead, with a
// log line, so tags stay in the frame.
func TestAccessVLANTags(t *testing.T) {
	e := newEnv(t)
	open := func(name string, generic bool) (*Datapath, *observer.ObservedLogs) {
		core, log := observer.New(zap.InfoLevel)
		dp, err := Open(Options{PinPath: filepath.Join(DefaultPinPath+"-test", name+e.ns.Name), MaxSessions: 1024,
			GenericXDP: generic, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			dp.Unpin()
			dp.Close()
		})
		return dp, log
	}
	vlanOffload := func() map[string]bool {
		var m map[string]bool
		if err := e.ns.Do(t, func() error { m = activeFeatures(t, "acc0", rxVLANFeatures...); return nil }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := vlanOffload(); !m["rx-vlan-hw-parse"] || !m["rx-vlan-stag-hw-parse"] {
		t.Fatalf("a new veth has rx VLAN offload %v, want on", m)
	}

	dp, log := open("hwvlan", false)
	// A client attaches at every session, several at once: one link, one
	// program, one line.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.ns.Do(t, func() error { return dp.AttachAccess(e.acc) })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent AttachAccess: %v", err)
		}
	}
	if n := log.FilterMessage("access device: VLAN tags the device strips are read from XDP metadata").Len(); n != 1 {
		t.Errorf("%d metadata lines, want 1: %v", n, log.All())
	}
	if name := attachedXDP(t, dp, e.acc); name != dataplaneProgXdpAccessInHwvlan {
		t.Errorf("acc0 runs %q, want the device-bound %s", name, dataplaneProgXdpAccessInHwvlan)
	}
	if m := vlanOffload(); !m["rx-vlan-hw-parse"] || !m["rx-vlan-stag-hw-parse"] {
		t.Errorf("rx VLAN offload changed to %v with the metadata program", m)
	}
	// Attaching again (a restart of the client's session) reuses both.
	if err := e.ns.Do(t, func() error { return dp.AttachAccess(e.acc) }); err != nil {
		t.Fatal(err)
	}
	if n := log.FilterMessage("access device: VLAN tags the device strips are read from XDP metadata").Len(); n != 1 {
		t.Errorf("%d metadata lines after attaching again, want 1", n)
	}
	if name := attachedXDP(t, dp, e.acc); name != dataplaneProgXdpAccessInHwvlan {
		t.Errorf("after attaching again acc0 runs %q", name)
	}
	if err := e.ns.Do(t, func() error { return dp.Detach(e.acc) }); err != nil {
		t.Fatal(err)
	}

	gen, glog := open("hwvlangen", true)
	if err := e.ns.Do(t, func() error { return gen.AttachAccess(e.acc) }); err != nil {
		t.Fatal(err)
	}
	if name := attachedXDP(t, gen, e.acc); name != dataplaneProgXdpAccessIn {
		t.Errorf("generic XDP: acc0 runs %q, want %s", name, dataplaneProgXdpAccessIn)
	}
	if m := vlanOffload(); m["rx-vlan-hw-parse"] || m["rx-vlan-stag-hw-parse"] {
		t.Errorf("generic XDP: rx VLAN offload %v, want off", m)
	}
	if n := glog.FilterMessage("access device: rx VLAN offload turned off so that XDP sees VLAN tags (it stays off after pppoed stops)").Len(); n != 1 {
		t.Errorf("%d offload lines, want 1: %v", n, glog.All())
	}
	// Nothing left to turn off the second time: no second line.
	if err := e.ns.Do(t, func() error { return gen.AttachAccess(e.acc) }); err != nil {
		t.Fatal(err)
	}
	if n := glog.FilterMessage("access device: rx VLAN offload turned off so that XDP sees VLAN tags (it stays off after pppoed stops)").Len(); n != 1 {
		t.Errorf("%d offload lines after attaching again, want 1", n)
	}
	if err := e.ns.Do(t, func() error { return gen.Detach(e.acc) }); err != nil {
		t.Fatal(err)
	}
}
