package maps

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"golang.org/x/sys/unix"
)

// slotOf returns the session_slots index holding key, or -1.
func slotOf(t *testing.T, d *Datapath, key dataplaneSessionKey) int {
	t.Helper()
	first := slotHash(&key, d.slotMask)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneSessionSlot
		if err := d.objs.SessionSlots.Lookup(i, &s); err != nil {
			t.Fatal(err)
		}
		if s.Hot.Flags != 0 && s.Key == key {
			return int(i)
		}
	}
	return -1
}

func rawKey(t *testing.T, k Key) dataplaneSessionKey {
	t.Helper()
	r, err := k.raw()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSlotCount(t *testing.T) {
	for _, c := range []struct{ max, want uint32 }{{1, 2}, {1024, 2048}, {1025, 4096}, {262144, 524288}, {100000, 262144}} {
		if got, err := slotCount(c.max); err != nil || got != c.want {
			t.Errorf("slotCount(%d) = %d, %v; want %d", c.max, got, err, c.want)
		}
	}
}

// TestSessionSlots checks that the program finds sessions through their
// slot where user space put them (the two hash functions agree), falls back
// to the sessions map when a slot pair is full, and that Remove frees slots.
func TestSessionSlots(t *testing.T) {
	e := newEnv(t)
	ip := func(src netip.Addr) []byte {
		return ipv4{src: src, dst: internet, ttl: 64, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	fwd := func(src netip.Addr) []byte {
		b := ipv4{src: src, dst: internet, ttl: 63, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
		return ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, b)
	}
	upCase := func(name string, s Session) progCase {
		return progCase{name: name, prog: "xdp_access_in", in: s.up(t, ip(s.IPv4)), verdict: xdpRedirect, out: fwd(s.IPv4), counters: count1(ReasonFastUp)}
	}
	unknownCase := func(name string, s Session) progCase {
		return progCase{name: name, prog: "xdp_access_in", in: s.up(t, ip(s.IPv4)), verdict: xdpPass, counters: count1(ReasonUnknownSession)}
	}

	// The env's sessions each took a slot of their pair.
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		if slotOf(t, e.dp, rawKey(t, s.Key)) < 0 {
			t.Fatalf("session %#x has no slot", s.SessionID)
		}
	}
	// With its sessions entry gone behind Remove's back, the program
	// still finds the untagged session: it read the slot user space chose.
	key := rawKey(t, e.untagged.Key)
	if err := e.dp.objs.Sessions.Delete(&key); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{upCase("found by slot alone", e.untagged)})
	if err := e.dp.clearSessionSlot(key, uint32(e.idxUntagged)); err != nil {
		t.Fatal(err)
	}
	if slotOf(t, e.dp, key) >= 0 {
		t.Fatal("clearSlot left the slot")
	}
	e.run(t, []progCase{unknownCase("slot and entry gone", e.untagged)})

	// Three sessions whose keys hash to one slot pair: the third lives in
	// the sessions map only, and all three are forwarded.
	base := Session{Key: Key{Ifindex: e.acc, ClientMAC: clientMAC}, ACMAC: acMAC, MTU: 1492}
	bySlot := map[uint32][]uint16{}
	var sids []uint16
	for sid := uint16(0x2000); sids == nil; sid++ {
		k := base.Key
		k.SessionID = sid
		r := rawKey(t, k)
		h := slotHash(&r, e.dp.slotMask)
		bySlot[h] = append(bySlot[h], sid)
		if len(bySlot[h]) == 3 {
			sids = bySlot[h]
		}
	}
	var trio []Session
	for i, sid := range sids {
		s := base
		s.SessionID = sid
		s.IPv4 = netip.AddrFrom4([4]byte{100, 64, 1, byte(50 + i)})
		if _, err := e.dp.Install(s); err != nil {
			t.Fatal(err)
		}
		trio = append(trio, s)
	}
	if slotOf(t, e.dp, rawKey(t, trio[0].Key)) < 0 || slotOf(t, e.dp, rawKey(t, trio[1].Key)) < 0 {
		t.Fatal("the first two of a pair have no slot")
	}
	if slotOf(t, e.dp, rawKey(t, trio[2].Key)) >= 0 {
		t.Fatal("a third session found a slot in a full pair")
	}
	e.run(t, []progCase{upCase("pair 1st", trio[0]), upCase("pair 2nd", trio[1]), upCase("pair full, in sessions only", trio[2])})
	if err := e.dp.Remove(trio[0].Key); err != nil {
		t.Fatal(err)
	}
	if slotOf(t, e.dp, rawKey(t, trio[0].Key)) >= 0 {
		t.Fatal("Remove left the slot")
	}
	e.run(t, []progCase{unknownCase("removed", trio[0]), upCase("pair 2nd after remove", trio[1]), upCase("3rd after remove", trio[2])})
	// The freed slot goes to the next session of the pair.
	if _, err := e.dp.Install(trio[0]); err != nil {
		t.Fatal(err)
	}
	if slotOf(t, e.dp, rawKey(t, trio[0].Key)) < 0 {
		t.Fatal("reinstalled session has no slot")
	}
	e.run(t, []progCase{upCase("reinstalled", trio[0])})
}

// addrSlotOf returns the subscriber_slots index holding addr, or -1.
func addrSlotOf(t *testing.T, d *Datapath, addr [4]byte) int {
	t.Helper()
	first := addrHash(addr, d.slotMask)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneSessionSlot
		if err := d.objs.SubscriberSlots.Lookup(i, &s); err != nil {
			t.Fatal(err)
		}
		if s.Hot.Flags != 0 && s.Hot.Ipv4 == addr {
			return int(i)
		}
	}
	return -1
}

