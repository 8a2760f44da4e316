package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
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
	// SyncPPPoE0 makes pppoe0 carry exactly addrs (each as a /32) and
	// routes, of those this AccessSystem added: nil, nil removes them all.
	SyncPPPoE0(addrs []netip.Addr, routes []netip.Prefix) error
}

// AccessConcentrator adapts control/server to Servers. The server itself is
// started by the first Apply (control/server needs a configuration to
// start); physical interfaces are opened over AF_PACKET and get the data
// plane attached as the server opens them.
type AccessConcentrator struct {
	opts server.Options
	sys  AccessSystem

	mu  sync.Mutex
	srv *server.Server
}

// NewAccessConcentrator returns the Servers of the access concentrator
// built from opts (opts.Open, if nil, opens AF_PACKET sockets) with sys
// for the host side. Nothing runs before Apply.
func NewAccessConcentrator(opts server.Options, sys AccessSystem) *AccessConcentrator {
	a := &AccessConcentrator{opts: opts, sys: sys}
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

// Apply implements Servers: pppoe0's addresses and routes follow cfg first,
// so that a session coming up finds its routes.
func (a *AccessConcentrator) Apply(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	addrs, routes := PPPoE0Layout(cfg)
	if err := a.sys.SyncPPPoE0(addrs, routes); err != nil {
		return fmt.Errorf("pppoe0: %w", err)
	}
	if a.srv == nil {
		srv, err := server.New(cfg, a.opts)
		if err != nil {
			return err
		}
		a.srv = srv
		return nil
	}
	return a.srv.Apply(cfg)
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
			ID:         strconv.Itoa(int(s.SessionID)),
			Name:       s.Name,
			Service:    s.Service,
			CallerID:   s.CallerID,
			Encoding:   s.Encoding,
			Address:    s.Address,
			Uptime:     s.Uptime,
			SessionID:  s.SessionID,
			State:      s.State.String(),
			PacketsIn:  s.Stats.PacketsUp,
			BytesIn:    s.Stats.BytesUp,
			PacketsOut: s.Stats.PacketsDown,
			BytesOut:   s.Stats.BytesDown,
		})
	}
	return out
}

// Remove implements Servers: it ends the sessions with the PPPoE session
// id in id (RFC 2516 §4), with a PADT, and waits for their cleanup.
func (a *AccessConcentrator) Remove(id string) error {
	srv := a.server()
	if srv == nil {
		return errors.New("no such session")
	}
	n, err := strconv.ParseUint(id, 10, 16)
	if err != nil {
		return fmt.Errorf("session %q: %w", id, err)
	}
	if srv.Remove(uint16(n)) == 0 {
		return fmt.Errorf("session %d: no such session", n)
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
		AuthFailures: make(map[string]uint64, len(c.AuthFailures))}
	for m, n := range c.AuthFailures {
		out.AuthFailures[m.String()] += n
	}
	return out
}

// Close implements Servers: every session ends (PADT, data-plane entry
// removed, address returned), then pppoe0 loses the addresses and routes
// the server gave it.
func (a *AccessConcentrator) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.srv != nil {
		errs = append(errs, a.srv.Close())
		a.srv = nil
	}
	if err := a.sys.SyncPPPoE0(nil, nil); err != nil {
		errs = append(errs, fmt.Errorf("pppoe0: %w", err))
	}
	return errors.Join(errs...)
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
	enabled := false
	for _, s := range cfg.Servers.All() {
		enabled = enabled || !s.Disabled
	}
	if !enabled {
		return nil, nil
	}
	seenAddr := map[netip.Addr]bool{}
	seenRoute := map[netip.Prefix]bool{}
	addAddr := func(a netip.Addr) {
		if a.Is4() && !seenAddr[a] {
			seenAddr[a] = true
			addrs = append(addrs, a)
		}
	}
	addRoute := func(p netip.Prefix) {
		if !seenRoute[p] {
			seenRoute[p] = true
			routes = append(routes, p)
		}
	}
	addPool := func(name string) {
		for seen := map[string]bool{}; name != "" && !seen[name]; {
			seen[name] = true
			p, ok := cfg.Pools.Get(name)
			if !ok {
				return
			}
			for _, r := range p.Ranges {
				for _, pfx := range RangePrefixes(r.First, r.Last) {
					addRoute(pfx)
				}
			}
			name = p.NextPool
		}
	}
	for _, p := range cfg.Profiles.All() {
		if a, err := netip.ParseAddr(p.LocalAddress); err == nil {
			addAddr(a)
		}
		if a, err := netip.ParseAddr(p.RemoteAddress); err == nil {
			if a.Is4() {
				addRoute(netip.PrefixFrom(a, 32))
			}
		} else {
			addPool(p.RemoteAddress)
		}
	}
	for _, s := range cfg.Secrets.All() {
		if s.Disabled {
			continue
		}
		addAddr(s.LocalAddress)
		if s.RemoteAddress.Is4() {
			addRoute(netip.PrefixFrom(s.RemoteAddress, 32))
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	slices.SortFunc(routes, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return addrs, routes
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
