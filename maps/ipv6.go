package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// A server session's IPv6 prefixes: its link /64 (RFC 4862 SLAAC on the
// PPP link) and any number of delegated prefixes (RFC 8415 IA_PD), of any
// length. Each is a subscribers_v6 entry (prefix -> session index), which
// the downstream paths look the destination up in (longest match) and the
// upstream anti-spoof check the source. The link /64 and one delegated
// prefix are also in the session's attributes (pd_* fields, see inlinePD),
// so that the upstream check of a session with at most one delegated prefix
// is two compares and no lookup (bpf/ipv6.h).
//
// Prefixes of different sessions never overlap: longest-match would
// silently hand part of one subscriber's prefix to another, so a prefix
// that contains, or lies inside, another session's is refused with
// ErrExists. One session's own prefixes may nest.
//
// v6 is the user-space mirror of subscribers_v6, rebuilt from it at Open,
// so that Remove finds a session's prefixes and the overlap check needs no
// walk of the trie. Guarded by d.mu.
type v6Prefixes struct {
	bySession map[Index][]netip.Prefix
	owner     map[netip.Prefix]Index
	byLen     [129]map[netip.Prefix]struct{}
	spilled   map[netip.Prefix]bool // in the trie without a slot (ipv6slot.go)
	lens      dataplaneV6Lengths    // v6_lens as last written
	lensOK    bool                  // lens holds what v6_lens holds
}

func newV6Prefixes() *v6Prefixes {
	return &v6Prefixes{bySession: map[Index][]netip.Prefix{}, owner: map[netip.Prefix]Index{}, spilled: map[netip.Prefix]bool{}}
}

func (v *v6Prefixes) add(p netip.Prefix, idx Index) {
	v.owner[p] = idx
	v.bySession[idx] = append(v.bySession[idx], p)
	if v.byLen[p.Bits()] == nil {
		v.byLen[p.Bits()] = map[netip.Prefix]struct{}{}
	}
	v.byLen[p.Bits()][p] = struct{}{}
}

func (v *v6Prefixes) remove(p netip.Prefix) {
	idx, ok := v.owner[p]
	if !ok {
		return
	}
	delete(v.owner, p)
	delete(v.byLen[p.Bits()], p)
	ps := slices.DeleteFunc(v.bySession[idx], func(q netip.Prefix) bool { return q == p })
	if len(ps) == 0 {
		delete(v.bySession, idx)
	} else {
		v.bySession[idx] = ps
	}
}

// conflict returns a prefix of another session than idx that contains p
// or lies inside it. Containing prefixes: one map lookup per shorter
// length. Contained ones: per longer length in use, whichever is fewer of
// enumerating p's subprefixes of that length or scanning the prefixes of
// that length.
func (v *v6Prefixes) conflict(p netip.Prefix, idx Index) (netip.Prefix, bool) {
	for l := 0; l <= p.Bits(); l++ {
		q := netip.PrefixFrom(p.Addr(), l).Masked()
		if o, ok := v.owner[q]; ok && o != idx {
			return q, true
		}
	}
	for l := p.Bits() + 1; l <= 128; l++ {
		m := v.byLen[l]
		if len(m) == 0 {
			continue
		}
		if gap := l - p.Bits(); gap < 20 && 1<<gap < len(m) {
			base := p.Addr().As16()
			for i := 0; i < 1<<gap; i++ {
				a := base
				for b := 0; b < gap; b++ { // bit b of i goes to bit l-1-b of the address
					if i>>b&1 == 1 {
						bit := l - 1 - b
						a[bit/8] |= 0x80 >> (bit % 8)
					}
				}
				q := netip.PrefixFrom(netip.AddrFrom16(a), l)
				if o, ok := v.owner[q]; ok && o != idx {
					return q, true
				}
			}
			continue
		}
		for q := range m {
			if p.Contains(q.Addr()) && v.owner[q] != idx {
				return q, true
			}
		}
	}
	return netip.Prefix{}, false
}

// v6Key is a prefix's subscribers_v6 key.
func v6Key(p netip.Prefix) dataplaneV6LpmKey {
	return dataplaneV6LpmKey{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}
}

// checkV6Prefix accepts a masked IPv6 prefix (not IPv4-mapped) that is
// neither link-local nor multicast, which the data plane never forwards.
func checkV6Prefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
		return p, fmt.Errorf("maps: IPv6 prefix %v: not an IPv6 prefix", p)
	}
	if p.Addr().Zone() != "" {
		return p, fmt.Errorf("maps: IPv6 prefix %v: zoned", p)
	}
	p = p.Masked()
	if p.Bits() < 8 || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsLoopback() {
		return p, fmt.Errorf("maps: IPv6 prefix %v: not a subscriber prefix", p)
	}
	return p, nil
}

