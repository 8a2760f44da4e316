package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
// previous run left.
func (d *Datapath) Installed() ([]Installed, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Installed
	var key dataplaneSessionKey
	var a dataplaneSessionAttrs
	it := d.objs.Sessions.Iterate()
	for it.Next(&key, &a) {
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
		var owner dataplaneSessionAttrs
		in.Subscriber = !in.Client && d.objs.SubscribersV4.Lookup(a.Ipv4, &owner) == nil && owner.Index == a.Index
		out = append(out, in)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("maps: installed sessions: %w", err)
	}
	for i := range out {
		if err := d.checkIndex(out[i].Index); err != nil {
			return nil, fmt.Errorf("maps: installed session %d: %w", out[i].SessionID, err)
		}
		out[i].Stats, _ = d.Stats(out[i].Index)
	}
	slices.SortFunc(out, func(x, y Installed) int { return int(x.Index) - int(y.Index) })
	return out, nil
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
