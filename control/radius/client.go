package radius

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"layeh.com/radius"
)

// Options are a Client's settings beyond its server list.
type Options struct {
	// NASIdentifier (RFC 2865 §5.32) and NASAddress (NAS-IP-Address or,
	// for IPv6, NAS-IPv6-Address, RFC 3162 §2.1) name this NAS in every
	// request. RFC 2865 asks for at least one of them. Without
	// NASAddress, the address a request leaves from is sent.
	NASIdentifier string
	NASAddress    netip.Addr
	// Tries is how many times a request is sent to one server before the
	// next is tried (default 3: two retransmissions).
	Tries int
	// HoldDown is how long a server that let a request go unanswered is
	// skipped (default 30s). See Client.
	HoldDown time.Duration
	// MaxSockets bounds the sockets per server port (default 16, so up to
	// 4,096 requests outstanding per server port).
	MaxSockets int
	Logger     *zap.Logger
}

// Client sends requests to an ordered list of RADIUS servers.
//
// Failover and hold-down: a request goes to the first server that is up,
// Tries times, each time waiting the server's Timeout; without a valid
// answer it goes on to the next server that is up, and so on down the
// list. A server that let a whole request go unanswered is down for
// HoldDown and skipped meanwhile; any valid answer from it brings it back
// at once. When every server is down, requests are sent to all of them in
// order anyway, so that a total outage ends with the first answer rather
// than a hold-down later. The context's deadline bounds the whole
// request.
//
// A Client is safe for concurrent use.
type Client struct {
	servers atomic.Pointer[[]*server] // replaced whole by SetServers
	opts    Options
	log     *zap.Logger
	stats   Stats

	nasID       atomic.Pointer[string] // NAS-Identifier; SetNASIdentifier
	setMu       sync.Mutex             // serializes SetServers and Close
	closed      bool
	unknownSeen sync.Map // attributes noteUnknown has logged
}

type server struct {
	Server
	secret     []byte // Secret, converted once rather than per packet
	auth, acct *endpoint
}

// ErrNoServer is returned when no server answered a request.
var ErrNoServer = errors.New("radius: no server answered")

