package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// AccessSystem is what the access concentrator needs from the host besides
// its frames: the data-plane programs on the access interfaces, and on the
// slow-path device (pppoe0) the addresses and routes that make the kernel
// route subscriber traffic into the sessions, as a ppp interface's
// local address and routes do.
type AccessSystem interface {
	// AttachAccess puts the data plane on a physical access interface
	// (the parent of /interface vlan names); attaching twice is harmless.
	AttachAccess(ifindex int) error
	// SyncPPPoE0 makes pppoe0 carry exactly addrs (each as a /32), of
	// those this AccessSystem added, and routes to the destinations in
	// routes plus whatever the live sessions need besides (control/pppoe0):
	// nil, nil with no session left removes them all.
	SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error
	// UpdatePPPoE0 removes del's addresses and routes from pppoe0 and adds
	// add's: what one change of the configuration needs, at a cost that
	// does not grow with the configuration.
	UpdatePPPoE0(add, del PPPoE0Set) error
}

// PPPoE0Set is a set of pppoe0's addresses (each a /32) and routes.
type PPPoE0Set struct {
	Addrs  []netip.Addr
	Routes []netip.Prefix
}

func (s PPPoE0Set) empty() bool { return len(s.Addrs) == 0 && len(s.Routes) == 0 }

// AccessConcentrator adapts control/server to Servers. The server itself is
// started by the first Apply (control/server needs a configuration to
// start); physical interfaces are opened over AF_PACKET and get the data
// plane attached as the server opens them.
type AccessConcentrator struct {
	opts server.Options
	sys  AccessSystem

	applyMu sync.Mutex // serializes Apply and Close
	applied *config.Config
	layout  pppoe0Layout

	mu  sync.Mutex
	srv *server.Server
}

// NewAccessConcentrator returns the Servers of the access concentrator
// built from opts (opts.Open, if nil, opens AF_PACKET sockets) with sys
// for the host side. Nothing runs before Apply.
func NewAccessConcentrator(opts server.Options, sys AccessSystem) *AccessConcentrator {
	a := &AccessConcentrator{opts: opts, sys: sys, layout: newPPPoE0Layout()}
	open := opts.Open
	if open == nil {
		open = listenAccess
	}
	a.opts.Open = func(name string) (server.Port, error) {
		p, err := open(name)
		if err != nil {
			return p, err
		}
		if err := sys.AttachAccess(p.Ifindex); err != nil {
			p.Conn.Close()
			return server.Port{}, fmt.Errorf("access interface %s: data plane: %w", name, err)
		}
		return p, nil
	}
	return a
}

func listenAccess(name string) (server.Port, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return server.Port{}, fmt.Errorf("access interface: %w", err)
	}
	c, err := afpacket.Listen(ifi)
	if err != nil {
		return server.Port{}, fmt.Errorf("access interface %s: %w", name, err)
	}
	return server.Port{Conn: c, Ifindex: ifi.Index, MAC: ifi.HardwareAddr}, nil
}

// Apply implements Servers: the server takes cfg or refuses it whole, then
// pppoe0's addresses and routes follow. A failure of the latter is an
// *AppliedError: the configuration runs, pppoe0 is put right (in full) at
// the next Apply.
func (a *AccessConcentrator) Apply(cfg *config.Config) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if srv := a.server(); srv != nil {
		if err := srv.Apply(cfg); err != nil {
			return err
		}
	} else {
		srv, err := server.New(cfg, a.opts)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.srv = srv
		a.mu.Unlock()
	}
	prev := a.applied
	if prev == nil {
		prev = config.New()
	}
	a.applied = cfg
	if err := a.layout.follow(a.sys, prev, cfg); err != nil {
		return &AppliedError{Err: fmt.Errorf("pppoe0: %w", err)}
	}
	return nil
}

// Invalid implements Servers.
func (a *AccessConcentrator) Invalid() map[string]error {
	if srv := a.server(); srv != nil {
		return srv.Invalid()
	}
	return nil
}

// Retry implements Servers.
func (a *AccessConcentrator) Retry() []string {
	if srv := a.server(); srv != nil {
		return srv.OpenMissing()
	}
	return nil
}

