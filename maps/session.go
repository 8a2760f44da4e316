package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("session not found")
	ErrExists   = errors.New("session or address already installed")
	ErrFull     = errors.New("no free session index")
)

// TPIDs of the VLAN tags a session may carry (IEEE 802.1Q, 802.1ad).
const (
	TPID8021Q  uint16 = 0x8100
	TPID8021AD uint16 = 0x88a8
)

// Index is a session's slot in the session_info array, and in each CPU's
// block of session_stats.
type Index uint32

// Key identifies a session on the access side. RFC 2516 §4 makes
// SESSION_ID unique only per (AC MAC, client MAC) pair, so the client MAC is
// part of it and a box is not limited to 65535 sessions.
type Key struct {
	Ifindex   int              // access interface
	OuterVLAN uint16           // outer VLAN id, 0 = untagged
	InnerVLAN uint16           // inner (QinQ) VLAN id, 0 = none
	SessionID uint16           // PPPoE SESSION_ID (RFC 2516 §4)
	ClientMAC net.HardwareAddr // subscriber's MAC
}

// Session is what the data plane needs to forward one session's traffic.
type Session struct {
	Key
	// OuterTPID is 0x8100 or 0x88a8 for a tagged session; 0 means 0x8100
	// when OuterVLAN is set and untagged otherwise. Likewise InnerTPID.
	OuterTPID uint16
	InnerTPID uint16
	ACMAC     net.HardwareAddr // our MAC towards the subscriber
	// IPv4 is the address IPCP gave the peer (RFC 1332 §3.3); the zero
	// Addr while IPCP is not open (an IPv6-only session): then no IPv4
	// is accepted from the session and none routed to it, and its IPv6
	// prefixes (ipv6.go) are all it forwards.
	IPv4  netip.Addr
	MTU   uint16    // largest IP packet sent down the session
	MSS   uint16    // TCP MSS clamp on SYNs both ways, 0 = none
	MP    MP        // multilink (RFC 1990), zero = off
	Limit RateLimit // per-direction rate limits (ratelimit.go)
}

// Stats are a session's counters summed over CPUs.
type Stats struct {
	PacketsUp, BytesUp     uint64 // from the subscriber; bytes of IP packets
	PacketsDown, BytesDown uint64 // towards the subscriber
	Drops                  uint64
	// LastSeen is the CLOCK_MONOTONIC time of the newest accepted upstream
	// data packet (bpf_ktime_get_coarse_ns, taken once per tick: at most
	// two ticks behind), 0 if none.
	LastSeen time.Duration
}

func (k Key) raw() (dataplaneSessionKey, error) {
	var r dataplaneSessionKey
	if len(k.ClientMAC) != 6 {
		return r, fmt.Errorf("maps: client MAC %q: want 6 bytes", k.ClientMAC)
	}
	if k.Ifindex <= 0 || k.OuterVLAN > 4095 || k.InnerVLAN > 4095 {
		return r, fmt.Errorf("maps: key ifindex %d vlan %d/%d out of range", k.Ifindex, k.OuterVLAN, k.InnerVLAN)
	}
	r.Ifindex = uint32(k.Ifindex)
	r.OuterVlan = k.OuterVLAN
	r.InnerVlan = k.InnerVLAN
	r.SessionId = k.SessionID
	copy(r.PeerMac[:], k.ClientMAC)
	return r, nil
}

