// Package client is the control plane of the PPPoE client, RouterOS's
// "/interface pppoe-client": discovery as a host (RFC 2516 §5), the PPP link
// as the peer (LCP, authentication, IPCP: control/ppp/link), and, once IPCP
// is up, the session handed to the BPF data path behind a netdev named after
// the client, with its address, default route and peer DNS. It keeps the
// link alive with LCP echoes, reconnects with backoff, dials on demand, and
// reports each step through Monitor. Scan is the RouterOS scanner.
//
// No packet of the data path passes through here: the data plane (maps/)
// moves them between the netdev and the Ethernet interface. This package
// reaches it, netlink and the sockets only through the small interfaces of
// Deps, so that its tests need no kernel.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("invalid pppoe-client config")

// DemandNetwork is where dial-on-demand takes the placeholder addresses of
// a client that is not connected, as RouterOS does: a route through the
// client with a gateway in 10.112.112.0/24 catches outbound traffic.
var DemandNetwork = netip.MustParsePrefix("10.112.112.0/24")

// Client is one /interface pppoe-client. Run brings it up and keeps it up;
// Monitor may be called from any goroutine.
type Client struct {
	cfg     config.Client
	deps    Deps
	timing  Timing
	log     *zap.Logger
	methods []auth.Method
	slot    int                  // dial-on-demand address pair, see demandAddress
	limit   ratelimit.Limit      // its profile's rate-limit (Manager.ApplyConfig)
	retry   chan struct{}        // Retry: an interface appeared
	dhcp    *config.DHCPv6Client // the /ipv6 dhcp-client on this client, nil none
	// interfaceID draws IPv6CP Interface-Identifiers; nil is
	// crypto/rand (tests pin it).
	interfaceID func() ipv6cp.InterfaceID
	// resuming holds the client until the previous run's sessions were
	// offered and has the one offered to it (adopt.go); nil: nothing to
	// wait for. digest names its configuration in its records.
	resuming *resumption
	digest   string

	mu          sync.Mutex
	st          Status
	dhcpSt      DHCPv6Status // /ipv6 dhcp-client print's row while IPv6 is up
	connectedAt time.Time
	trace       func(Status) // tests: sees every status change, under mu
}

// New validates cfg and returns a Client for it. log may be nil.
func New(cfg config.Client, deps Deps, log *zap.Logger) (*Client, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("client: %w: no name", ErrConfig)
	}
	if cfg.Interface == "" {
		return nil, fmt.Errorf("client %s: %w: no interface", cfg.Name, ErrConfig)
	}
	if deps.Interfaces == nil || deps.DataPlane == nil || deps.Routes == nil {
		return nil, fmt.Errorf("client %s: %w: Interfaces, DataPlane and Routes are required", cfg.Name, ErrConfig)
	}
	var methods []auth.Method
	for _, s := range cfg.Allow {
		m, err := auth.ParseMethod(s)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w: allow: %w", cfg.Name, ErrConfig, err)
		}
		methods = append(methods, m)
	}
	if len(cfg.Allow) > 0 && len(methods) == 0 {
		return nil, fmt.Errorf("client %s: %w: allow is empty", cfg.Name, ErrConfig)
	}
	if cfg.DefaultRouteDistance < 0 || cfg.DefaultRouteDistance > 255 {
		return nil, fmt.Errorf("client %s: %w: default-route-distance %d not in 0..255", cfg.Name, ErrConfig, cfg.DefaultRouteDistance)
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		cfg:     cfg,
		deps:    deps,
		timing:  deps.Timing.withDefaults(),
		log:     log.With(zap.String("client", cfg.Name), zap.String("iface", cfg.Interface)),
		methods: methods,
		retry:   make(chan struct{}, 1),
	}
	c.st = Status{Name: cfg.Name, Status: StateDisconnected}
	return c, nil
}

// SetDHCPv6 gives the client its /ipv6 dhcp-client (interface= its name),
// run on every session once IPv6CP opens. Call it before Run.
func (c *Client) SetDHCPv6(d config.DHCPv6Client) {
	if d.Interface != c.cfg.Name {
		return
	}
	c.dhcp = &d
}

// Name returns the client's name (RouterOS name, the netdev's name).
func (c *Client) Name() string { return c.cfg.Name }

// Config returns the client's configuration.
func (c *Client) Config() config.Client { return c.cfg }

// Monitor returns the client's status now: "/interface pppoe-client
// monitor".
func (c *Client) Monitor() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.ACMAC = slices.Clone(s.ACMAC)
	s.DNSServers = slices.Clone(s.DNSServers)
	s.IPv6DNS = slices.Clone(s.IPv6DNS)
	if s.Status == StateConnected {
		s.Uptime = time.Since(c.connectedAt)
	}
	return s
}

