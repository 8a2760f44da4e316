package client

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DynamicPool is an /ipv6 pool made from a prefix a DHCPv6 client was
// delegated (RFC 8415 §6.3): RouterOS adds it, flagged D, under the
// dhcp-client's pool-name, splits it into prefix-length pieces
// (pool-prefix-length) and keeps it while the lease lasts.
type DynamicPool struct {
	Name         string
	Prefix       netip.Prefix
	PrefixLength int
	// Expires is when the lease's valid lifetime ends.
	Expires time.Time
	// Owner is the pppoe-client whose /ipv6 dhcp-client holds it.
	Owner string
}

// PrefixPools holds the dynamic /ipv6 pools of every client; it is safe
// for concurrent use.
type PrefixPools struct {
	mu    sync.Mutex
	pools map[string]DynamicPool
}

// NewPrefixPools returns an empty set of pools.
func NewPrefixPools() *PrefixPools { return &PrefixPools{pools: map[string]DynamicPool{}} }

// Set adds or updates p. A name another client's pool holds is refused:
// two dhcp-clients sharing a pool-name would overwrite each other's
// prefix.
func (ps *PrefixPools) Set(p DynamicPool) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if old, ok := ps.pools[p.Name]; ok && old.Owner != p.Owner {
		return fmt.Errorf("client: /ipv6 pool %s already holds %s of %s", p.Name, old.Prefix, old.Owner)
	}
	ps.pools[p.Name] = p
	return nil
}

// Remove deletes owner's pool name, if it holds it.
func (ps *PrefixPools) Remove(name, owner string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.pools[name]; ok && p.Owner == owner {
		delete(ps.pools, name)
	}
}

// List returns the pools by name.
func (ps *PrefixPools) List() []DynamicPool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]DynamicPool, 0, len(ps.pools))
	for _, p := range ps.pools {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b DynamicPool) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