// serverSession returns an installed server session's attributes.
func (d *Datapath) serverSession(key dataplaneSessionKey, what string) (dataplaneSessionAttrs, error) {
	var a dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &a); err != nil {
		return a, fmt.Errorf("maps: %s: session %d: %w", what, key.SessionId, notFound(err))
	}
	if a.Flags&uint16(dataplaneSessionFlagSESSION_F_CLIENT) != 0 {
		return a, fmt.Errorf("maps: %s: session %d is a client session: %w", what, key.SessionId, errors.ErrUnsupported)
	}
	return a, nil
}

// putV6Locked claims p for session idx in subscribers_v6 and its slot
// front (ipv6slot.go).
func (d *Datapath) putV6Locked(p netip.Prefix, idx Index, sid uint16) error {
	if o, ok := d.v6.owner[p]; ok && o == idx {
		return nil
	}
	if q, ok := d.v6.conflict(p, idx); ok {
		return fmt.Errorf("maps: session %d: IPv6 prefix %v overlaps %v of another session: %w", sid, p, q, ErrExists)
	}
	// The length is listed before the prefix's slot is filled; until
	// then the programs miss it, as before it was added.
	if err := d.writeLens(p.Bits(), len(d.v6.spilled)); err != nil {
		return fmt.Errorf("maps: session %d: %w", sid, err)
	}
	k := v6Key(p)
	if err := d.objs.SubscribersV6.Update(&k, uint32(idx), ebpf.UpdateNoExist); err != nil {
		_ = d.writeLens(-1, len(d.v6.spilled))
		if errors.Is(err, ebpf.ErrKeyExist) {
			err = ErrExists
		}
		return fmt.Errorf("maps: session %d: IPv6 prefix %v: %w", sid, p, err)
	}
	d.v6.add(p, idx)
	ok, err := d.putSlot6(p, idx)
	if err != nil || !ok {
		d.v6.spilled[p] = true
		if err := d.writeLens(-1, len(d.v6.spilled)); err != nil {
			return fmt.Errorf("maps: session %d: %w", sid, err)
		}
		if err != nil {
			return fmt.Errorf("maps: session %d: %w", sid, err)
		}
	}
	return nil
}

// deleteV6Locked takes p out of its slot, then the trie: from the first
// step on the programs miss it, as they will once it is gone.
func (d *Datapath) deleteV6Locked(p netip.Prefix) error {
	if _, err := d.clearSlot6(p); err != nil {
		return err
	}
	k := v6Key(p)
	if err := d.objs.SubscribersV6.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("maps: IPv6 prefix %v: %w", p, err)
	}
	d.v6.remove(p)
	delete(d.v6.spilled, p)
	return d.writeLens(-1, len(d.v6.spilled))
}

// rewriteAttrsLocked writes a session's changed non-hot attributes to
// every copy: session_info, its sessions entry and, if it owns one, its
// subscribers_v4 entry (the slots hold hot fields only).
func (d *Datapath) rewriteAttrsLocked(key dataplaneSessionKey, a dataplaneSessionAttrs) error {
	if err := d.objs.SessionInfo.Put(a.Index, &a); err != nil {
		return fmt.Errorf("session_info: %w", err)
	}
	if err := d.objs.Sessions.Update(&key, &a, ebpf.UpdateExist); err != nil {
		return notFound(err)
	}
	var owner dataplaneSessionAttrs
	if d.objs.SubscribersV4.Lookup(a.Ipv4, &owner) == nil && owner.Index == a.Index {
		if err := d.objs.SubscribersV4.Update(a.Ipv4, &a, ebpf.UpdateExist); err != nil {
			return fmt.Errorf("subscribers_v4: %w", err)
		}
	}
	return nil
}