// TestSubscriberSlots is TestSessionSlots for the downstream front.
func TestSubscriberSlots(t *testing.T) {
	e := newEnv(t)
	ipDown := func(dst netip.Addr, ttl uint8) []byte {
		return ipv4{src: internet, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	}
	downCase := func(name string, s Session) progCase {
		return progCase{name: name, prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ipDown(s.IPv4, 64)),
			verdict: xdpRedirect, out: s.down(t, ipDown(s.IPv4, 63)), counters: count1(ReasonFastDown)}
	}
	notOurs := func(name string, s Session) progCase {
		return progCase{name: name, prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, ipDown(s.IPv4, 64)), verdict: xdpPass}
	}
	for _, s := range []Session{e.untagged, e.tagged, e.qinq} {
		if addrSlotOf(t, e.dp, s.IPv4.As4()) < 0 {
			t.Fatalf("subscriber %v has no slot", s.IPv4)
		}
	}
	addr := e.untagged.IPv4.As4()
	if err := e.dp.objs.SubscribersV4.Delete(addr); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{downCase("found by slot alone", e.untagged)})
	if err := e.dp.clearSubscriberSlot(addr, uint32(e.idxUntagged)); err != nil {
		t.Fatal(err)
	}
	if addrSlotOf(t, e.dp, addr) >= 0 {
		t.Fatal("clearSubscriberSlot left the slot")
	}
	e.run(t, []progCase{notOurs("slot and entry gone", e.untagged)})

	// Three addresses of one slot pair.
	bySlot := map[uint32][][4]byte{}
	var addrs [][4]byte
	for i := 0; addrs == nil; i++ {
		a := [4]byte{100, 64, byte(i >> 8), byte(i)}
		h := addrHash(a, e.dp.slotMask)
		bySlot[h] = append(bySlot[h], a)
		if len(bySlot[h]) == 3 {
			addrs = bySlot[h]
		}
	}
	var trio []Session
	for i, a := range addrs {
		s := Session{Key: Key{Ifindex: e.acc, SessionID: uint16(0x3000 + i), ClientMAC: clientMAC}, ACMAC: acMAC, MTU: 1492, IPv4: netip.AddrFrom4(a)}
		if _, err := e.dp.Install(s); err != nil {
			t.Fatal(err)
		}
		trio = append(trio, s)
	}
	if addrSlotOf(t, e.dp, addrs[0]) < 0 || addrSlotOf(t, e.dp, addrs[1]) < 0 || addrSlotOf(t, e.dp, addrs[2]) >= 0 {
		t.Fatal("want the first two addresses of a pair in slots, the third not")
	}
	e.run(t, []progCase{downCase("pair 1st", trio[0]), downCase("pair 2nd", trio[1]), downCase("pair full, in subscribers_v4 only", trio[2])})
	if err := e.dp.Remove(trio[1].Key); err != nil {
		t.Fatal(err)
	}
	if addrSlotOf(t, e.dp, addrs[1]) >= 0 {
		t.Fatal("Remove left the subscriber slot")
	}
	e.run(t, []progCase{notOurs("removed", trio[1]), downCase("1st after remove", trio[0]), downCase("3rd after remove", trio[2])})
}

// TestHotOf checks hotOf against the layout bpf/types.h asserts: the hot
// part is byte for byte the start of the attributes.
func TestHotOf(t *testing.T) {
	var a dataplaneSessionAttrs
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a)), unsafe.Sizeof(a))
	for i := range ab {
		ab[i] = byte(i + 1)
	}
	h := hotOf(a)
	hb := unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))
	if !bytes.Equal(hb, ab[:len(hb)]) {
		t.Fatalf("hotOf:\n% x\nwant the attributes' first %d bytes\n% x", hb, len(hb), ab[:len(hb)])
	}
}

