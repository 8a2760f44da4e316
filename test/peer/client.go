package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// ErrEnded is returned by WaitUp and the data path once the client has
// ended (PADT, Close, Silence).
var ErrEnded = errors.New("peer: session ended")

// Config is one emulated subscriber.
type Config struct {
	// MAC is the client's address; VLANs its tags, outermost first.
	MAC   net.HardwareAddr
	VLANs []ethernet.VLAN
	// ServiceName and ACName select the offer (RFC 2516 §5.2); "" is any.
	ServiceName, ACName string
	// User and Password are the credentials (RouterOS /ppp secret).
	User, Password string
	// Methods are the authentication methods accepted; nil is all four.
	Methods []auth.Method
	// MaxPayload is the PPP-Max-Payload asked in discovery (RFC 4638 §4),
	// 0 for none.
	MaxPayload uint16
	// MRU is the largest MRU the link asks for and MTU accepted (RFC 1661
	// §6.1); 0 is link's Peer default.
	MRU uint16
	// Timeout and MaxTimeout are the discovery retransmission timers;
	// Restart the PPP restart timer (RFC 1661 §4.6). 0 is each default.
	Timeout, MaxTimeout, Restart time.Duration
	// PADRAttempts is pppoe.ClientConfig.PADRAttempts.
	PADRAttempts int
	// OnUp, if set, returns IPv4 packets the client sends the instant its
	// IPCP opens, right after the frame that opened it and before it reads
	// anything else: a subscriber whose first packets leave at once.
	OnUp func(info link.Info) [][]byte
	// Keepalive is the client's keepalive-timeout (RouterOS's rule, as
	// the server's in control/session): once IPCP is up, after this long
	// without a frame from the AC it sends LCP Echo-Requests, after
	// twice this long it declares the AC gone and stops (LinkDown
	// "keepalive-timeout"), as a subscriber whose AC died does before it
	// rediscovers. Before IPCP is up the restart timers decide, as in a
	// CPE. 0: none.
	Keepalive time.Duration
	// PADTOnAuthFailure makes the client hang up with a PADT the moment
	// the AC refuses its credentials, before any LCP Terminate exchange,
	// as some clients do.
	PADTOnAuthFailure bool
	// IPv6 runs IPv6CP (RFC 5072) beside IPCP.
	IPv6 bool
	// NoIPv4 makes the client run no IPv4, as pppd's noip: the AC's IPCP
	// packets get an LCP Protocol-Reject (RFC 1661 §5.7) and its own
	// IPCP never leaves it. With IPv6, an IPv6-only subscriber.
	NoIPv4 bool
	// SilentAt makes the client go silent (Silence) the moment its link
	// enters this phase, once it has sent what took it there: a
	// subscriber stopped half-way. PhaseEstablish is right after its
	// first LCP Configure-Request, PhaseAuthenticate once LCP opened
	// (with CHAP, before it answers the challenge). PhaseDead: never.
	SilentAt link.Phase
}

// Client is one emulated subscriber: discovery done, its PPP link running
// in a goroutine of its own.
type Client struct {
	cfg  Config
	port *Port
	sess pppoe.Session
	link *link.Link
	cmds chan func()

	// deadline, silent, heard and probing belong to the loop; heard is
	// when the last frame came from the AC, probing whether the
	// keepalive runs (from IPCP Opened on).
	deadline time.Time
	silent   bool
	heard    time.Time
	probing  bool

	up    chan struct{} // closed at the first NetworkUp (IPCP or IPv6CP)
	done  chan struct{} // closed when the loop ends
	data  chan []byte   // decapsulated IPv4 packets
	data6 chan []byte   // decapsulated IPv6 packets

	// ipv4Gone belongs to the loop: IPCP was terminated (TerminateIPCP),
	// its packets are dropped both ways from then on.
	ipv4Gone bool
	rejectID uint8

	mu         sync.Mutex
	info       link.Info
	padt       bool   // the AC sent PADT
	linkDown   string // the link's Down reason, "" while it lives
	authFailed bool
	echoes     int // LCP Echo-Requests answered (keepalive probes)
}