// Sessions implements Servers: the sessions' snapshots with their data
// plane counters, "in" being what came from the client (RouterOS counts
// on the server's side).
func (a *AccessConcentrator) Sessions() []Active {
	srv := a.server()
	if srv == nil {
		return nil
	}
	snaps := srv.Sessions()
	out := make([]Active, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, Active{
			ID:              s.ID.String(),
			Name:            s.Name,
			Service:         s.Service,
			CallerID:        s.CallerID,
			Encoding:        s.Encoding,
			Address:         s.Address,
			Uptime:          s.Uptime,
			SessionID:       s.SessionID,
			State:           s.State.String(),
			PacketsIn:       s.Stats.PacketsUp,
			BytesIn:         s.Stats.BytesUp,
			PacketsOut:      s.Stats.PacketsDown,
			BytesOut:        s.Stats.BytesDown,
			MRRU:            s.MP.MRRU,
			ReassemblyDrops: s.Stats.ReassemblyDrops,
			MPDrops:         s.Stats.MPDrops,
			RateLimit:       s.RateLimit, ShapeTx: s.ShapeTx,
			RateDropsIn: s.Stats.RateDropsUp, RateDropsOut: s.Stats.RateDropsDown,
		})
	}
	return out
}

// QueueDrops implements Servers.
func (a *AccessConcentrator) QueueDrops() (map[string]uint64, error) {
	srv := a.server()
	if srv == nil {
		return nil, nil
	}
	drops, err := srv.QueueDrops()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(drops))
	for id, n := range drops {
		out[id.String()] = n
	}
	return out, nil
}

// Remove implements Servers: it ends the session whose handle (.id, "*1A")
// is id, with a PADT, and waits for its cleanup.
func (a *AccessConcentrator) Remove(id string) error {
	srv := a.server()
	if srv == nil {
		return errors.New("no such session")
	}
	h, err := session.ParseID(id)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if srv.Remove(h) == 0 {
		return fmt.Errorf("session %v: no such session", h)
	}
	return nil
}

// Counters implements Servers.
func (a *AccessConcentrator) Counters() ServerCounters {
	srv := a.server()
	if srv == nil {
		return ServerCounters{}
	}
	c := srv.Counters()
	out := ServerCounters{Discovery: c.Discovery, PoolExhausted: c.AAA.PoolExhausted,
		AuthFailures: make(map[string]uint64, len(c.AuthFailures)),
		HalfOpen:     c.HalfOpen, Established: c.Established,
		Refused: c.RefusedBy, LateDuplicates: c.LateDuplicates, QueueDrops: c.QueueDrops,
		Ended: make(map[string]uint64, len(c.Ended))}
	for m, n := range c.AuthFailures {
		out.AuthFailures[m.String()] += n
	}
	out.States = make(map[string]int, len(c.States))
	for st, n := range c.States {
		if n > 0 {
			out.States[session.State(st).String()] = int(n)
		}
	}
	out.Traffic = make(map[string]metrics.Traffic, len(c.Traffic))
	var mp session.MPDrops
	for iface, st := range c.Traffic {
		out.Traffic[iface] = metrics.Traffic{PacketsUp: st.PacketsUp, BytesUp: st.BytesUp, PacketsDown: st.PacketsDown, BytesDown: st.BytesDown}
		mp = mp.Add(st.MPDrops)
	}
	out.MPReassemblyDrops = mp.Reasons()
	for r, n := range c.Ended {
		out.Ended[r.String()] = n
	}
	return out
}

// Close implements Servers: every session ends (PADT, data-plane entry
// removed, address returned), then pppoe0 loses the addresses and routes
// the server gave it.
func (a *AccessConcentrator) Close() error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	var errs []error
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	if err := a.sys.SyncPPPoE0(nil, nil); err != nil {
		errs = append(errs, fmt.Errorf("pppoe0: %w", err))
	}
	a.applied, a.layout = nil, newPPPoE0Layout()
	return errors.Join(errs...)
}

