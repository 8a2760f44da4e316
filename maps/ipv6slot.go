package maps

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// subscriber6_slots and v6_lens (bpf/maps.h) are the front of
// subscribers_v6 the fast paths read: every prefix is in the trie, and also
// in the first free slot of the pair its masked address and length hash
// to, if there is one; the prefixes without one (spilled) are counted in
// v6_lens, which also lists the lengths in use, longest first. The order
// of writes keeps the programs from ever finding a prefix for the wrong
// session: a length is listed before a slot of it is filled and unlisted
// after its last slot is emptied; a prefix is in the trie before it has a
// slot and after it lost it. While a prefix is being added or removed the
// programs may miss it, as they do before and after. Slots are filled and
// emptied in two writes, as in slot.go: with prefixlen 0 (free, skipped)
// first.

// slot6Hash is v6_slot_hash in bpf/maps.h.
func slot6Hash(p netip.Prefix, mask uint32) uint32 {
	a := p.Masked().Addr().As16()
	w0 := binary.NativeEndian.Uint32(a[0:])
	w1 := binary.NativeEndian.Uint32(a[4:])
	w2 := binary.NativeEndian.Uint32(a[8:])
	w3 := binary.NativeEndian.Uint32(a[12:])
	return slotMix(w0*0x9e3779b1^w1*0x85ebca77^w2*0xc2b2ae3d^w3*0x27d4eb2f^uint32(p.Bits())*0x165667b1, mask)
}

func v6SlotOf(p netip.Prefix, idx Index) dataplaneV6Slot {
	return dataplaneV6Slot{Addr: p.Addr().As16(), Prefixlen: uint32(p.Bits()), Index: uint32(idx)}
}

// writeLens publishes the lengths in use (those with a prefix, plus extra,
// about to get one) and the spill count. Lengths beyond V6_LENS_MAX are
// not probed: their prefixes count as spilled, so a miss falls back to
// the trie.
func (d *Datapath) writeLens(extra int, spill int) error {
	var lens []int
	for l := 128; l >= 0; l-- {
		if len(d.v6.byLen[l]) > 0 || l == extra {
			lens = append(lens, l)
		}
	}
	var v dataplaneV6Lengths
	for i, l := range lens {
		if i < len(v.Len) {
			v.Len[i] = uint8(l)
			v.N++
		} else {
			spill += len(d.v6.byLen[l])
		}
	}
	v.Spill = uint32(spill)
	if d.v6.lensOK && v == d.v6.lens {
		return nil
	}
	d.v6.lensOK = false
	if err := d.objs.V6Lens.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("maps: v6_lens: %w", err)
	}
	d.v6.lens, d.v6.lensOK = v, true
	return nil
}

// putSlot6 gives p a slot if its pair has a free one; false if not.
func (d *Datapath) putSlot6(p netip.Prefix, idx Index) (bool, error) {
	first := slot6Hash(p, d.slot6Mask)
	for _, i := range []uint32{first, first | 1} {
		var cur dataplaneV6Slot
		if err := d.objs.Subscriber6Slots.Lookup(i, &cur); err != nil {
			return false, fmt.Errorf("maps: subscriber6_slots[%d]: %w", i, err)
		}
		if cur.Prefixlen != 0 {
			continue
		}
		s := v6SlotOf(p, idx)
		filling := s
		filling.Prefixlen = 0
		if err := putInOrder(d.objs.Subscriber6Slots, i, &filling, &s); err != nil {
			_ = d.objs.Subscriber6Slots.Put(i, &dataplaneV6Slot{})
			return false, fmt.Errorf("maps: subscriber6_slots[%d]: %w", i, err)
		}
		return true, nil
	}
	return false, nil
}

// clearSlot6 empties p's slot; false if it had none.
func (d *Datapath) clearSlot6(p netip.Prefix) (bool, error) {
	first := slot6Hash(p, d.slot6Mask)
	want := v6SlotOf(p, 0)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneV6Slot
		if err := d.objs.Subscriber6Slots.Lookup(i, &s); err != nil {
			return false, fmt.Errorf("maps: subscriber6_slots[%d]: %w", i, err)
		}
		if s.Prefixlen != want.Prefixlen || s.Addr != want.Addr {
			continue
		}
		s.Prefixlen = 0
		if err := putInOrder(d.objs.Subscriber6Slots, i, &s, &dataplaneV6Slot{}); err != nil {
			return false, fmt.Errorf("maps: subscriber6_slots[%d]: %w", i, err)
		}
		return true, nil
	}
	return false, nil
}

// hasSlot6 reports whether p holds a slot of its pair.
func (d *Datapath) hasSlot6(p netip.Prefix) (bool, error) {
	first := slot6Hash(p, d.slot6Mask)
	want := v6SlotOf(p, 0)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneV6Slot
		if err := d.objs.Subscriber6Slots.Lookup(i, &s); err != nil {
			return false, fmt.Errorf("maps: subscriber6_slots[%d]: %w", i, err)
		}
		if s.Prefixlen == want.Prefixlen && s.Addr == want.Addr {
			return true, nil
		}
	}
	return false, nil
}