// NewClient validates servers and returns a client for them. Sockets are
// opened on first use.
func NewClient(servers []Server, opts Options) (*Client, error) {
	if opts.Tries <= 0 {
		opts.Tries = 3
	}
	if opts.HoldDown <= 0 {
		opts.HoldDown = 30 * time.Second
	}
	if opts.MaxSockets <= 0 {
		opts.MaxSockets = 16
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	c := &Client{opts: opts, log: opts.Logger}
	c.SetNASIdentifier(opts.NASIdentifier)
	if err := c.SetServers(servers); err != nil {
		return nil, err
	}
	return c, nil
}

// SetServers replaces the server list (a /radius change), validating it
// first: on error nothing changes. A server that stays (same address,
// ports, secret, source address) keeps its sockets, requests in flight
// and hold-down; the sockets of one that goes are closed, failing its
// requests in flight, which go on to the next server or are retried (the
// accounting queue keeps its records).
func (c *Client) SetServers(servers []Server) error {
	if len(servers) == 0 {
		return errors.New("radius: no servers")
	}
	for i, s := range servers {
		if !s.Address.IsValid() {
			return fmt.Errorf("radius: server %d: no address", i)
		}
		if s.Secret == "" {
			return fmt.Errorf("radius: server %s: empty secret", s.Address)
		}
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	var old []*server
	if p := c.servers.Load(); p != nil {
		old = *p
	}
	kept := map[*server]bool{}
	list := make([]*server, 0, len(servers))
	for _, s := range servers {
		s.Address = s.Address.Unmap()
		var sv *server
		for _, o := range old {
			if !kept[o] && o.sameSockets(s) {
				sv = o
				break
			}
		}
		if sv != nil {
			kept[sv] = true
			// Settings that do not touch the sockets follow the new entry.
			sv = &server{Server: s, secret: []byte(s.Secret), auth: sv.auth, acct: sv.acct}
		} else {
			sv = &server{Server: s, secret: []byte(s.Secret)}
			sv.auth = newEndpoint(netip.AddrPortFrom(s.Address, s.authPort()), s.SrcAddress, c.opts.MaxSockets, &c.stats, c.log)
			sv.acct = newEndpoint(netip.AddrPortFrom(s.Address, s.acctPort()), s.SrcAddress, c.opts.MaxSockets, &c.stats, c.log)
		}
		list = append(list, sv)
	}
	c.servers.Store(&list)
	for _, o := range old {
		if !kept[o] {
			o.auth.close()
			o.acct.close()
		}
	}
	return nil
}

// SetNASIdentifier changes the NAS-Identifier of requests built from
// now on (/system identity set name=...).
func (c *Client) SetNASIdentifier(id string) { c.nasID.Store(&id) }

// sameSockets reports whether s can use o's sockets: the same address,
// ports, source address and secret (a request in flight was signed with
// the old secret).
func (o *server) sameSockets(s Server) bool {
	return o.Address == s.Address && o.authPort() == s.authPort() && o.acctPort() == s.acctPort() &&
		o.SrcAddress == s.SrcAddress && o.Secret == s.Secret
}

// list is the current server list.
func (c *Client) list() []*server { return *c.servers.Load() }

// Stats returns the client's counters.
func (c *Client) Stats() *Stats { return &c.stats }

// Close closes every socket. Requests under way fail.
func (c *Client) Close() error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, s := range c.list() {
		s.auth.close()
		s.acct.close()
	}
	return nil
}

func (s *server) endpoint(acct bool) *endpoint {
	if acct {
		return s.acct
	}
	return s.auth
}

// order returns the servers to try for a port: those up, in order, or all
// of them when none is. Authentication and accounting ports are held down
// apart: a server may serve one and not the other.
func (c *Client) order(acct bool, now time.Time) []*server {
	all := c.list()
	var up []*server
	for _, s := range all {
		if !s.endpoint(acct).isDown(now) {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		return all
	}
	return up
}

// exchange sends the packet build makes for each server in turn (acct
// picks the accounting port) and returns the first verified answer and the
// server that gave it.
func (c *Client) exchange(ctx context.Context, acct bool, build func(s *server) *radius.Packet) (*radius.Packet, *server, error) {
	var last error
	for i, s := range c.order(acct, time.Now()) {
		if i > 0 {
			c.stats.Failovers.Add(1)
		}
		ep := s.endpoint(acct)
		p := build(s)
		secret := s.secret
		requireMA := !acct && !s.AcceptUnsigned
		b, err := ep.roundTrip(ctx, func(id uint8, local netip.Addr) ([]byte, error) {
			p.Identifier = id
			if !c.opts.NASAddress.IsValid() {
				addSourceNAS(p, local)
			}
			return encodeRequest(p)
		}, secret, requireMA, c.opts.Tries, s.timeout())
		if err == nil {
			if ep.markUp() {
				c.log.Info("radius server answers again", zap.Stringer("server", ep.remote))
			}
			resp, err := radius.Parse(b, secret)
			if err != nil { // verified but unparsable: a server bug, not a forgery
				return nil, s, fmt.Errorf("radius: answer from %s: %w", ep.remote, err)
			}
			return resp, s, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("radius: %v to %s: %w", p.Code, ep.remote, ctx.Err())
		}
		last = fmt.Errorf("%s: %w", ep.remote, err)
		if errors.Is(err, errTimeout) {
			if !ep.markDown(time.Now().Add(c.opts.HoldDown)) {
				c.log.Warn("radius server does not answer; held down", zap.Stringer("server", ep.remote), zap.Duration("hold_down", c.opts.HoldDown))
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrNoServer, last)
}