// InterfaceGone lets go of an access interface that went (see
// server.Server.InterfaceGone): its sessions end, its socket closes. It
// returns how many sessions ended, and false if no server used it.
func (a *AccessConcentrator) InterfaceGone(name string, ifindex int) (int, bool) {
	srv := a.server()
	if srv == nil {
		return 0, false
	}
	return srv.InterfaceGone(name, ifindex)
}

// InterfaceAppeared serves an access interface again once it is back
// (see server.Server.InterfaceAppeared), with the data plane attached to
// its new ifindex. It reports whether it opened it.
func (a *AccessConcentrator) InterfaceAppeared(name string, ifindex int) (bool, error) {
	srv := a.server()
	if srv == nil {
		return false, nil
	}
	return srv.InterfaceAppeared(name, ifindex)
}

func (a *AccessConcentrator) server() *server.Server {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.srv
}

// PPPoE0Layout returns the addresses and routes pppoe0 needs for cfg, none
// when no server is enabled: the profiles' and secrets' local-address (the
// AC's end of every session, RFC 1332 §3.3) and routes covering the pools
// that remote-address names (following next-pool) and the secrets' static
// remote-address. Both lists are sorted and free of duplicates.
func PPPoE0Layout(cfg *config.Config) (addrs []netip.Addr, routes []netip.Prefix) {
	if !anyEnabled(cfg) {
		return nil, nil
	}
	seenAddr := map[netip.Addr]bool{}
	seenRoute := map[netip.Prefix]bool{}
	add := func(a netip.Addr, r netip.Prefix) {
		if a.IsValid() && !seenAddr[a] {
			seenAddr[a] = true
			addrs = append(addrs, a)
		}
		if r.IsValid() && !seenRoute[r] {
			seenRoute[r] = true
			routes = append(routes, r)
		}
	}
	profileLayout(cfg, add)
	for _, s := range cfg.Secrets.All() {
		secretLayout(s, add)
	}
	sortLayout(addrs, routes)
	return addrs, routes
}

func anyEnabled(cfg *config.Config) bool {
	for _, s := range cfg.Servers.All() {
		if !s.Disabled {
			return true
		}
	}
	return false
}

// profileLayout calls f with what the profiles and pools put on pppoe0: a
// profile's IPv4 local-address, its IPv4 remote-address as a /32 or the
// ranges of the pool it names, following next-pool.
func profileLayout(cfg *config.Config, f func(netip.Addr, netip.Prefix)) {
	addPool := func(name string) {
		for seen := map[string]bool{}; name != "" && !seen[name]; {
			seen[name] = true
			p, ok := cfg.Pools.Get(name)
			if !ok {
				return
			}
			for _, r := range p.Ranges {
				for _, pfx := range RangePrefixes(r.First, r.Last) {
					f(netip.Addr{}, pfx)
				}
			}
			name = p.NextPool
		}
	}
	for _, p := range cfg.Profiles.All() {
		if a, err := netip.ParseAddr(p.LocalAddress); err == nil && a.Is4() {
			f(a, netip.Prefix{})
		}
		if a, err := netip.ParseAddr(p.RemoteAddress); err == nil {
			if a.Is4() {
				f(netip.Addr{}, netip.PrefixFrom(a, 32))
			}
		} else {
			addPool(p.RemoteAddress)
		}
	}
}

// secretLayout calls f with what an enabled secret puts on pppoe0: its
// static local-address and remote-address.
func secretLayout(s config.Secret, f func(netip.Addr, netip.Prefix)) {
	if s.Disabled {
		return
	}
	if s.LocalAddress.Is4() {
		f(s.LocalAddress, netip.Prefix{})
	}
	if s.RemoteAddress.Is4() {
		f(netip.Addr{}, netip.PrefixFrom(s.RemoteAddress, 32))
	}
}

