package maps

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// kernelV6 reads subscribers_v6 as the kernel holds it.
func kernelV6(t *testing.T, d *Datapath) map[netip.Prefix]Index {
	t.Helper()
	m := map[netip.Prefix]Index{}
	var k dataplaneV6LpmKey
	var idx uint32
	it := d.objs.SubscribersV6.Iterate()
	for it.Next(&k, &idx) {
		m[netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen))] = Index(idx)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func pfx6(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestIPv6PrefixLifecycle(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	d := e.dp
	want := map[netip.Prefix]Index{
		link6Untagged: e.idxUntagged, pd6Untagged: e.idxUntagged,
		link6QinQ: e.idxQQ, pd6QinQ: e.idxQQ,
	}
	_, idxTagged, err := d.Lookup(e.tagged.Key)
	if err != nil {
		t.Fatal(err)
	}
	want[link6Tagged], want[pd6Tagged] = idxTagged, idxTagged
	check := func(what string) {
		t.Helper()
		if got := kernelV6(t, d); !mapsEqual(got, want) {
			t.Fatalf("%s: subscribers_v6 %v, want %v", what, got, want)
		}
	}
	check("installed")

	link, pds, err := d.IPv6Prefixes(e.untagged.Key)
	if err != nil || link != link6Untagged || !slices.Equal(pds, []netip.Prefix{pd6Untagged}) {
		t.Fatalf("IPv6Prefixes: %v %v %v", link, pds, err)
	}

	// Overlaps with another session, either way, and bad prefixes: refused,
	// nothing changes.
	for _, p := range []netip.Prefix{
		pd6Tagged,                         // the same prefix
		pfx6("2001:db8:2200:5500::/56"),   // inside the tagged session's /48
		pfx6("2001:db8:2300::/40"),        // containing the QinQ session's /60
		pfx6("2001:db8:2300:4400::/56"),   // containing it, 4 bits apart (enumerated)
		pfx6("2001:db8:1:3::/64"),         // the QinQ link /64
		pfx6("2001:db8:1:3:0:0:0:77/128"), // inside it
		pfx6("2001:db8::/32"),             // containing everything
	} {
		if err := d.AddIPv6Prefix(e.untagged.Key, p); !errors.Is(err, ErrExists) {
			t.Errorf("add %v: %v, want ErrExists", p, err)
		}
	}
	for _, p := range []netip.Prefix{pfx6("10.0.0.0/8"), pfx6("fe80::/64"), pfx6("ff02::/16"), pfx6("::ffff:10.0.0.0/104"), {}} {
		if err := d.AddIPv6Prefix(e.untagged.Key, p); err == nil || errors.Is(err, ErrExists) {
			t.Errorf("add %v: %v, want a validation error", p, err)
		}
	}
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, pfx6("2001:db8:1:9::/60")); err == nil {
		t.Error("link prefix /60 accepted")
	}
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, pfx6("2001:db8:2100::/64")); err != nil {
		t.Errorf("link /64 inside the session's own delegated /56: %v", err)
	}
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, link6Untagged); err != nil {
		t.Fatal(err)
	}
	if err := d.AddIPv6Prefix(e.untagged.Key, pfx6("2001:db8:2100:1::/64")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, pfx6("2001:db8:2100:1::/64")); err == nil {
		t.Error("a delegated prefix taken as the link prefix too")
	}
	if err := d.RemoveIPv6Prefix(e.untagged.Key, pfx6("2001:db8:2100:1::/64")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, link6Tagged); !errors.Is(err, ErrExists) {
		t.Errorf("another session's link prefix: %v", err)
	}
	check("after refused changes")

	// A session's own prefixes may nest; a second delegated prefix; the
	// same one twice is a no-op.
	own := pfx6("2001:db8:2100:0:1::/80")
	extra := pfx6("2001:db8:2400::/56")
	for _, p := range []netip.Prefix{own, extra, extra} {
		if err := d.AddIPv6Prefix(e.untagged.Key, p); err != nil {
			t.Fatalf("add %v: %v", p, err)
		}
	}
	want[own], want[extra] = e.idxUntagged, e.idxUntagged
	check("added")
	if err := d.RemoveIPv6Prefix(e.untagged.Key, own); err != nil {
		t.Fatal(err)
	}
	delete(want, own)
	if err := d.RemoveIPv6Prefix(e.untagged.Key, own); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if err := d.RemoveIPv6Prefix(e.untagged.Key, pd6Tagged); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing another session's prefix: %v", err)
	}
	if err := d.RemoveIPv6Prefix(e.untagged.Key, link6Untagged); err == nil {
		t.Error("link prefix removed as a delegated one")
	}
	check("removed one")

	// A new link /64: the old one is let go, the attributes carry it.
	newLink := pfx6("2001:db8:1:a::/64")
	if err := d.SetIPv6LinkPrefix(e.untagged.Key, newLink); err != nil {
		t.Fatal(err)
	}
	delete(want, link6Untagged)
	want[newLink] = e.idxUntagged
	check("link moved")
	// An IPv4 update keeps the IPv6 link prefix in every copy.
	u := e.untagged
	u.MTU = 1480
	if _, err := d.Update(u); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name string
		get  func(*dataplaneSessionAttrs) error
	}{
		{"session_info", func(a *dataplaneSessionAttrs) error { return d.objs.SessionInfo.Lookup(uint32(e.idxUntagged), a) }},
		{"sessions", func(a *dataplaneSessionAttrs) error {
			k, _ := e.untagged.Key.raw()
			return d.objs.Sessions.Lookup(&k, a)
		}},
		{"subscribers_v4", func(a *dataplaneSessionAttrs) error { return d.objs.SubscribersV4.Lookup(e.untagged.IPv4.As4(), a) }},
	} {
		var a dataplaneSessionAttrs
		if err := m.get(&a); err != nil {
			t.Fatal(err)
		}
		if linkPrefixOf(a) != newLink || a.Mtu != 1480 {
			t.Errorf("%s after Update: link %v MTU %d", m.name, linkPrefixOf(a), a.Mtu)
		}
	}
	if err := d.SetIPv6LinkPrefix(e.tagged.Key, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	delete(want, link6Tagged)
	check("tagged link cleared")

	// A restart rebuilds the mirror: overlaps are still refused, and a
	// stale entry (a session index nobody holds) is swept.
	stale := v6Key(pfx6("2001:db8:7777::/48"))
	if err := d.objs.SubscribersV6.Put(&stale, uint32(1000)); err != nil {
		t.Fatal(err)
	}
	pin := d.PinPath()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = Open(Options{PinPath: pin, MaxSessions: 1024}); err != nil {
		t.Fatal(err)
	}
	e.dp = d
	check("reopened, stale entry swept")
	if err := d.AddIPv6Prefix(e.tagged.Key, extra); !errors.Is(err, ErrExists) {
		t.Errorf("after reopen, another's prefix: %v", err)
	}

	// Removing a session removes its prefixes; they are free for others.
	if err := d.Remove(e.untagged.Key); err != nil {
		t.Fatal(err)
	}
	delete(want, newLink)
	delete(want, pd6Untagged)
	delete(want, extra)
	check("session removed")
	if err := d.AddIPv6Prefix(e.tagged.Key, extra); err != nil {
		t.Errorf("prefix of a removed session: %v", err)
	}
	want[extra] = idxTagged
	if _, err := d.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	want = map[netip.Prefix]Index{}
	check("all removed")
	if err := d.AddIPv6Prefix(e.tagged.Key, extra); !errors.Is(err, ErrNotFound) {
		t.Errorf("prefix for a removed session: %v", err)
	}
}

