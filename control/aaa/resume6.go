package aaa

import (
	"errors"
	"fmt"
	"net/netip"
)

// ResumedIPv6 is what a session taken over by a restarted pppoed held of
// IPv6 while IPv6CP was open (Resumed.IPv6): Resume takes its prefixes
// out of their /ipv6 pools again, so that the pools hold what the
// sessions use and its DHCPv6 bindings go on.
type ResumedIPv6 struct {
	// Link is the session's link /64 (its RAs' prefix), reserved again in
	// the /ipv6 pool holding it, if one does; zero for none.
	Link netip.Prefix
	// PDPool is the /ipv6 pool its DHCPv6 delegations come from, ""
	// for none; Delegated the pool's prefixes it has bound now, each
	// reserved there again.
	PDPool    string
	Delegated []netip.Prefix
	// Fixed is the answer's prefix delegated to this session alone
	// (Delegated-IPv6-Prefix), no pool's.
	Fixed netip.Prefix
	// DNS are the IPv6 DNS servers it was given.
	DNS []netip.Addr
}

// Name is the /ipv6 pool's name: what a state record keeps to find the
// pool again after a restart.
func (h *heldPrefixes) Name() string { return h.p.Name() }

// PoolName names the /ipv6 pool an Answer's IPv6Delegate delegates from,
// "" when it is not a pool of this package's (or nil).
func PoolName(a PrefixAllocator) string {
	if h, ok := a.(*heldPrefixes); ok {
		return h.Name()
	}
	return ""
}

// resumeIPv6 reserves r's prefixes again and returns the lease's IPv6;
// on error nothing is held. l.mu held.
func (l *Local) resumeIPv6(r *ResumedIPv6) (ipv6Lease, error) {
	v := ipv6Lease{on: true, link: r.Link}
	undo := func(err error) (ipv6Lease, error) {
		var errs []error
		if v.linkPool != nil {
			errs = append(errs, v.linkPool.Release(v.link))
		}
		if v.pd != nil {
			errs = append(errs, v.pd.releaseAll())
		}
		return ipv6Lease{}, errors.Join(append([]error{err}, errs...)...)
	}
	if r.Link.IsValid() {
		for _, pp := range l.prefixPools {
			if pp.Contains(r.Link) {
				if err := pp.Reserve(r.Link); err != nil {
					return undo(fmt.Errorf("link prefix %v in /ipv6 pool %q: %w", r.Link, pp.Name(), err))
				}
				v.linkPool = pp
				break
			}
		}
	}
	if r.PDPool != "" {
		pp := l.prefixPools[r.PDPool]
		if pp == nil {
			return undo(fmt.Errorf("/ipv6 pool %q gone", r.PDPool))
		}
		v.pd = &heldPrefixes{p: pp, held: map[netip.Prefix]struct{}{}}
		for _, q := range r.Delegated {
			if err := v.pd.Reserve(q); err != nil {
				return undo(fmt.Errorf("delegated prefix %v in /ipv6 pool %q: %w", q, pp.Name(), err))
			}
		}
	} else if len(r.Delegated) > 0 {
		return undo(fmt.Errorf("delegated prefixes %v without their /ipv6 pool", r.Delegated))
	}
	return v, nil
}