func linkPrefixOf(a dataplaneSessionAttrs) netip.Prefix {
	if a.Ipv6PrefixLen != 64 {
		return netip.Prefix{}
	}
	var b [16]byte
	copy(b[:], a.Ipv6Prefix[:])
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// inlinePD sets a's copy of its delegated prefixes for the upstream
// anti-spoof check from the mirror: the session's prefixes but its link
// /64 and those in gone (being let go). The first of length <= 64 is kept
// (pd_len, pd_prefix); pd_all says it is the only one, or that there is
// none, so the program may refuse a source in neither prefix without a
// subscribers_v6 lookup. It reports whether a changed.
//
// The copy is changed so that it never claims more than subscribers_v6
// holds: a prefix enters the trie before the copy and leaves the copy
// before the trie (AddIPv6Prefix, RemoveIPv6Prefix), and Open rebuilds
// every copy from the trie (rebuildV6), whatever a crash left.
func (d *Datapath) inlinePD(a *dataplaneSessionAttrs, gone ...netip.Prefix) bool {
	link := linkPrefixOf(*a)
	n := 0
	var pdLen uint8
	var pd [8]byte
	for _, p := range d.v6.bySession[Index(a.Index)] {
		if p == link || slices.Contains(gone, p) {
			continue
		}
		n++
		if pdLen == 0 && p.Bits() <= 64 {
			b := p.Addr().As16()
			pdLen = uint8(p.Bits())
			copy(pd[:], b[:8])
		}
	}
	var all uint32
	if n == 0 || n == 1 && pdLen != 0 {
		all = 1
	}
	changed := a.PdLen != pdLen || a.PdPrefix != pd || a.PdAll != all
	a.PdLen, a.PdPrefix, a.PdAll = pdLen, pd, all
	return changed
}

// SetIPv6LinkPrefix gives a live server session its link /64 (the prefix
// its Router Advertisements announce for SLAAC), or takes it away when p
// is the zero Prefix. The new prefix is claimed before the old one is let
// go, so downstream traffic to the session finds it under one or the
// other throughout; a prefix overlapping another session's is refused with
// ErrExists and changes nothing.
func (d *Datapath) SetIPv6LinkPrefix(k Key, p netip.Prefix) error {
	key, err := k.raw()
	if err != nil {
		return err
	}
	if p.IsValid() {
		if p, err = checkV6Prefix(p); err != nil {
			return err
		}
		if p.Bits() != 64 {
			return fmt.Errorf("maps: session %d: link prefix %v: want a /64 (RFC 4862 §5.5.3)", k.SessionID, p)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.serverSession(key, "IPv6 link prefix")
	if err != nil {
		return err
	}
	old := linkPrefixOf(a)
	if old == p {
		return nil
	}
	idx := Index(a.Index)
	if p.IsValid() {
		if o, ok := d.v6.owner[p]; ok && o == idx {
			return fmt.Errorf("maps: session %d: %v is delegated to it already", key.SessionId, p)
		}
		if err := d.putV6Locked(p, idx, key.SessionId); err != nil {
			return err
		}
		b := p.Addr().As16()
		a.Ipv6PrefixLen, a.Ipv6Prefix = 64, [8]byte(b[:8])
	} else {
		a.Ipv6PrefixLen, a.Ipv6Prefix = 0, [8]byte{}
	}
	d.inlinePD(&a, old)
	if err := d.rewriteAttrsLocked(key, a); err != nil {
		if p.IsValid() {
			_ = d.deleteV6Locked(p)
		}
		return fmt.Errorf("maps: session %d: IPv6 link prefix: %w", key.SessionId, err)
	}
	if old.IsValid() {
		if err := d.deleteV6Locked(old); err != nil {
			return fmt.Errorf("maps: session %d: %w", key.SessionId, err)
		}
	}
	return nil
}

// AddIPv6Prefix routes a prefix delegated to a live server session
// (DHCPv6-PD, or a fixed remote-ipv6-prefix) to it, and accepts it as a
// source upstream. A prefix another session's prefixes overlap is refused
// with ErrExists; adding one the session has already is a no-op.
func (d *Datapath) AddIPv6Prefix(k Key, p netip.Prefix) error {
	return d.onPrefix(k, p, "add IPv6 prefix", func(key dataplaneSessionKey, a dataplaneSessionAttrs, p netip.Prefix) error {
		_, had := d.v6.owner[p]
		if err := d.putV6Locked(p, Index(a.Index), key.SessionId); err != nil {
			return err
		}
		if !d.inlinePD(&a) {
			return nil
		}
		if err := d.rewriteAttrsLocked(key, a); err != nil {
			if !had {
				_ = d.deleteV6Locked(p)
			}
			return fmt.Errorf("maps: session %d: IPv6 prefix %v: %w", key.SessionId, p, err)
		}
		return nil
	})
}

// onPrefix checks a server session's key and an IPv6 prefix and runs f
// with the session's attributes and the prefix, masked, under d.mu.
func (d *Datapath) onPrefix(k Key, p netip.Prefix, what string, f func(dataplaneSessionKey, dataplaneSessionAttrs, netip.Prefix) error) error {
	key, err := k.raw()
	if err != nil {
		return err
	}
	if p, err = checkV6Prefix(p); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.serverSession(key, what)
	if err != nil {
		return err
	}
	return f(key, a, p)
}

// RemoveIPv6Prefix takes a delegated prefix away from a live session
// (DHCPv6 Release, lease expiry); ErrNotFound if the session does not hold
// it. The link /64 goes with SetIPv6LinkPrefix(k, netip.Prefix{}).
func (d *Datapath) RemoveIPv6Prefix(k Key, p netip.Prefix) error {
	return d.onPrefix(k, p, "remove IPv6 prefix", func(key dataplaneSessionKey, a dataplaneSessionAttrs, p netip.Prefix) error {
		if linkPrefixOf(a) == p {
			return fmt.Errorf("maps: session %d: %v is the link prefix: use SetIPv6LinkPrefix", key.SessionId, p)
		}
		if o, ok := d.v6.owner[p]; !ok || o != Index(a.Index) {
			return fmt.Errorf("maps: session %d: IPv6 prefix %v: %w", key.SessionId, p, ErrNotFound)
		}
		if d.inlinePD(&a, p) {
			if err := d.rewriteAttrsLocked(key, a); err != nil {
				return fmt.Errorf("maps: session %d: IPv6 prefix %v: %w", key.SessionId, p, err)
			}
		}
		if err := d.deleteV6Locked(p); err != nil {
			return fmt.Errorf("maps: session %d: %w", key.SessionId, err)
		}
		return nil
	})
}

// IPv6Prefixes returns a session's link /64 (the zero Prefix if none) and
// its delegated prefixes, sorted.
func (d *Datapath) IPv6Prefixes(k Key) (link netip.Prefix, delegated []netip.Prefix, err error) {
	key, err := k.raw()
	if err != nil {
		return link, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var a dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &a); err != nil {
		return link, nil, fmt.Errorf("maps: IPv6 prefixes: session %d: %w", key.SessionId, notFound(err))
	}
	link = linkPrefixOf(a)
	for _, p := range d.v6.bySession[Index(a.Index)] {
		if p != link {
			delegated = append(delegated, p)
		}
	}
	slices.SortFunc(delegated, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	return link, delegated, nil
}

// removeV6Locked deletes every prefix of session idx (its removal).
func (d *Datapath) removeV6Locked(idx Index) error {
	for _, p := range slices.Clone(d.v6.bySession[idx]) {
		if err := d.deleteV6Locked(p); err != nil {
			return err
		}
	}
	return nil
}

// rebuildV6 reads subscribers_v6 into the mirror, deleting entries whose
// session is gone (a crash between a removal's steps), which would
// otherwise hand the next session at that index a stranger's prefix, and
// notes which prefixes have no slot.
func (d *Datapath) rebuildV6() error {
	d.v6 = newV6Prefixes()
	var k dataplaneV6LpmKey
	var idx uint32
	var stale []netip.Prefix
	it := d.objs.SubscribersV6.Iterate()
	for it.Next(&k, &idx) {
		p := netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen))
		if !d.inUse.has(Index(idx)) {
			stale = append(stale, p)
			continue
		}
		d.v6.add(p, Index(idx))
		ok, err := d.hasSlot6(p)
		if err != nil {
			return err
		}
		if !ok {
			d.v6.spilled[p] = true
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maps: reading pinned subscribers_v6: %w", err)
	}
	if err := d.writeLens(-1, len(d.v6.spilled)+len(stale)); err != nil {
		return err
	}
	for _, p := range stale {
		if _, err := d.clearSlot6(p); err != nil {
			return err
		}
		k := v6Key(p)
		if err := d.objs.SubscribersV6.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("maps: subscribers_v6: %w", err)
		}
	}
	if err := d.writeLens(-1, len(d.v6.spilled)); err != nil {
		return err
	}
	return d.rebuildInlinePD()
}

// rebuildInlinePD makes every server session's inline delegated prefix
// (inlinePD) agree with subscribers_v6, which a crash between a change's
// two steps may have left it behind.
func (d *Datapath) rebuildInlinePD() error {
	type fix struct {
		key dataplaneSessionKey
		a   dataplaneSessionAttrs
	}
	var fixes []fix
	var key dataplaneSessionKey
	var a dataplaneSessionAttrs
	it := d.objs.Sessions.Iterate()
	for it.Next(&key, &a) {
		if a.Flags&uint16(dataplaneSessionFlagSESSION_F_CLIENT) == 0 && d.inlinePD(&a) {
			fixes = append(fixes, fix{key, a})
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maps: reading pinned sessions: %w", err)
	}
	for _, f := range fixes {
		if err := d.rewriteAttrsLocked(f.key, f.a); err != nil {
			return fmt.Errorf("maps: session %d: delegated prefix copy: %w", f.key.SessionId, err)
		}
	}
	return nil
}