func (c *Client) update(f func(s *Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.st)
	if c.trace != nil {
		c.trace(c.st)
	}
}

func (c *Client) setState(st State) { c.update(func(s *Status) { s.Status = st }) }

// maxMTU and maxMRU are max-mtu and max-mru with auto (0) resolved to the
// RouterOS client default.
func (c *Client) maxMTU() int { return orDefault(int(c.cfg.MaxMTU), link.DefaultMaxMRUPeer) }
func (c *Client) maxMRU() int { return orDefault(int(c.cfg.MaxMRU), link.DefaultMaxMRUPeer) }

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// Run brings the client up and keeps it up until ctx ends: create the
// netdev, attach to the interface (waiting for it while it does not
// exist), then dial (waiting for traffic first with dial-on-demand), run
// the session, and redial with backoff when it ends. When the interface
// goes, the session ends with it and the client waits for the interface to
// come back (Retry says when), then dials again. When ctx ends the session
// is terminated (LCP Terminate-Request, PADT), the data plane, addresses,
// routes and DNS servers are removed and the netdev is deleted. Run
// returns nil then, or an error if the netdev could not be made. Under a
// Manager that resumes (Manager.Resume), Run first waits until the
// previous run's sessions were offered, and runs the one offered to this
// client, taken over as it is, before it ever dials (adopt.go).
func (c *Client) Run(ctx context.Context) error {
	if !c.awaitReconcile(ctx) {
		c.setFailed("administratively disabled")
		return nil
	}
	// The session a previous run left, taken over as it is (adopt.go).
	nd, att, adopted := c.resume(ctx)
	if nd == nil {
		var err error
		if nd, err = c.deps.DataPlane.Netdev(c.cfg.Name, c.maxMTU()); err != nil {
			c.setFailed(err.Error())
			return fmt.Errorf("client %s: netdev: %w", c.cfg.Name, err)
		}
	}
	defer func() {
		if err := nd.Close(); err != nil {
			c.log.Warn("deleting netdev", zap.Error(err))
		}
	}()
	defer func() {
		if att != nil {
			att.Conn.Close()
		}
	}()

	backoff := c.timing.ReconnectMin
	waiting := false // for the interface: logged once
	for {
		if att == nil {
			a, err := c.deps.Interfaces.Attach(c.cfg.Interface)
			if err != nil {
				reason := fmt.Sprintf("interface %s: %v", c.cfg.Interface, err)
				c.setFailed(reason)
				if !waiting {
					c.log.Warn("interface not available: waiting for it", zap.Error(err))
					waiting = true
				}
				if !c.sleep(ctx, backoff, c.retry) {
					c.setFailed("administratively disabled")
					return nil
				}
				backoff = min(2*backoff, c.timing.ReconnectMax)
				continue
			}
			if waiting {
				c.log.Info("interface available", zap.Int("ifindex", a.Ifindex))
				waiting, backoff = false, c.timing.ReconnectMin
			}
			att = &a
		}
		var connected bool
		var reason string
		switch {
		case adopted != nil:
			connected, reason = adopted()
			adopted = nil
		case c.cfg.DialOnDemand && !c.waitDemand(ctx, nd):
			return nil
		default:
			connected, reason = c.attempt(ctx, *att, nd)
		}
		if ctx.Err() != nil {
			c.setFailed("administratively disabled")
			return nil
		}
		c.setFailed(reason)
		if lost(att) {
			c.log.Warn("interface gone: waiting for it to come back", zap.Int("ifindex", att.Ifindex),
				zap.String("reason", reason))
			att.Conn.Close()
			att, waiting, backoff = nil, true, c.timing.ReconnectMin
			continue
		}
		if connected {
			backoff = c.timing.ReconnectMin
		}
		c.log.Debug("redialing after backoff", zap.Duration("backoff", backoff), zap.String("reason", reason))
		if !c.sleep(ctx, backoff, att.Lost) {
			c.setFailed("administratively disabled")
			return nil
		}
		if !connected {
			backoff = min(2*backoff, c.timing.ReconnectMax)
		}
	}
}

// lost tells whether an attachment stopped working for good.
func lost(a *Attachment) bool {
	select {
	case <-a.Lost:
		return true
	default:
		return false
	}
}

// sleep waits d, or less if wake is signalled; it reports false if ctx
// ended first.
func (c *Client) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// Retry tells a client waiting for its interface to try now (an interface
// appeared); a client that has its interface ignores it.
func (c *Client) Retry() {
	select {
	case c.retry <- struct{}{}:
	default:
	}
}

// setFailed reports the client disconnected for reason, keeping the
// discovery fields of the last session for the log reader but clearing
// what only a live session has.
func (c *Client) setFailed(reason string) {
	c.update(func(s *Status) {
		*s = Status{Name: s.Name, Status: StateDisconnected, LastDisconnect: reason}
	})
}

