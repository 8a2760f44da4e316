package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// Installed is a session found in the pinned maps, as a previous run (or
// this one) installed it: what a starting daemon reconciles with its
// state store, adopting the session or sweeping it.
type Installed struct {
	// Key is where upstream frames match it; for a client session
	// ClientMAC is the AC's MAC (the peer's), as in the sessions map.
	Key
	OuterTPID, InnerTPID uint16
	// Index is the session's slot in session_info and session_stats.
	Index Index
	// Client is true for a session in which this box is the client; its
	// Netdev is the client netdev's ifindex.
	Client bool
	Netdev int
	// LocalMAC is our MAC towards the peer.
	LocalMAC net.HardwareAddr
	// IPv4 is the subscriber's address (server), or ours (client).
	IPv4 netip.Addr
	// Subscriber is true when IPv4 routes to this session downstream (it
	// owns the subscribers_v4 entry).
	Subscriber bool
	MTU, MSS   uint16
	// Stats are its counters, still counting while no daemon runs.
	Stats Stats
}

// Installed lists every session in the maps, server and client, in index
// order. It reads the maps, not this process's memory, so it sees what a
// previous run left. The hash maps are read in batches (a syscall per
// thousand entries, not two per entry): a start with 100,000 sessions
// lists them all before adopting any.
func (d *Datapath) Installed() ([]Installed, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys, attrs, err := dumpHash[dataplaneSessionKey, dataplaneSessionAttrs](d.objs.Sessions)
	if err != nil {
		return nil, fmt.Errorf("maps: installed sessions: %w", err)
	}
	addrs, owners, err := dumpHash[[4]byte, dataplaneSessionAttrs](d.objs.SubscribersV4)
	if err != nil {
		return nil, fmt.Errorf("maps: installed sessions: subscribers_v4: %w", err)
	}
	owner := make(map[[4]byte]uint32, len(addrs))
	for i, a := range addrs {
		owner[a] = owners[i].Index
	}
	out := make([]Installed, 0, len(keys))
	for i, key := range keys {
		a := attrs[i]
		in := Installed{
			Key: Key{Ifindex: int(key.Ifindex), OuterVLAN: key.OuterVlan, InnerVLAN: key.InnerVlan,
				SessionID: key.SessionId, ClientMAC: net.HardwareAddr(slices.Clone(key.PeerMac[:]))},
			OuterTPID: a.OuterTpid, InnerTPID: a.InnerTpid,
			Index:    Index(a.Index),
			Client:   a.Flags&uint16(dataplaneSessionFlagSESSION_F_CLIENT) != 0,
			Netdev:   int(a.NetdevIfindex),
			LocalMAC: net.HardwareAddr(slices.Clone(a.LocalMac[:])),
			IPv4:     netip.AddrFrom4(a.Ipv4),
			MTU:      a.Mtu, MSS: a.Mss,
		}
		if idx, ok := owner[a.Ipv4]; ok && !in.Client && idx == a.Index {
			in.Subscriber = true
		}
		if err := d.checkIndex(in.Index); err != nil {
			return nil, fmt.Errorf("maps: installed session %d: %w", in.SessionID, err)
		}
		in.Stats, _ = d.Stats(in.Index)
		out = append(out, in)
	}
	slices.SortFunc(out, func(x, y Installed) int { return int(x.Index) - int(y.Index) })
	return out, nil
}

// dumpHash reads a whole hash map, in batches where the kernel has them
// (5.6+) and entry by entry otherwise.
func dumpHash[K, V any](m *ebpf.Map) ([]K, []V, error) {
	const batch = 1024
	var keys []K
	var vals []V
	var cursor ebpf.MapBatchCursor
	kb, vb := make([]K, batch), make([]V, batch)
	for {
		n, err := m.BatchLookup(&cursor, kb, vb, nil)
		keys, vals = append(keys, kb[:n]...), append(vals, vb[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, vals, nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	keys, vals = keys[:0], vals[:0]
	var k K
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, it.Err()
}

// RemoveInstalled takes a session Installed listed out of the data plane,
// server or client: for a client session its netdev goes down first (as
// RemoveClient does), then the entries go as Remove takes them. A session
// removed meanwhile is ErrNotFound.
func (d *Datapath) RemoveInstalled(in Installed) error {
	key, err := in.Key.raw()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if in.Client {
		var peer uint32
		var cd dataplaneClientDev
		var up []uint32
		it := d.objs.ClientDevs.Iterate()
		for it.Next(&peer, &cd) {
			if cd.Flags&uint32(dataplaneClientFlagCLIENT_F_UP) != 0 && cd.SessionIndex == uint32(in.Index) {
				up = append(up, peer)
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("maps: remove client session %d: client_devs: %w", in.SessionID, err)
		}
		for _, p := range up {
			if err := d.objs.ClientDevs.Lookup(p, &cd); err != nil {
				continue
			}
			if err := d.objs.ClientDevs.Put(p, &dataplaneClientDev{Demand: cd.Demand}); err != nil {
				return fmt.Errorf("maps: remove client session %d: client_devs: %w", in.SessionID, err)
			}
		}
	}
	var cur dataplaneSessionAttrs
	if err := d.objs.Sessions.Lookup(&key, &cur); err != nil {
		return fmt.Errorf("maps: remove session %d: %w", in.SessionID, notFound(err))
	}
	if cur.Index != uint32(in.Index) {
		// Another session took the key since the listing: not ours to end.
		return fmt.Errorf("maps: remove session %d at index %d: %w", in.SessionID, in.Index, ErrNotFound)
	}
	if _, err := d.removeLocked(key); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
