package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"golang.org/x/sys/unix"
)

// TestInstalledAfterReopen is a same-layout upgrade: the data plane is
// closed (the daemon exits) and opened again from the pins (the new
// binary, same layout): every session is still there, listed with its
// index, addresses, counters and role, and the allocator does not hand
// its index out again.
func TestInstalledAfterReopen(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	s := e.untagged
	ip := ipv4{src: s.IPv4, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	routed := ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4,
		ipv4{src: s.IPv4, dst: internet, ttl: 63, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal())
	e.run(t, []progCase{{name: "upstream before the restart", prog: "xdp_access_in", in: s.up(t, ip), verdict: xdpRedirect,
		out: routed, counters: count1(ReasonFastUp)}})

	pin := e.dp.PinPath()
	e.dp.Close()
	dp, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	if err != nil {
		t.Fatalf("reopen with the same layout: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	e.dp = dp

	got, err := dp.Installed()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3+len(e.sess) {
		t.Fatalf("Installed lists %d sessions, want %d: %+v", len(got), 3+len(e.sess), got)
	}
	byID := map[uint16]Installed{}
	for _, in := range got {
		byID[in.SessionID] = in
	}
	u := byID[s.SessionID]
	if u.Index != e.idxUntagged || u.Client || !u.Subscriber || u.IPv4 != s.IPv4 || u.LocalMAC.String() != acMAC.String() ||
		u.ClientMAC.String() != clientMAC.String() || u.MTU != 1492 || u.MSS != 1452 {
		t.Errorf("untagged session listed as %+v", u)
	}
	if u.Stats.PacketsUp != 1 || u.Stats.BytesUp != uint64(len(ip)) {
		t.Errorf("untagged counters %+v: want the packet sent before the restart", u.Stats)
	}
	q := byID[e.qinq.SessionID]
	if q.OuterVLAN != 10 || q.InnerVLAN != 20 || q.OuterTPID != TPID8021AD || q.InnerTPID != TPID8021Q || q.Index != e.idxQQ {
		t.Errorf("QinQ session listed as %+v", q)
	}
	for i, c := range e.sess {
		in := byID[c.SessionID]
		if !in.Client || in.Subscriber || in.Index != e.index[i] || in.ClientMAC.String() != peerAC.String() || in.Netdev == 0 {
			t.Errorf("client session %#x listed as %+v", c.SessionID, in)
		}
	}
	// The surviving indices are not handed out again.
	idx, err := dp.Install(Session{Key: Key{Ifindex: e.acc, SessionID: 0x0999, ClientMAC: clientMAC}, ACMAC: acMAC,
		IPv4: netip.MustParseAddr("100.64.1.99"), MTU: 1492})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		if in.Index == idx {
			t.Errorf("new session got index %d, which session %#x holds", idx, in.SessionID)
		}
	}
	// The surviving session still forwards.
	e.run(t, []progCase{{name: "upstream after the restart", prog: "xdp_access_in", in: s.up(t, ip), verdict: xdpRedirect,
		out: routed, counters: count1(ReasonFastUp)}})
}

// TestRemoveInstalled sweeps sessions as listed: a server session's key,
// address and slot go and its index is free; a client session's netdev
// goes down too; an entry taken over since the listing is not touched.
func TestRemoveInstalled(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	list, err := e.dp.Installed()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.SessionID == e.tagged.SessionID {
			// Replaced since the listing: same key, another index (a
			// session in between takes the freed one).
			if err := e.dp.Remove(e.tagged.Key); err != nil {
				t.Fatal(err)
			}
			between := e.untagged
			between.SessionID, between.IPv4 = 0x0777, netip.MustParseAddr("100.64.1.77")
			if _, err := e.dp.Install(between); err != nil {
				t.Fatal(err)
			}
			if _, err := e.dp.Install(e.qinq.with(e.tagged)); err != nil {
				t.Fatal(err)
			}
			if err := e.dp.RemoveInstalled(in); !errors.Is(err, ErrNotFound) {
				t.Errorf("removing a listing whose key was taken over: %v, want ErrNotFound", err)
			}
			if _, _, err := e.dp.Lookup(e.tagged.Key); err != nil {
				t.Errorf("the new session under that key was removed: %v", err)
			}
			continue
		}
		if err := e.dp.RemoveInstalled(in); err != nil {
			t.Fatalf("RemoveInstalled(%#x): %v", in.SessionID, err)
		}
		if err := e.dp.RemoveInstalled(in); !errors.Is(err, ErrNotFound) {
			t.Errorf("second RemoveInstalled(%#x): %v, want ErrNotFound", in.SessionID, err)
		}
	}
	for _, s := range []Session{e.untagged, e.qinq} {
		if _, _, err := e.dp.Lookup(s.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("session %#x still installed: %v", s.SessionID, err)
		}
		if slotOf(t, e.dp, rawKey(t, s.Key)) >= 0 || addrSlotOf(t, e.dp, s.IPv4.As4()) >= 0 {
			t.Errorf("session %#x keeps a slot", s.SessionID)
		}
	}
	for _, dev := range e.devs {
		if _, err := e.dp.ClientIndex(dev); !errors.Is(err, ErrNotFound) {
			t.Errorf("client %s still up: %v", dev.Name, err)
		}
	}
	if n := e.dp.Len(); n != 2 {
		t.Errorf("%d sessions left, want the two installed after the listing", n)
	}
}

// with returns s moved to other's key and address.
func (s Session) with(other Session) Session {
	s.Key, s.IPv4 = other.Key, other.IPv4
	return s
}

// TestLayoutChangedRefused: pins stamped by a pppoed with another layout
// (version or fingerprint) are refused with a LayoutError that says what
// to do, and left as they are: the sessions in them stay installed.
func TestLayoutChangedRefused(t *testing.T) {
	e := newEnv(t)
	pin := e.dp.PinPath()
	other := dataplaneLayoutStamp{Version: LayoutVersion + 1}
	other.Fingerprint[0] = 0x42
	if err := e.dp.objs.Layout.Put(uint32(0), &other); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	var le *LayoutError
	if !errors.Is(err, ErrLayoutChanged) || !errors.As(err, &le) {
		t.Fatalf("Open over another layout: %v, want a LayoutError", err)
	}
	if le.PinnedVersion != LayoutVersion+1 || le.WantVersion != LayoutVersion {
		t.Errorf("LayoutError %+v", le)
	}
	for _, want := range []string{pin, "systemctl stop pppoed", "rm -r " + pin} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	if _, _, err := e.dp.Lookup(e.untagged.Key); err != nil {
		t.Errorf("a refused start touched the installed session: %v", err)
	}
	// Same version, another fingerprint: a layout changed without a bump.
	other.Version = LayoutVersion
	e.dp.objs.Layout.Put(uint32(0), &other)
	if _, err := Open(Options{PinPath: pin, MaxSessions: 1024}); !errors.Is(err, ErrLayoutChanged) {
		t.Errorf("Open over another fingerprint: %v, want ErrLayoutChanged", err)
	}
}

// TestLayoutIncompatibleMap: pins of a pppoed older than stamps whose map
// differs in shape (here session_info with a larger value, as a changed
// struct session_attrs would make) are refused as a changed layout,
// naming the map, and another --capacity is told apart.
func TestLayoutIncompatibleMap(t *testing.T) {
	e := newEnv(t)
	pin := e.dp.PinPath()
	// An older pppoed: no stamp.
	if err := os.Remove(filepath.Join(pin, dataplaneMapLayout)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{PinPath: pin, MaxSessions: 2048}); err == nil || errors.Is(err, ErrLayoutChanged) ||
		!strings.Contains(err.Error(), "--capacity") {
		t.Errorf("Open with another capacity: %v, want the --capacity error", err)
	}
	info := filepath.Join(pin, dataplaneMapSessionInfo)
	old, err := ebpf.LoadPinnedMap(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Unpin(); err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "session_info", Type: ebpf.Array, KeySize: 4, ValueSize: 80, MaxEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Pin(info); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{PinPath: pin, MaxSessions: 1024})
	var le *LayoutError
	if !errors.As(err, &le) || le.Map != dataplaneMapSessionInfo || !errors.Is(err, ebpf.ErrMapIncompatible) {
		t.Fatalf("Open over an incompatible session_info: %v, want a LayoutError naming it", err)
	}
	// Put the original back for the cleanup's Unpin.
	m.Unpin()
	if err := old.Pin(info); err != nil {
		t.Fatal(err)
	}
	// An unstamped pin set that fits is taken over and stamped.
	dp, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	if err != nil {
		t.Fatalf("Open over compatible unstamped pins: %v", err)
	}
	defer dp.Close()
	if got, ok, err := pinnedLayout(pin); err != nil || !ok || got.Version != LayoutVersion {
		t.Errorf("stamp after taking over unstamped pins: %+v %v %v", got, ok, err)
	}
	if _, _, err := dp.Lookup(e.untagged.Key); err != nil {
		t.Errorf("session lost taking over unstamped pins: %v", err)
	}
}

// TestLayoutFingerprint: the fingerprint changes with a map's shape and
// not with its number of entries.
func TestLayoutFingerprint(t *testing.T) {
	spec, err := loadDataplane()
	if err != nil {
		t.Fatal(err)
	}
	base := layoutFingerprint(spec)
	spec.Maps[dataplaneMapSessions].MaxEntries *= 2
	if layoutFingerprint(spec) != base {
		t.Error("max entries changed the fingerprint")
	}
	spec.Maps[dataplaneMapSessionInfo].ValueSize += 8
	if layoutFingerprint(spec) == base {
		t.Error("a value size change left the fingerprint")
	}
	spec, _ = loadDataplane()
	spec.Maps[dataplaneMapSessionInfo].Value = spec.Maps[dataplaneMapSessionStats].Value
	if layoutFingerprint(spec) == base {
		t.Error("a value type change left the fingerprint")
	}
}

// BenchmarkInstalled lists n installed sessions, as a starting pppoed
// does before adopting them: the data plane's share of adoption time.
func BenchmarkInstalled(b *testing.B) {
	requireBPF(b)
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			pin := filepath.Join(DefaultPinPath+"-test", fmt.Sprintf("installed-bench-%d-%d", os.Getpid(), n))
			dp, err := Open(Options{PinPath: pin, MaxSessions: uint32(n)})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { dp.Unpin(); dp.Close() }()
			for i := range n {
				_, err := dp.Install(Session{Key: Key{Ifindex: 1, SessionID: uint16(i%65534 + 1),
					ClientMAC: net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}},
					ACMAC: acMAC, IPv4: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), MTU: 1492})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if in, err := dp.Installed(); err != nil || len(in) != n {
					b.Fatalf("%d listed, %v", len(in), err)
				}
			}
		})
	}
}