// Dial runs discovery for cfg through a new Port of m and starts the PPP
// link. It returns once the PADS has arrived; WaitUp waits for IPCP.
func Dial(ctx context.Context, m *Mux, cfg Config) (*Client, error) {
	port := m.Port(cfg.MAC)
	s, err := pppoe.Discover(ctx, port, pppoe.ClientConfig{
		MAC:          cfg.MAC,
		VLANs:        cfg.VLANs,
		ACName:       cfg.ACName,
		ServiceName:  cfg.ServiceName,
		MaxPayload:   cfg.MaxPayload,
		Timeout:      cfg.Timeout,
		MaxTimeout:   cfg.MaxTimeout,
		PADRAttempts: cfg.PADRAttempts,
	})
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("peer %v: discovery: %w", cfg.MAC, err)
	}
	l, err := link.New(link.Config{
		Role:       link.Peer,
		User:       cfg.User,
		Password:   cfg.Password,
		Methods:    cfg.Methods,
		MaxMRU:     cfg.MRU,
		MaxMTU:     cfg.MRU,
		MaxPayload: s.MaxPayload,
		Restart:    cfg.Restart,
		IPv6:       func() bool { return cfg.IPv6 },
	})
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("peer %v: %w", cfg.MAC, err)
	}
	c := &Client{
		cfg: cfg, port: port, sess: s, link: l,
		cmds: make(chan func()),
		up:   make(chan struct{}), done: make(chan struct{}),
		data: make(chan []byte, 64), data6: make(chan []byte, 64),
	}
	go c.run()
	return c, nil
}

// Session is what discovery established.
func (c *Client) Session() pppoe.Session { return c.sess }

// WaitUp waits for the first network protocol Opened, IPCP (RFC 1332) or
// IPv6CP (RFC 5072), and returns what the link negotiated then.
func (c *Client) WaitUp(ctx context.Context) (link.Info, error) {
	select {
	case <-c.up:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.info, nil
	case <-c.done:
		return link.Info{}, fmt.Errorf("peer %v: %s: %w", c.cfg.MAC, c.why(), ErrEnded)
	case <-ctx.Done():
		return link.Info{}, fmt.Errorf("peer %v: waiting for IPCP (%s): %w", c.cfg.MAC, c.why(), ctx.Err())
	}
}

// why says what became of the link, for errors.
func (c *Client) why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.authFailed:
		return "authentication failed"
	case c.linkDown != "":
		return "link down: " + c.linkDown
	case c.padt:
		return "PADT from the AC"
	}
	return "phase " + c.link.Phase().String()
}

// Done is closed when the client has stopped: PADT from the AC, SendPADT,
// Silence followed by PADT, Close, or the Keepalive giving up on the AC.
func (c *Client) Done() <-chan struct{} { return c.done }

// GotPADT reports whether the AC ended the session with PADT (RFC 2516
// §5.5).
func (c *Client) GotPADT() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.padt
}

// LinkDown returns the reason the PPP link went down, "" if it has not.
func (c *Client) LinkDown() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.linkDown
}

// AuthFailed reports whether the AC refused the credentials.
func (c *Client) AuthFailed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authFailed
}

// Echoes is the number of LCP Echo-Requests the client has answered.
func (c *Client) Echoes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.echoes
}

// do runs f in the client's loop; false if the loop has ended.
func (c *Client) do(f func()) bool {
	ran := make(chan struct{})
	select {
	case c.cmds <- func() { f(); close(ran) }:
		<-ran
		return true
	case <-c.done:
		return false
	}
}

// Terminate closes the PPP link with an LCP Terminate-Request (RFC 1661
// §5.5); the AC acks and ends the session with PADT.
func (c *Client) Terminate() {
	c.do(func() { c.act(c.link.Close("user request", time.Now())) })
}