// TestUpdate changes a live session's address, MTU and MSS and checks that
// the programs see the change through every copy (slots, hash maps,
// session_info), that the index and counters stay, and that a refused
// update changes nothing.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	udpIP := func(src, dst netip.Addr, ttl uint8, size int) []byte {
		return ipv4{src: src, dst: dst, ttl: ttl, proto: unix.IPPROTO_UDP, payload: udp(size - 28)}.marshal()
	}
	up := func(name string, s Session, src netip.Addr, verdict uint32, r Reason) progCase {
		c := progCase{name: name, prog: "xdp_access_in", in: s.up(t, udpIP(src, internet, 64, 60)), verdict: verdict, counters: count1(r)}
		if verdict == xdpRedirect {
			c.out = ethFrame(t, gwMAC, e.upMAC, ethernet.EtherTypeIPv4, udpIP(src, internet, 63, 60))
		}
		return c
	}
	down := func(name string, s Session, size int) progCase {
		return progCase{name: name, prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, udpIP(internet, s.IPv4, 64, size)),
			verdict: xdpRedirect, out: s.down(t, udpIP(internet, s.IPv4, 63, size)), counters: count1(ReasonFastDown)}
	}
	notOurs := func(name string, addr netip.Addr) progCase {
		return progCase{name: name, prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, udpIP(internet, addr, 64, 60)), verdict: xdpPass}
	}
	tooBig := func(name string, s Session, size int) progCase {
		return progCase{name: name, prog: "xdp_uplink_in", in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv4, udpIP(internet, s.IPv4, 64, size)),
			verdict: xdpPass, counters: count1(ReasonMTUExceeded)}
	}
	old := e.untagged
	e.run(t, []progCase{up("before", old, old.IPv4, xdpRedirect, ReasonFastUp), down("before, 1400 bytes", old, 1400)})
	before, err := e.dp.Stats(e.idxUntagged)
	if err != nil || before.PacketsUp == 0 {
		t.Fatalf("stats before: %+v, %v", before, err)
	}

	moved := old
	moved.IPv4 = netip.MustParseAddr("100.64.0.77")
	moved.MTU, moved.MSS = 1300, 1260
	idx, err := e.dp.Update(moved)
	if err != nil || idx != e.idxUntagged {
		t.Fatalf("Update: index %d, %v; want %d", idx, err, e.idxUntagged)
	}
	if got, _, err := e.dp.Lookup(moved.Key); err != nil || got.IPv4 != moved.IPv4 || got.MTU != 1300 || got.MSS != 1260 {
		t.Fatalf("Lookup after Update: %+v, %v", got, err)
	}
	if addrSlotOf(t, e.dp, old.IPv4.As4()) >= 0 || addrSlotOf(t, e.dp, moved.IPv4.As4()) < 0 {
		t.Fatal("subscriber slot not moved to the new address")
	}
	e.run(t, []progCase{
		up("new source address", moved, moved.IPv4, xdpRedirect, ReasonFastUp),
		up("old source address is spoofed now", moved, old.IPv4, xdpDrop, ReasonSpoofed),
		down("to the new address", moved, 1300),
		tooBig("over the new MTU", moved, 1400),
		notOurs("to the old address", old.IPv4),
	})
	// The same through the hash maps alone: the slots are a cache.
	if err := e.dp.clearSessionSlot(rawKey(t, moved.Key), uint32(idx)); err != nil {
		t.Fatal(err)
	}
	if err := e.dp.clearSubscriberSlot(moved.IPv4.As4(), uint32(idx)); err != nil {
		t.Fatal(err)
	}
	e.run(t, []progCase{up("new address, hash map", moved, moved.IPv4, xdpRedirect, ReasonFastUp),
		tooBig("over the new MTU, hash map", moved, 1400)})
	if after, _ := e.dp.Stats(idx); after.PacketsUp <= before.PacketsUp {
		t.Errorf("counters restarted: %+v after %+v", after, before)
	}

	// Another session's address: refused, nothing changed.
	clash := moved
	clash.IPv4 = e.tagged.IPv4
	if _, err := e.dp.Update(clash); !errors.Is(err, ErrExists) {
		t.Fatalf("Update to a taken address: %v", err)
	}
	if got, _, _ := e.dp.Lookup(moved.Key); got.IPv4 != moved.IPv4 {
		t.Fatalf("refused Update changed the address to %v", got.IPv4)
	}
	e.run(t, []progCase{down("still the new address", moved, 1300), down("the other session keeps its own", e.tagged, 1400)})

	gone := moved
	gone.SessionID = 0x7777
	if _, err := e.dp.Update(gone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of no session: %v", err)
	}
}