func (s Session) raw() (dataplaneSessionAttrs, error) {
	var r dataplaneSessionAttrs
	if _, err := s.Key.raw(); err != nil {
		return r, err
	}
	if len(s.ACMAC) != 6 {
		return r, fmt.Errorf("maps: AC MAC %q: want 6 bytes", s.ACMAC)
	}
	if s.IPv4.IsValid() && (!s.IPv4.Is4() || s.IPv4.IsUnspecified()) {
		return r, fmt.Errorf("maps: session %d: IPv4 address %v: %w", s.SessionID, s.IPv4, errors.ErrUnsupported)
	}
	if s.MTU < 68 {
		return r, fmt.Errorf("maps: session %d: MTU %d below 68 (RFC 791)", s.SessionID, s.MTU)
	}
	outer, inner, err := tpids(s.SessionID, s.OuterVLAN, s.OuterTPID, s.InnerVLAN, s.InnerTPID)
	if err != nil {
		return r, err
	}
	copy(r.PeerMac[:], s.ClientMAC)
	copy(r.LocalMac[:], s.ACMAC)
	r.Ifindex = uint32(s.Ifindex)
	r.OuterVlan, r.OuterTpid = s.OuterVLAN, outer
	r.InnerVlan, r.InnerTpid = s.InnerVLAN, inner
	r.SessionId = s.SessionID
	r.Mtu = s.MTU
	r.Mss = s.MSS
	r.Flags = uint16(dataplaneSessionFlagSESSION_F_ACTIVE) | s.MP.flags()
	if s.IPv4.IsValid() {
		r.Ipv4 = s.IPv4.As4()
	}
	return r, nil
}

// tpids resolves a session's TPIDs: 0 means 0x8100 when the VLAN id is
// set and untagged otherwise (IEEE 802.1Q, 802.1ad).
func tpids(sid, outerVLAN, outer, innerVLAN, inner uint16) (uint16, uint16, error) {
	if outer == 0 && outerVLAN != 0 {
		outer = TPID8021Q
	}
	if inner == 0 && innerVLAN != 0 {
		inner = TPID8021Q
	}
	for _, t := range []uint16{outer, inner} {
		if t != 0 && t != TPID8021Q && t != TPID8021AD {
			return 0, 0, fmt.Errorf("maps: session %d: TPID %#04x", sid, t)
		}
	}
	if inner != 0 && outer == 0 {
		return 0, 0, fmt.Errorf("maps: session %d: inner VLAN without outer", sid)
	}
	return outer, inner, nil
}

// Install makes a session live in the data plane and returns its index.
// Upstream traffic is accepted once the sessions entry exists, so that is
// written last; a failure leaves nothing behind.
func (d *Datapath) Install(s Session) (Index, error) {
	key, err := s.Key.raw()
	if err != nil {
		return 0, err
	}
	attrs, err := s.raw()
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.installLocked(key, attrs, s.IPv4.IsValid(), s.Limit)
}