// SendPADT ends the session from the client side (RFC 2516 §5.5) and stops
// the client.
func (c *Client) SendPADT() error {
	var err error
	if !c.do(func() {
		var b []byte
		if b, err = c.sess.PADT("bye"); err == nil {
			err = c.port.WriteFrame(b)
		}
		c.port.Close()
	}) {
		return ErrEnded
	}
	<-c.done
	return err
}

// Silence makes the client a dead host: from now on it sends nothing and
// answers nothing, but still notices the AC's PADT (which ends it).
func (c *Client) Silence() {
	c.do(func() { c.silent = true })
}

// Resume undoes Silence: the client sends and answers again, its timers
// going on where they stood (one that expired meanwhile fires at once).
func (c *Client) Resume() {
	c.do(func() { c.silent = false })
}

// Phase returns the phase of the client's link (RFC 1661 §3.2).
func (c *Client) Phase() link.Phase {
	p := link.PhaseDead
	c.do(func() { p = c.link.Phase() })
	return p
}

// Close stops the client without sending anything.
func (c *Client) Close() {
	c.port.Close()
	<-c.done
}

// SendIPv4 sends one IPv4 packet to the AC inside a PPPoE session frame
// (RFC 2516 §6, PPP protocol 0x0021, RFC 1332 §2).
func (c *Client) SendIPv4(pkt []byte) error {
	f := ppp.Frame{Protocol: ppp.ProtocolIPv4, Information: pkt}
	return c.send(f)
}

// SendIPv6 sends one IPv6 packet to the AC inside a PPPoE session frame
// (PPP protocol 0x0057, RFC 5072 §3).
func (c *Client) SendIPv6(pkt []byte) error {
	return c.send(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: pkt})
}

// SendPPP sends one PPP frame of any protocol down the session as it is,
// outside the client's link: a control packet its link would not send
// (an NCP it gave up, after the AC's restart).
func (c *Client) SendPPP(f ppp.Frame) error { return c.send(f) }

