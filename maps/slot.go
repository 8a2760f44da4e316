package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/cilium/ebpf"
)

// session_slots and subscriber_slots (bpf/maps.h) are direct-mapped fronts
// of the sessions and subscribers_v4 hash maps that the fast paths read
// without a helper call. Every session is in the hash maps; it also takes
// the first free slot of the pair its key (or address) hashes to, if there
// is one.
//
// A map update copies a slot in place, not atomically, so slots are written
// in two steps that a concurrent program can read at any point: a slot is
// filled with flags 0 (a program skips it) and then made live by rewriting
// it with only the flags changed; it is emptied by the reverse. The one
// case left is a program that checked a slot before its removal began and
// still reads it when the second write zeroes it: it
// would account one packet to index 0, or drop it; a program run is a
// fraction of a microsecond.

// slotCount is the size of session_slots for max sessions: a power of two,
// twice max, so most pairs have a free slot.
func slotCount(max uint32) (uint32, error) {
	n := uint64(1) << bits.Len64(uint64(max)*2-1)
	if n > 1<<30 {
		return 0, fmt.Errorf("maps: %d sessions: session_slots too large", max)
	}
	return uint32(n), nil
}

func slotMix(h, mask uint32) uint32 {
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	return h & mask &^ 1
}

// slotHash is slot_hash in bpf/maps.h: the key's four 32-bit words as the
// program loads them (native byte order) mixed into the pair's first slot.
func slotHash(k *dataplaneSessionKey, mask uint32) uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(k)), unsafe.Sizeof(*k))
	w0 := binary.NativeEndian.Uint32(b[0:])
	w1 := binary.NativeEndian.Uint32(b[4:])
	w2 := binary.NativeEndian.Uint32(b[8:])
	w3 := binary.NativeEndian.Uint32(b[12:])
	return slotMix(w0*0x9e3779b1^w1*0x85ebca77^w2*0xc2b2ae3d^w3*0x27d4eb2f, mask)
}

// addrHash is addr_hash in bpf/maps.h, for an address in wire order.
func addrHash(addr [4]byte, mask uint32) uint32 {
	return slotMix(binary.NativeEndian.Uint32(addr[:])*0x9e3779b1, mask)
}

// slotFront is session_slots or subscriber_slots with what this process
// knows of each slot: owner[i] is 0 for an empty slot and the index of the
// session it holds plus 1 otherwise, valid where the bit i of known is
// set. Only user space writes the fronts, under Datapath.mu, so a slot is
// read from the kernel at most once, and not at all in maps this process
// created (all empty): an install finds its free slot without a lookup
// syscall. The fronts of pinned maps hold a previous run's slots and are
// read as they are needed. Were another process to write the fronts
// meanwhile (a pppoed restarted next to this one), a stale owner costs a
// session its slot, never a wrong forward: the program compares the
// slot's key (or address) with the frame's and falls back to the hash
// map.
type slotFront struct {
	m     *ebpf.Map
	owner []uint32
	known []uint64
}

// newSlotFront is the front m of n slots, empty if created now.
func newSlotFront(m *ebpf.Map, n uint32, created bool) *slotFront {
	f := &slotFront{m: m, owner: make([]uint32, n), known: make([]uint64, (n+63)/64)}
	if created {
		for i := range f.known {
			f.known[i] = ^uint64(0)
		}
	}
	return f
}

// state returns what slot i holds: 0 empty, else the index plus 1; it
// reads the slot from the kernel the first time.
func (f *slotFront) state(i uint32) (uint32, error) {
	if f.known[i/64]&(1<<(i%64)) != 0 {
		return f.owner[i], nil
	}
	var cur dataplaneSessionSlot
	if err := f.m.Lookup(i, &cur); err != nil {
		return 0, fmt.Errorf("maps: %v[%d]: %w", f.m, i, err)
	}
	f.set(i, stateOf(&cur))
	return f.owner[i], nil
}

func (f *slotFront) set(i, st uint32) {
	f.owner[i] = st
	f.known[i/64] |= 1 << (i % 64)
}

// forget makes slot i read again next time (a write failed half way).
func (f *slotFront) forget(i uint32) { f.known[i/64] &^= 1 << (i % 64) }

func stateOf(s *dataplaneSessionSlot) uint32 {
	if s.Hot.Flags == 0 {
		return 0
	}
	return s.Hot.Index + 1
}

