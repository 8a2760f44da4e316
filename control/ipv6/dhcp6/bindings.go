package dhcp6

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Binding is one committed IA lease as a new process needs it to go on
// answering the client as if nothing happened (pppoed's restart, #13):
// after Restore, a Renew gets the same prefix and a Release returns it.
// Offers not yet requested are not bindings: the client asks again.
type Binding struct {
	// DUID is the client's DUID (RFC 8415 §11), as it sent it.
	DUID []byte
	// PD tells an IA_PD (a delegated prefix) from an IA_NA (an address,
	// Prefix a /128).
	PD   bool
	IAID [4]byte
	// Prefix is what is bound.
	Prefix netip.Prefix
	// Fixed: ServerConfig.FixedPrefix, no pool's.
	Fixed bool
	// Expires is the end of the valid lifetime the client was last
	// given.
	Expires time.Time
}

// Bindings lists the committed bindings, delegated prefixes first, each
// group in prefix order.
func (s *Server) Bindings() []Binding {
	var out []Binding
	for k, b := range s.bindings {
		if !b.committed {
			continue
		}
		out = append(out, Binding{DUID: []byte(k.duid), PD: k.kind == kindPD, IAID: k.iaid, Prefix: b.prefix, Fixed: b.fixed, Expires: b.expires})
	}
	slices.SortFunc(out, func(a, b Binding) int {
		if a.PD != b.PD {
			if a.PD {
				return -1
			}
			return 1
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return strings.Compare(string(a.DUID), string(b.DUID))
	})
	return out
}

// Restore takes bindings a previous server of the session committed
// (Bindings), as they were: no message is sent and no Result is made,
// since their prefixes are routed already. A pool prefix must be held by
// ServerConfig.Delegate already (the caller reserved it there): Restore
// takes nothing from the pool, and the server returns it as it would
// one it allocated. A binding whose lifetime ended meanwhile is
// restored too: Next is then due, and Step ends it as any expired one
// (its route removed, its prefix back in the pool). A binding that does
// not fit this server (a PD without a pool or fixed prefix to come from,
// an address outside the link, an IA bound twice) is an error and
// nothing is restored.
func (s *Server) Restore(bs []Binding) error {
	add := map[bindingKey]*binding{}
	for _, b := range bs {
		k := bindingKey{duid: string(b.DUID), iaid: b.IAID}
		switch {
		case len(b.DUID) == 0:
			return errors.New("dhcp6: restore: binding without a client DUID")
		case !b.Prefix.IsValid() || !b.Prefix.Addr().Is6() || b.Prefix.Addr().Is4In6():
			return fmt.Errorf("dhcp6: restore: %v is not an IPv6 prefix", b.Prefix)
		case b.PD && b.Fixed && b.Prefix != s.cfg.FixedPrefix:
			return fmt.Errorf("dhcp6: restore: %v is not the session's fixed prefix %v", b.Prefix, s.cfg.FixedPrefix)
		case b.PD && !b.Fixed && s.cfg.Delegate == nil:
			return fmt.Errorf("dhcp6: restore: %v without a pool to return it to", b.Prefix)
		case !b.PD && (b.Prefix.Bits() != 128 || !s.cfg.Link.IsValid() || !s.cfg.Link.Contains(b.Prefix.Addr())):
			return fmt.Errorf("dhcp6: restore: address %v not in the link %v", b.Prefix, s.cfg.Link)
		}
		if b.PD {
			k.kind = kindPD
		}
		if _, dup := add[k]; dup || s.bindings[k] != nil {
			return fmt.Errorf("dhcp6: restore: IA %x of a client bound twice", b.IAID)
		}
		add[k] = &binding{prefix: b.Prefix, fixed: b.Fixed, committed: true, expires: b.Expires}
	}
	for k, b := range add {
		s.bindings[k] = b
	}
	return nil
}

// LatestExpiry is when the last committed binding expires; zero with
// none. Each bind, Renew or Rebind moves it on (to now plus the valid
// lifetime), so a caller keeping what Bindings said sees by it that
// the lifetimes moved.
func (s *Server) LatestExpiry() time.Time {
	var t time.Time
	for _, b := range s.bindings {
		if b.committed && b.expires.After(t) {
			t = b.expires
		}
	}
	return t
}