// installLocked writes a session's maps in the order that keeps the data
// path consistent: info and zeroed stats, then the downstream address (a
// server session's, if it has one: subscriber), then the key that makes
// upstream frames match. The
// hash entries carry copies of the info (bpf/types.h), written here only.
func (d *Datapath) installLocked(key dataplaneSessionKey, attrs dataplaneSessionAttrs, subscriber bool, lim RateLimit) (Index, error) {
	sid := key.SessionId
	if len(d.free) == 0 {
		return 0, fmt.Errorf("maps: install session %d: %w", sid, ErrFull)
	}
	idx := d.free[len(d.free)-1]
	attrs.Index = uint32(idx)
	if err := d.objs.SessionInfo.Put(uint32(idx), &attrs); err != nil {
		return 0, fmt.Errorf("maps: install session %d: session_info: %w", sid, err)
	}
	if err := d.zeroStats(idx); err != nil {
		return 0, fmt.Errorf("maps: install session %d: session_stats: %w", sid, err)
	}
	if err := d.resetRate(idx, int(attrs.Ifindex), lim); err != nil {
		d.clearInfo(idx)
		return 0, fmt.Errorf("maps: install session %d: %w", sid, err)
	}
	installed := false
	defer func() {
		if !installed { // its HTB class, if it got one, goes with it
			d.clearRate(idx)
		}
	}()
	if subscriber {
		if err := d.objs.SubscribersV4.Update(attrs.Ipv4, &attrs, ebpf.UpdateNoExist); err != nil {
			d.clearInfo(idx)
			if errors.Is(err, ebpf.ErrKeyExist) {
				err = ErrExists
			}
			return 0, fmt.Errorf("maps: install session %d: address %v: %w", sid, netip.AddrFrom4(attrs.Ipv4), err)
		}
		if err := d.putSubscriberSlot(attrs); err != nil {
			_ = d.objs.SubscribersV4.Delete(attrs.Ipv4)
			d.clearInfo(idx)
			return 0, fmt.Errorf("maps: install session %d: %w", sid, err)
		}
	}
	if err := d.objs.Sessions.Update(&key, &attrs, ebpf.UpdateNoExist); err != nil {
		if subscriber {
			_ = d.clearSubscriberSlot(attrs.Ipv4, attrs.Index)
			_ = d.objs.SubscribersV4.Delete(attrs.Ipv4)
		}
		d.clearInfo(idx)
		if errors.Is(err, ebpf.ErrKeyExist) {
			err = ErrExists
		}
		return 0, fmt.Errorf("maps: install session %d: %w", sid, err)
	}
	if err := d.putSessionSlot(key, attrs); err != nil {
		_ = d.objs.Sessions.Delete(&key)
		if subscriber {
			_ = d.clearSubscriberSlot(attrs.Ipv4, attrs.Index)
			_ = d.objs.SubscribersV4.Delete(attrs.Ipv4)
		}
		d.clearInfo(idx)
		return 0, fmt.Errorf("maps: install session %d: %w", sid, err)
	}
	d.free = d.free[:len(d.free)-1]
	d.inUse.add(idx)
	installed = true
	return idx, nil
}

func (d *Datapath) clearInfo(idx Index) {
	_ = d.objs.SessionInfo.Put(uint32(idx), &dataplaneSessionAttrs{})
}