// putSlot writes s into the first free slot of the pair at first in f; a
// full pair leaves the session in the hash map only.
func putSlot(f *slotFront, first uint32, s dataplaneSessionSlot) error {
	for _, i := range [2]uint32{first, first | 1} {
		st, err := f.state(i)
		if err != nil {
			return err
		}
		if st != 0 {
			continue
		}
		filling := s
		filling.Hot.Flags = 0
		if err := putInOrder(f.m, i, &filling, &s); err != nil {
			_ = f.m.Put(i, &dataplaneSessionSlot{})
			f.forget(i)
			return fmt.Errorf("maps: %v[%d]: %w", f.m, i, err)
		}
		f.set(i, stateOf(&s))
		return nil
	}
	return nil
}

// clearSlot empties the slot of the pair at first in f that holds the
// session with index idx, if one does.
func clearSlot(f *slotFront, first uint32, idx uint32) error {
	for _, i := range [2]uint32{first, first | 1} {
		st, err := f.state(i)
		if err != nil {
			return err
		}
		if st != idx+1 {
			continue
		}
		// The first write keeps the rest of what is there: a program
		// that found the flags set before it reads on.
		var s dataplaneSessionSlot
		if err := f.m.Lookup(i, &s); err != nil {
			return fmt.Errorf("maps: %v[%d]: %w", f.m, i, err)
		}
		if stateOf(&s) != st { // changed behind our back: as it is now
			f.set(i, stateOf(&s))
			continue
		}
		s.Hot.Flags = 0
		if err := putInOrder(f.m, i, &s, &dataplaneSessionSlot{}); err != nil {
			f.forget(i)
			return fmt.Errorf("maps: %v[%d]: %w", f.m, i, err)
		}
		f.set(i, 0)
		return nil
	}
	return nil
}

// putInOrder writes first and then second into slot i of m, in one
// syscall where the kernel has batch operations: BPF_MAP_UPDATE_BATCH
// applies its elements one after the other, each a whole map update, so
// a program sees first before second as with two updates (the two steps
// above), for one syscall instead of two. Without batch operations, two
// updates.
func putInOrder[V any](m *ebpf.Map, i uint32, first, second *V) error {
	keys := [2]uint32{i, i}
	vals := [2]V{*first, *second}
	n, err := m.BatchUpdate(keys[:], vals[:], nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		if err := m.Put(i, first); err != nil {
			return err
		}
		return m.Put(i, second)
	}
	if err == nil && n != len(keys) {
		err = fmt.Errorf("batch update: %d of %d written", n, len(keys))
	}
	return err
}

// rewriteSlot overwrites, in one write, the live slot of the pair at first
// that holds s's session (same index), if one does: its hot fields change
// while its flags stay set, so the program keeps finding it there.
func rewriteSlot(f *slotFront, first uint32, s dataplaneSessionSlot) error {
	for _, i := range [2]uint32{first, first | 1} {
		st, err := f.state(i)
		if err != nil {
			return err
		}
		if st != s.Hot.Index+1 {
			continue
		}
		if err := f.m.Put(i, &s); err != nil {
			f.forget(i)
			return fmt.Errorf("maps: %v[%d]: %w", f.m, i, err)
		}
		return nil
	}
	return nil
}

// putSessionSlot and clearSessionSlot keep session_slots in step with
// sessions; putSubscriberSlot and clearSubscriberSlot subscriber_slots with
// subscribers_v4.
func (d *Datapath) putSessionSlot(key dataplaneSessionKey, attrs dataplaneSessionAttrs) error {
	return putSlot(d.sessionFront, slotHash(&key, d.slotMask), dataplaneSessionSlot{Key: key, Hot: hotOf(attrs)})
}

func (d *Datapath) clearSessionSlot(key dataplaneSessionKey, idx uint32) error {
	return clearSlot(d.sessionFront, slotHash(&key, d.slotMask), idx)
}

func (d *Datapath) putSubscriberSlot(attrs dataplaneSessionAttrs) error {
	return putSlot(d.subscriberFront, addrHash(attrs.Ipv4, d.slotMask), dataplaneSessionSlot{Hot: hotOf(attrs)})
}

func (d *Datapath) clearSubscriberSlot(addr [4]byte, idx uint32) error {
	return clearSlot(d.subscriberFront, addrHash(addr, d.slotMask), idx)
}

// hotOf is the hot part of a session's attributes: struct session_hot, the
// first fields of struct session_attrs (bpf/types.h asserts the layout).
func hotOf(a dataplaneSessionAttrs) dataplaneSessionHot {
	return dataplaneSessionHot{Index: a.Index, Flags: a.Flags, Mss: a.Mss, Ipv4: a.Ipv4,
		OuterTpid: a.OuterTpid, InnerTpid: a.InnerTpid, OuterVlan: a.OuterVlan, InnerVlan: a.InnerVlan,
		SessionId: a.SessionId, Mtu: a.Mtu, PeerMac: a.PeerMac, LocalMac: a.LocalMac, Ifindex: a.Ifindex}
}