// attempt runs one discovery and, if it succeeds, one session. It reports
// whether the client got connected and why the attempt ended.
func (c *Client) attempt(ctx context.Context, att Attachment, nd Netdev) (bool, string) {
	c.update(func(s *Status) {
		*s = Status{Name: s.Name, Status: StateDialing, LastDisconnect: s.LastDisconnect}
	})
	dctx, cancel := context.WithTimeout(ctx, c.timing.DiscoveryLimit)
	ps, err := pppoe.Discover(dctx, att.Conn, pppoe.ClientConfig{
		MAC:         att.MAC,
		VLANs:       att.VLANs,
		ACName:      c.cfg.ACName,
		ServiceName: c.cfg.ServiceName,
		MaxPayload:  uint16(min(c.maxMTU(), c.maxMRU())),
		Timeout:     c.timing.DiscoveryTimeout,
		MaxTimeout:  c.timing.DiscoveryMaxTimeout,
		Log:         c.log,
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, "administratively disabled"
		}
		var pe *pppoe.PADSError
		switch {
		case errors.As(err, &pe):
			return false, "AC refused the session: " + pe.Error()
		case errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Sprintf("no answer from an AC within %s", c.timing.DiscoveryLimit)
		}
		return false, "discovery: " + err.Error()
	}
	c.update(func(s *Status) {
		s.ACMAC = slices.Clone(ps.ACMAC)
		s.ACName = ps.ACName
		s.ServiceName = ps.ServiceName
		s.SessionID = ps.SessionID
	})
	c.log.Debug("discovery done", zap.Stringer("ac_mac", ps.ACMAC), zap.String("ac_name", ps.ACName),
		zap.Uint16("session_id", ps.SessionID))
	return c.runSession(ctx, att, nd, ps)
}

// demandAddress returns the placeholder local address and gateway of
// dial-on-demand: slot k gets 10.112.112.(2k+2) and its gateway .(2k+1),
// so clients of one Manager never share a pair.
func (c *Client) demandAddress() (local, gw netip.Addr) {
	k := c.slot % 127
	b := DemandNetwork.Addr().As4()
	b[3] = byte(2*k + 1)
	gw = netip.AddrFrom4(b)
	b[3]++
	return netip.AddrFrom4(b), gw
}

// waitDemand puts the dial-on-demand address and routes on the netdev and
// waits for the first packet into it. It reports false if ctx ended first.
func (c *Client) waitDemand(ctx context.Context, nd Netdev) bool {
	demand := nd.Demand()
	if demand == nil {
		return ctx.Err() == nil
	}
	local, gw := c.demandAddress()
	addr := Address{Ifindex: nd.Ifindex(), Local: local, Peer: gw}
	var routes []Route
	if c.cfg.AddDefaultRoute {
		routes = append(routes, Route{Ifindex: nd.Ifindex(), Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0),
			Gateway: gw, Metric: c.cfg.DefaultRouteDistance})
	}
	if err := c.addNet(addr, routes); err != nil {
		c.log.Warn("dial-on-demand routes", zap.Error(err))
	}
	defer func() {
		if err := c.delNet(addr, routes); err != nil {
			c.log.Warn("removing dial-on-demand routes", zap.Error(err))
		}
	}()
	c.log.Debug("waiting for traffic to dial", zap.Stringer("gateway", gw))
	select {
	case <-ctx.Done():
		return false
	case <-demand:
		c.log.Debug("traffic on the netdev: dialing")
		return true
	}
}

// addNet adds an address and routes through the netdev; on failure it
// removes what it added.
func (c *Client) addNet(addr Address, routes []Route) error {
	if err := c.deps.Routes.AddAddress(addr); err != nil {
		return fmt.Errorf("address %s peer %s: %w", addr.Local, addr.Peer, err)
	}
	for i, r := range routes {
		if err := c.deps.Routes.AddRoute(r); err != nil {
			for _, r := range slices.Backward(routes[:i]) {
				c.deps.Routes.DelRoute(r)
			}
			c.deps.Routes.DelAddress(addr)
			return fmt.Errorf("route %s metric %d: %w", r.Dst, r.Metric, err)
		}
	}
	return nil
}

// delNet removes what addNet added, routes first.
func (c *Client) delNet(addr Address, routes []Route) error {
	var errs []error
	for _, r := range slices.Backward(routes) {
		if err := c.deps.Routes.DelRoute(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s metric %d: %w", r.Dst, r.Metric, err))
		}
	}
	if err := c.deps.Routes.DelAddress(addr); err != nil {
		errs = append(errs, fmt.Errorf("address %s: %w", addr.Local, err))
	}
	return errors.Join(errs...)
}