// TestIPv6ClientRefused: a client session has no subscriber prefixes.
func TestIPv6ClientRefused(t *testing.T) {
	e := newClientEnv(t)
	e.install(t)
	c := e.sess[0]
	k := Key{Ifindex: c.Ifindex, SessionID: c.SessionID, ClientMAC: c.ACMAC}
	if err := e.dp.AddIPv6Prefix(k, pfx6("2001:db8:5::/56")); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("client session: %v", err)
	}
}

func TestV6Conflict(t *testing.T) {
	v := newV6Prefixes()
	v.add(pfx6("2001:db8:0:1::/64"), 1)
	for i := 0; i < 300; i++ { // enough /64s that a /56 is enumerated, not scanned
		a := netip.MustParseAddr("2001:db8:100::").As16()
		a[6], a[7] = byte(i>>8), byte(i)
		v.add(netip.PrefixFrom(netip.AddrFrom16(a), 64), Index(10+i))
	}
	for _, c := range []struct {
		p    string
		idx  Index
		want bool
	}{
		{"2001:db8:0:1::/64", 1, false},
		{"2001:db8:0:1::/64", 2, true},
		{"2001:db8::/56", 2, true},
		{"2001:db8::/48", 2, true},
		{"2001:db8:0:1:2::/80", 2, true},
		{"2001:db8:0:2::/64", 2, false},
		{"2001:db8:0:100::/56", 2, false},
		{"2001:db8:100::/56", 2, true},
		{"2001:db8:100:ff::/64", 2, true},
		{"2001:db8:100:ff::/64", 10 + 0xff, false},
		{"2001:db8:100:200::/56", 2, false},
		{"2001:db8:100:100::/56", 2, true},
	} {
		if _, got := v.conflict(pfx6(c.p), c.idx); got != c.want {
			t.Errorf("conflict(%s, %d) = %v, want %v", c.p, c.idx, got, c.want)
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestIPv6SlotSpill: a prefix whose slot pair is taken, and prefixes of
// more lengths than the programs probe, are still found, through the
// trie; the spill count says when that fallback is needed.
func TestIPv6SlotSpill(t *testing.T) {
	e := newEnv(t)
	e.withV6(t)
	d := e.dp
	down := func(dst netip.Addr) progCase {
		return progCase{name: "to " + dst.String(), prog: "xdp_uplink_in",
			in:      ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, udp6(internet6, dst, 64, 16)),
			verdict: xdpRedirect, out: e.tagged.down6(t, udp6(internet6, dst, 63, 16)), counters: count1(ReasonFastDown)}
	}
	lens, spill, err := d.sortedLens()
	if err != nil || !slices.Equal(lens, []int{64, 60, 56, 48}) || spill != 0 {
		t.Fatalf("v6_lens %v spill %d (%v), want [64 60 56 48], 0", lens, spill, err)
	}
	// Take both slots of a /56's pair with strangers' entries.
	p := pfx6("2001:db8:2500::/56")
	first := slot6Hash(p, d.slot6Mask)
	for i, junk := range []string{"2001:db8:9990::/64", "2001:db8:9991::/64"} {
		if err := d.objs.Subscriber6Slots.Put(first|uint32(i), v6SlotOf(pfx6(junk), 999)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddIPv6Prefix(e.tagged.Key, p); err != nil {
		t.Fatal(err)
	}
	if _, spill, _ := d.sortedLens(); spill != 1 {
		t.Errorf("spill %d, want 1", spill)
	}
	e.run(t, []progCase{down(in6(p, 1))})
	// Nine lengths: the shortest is not probed, and counts as spilled.
	for l := 65; l <= 69; l++ {
		q := netip.PrefixFrom(netip.MustParseAddr("2001:db8:2600::"), l).Masked()
		if err := d.AddIPv6Prefix(e.tagged.Key, q); err != nil {
			t.Fatal(err)
		}
	}
	lens, spill, _ = d.sortedLens()
	if !slices.Equal(lens, []int{69, 68, 67, 66, 65, 64, 60, 56}) || spill != 2 {
		t.Errorf("v6_lens %v spill %d, want 8 longest and 2 (the /56 without a slot, the /48)", lens, spill)
	}
	e.run(t, []progCase{down(in6(pd6Tagged, 7)), down(netip.MustParseAddr("2001:db8:2600::1"))})
	if err := d.RemoveIPv6Prefix(e.tagged.Key, p); err != nil {
		t.Fatal(err)
	}
	for l := 65; l <= 69; l++ {
		if err := d.RemoveIPv6Prefix(e.tagged.Key, netip.PrefixFrom(netip.MustParseAddr("2001:db8:2600::"), l).Masked()); err != nil {
			t.Fatal(err)
		}
	}
	lens, spill, _ = d.sortedLens()
	if !slices.Equal(lens, []int{64, 60, 56, 48}) || spill != 0 {
		t.Errorf("after removal: v6_lens %v spill %d, want [64 60 56 48], 0", lens, spill)
	}
	// The junk slots still hold the pair: the /56 is gone from the trie
	// too, so nothing finds it.
	e.run(t, []progCase{{name: "removed", prog: "xdp_uplink_in",
		in: ethFrame(t, e.upMAC, gwMAC, ethernet.EtherTypeIPv6, udp6(internet6, in6(p, 1), 64, 16)), verdict: xdpPass}})
}

// sortedLens is the lengths v6_lens lists and its spill count.
func (d *Datapath) sortedLens() ([]int, uint32, error) {
	var v dataplaneV6Lengths
	if err := d.objs.V6Lens.Lookup(uint32(0), &v); err != nil {
		return nil, 0, err
	}
	var ls []int
	for i := 0; i < int(v.N); i++ {
		ls = append(ls, int(v.Len[i]))
	}
	return ls, v.Spill, nil
}