func sortLayout(addrs []netip.Addr, routes []netip.Prefix) {
	slices.SortFunc(addrs, netip.Addr.Compare)
	slices.SortFunc(routes, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

// pppoe0Layout follows PPPoE0Layout from one configuration to the next at
// the cost of what changed: it counts, for every address and route, the
// items that want it, and tells pppoe0 only of those whose count goes from
// or to zero. Secrets are compared through config.List.Changes, so a
// change to one secret of 100,000 costs a few lookups; profiles and pools
// (a handful) are recounted whole.
type pppoe0Layout struct {
	addrs   map[netip.Addr]int
	routes  map[netip.Prefix]int
	enabled bool // pppoe0 carries the layout: a server is enabled
	synced  bool // pppoe0 is known to carry what the counts say
}

func newPPPoE0Layout() pppoe0Layout {
	return pppoe0Layout{addrs: map[netip.Addr]int{}, routes: map[netip.Prefix]int{}}
}

// bump adds d to counts[k], dropping it at 0, and records in was what
// counts[k] was before the first change.
func bump[K comparable](counts, was map[K]int, k K, d int) {
	if _, ok := was[k]; !ok {
		was[k] = counts[k]
	}
	counts[k] += d
	if counts[k] == 0 {
		delete(counts, k)
	}
}

func (l *pppoe0Layout) follow(sys AccessSystem, prev, cfg *config.Config) error {
	var add, del PPPoE0Set
	// Keys touched, with their counts before.
	addrWas, routeWas := map[netip.Addr]int{}, map[netip.Prefix]int{}
	count := func(d int) func(netip.Addr, netip.Prefix) {
		return func(a netip.Addr, r netip.Prefix) {
			if a.IsValid() {
				bump(l.addrs, addrWas, a, d)
			}
			if r.IsValid() {
				bump(l.routes, routeWas, r, d)
			}
		}
	}
	profileLayout(prev, count(-1))
	profileLayout(cfg, count(1))
	for o, n := range cfg.Secrets.Changes(prev.Secrets) {
		if o != nil {
			secretLayout(*o, count(-1))
		}
		if n != nil {
			secretLayout(*n, count(1))
		}
	}
	for a, was := range addrWas {
		switch now := l.addrs[a]; {
		case was == 0 && now > 0:
			add.Addrs = append(add.Addrs, a)
		case was > 0 && now == 0:
			del.Addrs = append(del.Addrs, a)
		}
	}
	for r, was := range routeWas {
		switch now := l.routes[r]; {
		case was == 0 && now > 0:
			add.Routes = append(add.Routes, r)
		case was > 0 && now == 0:
			del.Routes = append(del.Routes, r)
		}
	}
	sortLayout(add.Addrs, add.Routes)
	sortLayout(del.Addrs, del.Routes)

	wasEnabled := l.enabled
	l.enabled = anyEnabled(cfg)
	var err error
	switch {
	case !l.enabled && (wasEnabled || !l.synced):
		err = sys.SyncPPPoE0(nil, nil)
	case !l.enabled:
	case !wasEnabled || !l.synced:
		addrs := make([]netip.Addr, 0, len(l.addrs))
		for a := range l.addrs {
			addrs = append(addrs, a)
		}
		routes := make([]netip.Prefix, 0, len(l.routes))
		for r := range l.routes {
			routes = append(routes, r)
		}
		sortLayout(addrs, routes)
		err = sys.SyncPPPoE0(addrs, routes)
	case !add.empty() || !del.empty():
		err = sys.UpdatePPPoE0(add, del)
	}
	l.synced = err == nil
	return err
}

// RangePrefixes returns the fewest IPv4 prefixes covering first..last
// exactly (an inclusive range, as /ip pool ranges are), in order. It
// returns nil for a range that is not IPv4 or runs backwards.
func RangePrefixes(first, last netip.Addr) []netip.Prefix {
	if !first.Is4() || !last.Is4() || last.Less(first) {
		return nil
	}
	lo, hi := u32(first), uint64(u32(last))
	var out []netip.Prefix
	for cur := uint64(lo); cur <= hi; {
		bits := 32
		// Widen while the block stays aligned and inside the range.
		for bits > 0 {
			size := uint64(1) << (33 - bits)
			if cur%size != 0 || cur+size-1 > hi {
				break
			}
			bits--
		}
		a := netip.AddrFrom4([4]byte{byte(cur >> 24), byte(cur >> 16), byte(cur >> 8), byte(cur)})
		out = append(out, netip.PrefixFrom(a, bits))
		cur += uint64(1) << (32 - bits)
	}
	return out
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