// RecvIPv6 returns the next IPv6 packet the AC sent down the session
// (Router Advertisements included).
func (c *Client) RecvIPv6(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.data6:
		return b, nil
	case <-c.done:
		return nil, ErrEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TerminateIPCP closes IPCP alone with a Terminate-Request (RFC 1661
// §5.5), as a dual-stack subscriber giving up IPv4 does; the link and
// IPv6CP go on. From then on the client's IPCP is silent and the AC's
// IPCP packets (its Terminate-Ack) are dropped.
func (c *Client) TerminateIPCP() error {
	var err error
	if !c.do(func() {
		c.ipv4Gone = true
		c.rejectID++
		p := ppp.Packet{Code: ppp.TerminateRequest, Identifier: c.rejectID}
		var b []byte
		if b, err = p.MarshalBinary(); err == nil {
			err = c.send(ppp.Frame{Protocol: ppp.ProtocolIPCP, Information: b})
		}
	}) {
		return ErrEnded
	}
	return err
}

// RecvIPv4 returns the next IPv4 packet the AC sent down the session.
func (c *Client) RecvIPv4(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.data:
		return b, nil
	case <-c.done:
		return nil, ErrEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) send(f ppp.Frame) error {
	payload, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := pppoe.MarshalFrame(c.sess.ACMAC, c.cfg.MAC, c.cfg.VLANs,
		&pppoe.Packet{Code: pppoe.CodeSession, SessionID: c.sess.SessionID, Payload: payload})
	if err != nil {
		return err
	}
	return c.port.WriteFrame(b)
}

// act carries out a link Output: frames out, events noted, the timer set.
// It reports true when the client hung up.
func (c *Client) act(out link.Output) bool {
	for _, f := range out.Send {
		if f.Protocol == ppp.ProtocolIPCP && (c.cfg.NoIPv4 || c.ipv4Gone) {
			continue
		}
		if f.Protocol == ppp.ProtocolLCP && len(f.Information) > 0 && f.Information[0] == byte(ppp.EchoReply) {
			c.mu.Lock()
			c.echoes++
			c.mu.Unlock()
		}
		c.send(f)
	}
	for _, ev := range out.Events {
		switch ev := ev.(type) {
		case link.NetworkUp:
			c.mu.Lock()
			c.info = ev.Info
			c.mu.Unlock()
			if c.cfg.OnUp != nil {
				for _, pkt := range c.cfg.OnUp(ev.Info) {
					c.SendIPv4(pkt)
				}
			}
			select {
			case <-c.up: // IPCP renegotiated (RFC 1661 §4.3: RCR in Opened)
			default:
				close(c.up)
			}
			c.probing, c.heard = true, time.Now()
		case link.PhaseChanged:
			if c.cfg.SilentAt != link.PhaseDead && ev.To == c.cfg.SilentAt {
				c.silent = true
			}
		case link.AuthFailed:
			c.mu.Lock()
			c.authFailed = true
			c.mu.Unlock()
			if c.cfg.PADTOnAuthFailure {
				if b, err := c.sess.PADT("authentication failed"); err == nil {
					c.port.WriteFrame(b)
				}
				return true
			}
		case link.Down:
			c.mu.Lock()
			c.linkDown = ev.Reason
			if c.linkDown == "" {
				c.linkDown = "down"
			}
			c.mu.Unlock()
		}
	}
	c.deadline = out.Deadline
	return false
}

func (c *Client) run() {
	defer close(c.done)
	if c.act(c.link.Up(time.Now())) {
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var probe <-chan time.Time
	c.heard = time.Now()
	if c.cfg.Keepalive > 0 {
		t := time.NewTicker(c.cfg.Keepalive / 4)
		defer t.Stop()
		probe = t.C
	}
	for {
		timer.Stop()
		var tick <-chan time.Time
		if !c.deadline.IsZero() && !c.silent {
			timer.Reset(time.Until(c.deadline))
			tick = timer.C
		}
		select {
		case <-c.port.closed:
			return
		case f := <-c.cmds:
			f()
		case <-tick:
			if c.act(c.link.Tick(time.Now())) {
				return
			}
		case now := <-probe:
			switch idle := now.Sub(c.heard); {
			case c.silent || !c.probing:
			case idle >= 2*c.cfg.Keepalive:
				c.mu.Lock()
				c.linkDown = "keepalive-timeout"
				c.mu.Unlock()
				c.port.Close()
				return
			case idle >= c.cfg.Keepalive:
				c.act(c.link.EchoRequest(now))
			}
		case b := <-c.port.in:
			if c.frame(b) {
				return
			}
		}
	}
}

// frame handles one frame for the client's MAC; true ends the client.
func (c *Client) frame(b []byte) bool {
	f, p, err := pppoe.ParseFrame(b)
	if err != nil || p.SessionID != c.sess.SessionID || !sameMAC(f.Source, c.sess.ACMAC) {
		return false
	}
	c.heard = time.Now()
	if p.Code == pppoe.CodePADT {
		c.mu.Lock()
		c.padt = true
		c.mu.Unlock()
		return true
	}
	if p.Code != pppoe.CodeSession || c.silent {
		return false
	}
	var pf ppp.Frame
	if pf.UnmarshalBinary(p.Payload) != nil {
		return false
	}
	if pf.Protocol == ppp.ProtocolIPv4 || pf.Protocol == ppp.ProtocolIPv6 {
		ch := c.data
		if pf.Protocol == ppp.ProtocolIPv6 {
			ch = c.data6
		}
		select {
		case ch <- append([]byte(nil), pf.Information...):
		default:
		}
		return false
	}
	if pf.Protocol == ppp.ProtocolIPCP && c.ipv4Gone {
		return false
	}
	if pf.Protocol == ppp.ProtocolIPCP && c.cfg.NoIPv4 {
		c.rejectID++
		rej := ppp.NewProtocolReject(c.rejectID, pf, int(c.link.Info().MTU))
		if b, err := rej.MarshalBinary(); err == nil {
			c.send(ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b})
		}
		return false
	}
	if isData(pf.Protocol) {
		return false
	}
	return c.act(c.link.Receive(pf, time.Now()))
}

func sameMAC(a, b net.HardwareAddr) bool { return a.String() == b.String() }