// Update changes a live session's attributes in place (a CoA, an IPCP
// renegotiation, IPCP opening or closing beside IPv6CP): its address, MTU,
// MSS and rate limits (SetRate: the buckets keep what they hold). The key
// and the index, and so the counters and the IPv6 prefixes, stay. Every
// copy of the hot fields is rewritten: the session_info entry, the
// sessions and subscribers_v4 entries, and both slot fronts. A new
// address is claimed before the old one is let go, so downstream traffic
// finds the session under one address or the other throughout; an
// address another session holds is refused with ErrExists and changes
// nothing. A server session's IPv4 may come (IPCP opened after IPv6CP)
// and go (IPCP closed, IPv6CP still open): the zero Addr takes its
// subscribers_v4 entry away.
func (d *Datapath) Update(s Session) (Index, error) {
	key, err := s.Key.raw()
	if err != nil {
		return 0, err
	}
	attrs, err := s.raw()
	if err != nil {
		return 0, err
	}
	if _, _, err := s.Limit.confs(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	sid := key.SessionId
	var old dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &old); err != nil {
		return 0, fmt.Errorf("maps: update session %d: %w", sid, notFound(err))
	}
	attrs.Index = old.Index
	// IPv6 prefixes change through their own calls (ipv6.go).
	attrs.Ipv6PrefixLen, attrs.Ipv6Prefix = old.Ipv6PrefixLen, old.Ipv6Prefix
	attrs.PdLen, attrs.PdPrefix, attrs.PdAll = old.PdLen, old.PdPrefix, old.PdAll
	server := old.Flags&uint16(dataplaneSessionFlagSESSION_F_CLIENT) == 0
	if !server {
		// A client session: no subscriber entry, and its address is the
		// one IPCP gave us, kept as it is.
		attrs.Ipv4 = old.Ipv4
	}
	var owner dataplaneSessionAttrs
	had := server && old.Ipv4 != [4]byte{} && d.objs.SubscribersV4.Lookup(old.Ipv4, &owner) == nil && owner.Index == old.Index
	has := server && attrs.Ipv4 != [4]byte{}
	gone := had && (!has || attrs.Ipv4 != old.Ipv4) // old address let go at the end
	switch {
	case had && has && attrs.Ipv4 == old.Ipv4:
		if err := d.objs.SubscribersV4.Update(attrs.Ipv4, &attrs, ebpf.UpdateExist); err != nil {
			return 0, fmt.Errorf("maps: update session %d: subscribers_v4: %w", sid, err)
		}
		if err := rewriteSlot(d.subscriberFront, addrHash(attrs.Ipv4, d.slotMask), dataplaneSessionSlot{Hot: hotOf(attrs)}); err != nil {
			return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
		}
	case has:
		if err := d.objs.SubscribersV4.Update(attrs.Ipv4, &attrs, ebpf.UpdateNoExist); err != nil {
			if errors.Is(err, ebpf.ErrKeyExist) {
				err = ErrExists
			}
			return 0, fmt.Errorf("maps: update session %d: address %v: %w", sid, s.IPv4, err)
		}
		if had {
			if err := d.clearSubscriberSlot(old.Ipv4, old.Index); err != nil {
				_ = d.objs.SubscribersV4.Delete(attrs.Ipv4)
				return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
			}
		}
		if err := d.putSubscriberSlot(attrs); err != nil {
			return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
		}
	}
	if err := d.objs.SessionInfo.Put(old.Index, &attrs); err != nil {
		return 0, fmt.Errorf("maps: update session %d: session_info: %w", sid, err)
	}
	if err := d.objs.Sessions.Update(&key, &attrs, ebpf.UpdateExist); err != nil {
		return 0, fmt.Errorf("maps: update session %d: %w", sid, notFound(err))
	}
	if err := rewriteSlot(d.sessionFront, slotHash(&key, d.slotMask), dataplaneSessionSlot{Key: key, Hot: hotOf(attrs)}); err != nil {
		return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
	}
	if gone {
		if !has {
			if err := d.clearSubscriberSlot(old.Ipv4, old.Index); err != nil {
				return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
			}
		}
		if err := d.objs.SubscribersV4.Delete(old.Ipv4); err != nil {
			return 0, fmt.Errorf("maps: update session %d: subscribers_v4: %w", sid, err)
		}
	}
	if err := d.SetRate(Index(old.Index), s.Limit); err != nil {
		return 0, fmt.Errorf("maps: update session %d: %w", sid, err)
	}
	return Index(old.Index), nil
}

// Remove takes a session out of the data plane: afterwards its frames are
// "unknown session" upstream and its addresses and IPv6 prefixes are no
// subscriber's downstream.
func (d *Datapath) Remove(k Key) error {
	key, err := k.raw()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err = d.removeLocked(key)
	return err
}

// removeLocked deletes a session's key, its subscriber address if it owns
// it, and its info; the index goes back to the allocator.
func (d *Datapath) removeLocked(key dataplaneSessionKey) (Index, error) {
	sid := key.SessionId
	var attrs dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &attrs); err != nil {
		return 0, fmt.Errorf("maps: remove session %d: %w", sid, notFound(err))
	}
	idx := attrs.Index
	if err := d.clearSessionSlot(key, idx); err != nil {
		return 0, fmt.Errorf("maps: remove session %d: %w", sid, err)
	}
	if err := d.objs.Sessions.Delete(&key); err != nil {
		return 0, fmt.Errorf("maps: remove session %d: %w", sid, notFound(err))
	}
	var owner dataplaneSessionAttrs
	if d.objs.SubscribersV4.Lookup(attrs.Ipv4, &owner) == nil && owner.Index == idx {
		if err := d.clearSubscriberSlot(attrs.Ipv4, idx); err != nil {
			return 0, fmt.Errorf("maps: remove session %d: %w", sid, err)
		}
		if err := d.objs.SubscribersV4.Delete(attrs.Ipv4); err != nil {
			return 0, fmt.Errorf("maps: remove session %d: subscribers_v4: %w", sid, err)
		}
	}
	if err := d.removeV6Locked(Index(idx)); err != nil {
		return 0, fmt.Errorf("maps: remove session %d: %w", sid, err)
	}
	if err := d.removeRoutesLocked(Index(idx)); err != nil {
		return 0, fmt.Errorf("maps: remove session %d: %w", sid, err)
	}
	d.clearInfo(Index(idx))
	d.clearRate(Index(idx))
	if d.inUse.remove(Index(idx)) {
		d.free = append(d.free, Index(idx))
	}
	return Index(idx), nil
}

