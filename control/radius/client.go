package radius

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"layeh.com/radius"
)

// Options are a Client's settings beyond its server list.
type Options struct {
	// NASIdentifier (RFC 2865 §5.32) and NASAddress (NAS-IP-Address or,
	// for IPv6, NAS-IPv6-Address, RFC 3162 §2.1) name this NAS in every
	// request. RFC 2865 asks for at least one of them.
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
	servers []*server
	opts    Options
	log     *zap.Logger
	stats   Stats

	closeOnce   sync.Once
	unknownSeen sync.Map // attributes noteUnknown has logged
}

type server struct {
	Server
	auth, acct *endpoint
}

// ErrNoServer is returned when no server answered a request.
var ErrNoServer = errors.New("radius: no server answered")

// NewClient validates servers and returns a client for them. Sockets are
// opened on first use.
func NewClient(servers []Server, opts Options) (*Client, error) {
	if len(servers) == 0 {
		return nil, errors.New("radius: no servers")
	}
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
	for i, s := range servers {
		if !s.Address.IsValid() {
			return nil, fmt.Errorf("radius: server %d: no address", i)
		}
		if s.Secret == "" {
			return nil, fmt.Errorf("radius: server %s: empty secret", s.Address)
		}
		a := s.Address.Unmap()
		s.Address = a
		sv := &server{Server: s}
		sv.auth = newEndpoint(netip.AddrPortFrom(a, s.authPort()), s.SrcAddress, opts.MaxSockets, &c.stats, c.log)
		sv.acct = newEndpoint(netip.AddrPortFrom(a, s.acctPort()), s.SrcAddress, opts.MaxSockets, &c.stats, c.log)
		c.servers = append(c.servers, sv)
	}
	return c, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() *Stats { return &c.stats }

// Close closes every socket. Requests under way fail.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		for _, s := range c.servers {
			s.auth.close()
			s.acct.close()
		}
	})
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
	var up []*server
	for _, s := range c.servers {
		if !s.endpoint(acct).isDown(now) {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		return c.servers
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
		secret := []byte(s.Secret)
		requireMA := !acct && !s.AcceptUnsigned
		b, err := ep.roundTrip(ctx, func(id uint8) ([]byte, error) {
			p.Identifier = id
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
