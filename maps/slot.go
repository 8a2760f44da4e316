package maps

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unsafe"
)

// session_slots (bpf/maps.h) is a direct-mapped front of the sessions hash
// map that the fast paths read without a helper call. Every session is in
// sessions; a session also takes the first free slot of the pair its key
// hashes to, if there is one. Slots are written so that a program reading
// one concurrently never sees a half-written session: a slot is filled
// with flags 0 first and then made live by rewriting it with only the
// flags changed, and emptied in the reverse order.

// slotCount is the size of session_slots for max sessions: a power of two,
// twice max, so most pairs have a free slot.
func slotCount(max uint32) (uint32, error) {
	n := uint64(1) << bits.Len64(uint64(max)*2-1)
	if n > 1<<30 {
		return 0, fmt.Errorf("maps: %d sessions: session_slots too large", max)
	}
	return uint32(n), nil
}

// slotHash is slot_hash in bpf/maps.h: the key's four 32-bit words as the
// program loads them (native byte order) mixed into the pair's first slot.
func slotHash(k *dataplaneSessionKey, mask uint32) uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(k)), unsafe.Sizeof(*k))
	w0 := binary.NativeEndian.Uint32(b[0:])
	w1 := binary.NativeEndian.Uint32(b[4:])
	w2 := binary.NativeEndian.Uint32(b[8:])
	w3 := binary.NativeEndian.Uint32(b[12:])
	h := w0*0x9e3779b1 ^ w1*0x85ebca77 ^ w2*0xc2b2ae3d ^ w3*0x27d4eb2f
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	return h & mask &^ 1
}

// putSlot puts an installed session into a free slot of its pair; a full
// pair leaves it in sessions only.
func (d *Datapath) putSlot(key dataplaneSessionKey, attrs dataplaneSessionAttrs) error {
	first := slotHash(&key, d.slotMask)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneSessionSlot
		if err := d.objs.SessionSlots.Lookup(i, &s); err != nil {
			return fmt.Errorf("maps: session_slots[%d]: %w", i, err)
		}
		if s.Attrs.Flags != 0 {
			continue
		}
		s = dataplaneSessionSlot{Key: key, Attrs: attrs}
		live := s.Attrs.Flags
		s.Attrs.Flags = 0
		if err := d.objs.SessionSlots.Put(i, &s); err != nil {
			return fmt.Errorf("maps: session_slots[%d]: %w", i, err)
		}
		s.Attrs.Flags = live
		if err := d.objs.SessionSlots.Put(i, &s); err != nil {
			_ = d.objs.SessionSlots.Put(i, &dataplaneSessionSlot{})
			return fmt.Errorf("maps: session_slots[%d]: %w", i, err)
		}
		return nil
	}
	return nil
}

// clearSlot empties the slot holding key, if one does.
func (d *Datapath) clearSlot(key dataplaneSessionKey) error {
	first := slotHash(&key, d.slotMask)
	for _, i := range []uint32{first, first | 1} {
		var s dataplaneSessionSlot
		if err := d.objs.SessionSlots.Lookup(i, &s); err != nil {
			return fmt.Errorf("maps: session_slots[%d]: %w", i, err)
		}
		if s.Attrs.Flags == 0 || s.Key != key {
			continue
		}
		s.Attrs.Flags = 0
		if err := d.objs.SessionSlots.Put(i, &s); err != nil {
			return fmt.Errorf("maps: session_slots[%d]: %w", i, err)
		}
		return d.objs.SessionSlots.Put(i, &dataplaneSessionSlot{})
	}
	return nil
}
