package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func TestReasonString(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		s := r.String()
		if s == "" || seen[s] || s[0] == 'R' {
			t.Errorf("reason %d: name %q missing or duplicate", uint32(r), s)
		}
		seen[s] = true
	}
	if got := Reason(999).String(); got != "Reason(999)" {
		t.Errorf("unknown reason: %q", got)
	}
}

func TestSessionLifecycleAndReopen(t *testing.T) {
	e := newEnv(t)
	got, idx, err := e.dp.Lookup(e.qinq.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := e.qinq
	want.InnerTPID = TPID8021Q // defaulted on install
	if !reflect.DeepEqual(got, want) || idx != e.idxQQ {
		t.Fatalf("lookup: %+v at %d, want %+v at %d", got, idx, want, e.idxQQ)
	}
	// Same key, or same address, again: refused, nothing leaked.
	if _, err := e.dp.Install(e.qinq); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate install: %v", err)
	}
	dup := e.untagged
	dup.SessionID = 0x0777
	if _, err := e.dp.Install(dup); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate address: %v", err)
	}
	if n := e.dp.Len(); n != 3 {
		t.Fatalf("Len %d after refused installs, want 3", n)
	}
	for _, bad := range []Session{
		{Key: Key{Ifindex: e.acc, ClientMAC: clientMAC}, ACMAC: acMAC, IPv4: netip.IPv4Unspecified(), MTU: 1492},                                            // 0.0.0.0
		{Key: Key{Ifindex: e.acc, ClientMAC: clientMAC}, ACMAC: acMAC, IPv4: netip.MustParseAddr("2001:db8::1"), MTU: 1492},                                 // not IPv4
		{Key: Key{Ifindex: e.acc, ClientMAC: clientMAC[:5]}, ACMAC: acMAC, IPv4: subQinQ, MTU: 1492},                                                        // short MAC
		{Key: Key{Ifindex: e.acc, InnerVLAN: 5, ClientMAC: clientMAC}, ACMAC: acMAC, IPv4: netip.MustParseAddr("100.64.2.1"), MTU: 1492},                    // inner without outer
		{Key: Key{Ifindex: e.acc, OuterVLAN: 5, ClientMAC: clientMAC}, OuterTPID: 0x9100, ACMAC: acMAC, IPv4: netip.MustParseAddr("100.64.2.1"), MTU: 1492}, // TPID
		{Key: Key{Ifindex: e.acc, OuterVLAN: 4096, ClientMAC: clientMAC}, ACMAC: acMAC, IPv4: netip.MustParseAddr("100.64.2.1"), MTU: 1492},                 // VLAN id
	} {
		if _, err := e.dp.Install(bad); err == nil {
			t.Errorf("install %+v: no error", bad)
		}
	}

	// A restart: close, reopen from the pins. Sessions survive and their
	// indices are not handed out again.
	pin := e.dp.PinPath()
	if err := e.dp.Close(); err != nil {
		t.Fatal(err)
	}
	dp2, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	if err != nil {
		t.Fatal(err)
	}
	e.dp = dp2 // the env's cleanup unpins through it
	if _, idx2, err := dp2.Lookup(e.qinq.Key); err != nil || idx2 != e.idxQQ {
		t.Fatalf("after reopen: index %d, %v", idx2, err)
	}
	fresh := Session{Key: Key{Ifindex: e.acc, SessionID: 9, ClientMAC: clientMAC}, ACMAC: acMAC,
		IPv4: netip.MustParseAddr("100.64.1.9"), MTU: 1492}
	fi, err := dp2.Install(fresh)
	if err != nil {
		t.Fatal(err)
	}
	for _, used := range []Index{e.idxUntagged, e.idxQQ} {
		if fi == used {
			t.Fatalf("index %d handed out twice", fi)
		}
	}
	// A different capacity cannot silently reuse the pins, and the failed
	// load removes none of them.
	pinned := func() []string {
		ents, err := os.ReadDir(pin)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	before := pinned()
	if _, err := Open(Options{PinPath: pin, MaxSessions: 2048}); err == nil {
		t.Fatal("reopen with another MaxSessions: no error")
	}
	if after := pinned(); !slices.Equal(before, after) {
		t.Fatalf("failed reopen changed the pins: %v -> %v", before, after)
	}

	if err := dp2.Remove(e.qinq.Key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dp2.Lookup(e.qinq.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after remove: %v", err)
	}
	if err := dp2.Remove(e.qinq.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	var owner dataplaneSessionAttrs
	if err := dp2.objs.SubscribersV4.Lookup(subQinQ.As4(), &owner); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatalf("removed session's address: lookup = %v, want ErrKeyNotExist", err)
	}
	// Its address and key can be installed again.
	if _, err := dp2.Install(e.qinq); err != nil {
		t.Fatal(err)
	}
}

func TestFull(t *testing.T) {
	requireBPF(t)
	pin := filepath.Join(DefaultPinPath+"-test", "full")
	dp, err := Open(Options{PinPath: pin, MaxSessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Unpin(); dp.Close() })
	for i := range 3 {
		s := Session{Key: Key{Ifindex: 1, SessionID: uint16(i + 1), ClientMAC: clientMAC}, ACMAC: acMAC,
			IPv4: netip.AddrFrom4([4]byte{100, 64, 3, byte(i)}), MTU: 1492}
		_, err := dp.Install(s)
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 && !errors.Is(err, ErrFull) {
			t.Fatalf("third install into 2 slots: %v", err)
		}
	}
}

func TestAttachDetach(t *testing.T) {
	e := newEnv(t)
	err := e.ns.Do(t, func() error {
		for _, f := range []func(int) error{e.dp.AttachAccess, e.dp.AttachAccess} { // twice: reuses the pin
			if err := f(e.acc); err != nil {
				return err
			}
		}
		if err := e.dp.AttachUplink(e.up); err != nil {
			return err
		}
		return e.dp.AttachPPPoE0(e.pppoe0)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"links/%d_xdp_access_in", "links/%d_tc_access_in"} {
		path := filepath.Join(e.dp.PinPath(), sprintf(p, e.acc))
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		l.Close()
	}
	out := e.ns.Run(t, "ip", "link", "show", "acc0")
	if !contains(out, "xdp") {
		t.Errorf("acc0 shows no XDP program: %s", out)
	}
	if err := e.ns.Do(t, func() error {
		for _, i := range []int{e.acc, e.up, e.pppoe0} {
			if err := e.dp.Detach(i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out := e.ns.Run(t, "ip", "link", "show", "acc0"); contains(out, "xdp") {
		t.Errorf("acc0 still has XDP after Detach: %s", out)
	}
	if _, err := os.Stat(filepath.Join(e.dp.PinPath(), sprintf("links/%d_xdp_access_in", e.acc))); !os.IsNotExist(err) {
		t.Errorf("link pin left behind: %v", err)
	}
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
func contains(s, sub string) bool       { return strings.Contains(s, sub) }

// TestAttachGenericXDP checks that Options.GenericXDP attaches in generic
// mode although veth has native XDP.
func TestAttachGenericXDP(t *testing.T) {
	e := newEnv(t)
	pin := filepath.Join(DefaultPinPath+"-test", "generic"+e.ns.Name)
	dp, err := Open(Options{PinPath: pin, MaxSessions: 1024, GenericXDP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dp.Unpin()
		dp.Close()
	})
	if err := e.ns.Do(t, func() error { return dp.AttachAccess(e.acc) }); err != nil {
		t.Fatal(err)
	}
	if out := e.ns.Run(t, "ip", "link", "show", "acc0"); !contains(out, "xdpgeneric") {
		t.Errorf("acc0 shows no generic XDP program: %s", out)
	}
	// A generic-mode redirect is an skb transmit, which any device takes:
	// even lo, which has no ndo_xdp_xmit, is a redirect target.
	if ok, err := dp.XDPRedirects(1); err != nil || !ok {
		t.Errorf("generic XDP: lo is no redirect target (%v)", err)
	}
	if err := e.ns.Do(t, func() error { return dp.Detach(e.acc) }); err != nil {
		t.Fatal(err)
	}
}