// RemoveAll takes every session out of the data plane, server and client,
// and returns how many there were. A daemon starting after a crash calls
// it: the maps outlive the process, the sessions' PPP state did not, and
// an entry nobody manages would forward with no keepalive or accounting
// and keep its address from being handed out again. Client netdevs go
// down (dial-on-demand counts again).
func (d *Datapath) RemoveAll() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []dataplaneSessionKey
	var key dataplaneSessionKey
	var attrs dataplaneSessionAttrs
	it := d.objs.Sessions.Iterate()
	for it.Next(&key, &attrs) {
		keys = append(keys, key)
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("maps: remove all: %w", err)
	}
	var peers []uint32
	var peer uint32
	var cd dataplaneClientDev
	cit := d.objs.ClientDevs.Iterate()
	for cit.Next(&peer, &cd) {
		if cd.Flags&uint32(dataplaneClientFlagCLIENT_F_UP) != 0 {
			peers = append(peers, peer)
		}
	}
	if err := cit.Err(); err != nil {
		return 0, fmt.Errorf("maps: remove all: client_devs: %w", err)
	}
	// Client netdevs first, so their egress stops using the indices.
	for _, p := range peers {
		if err := d.objs.ClientDevs.Lookup(p, &cd); err == nil {
			if err := d.objs.ClientDevs.Put(p, &dataplaneClientDev{Demand: cd.Demand}); err != nil {
				return 0, fmt.Errorf("maps: remove all: client_devs: %w", err)
			}
		}
	}
	for _, k := range keys {
		if _, err := d.removeLocked(k); err != nil && !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("maps: remove all: %w", err)
		}
	}
	return len(keys), nil
}

// Lookup returns an installed session and its index.
func (d *Datapath) Lookup(k Key) (Session, Index, error) {
	key, err := k.raw()
	if err != nil {
		return Session{}, 0, err
	}
	var a dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &a); err != nil {
		return Session{}, 0, fmt.Errorf("maps: lookup session %d: %w", k.SessionID, notFound(err))
	}
	s := Session{
		Key: Key{
			Ifindex:   int(a.Ifindex),
			OuterVLAN: a.OuterVlan,
			InnerVLAN: a.InnerVlan,
			SessionID: a.SessionId,
			ClientMAC: net.HardwareAddr(slices.Clone(a.PeerMac[:])),
		},
		OuterTPID: a.OuterTpid,
		InnerTPID: a.InnerTpid,
		ACMAC:     net.HardwareAddr(slices.Clone(a.LocalMac[:])),
		MTU:       a.Mtu,
		MSS:       a.Mss,
		MP:        mpOf(a.Flags),
	}
	if a.Ipv4 != [4]byte{} || a.Flags&uint16(dataplaneSessionFlagSESSION_F_CLIENT) != 0 {
		s.IPv4 = netip.AddrFrom4(a.Ipv4)
	}
	return s, Index(a.Index), nil
}

// counterSize is a session_stats slot (struct session_counters).
const counterSize = int(unsafe.Sizeof(dataplaneSessionCounters{}))

// statsSlot returns the byte offset of a session's session_stats slot for
// a CPU (bpf/maps.h: CPU-major blocks of MaxSessions slots).
func (d *Datapath) statsSlot(idx Index, cpu int) int {
	return (cpu*int(d.max) + int(idx)) * counterSize
}

