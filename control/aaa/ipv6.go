package aaa

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

// ipv6Lease is what a lease holds of IPv6: the link /64 (owned when it
// came from, or was reserved in, linkPool) and the delegation pool as the
// session's DHCPv6 server sees it.
type ipv6Lease struct {
	on       bool
	link     netip.Prefix
	linkPool *pool.PrefixPool
	pd       *heldPrefixes
}

// heldPrefixes is a /ipv6 pool as one session delegates from it: it
// remembers what it handed out, so the lease's Release returns whatever
// the session's DHCPv6 server did not.
type heldPrefixes struct {
	p    *pool.PrefixPool
	mu   sync.Mutex
	held map[netip.Prefix]struct{}
}

func (h *heldPrefixes) Allocate(hint netip.Prefix) (netip.Prefix, error) {
	q, err := h.p.Allocate(hint)
	if err != nil {
		return q, err
	}
	h.mu.Lock()
	h.held[q] = struct{}{}
	h.mu.Unlock()
	return q, nil
}

func (h *heldPrefixes) Reserve(q netip.Prefix) error {
	if err := h.p.Reserve(q); err != nil {
		return err
	}
	h.mu.Lock()
	h.held[q] = struct{}{}
	h.mu.Unlock()
	return nil
}

func (h *heldPrefixes) Release(q netip.Prefix) error {
	h.mu.Lock()
	_, ok := h.held[q]
	delete(h.held, q)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("pool %s: %v: %w", h.p.Name(), q, pool.ErrNotAllocated)
	}
	return h.p.Release(q)
}

// releaseAll returns every prefix still held.
func (h *heldPrefixes) releaseAll() error {
	h.mu.Lock()
	held := h.held
	h.held = map[netip.Prefix]struct{}{}
	h.mu.Unlock()
	var errs []error
	for q := range held {
		errs = append(errs, h.p.Release(q))
	}
	return errors.Join(errs...)
}

// assignIPv6 gives an authenticated lease its IPv6: the secret's
// remote-ipv6-prefix (reserved in the /ipv6 pool holding it, if any) or a
// /64 from the profile's remote-ipv6-prefix-pool, and the profile's
// dhcpv6-pd-pool to delegate from. IPv6 is on when any of the three is
// set; an error (no such pool, pool exhausted) leaves it off, IPv4 goes on.
// le.mu held.
func (le *Lease) assignIPv6() error {
	l := le.l
	prof := le.profile
	var fixed netip.Prefix // the secret's, while the lease holds it (Assign lets go)
	if le.secret != nil {
		fixed = le.secret.RemoteIPv6Prefix
	}
	if !fixed.IsValid() && prof.RemoteIPv6PrefixPool == "" && prof.DHCPv6PDPool == "" {
		return nil
	}
	l.mu.Lock()
	pools := l.prefixPools
	l.mu.Unlock()
	var v ipv6Lease
	var pd *pool.PrefixPool
	if name := prof.DHCPv6PDPool; name != "" {
		if pd = pools[name]; pd == nil {
			return fmt.Errorf("dhcpv6-pd-pool %q: no such /ipv6 pool", name)
		}
	}
	switch {
	case fixed.IsValid():
		p := fixed.Masked()
		if p.Bits() != 64 {
			return fmt.Errorf("remote-ipv6-prefix %v: want a /64", fixed)
		}
		for _, pp := range pools {
			if pp.Contains(p) {
				if err := pp.Reserve(p); err != nil {
					return fmt.Errorf("remote-ipv6-prefix %v: %w", p, err)
				}
				v.linkPool = pp
				break
			}
		}
		v.link = p
	case prof.RemoteIPv6PrefixPool != "":
		pp := pools[prof.RemoteIPv6PrefixPool]
		switch {
		case pp == nil:
			return fmt.Errorf("remote-ipv6-prefix-pool %q: no such /ipv6 pool", prof.RemoteIPv6PrefixPool)
		case pp.PrefixLength() != 64:
			return fmt.Errorf("remote-ipv6-prefix-pool %q hands out /%d, a link needs a /64 (RFC 4862 §5.5.3)", pp.Name(), pp.PrefixLength())
		}
		p, err := pp.Allocate(netip.Prefix{})
		if err != nil {
			if errors.Is(err, pool.ErrNoPrefixAvail) {
				l.exhausted.Add(1)
			}
			return fmt.Errorf("remote-ipv6-prefix-pool %q: %w", pp.Name(), err)
		}
		v.link, v.linkPool = p, pp
	}
	if pd != nil {
		v.pd = &heldPrefixes{p: pd, held: map[netip.Prefix]struct{}{}}
	}
	v.on = true
	le.v6 = v
	return nil
}

// releaseIPv6 returns the link /64 and every delegated prefix the lease
// still holds. le.mu held.
func (le *Lease) releaseIPv6() error {
	v := le.v6
	le.v6 = ipv6Lease{}
	var errs []error
	if v.linkPool != nil {
		errs = append(errs, v.linkPool.Release(v.link))
	}
	if v.pd != nil {
		errs = append(errs, v.pd.releaseAll())
	}
	return errors.Join(errs...)
}