// TestPutInOrder: the two writes of a slot's two-step fill or clear,
// made in one batch syscall, leave the slot as the second one wrote it,
// for either value type of the slot fronts, and touch no other slot.
func TestPutInOrder(t *testing.T) {
	d := newEnv(t).dp
	a := dataplaneSessionSlot{Key: dataplaneSessionKey{Ifindex: 3, SessionId: 7}, Hot: dataplaneSessionHot{Index: 9}}
	b := a
	b.Hot.Flags = uint16(dataplaneSessionFlagSESSION_F_ACTIVE)
	if err := putInOrder(d.objs.SessionSlots, 4, &a, &b); err != nil {
		t.Fatal(err)
	}
	var got dataplaneSessionSlot
	if err := d.objs.SessionSlots.Lookup(uint32(4), &got); err != nil || got != b {
		t.Fatalf("slot 4 = %+v, %v; want %+v", got, err, b)
	}
	if err := d.objs.SessionSlots.Lookup(uint32(5), &got); err != nil || got != (dataplaneSessionSlot{}) {
		t.Fatalf("slot 5 = %+v, %v; want it empty", got, err)
	}
	if err := putInOrder(d.objs.SessionSlots, 4, &a, &dataplaneSessionSlot{}); err != nil {
		t.Fatal(err)
	}
	if err := d.objs.SessionSlots.Lookup(uint32(4), &got); err != nil || got != (dataplaneSessionSlot{}) {
		t.Fatalf("slot 4 after clearing = %+v, %v; want it empty", got, err)
	}
	s6 := v6SlotOf(netip.MustParsePrefix("2001:db8:1::/48"), 3)
	filling := s6
	filling.Prefixlen = 0
	if err := putInOrder(d.objs.Subscriber6Slots, 2, &filling, &s6); err != nil {
		t.Fatal(err)
	}
	var got6 dataplaneV6Slot
	if err := d.objs.Subscriber6Slots.Lookup(uint32(2), &got6); err != nil || got6 != s6 {
		t.Fatalf("subscriber6_slots[2] = %+v, %v; want %+v", got6, err, s6)
	}
}

// TestSlotFrontReopened: a Datapath on maps it created knows every slot
// is empty and looks none up; one reopened on a previous run's pins knows
// nothing and reads a slot before it takes it, so a session of its own
// never overwrites the slot a previous run's session holds, and it still
// empties the slots of the sessions it removes.
func TestSlotFrontReopened(t *testing.T) {
	e := newEnv(t)
	if k := e.dp.sessionFront.known[0]; k != ^uint64(0) {
		t.Fatalf("created maps: known %#x, want every slot known empty", k)
	}
	old := rawKey(t, e.untagged.Key)
	oldSlot := slotOf(t, e.dp, old)
	if oldSlot < 0 {
		t.Fatal("the untagged session has no slot")
	}
	pin := e.dp.PinPath()
	if err := e.dp.Close(); err != nil {
		t.Fatal(err)
	}
	dp2, err := Open(Options{PinPath: pin, MaxSessions: 1024})
	if err != nil {
		t.Fatal(err)
	}
	e.dp = dp2 // the env's cleanup unpins through it
	for _, k := range dp2.sessionFront.known {
		if k != 0 {
			t.Fatalf("reopened maps: a slot is known before it was read (%#x)", k)
		}
	}
	// A new session whose key hashes to the old one's pair takes the
	// other slot.
	first := slotHash(&old, dp2.slotMask)
	s := Session{Key: Key{Ifindex: e.acc, ClientMAC: clientMAC}, ACMAC: acMAC, MTU: 1492}
	for sid := uint16(0x3000); ; sid++ {
		s.SessionID = sid
		if r := rawKey(t, s.Key); slotHash(&r, dp2.slotMask) == first && sid != old.SessionId {
			break
		}
	}
	if _, err := dp2.Install(s); err != nil {
		t.Fatal(err)
	}
	if got := slotOf(t, dp2, old); got != oldSlot {
		t.Fatalf("the previous run's session moved from slot %d to %d", oldSlot, got)
	}
	if got := slotOf(t, dp2, rawKey(t, s.Key)); got != int(first|1)-int(uint32(oldSlot)&1) {
		t.Fatalf("the new session is in slot %d; the pair is %d, %d with %d taken", got, first, first|1, oldSlot)
	}
	// Removing the previous run's session empties its slot.
	if err := dp2.Remove(e.untagged.Key); err != nil {
		t.Fatal(err)
	}
	if got := slotOf(t, dp2, old); got >= 0 {
		t.Fatalf("removed session still in slot %d", got)
	}
}
