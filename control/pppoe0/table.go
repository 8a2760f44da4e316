package pppoe0

import "net/netip"

// table is what pppoe0 must route, derived from its two sources alone:
// the destinations the configuration routes to the sessions (the pools'
// ranges as prefixes, static remote addresses as /32s) and the live
// sessions with their MTUs. It touches no kernel; Host makes the
// kernel's routes match it.
type table struct {
	devMTU int
	pools  map[netip.Prefix]bool // masked
	bits   [33]int               // how many pool prefixes have each length
	// sessions counts the live sessions at each address by MTU, 0 standing
	// for pppoe0's own or larger: two can share an address for a moment
	// (IPCP renegotiating, a static remote-address dialled twice).
	sessions map[netip.Addr]map[int]int
	// framed counts the prefixes routed to live sessions (RADIUS
	// Framed-Route) by MTU, as sessions counts their addresses.
	framed map[netip.Prefix]map[int]int
}

func newTable(devMTU int) table {
	return table{devMTU: devMTU, pools: map[netip.Prefix]bool{}, sessions: map[netip.Addr]map[int]int{},
		framed: map[netip.Prefix]map[int]int{}}
}

// setPools replaces the configuration's destinations; IPv6 ones are
// ignored (sessions carry IPv4 only).
func (t *table) setPools(ps []netip.Prefix) {
	t.pools, t.bits = map[netip.Prefix]bool{}, [33]int{}
	for _, p := range ps {
		if p.IsValid() && p.Addr().Is4() && !t.pools[p.Masked()] {
			t.pools[p.Masked()] = true
			t.bits[p.Bits()]++
		}
	}
}

// addPool and removePool change one of the configuration's destinations,
// as setPools would, at the cost of one.
func (t *table) addPool(p netip.Prefix) {
	if p.IsValid() && p.Addr().Is4() && !t.pools[p.Masked()] {
		t.pools[p.Masked()] = true
		t.bits[p.Bits()]++
	}
}

func (t *table) removePool(p netip.Prefix) {
	if p.IsValid() && t.pools[p.Masked()] {
		delete(t.pools, p.Masked())
		t.bits[p.Bits()]--
	}
}

// routeMTU is the MTU a session's host route carries: its own when the
// kernel would otherwise send it larger packets than it takes, or
// smaller ones than it takes whole (a multilink session's MRRU, which
// the device's MTU has been raised to carry), else 0 (the device's, no
// host route needed for it).
func (t *table) routeMTU(mtu int) int {
	if mtu > 0 && mtu != t.devMTU {
		return mtu
	}
	return 0
}

func (t *table) addSession(a netip.Addr, mtu int) { count(t.sessions, a, t.routeMTU(mtu)) }

// removeSession reports whether there was such a session.
func (t *table) removeSession(a netip.Addr, mtu int) bool {
	return uncount(t.sessions, a, t.routeMTU(mtu))
}

// addFramed and removeFramed count a prefix routed to a session of mtu,
// as addSession and removeSession its address.
func (t *table) addFramed(p netip.Prefix, mtu int) { count(t.framed, p.Masked(), t.routeMTU(mtu)) }

func (t *table) removeFramed(p netip.Prefix, mtu int) bool {
	return uncount(t.framed, p.Masked(), t.routeMTU(mtu))
}

func count[K comparable](m map[K]map[int]int, k K, mtu int) {
	byMTU := m[k]
	if byMTU == nil {
		byMTU = map[int]int{}
		m[k] = byMTU
	}
	byMTU[mtu]++
}

func uncount[K comparable](m map[K]map[int]int, k K, mtu int) bool {
	byMTU := m[k]
	if byMTU[mtu] == 0 {
		return false
	}
	if byMTU[mtu]--; byMTU[mtu] == 0 {
		delete(byMTU, mtu)
	}
	if len(byMTU) == 0 {
		delete(m, k)
	}
	return true
}

// smallest is the smallest MTU counted in byMTU, 0 when every one is.
func smallest(byMTU map[int]int) int {
	mtu := 0
	for m := range byMTU {
		if m > 0 && (mtu == 0 || m < mtu) {
			mtu = m
		}
	}
	return mtu
}

// route returns the route dst must have, and whether it must have one:
// a prefix routed to sessions with their smallest MTU, else a /32 as
// host decides, else a pool prefix.
func (t *table) route(dst netip.Prefix) (mtu int, ok bool) {
	if byMTU, ok := t.framed[dst]; ok {
		return smallest(byMTU), true
	}
	if dst.Bits() == 32 {
		return t.host(dst.Addr())
	}
	return 0, t.pools[dst]
}

// covered reports whether a pool prefix contains a.
func (t *table) covered(a netip.Addr) bool {
	for bits, n := range t.bits {
		if n > 0 && t.pools[netip.PrefixFrom(a, bits).Masked()] {
			return true
		}
	}
	return false
}

// host returns the route a's /32 must have, and whether it must have one:
// with the smallest MTU of the sessions there when that is below
// pppoe0's; else the pool's own /32; else one without MTU for sessions
// no pool covers (left outside by a pool edit, or a static address
// routed no longer) until they end.
func (t *table) host(a netip.Addr) (mtu int, ok bool) {
	mtu = smallest(t.sessions[a])
	switch {
	case mtu > 0:
		return mtu, true
	case t.pools[netip.PrefixFrom(a, 32)]:
		return 0, true
	case len(t.sessions[a]) > 0 && !t.covered(a):
		return 0, true
	}
	return 0, false
}

// want returns every route pppoe0 must have: destination → route MTU
// (0 for the device's).
func (t *table) want() map[netip.Prefix]int {
	w := make(map[netip.Prefix]int, len(t.pools)+len(t.sessions))
	for p := range t.pools {
		w[p] = 0
	}
	for a := range t.sessions {
		if mtu, ok := t.host(a); ok {
			w[netip.PrefixFrom(a, 32)] = mtu
		}
	}
	for p, byMTU := range t.framed {
		w[p] = smallest(byMTU)
	}
	return w
}
