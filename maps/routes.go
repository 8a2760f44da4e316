package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// A server session's routed IPv4 prefixes (RADIUS Framed-Route, RFC 2865
// §5.22: a customer's LAN behind the subscriber). Each is a routes_v4
// entry (prefix -> session index): the downstream paths look a
// destination no session owns up in it (longest match), and the upstream
// anti-spoof check accepts a source inside a prefix routed to the session
// (bpf/maps.h). A prefix two sessions claim goes to the later one, and
// stays with it when the earlier one lets go.
//
// routes4 is the user-space mirror of routes_v4, rebuilt from it at Open,
// so that Remove finds a session's prefixes. Guarded by d.mu.
type routes4 struct {
	bySession map[Index][]netip.Prefix
	owner     map[netip.Prefix]Index
}

func newRoutes4() *routes4 {
	return &routes4{bySession: map[Index][]netip.Prefix{}, owner: map[netip.Prefix]Index{}}
}

func v4Key(p netip.Prefix) dataplaneV4LpmKey {
	return dataplaneV4LpmKey{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}
}

// SetRoutes makes the IPv4 prefixes routed to server session k exactly
// routes: new ones are claimed before old ones are let go. Prefixes
// other than IPv4 are refused whole.
func (d *Datapath) SetRoutes(k Key, routes []netip.Prefix) error {
	key, err := k.raw()
	if err != nil {
		return err
	}
	want := make([]netip.Prefix, 0, len(routes))
	for _, p := range routes {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("maps: session %d: route %v: not an IPv4 prefix", k.SessionID, p)
		}
		if p = p.Masked(); !slices.Contains(want, p) {
			want = append(want, p)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.serverSession(key, "routes")
	if err != nil {
		return err
	}
	idx := Index(a.Index)
	for _, p := range want {
		k := v4Key(p)
		if err := d.objs.RoutesV4.Update(&k, uint32(idx), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("maps: session %d: route %v: %w", key.SessionId, p, err)
		}
		if o, ok := d.routes.owner[p]; ok && o != idx {
			d.routes.drop(p)
		}
		if d.routes.owner[p] != idx || !slices.Contains(d.routes.bySession[idx], p) {
			d.routes.owner[p] = idx
			d.routes.bySession[idx] = append(d.routes.bySession[idx], p)
		}
	}
	for _, p := range slices.Clone(d.routes.bySession[idx]) {
		if !slices.Contains(want, p) {
			if err := d.deleteRouteLocked(p); err != nil {
				return fmt.Errorf("maps: session %d: %w", key.SessionId, err)
			}
		}
	}
	return nil
}

// Routes returns the IPv4 prefixes routed to server session k.
func (d *Datapath) Routes(k Key) ([]netip.Prefix, error) {
	key, err := k.raw()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.serverSession(key, "routes")
	if err != nil {
		return nil, err
	}
	return slices.Clone(d.routes.bySession[Index(a.Index)]), nil
}

// drop forgets p's owner in the mirror.
func (r *routes4) drop(p netip.Prefix) {
	idx, ok := r.owner[p]
	if !ok {
		return
	}
	delete(r.owner, p)
	ps := slices.DeleteFunc(r.bySession[idx], func(q netip.Prefix) bool { return q == p })
	if len(ps) == 0 {
		delete(r.bySession, idx)
	} else {
		r.bySession[idx] = ps
	}
}

func (d *Datapath) deleteRouteLocked(p netip.Prefix) error {
	k := v4Key(p)
	if err := d.objs.RoutesV4.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("route %v: %w", p, err)
	}
	d.routes.drop(p)
	return nil
}

// removeRoutesLocked lets go of every prefix routed to session idx.
func (d *Datapath) removeRoutesLocked(idx Index) error {
	for _, p := range slices.Clone(d.routes.bySession[idx]) {
		if err := d.deleteRouteLocked(p); err != nil {
			return err
		}
	}
	return nil
}

// rebuildRoutes reads routes_v4 into the mirror, deleting entries whose
// session is gone, which would otherwise route a prefix to the next
// session at that index.
func (d *Datapath) rebuildRoutes() error {
	d.routes = newRoutes4()
	var k dataplaneV4LpmKey
	var idx uint32
	var stale []dataplaneV4LpmKey
	it := d.objs.RoutesV4.Iterate()
	for it.Next(&k, &idx) {
		if !d.inUse.has(Index(idx)) {
			stale = append(stale, k)
			continue
		}
		p := netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen))
		d.routes.owner[p] = Index(idx)
		d.routes.bySession[Index(idx)] = append(d.routes.bySession[Index(idx)], p)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maps: reading pinned routes_v4: %w", err)
	}
	for _, k := range stale {
		if err := d.objs.RoutesV4.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("maps: routes_v4: %w", err)
		}
	}
	return nil
}