func (d *Datapath) checkIndex(idx Index) error {
	if uint32(idx) >= d.max {
		return fmt.Errorf("maps: session index %d out of range (%d sessions)", idx, d.max)
	}
	return nil
}

// counter returns the 64-bit word at byte off of the mapped session_stats.
// The programs update counters with plain 64-bit stores on their own CPU;
// atomic loads and stores here never see or leave half a counter.
func (d *Datapath) counter(off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&d.stats[off]))
}

// zeroStats clears a session's counters on every CPU.
func (d *Datapath) zeroStats(idx Index) error {
	if err := d.checkIndex(idx); err != nil {
		return err
	}
	for cpu := 0; cpu < int(d.cpus); cpu++ {
		for i := 0; i < counterSize; i += 8 {
			atomic.StoreUint64(d.counter(d.statsSlot(idx, cpu)+i), 0)
		}
	}
	return nil
}

// Stats returns a session's counters summed over CPUs; LastSeen is the
// newest over CPUs. It reads the mapped session_stats: no syscall.
func (d *Datapath) Stats(idx Index) (Stats, error) {
	if err := d.checkIndex(idx); err != nil {
		return Stats{}, err
	}
	var s Stats
	for cpu := 0; cpu < int(d.cpus); cpu++ {
		base := d.statsSlot(idx, cpu)
		field := func(f uintptr) uint64 { return atomic.LoadUint64(d.counter(base + int(f))) }
		var c dataplaneSessionCounters
		s.PacketsUp += field(unsafe.Offsetof(c.PacketsUp))
		s.BytesUp += field(unsafe.Offsetof(c.BytesUp))
		s.PacketsDown += field(unsafe.Offsetof(c.PacketsDown))
		s.BytesDown += field(unsafe.Offsetof(c.BytesDown))
		s.Drops += field(unsafe.Offsetof(c.Drops))
		s.LastSeen = max(s.LastSeen, time.Duration(field(unsafe.Offsetof(c.LastSeenNs))))
	}
	return s, nil
}

// Len is the number of installed sessions.
func (d *Datapath) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inUse.len()
}

func notFound(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return ErrNotFound
	}
	return err
}

// rebuildFree derives the allocator from the sessions map, so indices of
// sessions that survived a restart are not handed out twice.
func (d *Datapath) rebuildFree() error {
	d.inUse = newIndexSet(d.max)
	var key dataplaneSessionKey
	var attrs dataplaneSessionAttrs
	it := d.objs.Sessions.Iterate()
	for it.Next(&key, &attrs) {
		if attrs.Index >= d.max {
			// session_info has max entries: no install gave it this.
			return fmt.Errorf("maps: pinned session %d has index %d, beyond the capacity %d", key.SessionId, attrs.Index, d.max)
		}
		d.inUse.add(Index(attrs.Index))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maps: reading pinned sessions: %w", err)
	}
	d.free = make([]Index, 0, int(d.max)-d.inUse.len())
	for i := int64(d.max) - 1; i >= 0; i-- {
		if !d.inUse.has(Index(i)) {
			d.free = append(d.free, Index(i))
		}
	}
	return nil
}

// SetPPPoE0 tells the data plane which device is the slow path (see
// CreatePPPoE0): its ifindex for redirects and fib lookups, and its MAC as
// the destination of injected frames.
func (d *Datapath) SetPPPoE0(ifindex int, mac net.HardwareAddr) error {
	if len(mac) != 6 || ifindex <= 0 {
		return fmt.Errorf("maps: pppoe0 ifindex %d MAC %q invalid", ifindex, mac)
	}
	c := dataplaneDpConfig{Pppoe0Ifindex: uint32(ifindex)}
	copy(c.Pppoe0Mac[:], mac)
	if err := d.objs.Config.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("maps: config: %w", err)
	}
	return nil
}
