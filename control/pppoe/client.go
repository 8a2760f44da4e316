package pppoe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// Default client timings: RFC 2516 §5.1 suggests doubling the wait for a
// PADO on every retransmission; rp-pppoe and RouterOS start near 1s.
const (
	// DefaultClientTimeout is the first wait for a PADO or PADS.
	DefaultClientTimeout = time.Second
	// DefaultClientMaxTimeout caps the doubling wait.
	DefaultClientMaxTimeout = 8 * time.Second
	// DefaultPADRAttempts is how many PADRs go unanswered before the
	// client starts over with a PADI (RFC 2516 §5.3).
	DefaultPADRAttempts = 3
)

// ClientConfig is one PPPoE client's discovery setup (the RouterOS
// "/interface pppoe-client" properties that discovery uses).
type ClientConfig struct {
	// MAC is the client's Ethernet address, the source of its frames.
	MAC net.HardwareAddr
	// VLANs are the tags the client's frames carry, outermost first.
	VLANs []ethernet.VLAN
	// ACName selects the AC (ac-name); "" takes any.
	ACName string
	// ServiceName selects the service (service-name); "" takes any.
	ServiceName string
	// MaxPayload is the PPP payload the client wants (min of max-mtu and
	// max-mru); above 1492 it is requested with PPP-Max-Payload (RFC 4638).
	MaxPayload uint16
	// HostUniq is sent in PADI and PADR (RFC 2516 Appendix A); nil draws 8
	// random bytes, so clients sharing an interface ignore each other's
	// replies.
	HostUniq []byte
	// Timeout is the first wait for a PADO or PADS, doubled on every
	// retransmission up to MaxTimeout; 0 means the defaults.
	Timeout, MaxTimeout time.Duration
	// PADRAttempts is how many PADRs are sent before discovery starts over
	// with a PADI (RFC 2516 §5.3); 0 means DefaultPADRAttempts.
	PADRAttempts int
	// Log gets one Debug line per discovery event; nil logs nothing.
	Log *zap.Logger
}

// Session is the outcome of discovery: what the PPP stage and the data
// plane need to use the session (RFC 2516 §5.4), and what the RouterOS
// client monitor shows (ac-mac, ac-name, service-name).
type Session struct {
	// ACMAC is the AC's Ethernet address, the peer of every session frame.
	ACMAC net.HardwareAddr
	// ACName is the AC-Name of the AC's PADO.
	ACName string
	// ServiceName is the Service-Name of the PADS.
	ServiceName string
	// SessionID is the id the AC assigned (neither 0 nor 0xffff).
	SessionID uint16
	// MaxPayload is the PPP-Max-Payload the AC granted in PADS (RFC 4638
	// §4), 0 if it sent none: the PPP MRU is then at most 1492.
	MaxPayload uint16
	// Cookie is the AC-Cookie echoed in PADR.
	Cookie []byte
	// LocalMAC and VLANs are the client's address and tags.
	LocalMAC net.HardwareAddr
	VLANs    []ethernet.VLAN
	// HostUniq and RelaySessionID are the tags of the exchange, if any.
	HostUniq, RelaySessionID []byte
}

// PADT builds the PADT the client sends to end s, msg as a Generic-Error
// tag when not empty (RFC 2516 §5.5).
func (s *Session) PADT(msg string) ([]byte, error) {
	var tags []Tag
	if msg != "" {
		tags = append(tags, GenericError(msg))
	}
	if len(s.HostUniq) > 0 {
		tags = append(tags, HostUniq(s.HostUniq))
	}
	if len(s.RelaySessionID) > 0 {
		tags = append(tags, RelaySessionID(s.RelaySessionID))
	}
	p := &Packet{Code: CodePADT, SessionID: s.SessionID, Tags: tags}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return MarshalFrame(s.ACMAC, s.LocalMAC, s.VLANs, p)
}

// PADSError is returned by Discover when the AC refuses the session: a
// PADS with SESSION_ID 0 or with an error tag (RFC 2516 §5.4).
type PADSError struct {
	// ACMAC is the refusing AC.
	ACMAC net.HardwareAddr
	// Tag is the error tag: Service-Name-Error, AC-System-Error or
	// Generic-Error; TagEndOfList when the PADS had SESSION_ID 0 and none.
	Tag TagType
	// Message is the tag's UTF-8 explanation, possibly empty.
	Message string
}

// Error implements error.
func (e *PADSError) Error() string {
	if e.Tag == TagEndOfList {
		return fmt.Sprintf("pppoe: AC %v refused the session: PADS with SESSION_ID 0", e.ACMAC)
	}
	return fmt.Sprintf("pppoe: AC %v refused the session: %v %q", e.ACMAC, e.Tag, e.Message)
}

// Offer is one row of a scan: an AC and one service it offers (the
// RouterOS scanner's service, mac-address and ac-name).
type Offer struct {
	// Service is one Service-Name of the PADO (RFC 2516 §5.2).
	Service string
	// MACAddress is the AC's Ethernet address, the PADO's source.
	MACAddress net.HardwareAddr
	// ACName is the PADO's AC-Name.
	ACName string
}

// client is one discovery exchange.
type client struct {
	cfg      ClientConfig
	conn     FrameConn
	d        deadliner
	log      *zap.Logger
	hostUniq []byte
	buf      []byte

	mu       sync.Mutex // orders ctx cancellation against SetReadDeadline
	canceled bool       // ctx ended: reads must not block again
	finished bool       // Discover or Scan returned: leave the deadline alone
}

var errTimeout = errors.New("pppoe: discovery timeout")

func newClient(ctx context.Context, conn FrameConn, cfg ClientConfig) (*client, func(), error) {
	d, ok := conn.(deadliner)
	if !ok {
		return nil, nil, errors.New("pppoe: discovery needs a connection with SetReadDeadline")
	}
	if err := unicast(cfg.MAC); err != nil {
		return nil, nil, fmt.Errorf("pppoe: client MAC %v: %w", cfg.MAC, err)
	}
	if len(cfg.VLANs) > ethernet.MaxVLANs {
		return nil, nil, fmt.Errorf("pppoe: client: %w", ethernet.ErrTooManyVLANs)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultClientTimeout
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = max(DefaultClientMaxTimeout, cfg.Timeout)
	}
	if cfg.PADRAttempts <= 0 {
		cfg.PADRAttempts = DefaultPADRAttempts
	}
	c := &client{cfg: cfg, conn: conn, d: d, log: cfg.Log, hostUniq: cfg.HostUniq, buf: make([]byte, 9216)}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.hostUniq == nil {
		c.hostUniq = make([]byte, 8)
		rand.Read(c.hostUniq)
	}
	c.log = c.log.With(zap.Stringer("mac", cfg.MAC), zap.String("host_uniq", hex.EncodeToString(c.hostUniq)))
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.finished {
			c.canceled = true
			d.SetReadDeadline(time.Unix(1, 0))
		}
	})
	done := func() {
		stop()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.finished = true
		d.SetReadDeadline(time.Time{})
	}
	return c, done, nil
}

// next returns the next frame for this client before deadline: addressed
// to its MAC on its VLANs, valid (RFC 2516 §5), and carrying its Host-Uniq
// unless it is a PADT. Everything else is skipped.
func (c *client) next(ctx context.Context, deadline time.Time) (ethernet.Frame, Packet, error) {
	for {
		c.mu.Lock()
		if c.canceled {
			c.mu.Unlock()
			return ethernet.Frame{}, Packet{}, ctx.Err()
		}
		err := c.d.SetReadDeadline(deadline)
		c.mu.Unlock()
		if err != nil {
			return ethernet.Frame{}, Packet{}, fmt.Errorf("pppoe: client: %w", err)
		}
		n, err := c.conn.ReadFrame(c.buf)
		if err != nil {
			if ctx.Err() != nil {
				return ethernet.Frame{}, Packet{}, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return ethernet.Frame{}, Packet{}, errTimeout
			}
			return ethernet.Frame{}, Packet{}, fmt.Errorf("pppoe: client read: %w", err)
		}
		f, p, err := ParseFrame(c.buf[:n])
		if err != nil || p.Code == CodeSession || !bytesEqual(f.Destination, c.cfg.MAC) || !sameVLANs(f.VLANs, c.cfg.VLANs) {
			continue
		}
		if p.Code != CodePADT {
			if hu, _ := FindTag[HostUniq](p.Tags); !bytesEqual(hu, c.hostUniq) {
				continue
			}
		}
		if err := ValidateFrame(&f, &p); err != nil {
			c.log.Debug("invalid reply ignored", zap.Stringer("ac_mac", f.Source), zap.Error(err))
			continue
		}
		return f, p, nil
	}
}

// sameVLANs compares VLAN ids, the part of a tag that says where a frame is;
// priority tags (id 0) say nowhere, as in CircuitOf.
func sameVLANs(a, b []ethernet.VLAN) bool {
	priority := func(v ethernet.VLAN) bool { return v.ID == 0 }
	a = slices.DeleteFunc(slices.Clone(a), priority)
	b = slices.DeleteFunc(slices.Clone(b), priority)
	return slices.EqualFunc(a, b, func(x, y ethernet.VLAN) bool { return x.ID == y.ID })
}

func (c *client) send(dst net.HardwareAddr, p *Packet) error {
	b, err := MarshalFrame(dst, c.cfg.MAC, c.cfg.VLANs, p)
	if err != nil {
		return err
	}
	if err := c.conn.WriteFrame(b); err != nil {
		return fmt.Errorf("pppoe: client %v: %w", p.Code, err)
	}
	return nil
}

func (c *client) padi() error {
	tags := []Tag{ServiceName(c.cfg.ServiceName), HostUniq(c.hostUniq)}
	if c.cfg.MaxPayload > 1492 {
		tags = append(tags, PPPMaxPayload(c.cfg.MaxPayload))
	}
	return c.send(ethernet.Broadcast, &Packet{Code: CodePADI, Tags: tags})
}

// backoff doubles t up to the configured cap (RFC 2516 §5.1).
func (c *client) backoff(t time.Duration) time.Duration {
	return min(2*t, c.cfg.MaxTimeout)
}

// Discover runs the client side of PPPoE discovery (RFC 2516 §5) on conn
// until a session is confirmed or ctx ends: PADI broadcast, retransmitted
// with a doubling timeout; the first PADO matching cfg.ACName and
// cfg.ServiceName; PADR (retransmitted cfg.PADRAttempts times, then back
// to PADI); PADS. A refusing PADS returns a *PADSError. A PADT before the
// PADS is ignored, as rp-pppoe ignores all but PADO and PADS: until the
// PADS there is no session id it could end (RFC 2516 §5.5), so it is for an
// older session, such as the one a one-session-per-host AC ends just
// before confirming the new one. A PADT after the PADS is not Discover's
// business: it has returned by then, and the session owner sees it
// (rp-pppoe's pppoe-server, unable to start pppd, sends one right after
// PADS).
//
// conn must also have SetReadDeadline(time.Time) error; Discover clears
// the deadline when it returns.
func Discover(ctx context.Context, conn FrameConn, cfg ClientConfig) (Session, error) {
	c, done, err := newClient(ctx, conn, cfg)
	if err != nil {
		return Session{}, err
	}
	defer done()
	timeout := c.cfg.Timeout
	for {
		if err := c.padi(); err != nil {
			return Session{}, err
		}
		c.log.Debug("padi sent", zap.Duration("timeout", timeout))
		f, offer, err := c.waitOffer(ctx, time.Now().Add(timeout))
		if errors.Is(err, errTimeout) {
			timeout = c.backoff(timeout)
			continue
		}
		if err != nil {
			return Session{}, err
		}
		s, err := c.request(ctx, f.Source, &offer)
		if errors.Is(err, errTimeout) {
			c.log.Debug("no pads, restarting discovery", zap.Stringer("ac_mac", f.Source))
			timeout = c.cfg.Timeout
			continue
		}
		return s, err
	}
}

// waitOffer waits for the first PADO matching the configured AC and service.
func (c *client) waitOffer(ctx context.Context, deadline time.Time) (ethernet.Frame, Packet, error) {
	for {
		f, p, err := c.next(ctx, deadline)
		if err != nil {
			return f, p, err
		}
		if p.Code != CodePADO {
			continue
		}
		name, _ := FindTag[ACName](p.Tags)
		if c.cfg.ACName != "" && string(name) != c.cfg.ACName {
			c.log.Debug("pado ignored: ac-name", zap.Stringer("ac_mac", f.Source), zap.String("ac_name", string(name)))
			continue
		}
		if c.cfg.ServiceName != "" && !slices.Contains(FindTags[ServiceName](p.Tags), ServiceName(c.cfg.ServiceName)) {
			c.log.Debug("pado ignored: service", zap.Stringer("ac_mac", f.Source), zap.String("ac_name", string(name)))
			continue
		}
		c.log.Debug("pado received", zap.Stringer("ac_mac", f.Source), zap.String("ac_name", string(name)))
		return f, p, nil
	}
}

// request sends PADR to the AC of offer and waits for its PADS.
func (c *client) request(ctx context.Context, ac net.HardwareAddr, offer *Packet) (Session, error) {
	acName, _ := FindTag[ACName](offer.Tags)
	service := c.cfg.ServiceName
	if service == "" {
		// Ask for a service the AC named: an AC offering only named services
		// may refuse an empty request.
		service = string(FindTags[ServiceName](offer.Tags)[0])
	}
	cookie, hasCookie := FindTag[ACCookie](offer.Tags)
	relay, hasRelay := FindTag[RelaySessionID](offer.Tags)
	tags := []Tag{ServiceName(service), HostUniq(c.hostUniq)}
	if hasCookie {
		tags = append(tags, cookie)
	}
	if hasRelay {
		tags = append(tags, relay)
	}
	if c.cfg.MaxPayload > 1492 {
		tags = append(tags, PPPMaxPayload(c.cfg.MaxPayload))
	}
	padr := &Packet{Code: CodePADR, Tags: tags}
	timeout := c.cfg.Timeout
	for range c.cfg.PADRAttempts {
		if err := c.send(ac, padr); err != nil {
			return Session{}, err
		}
		c.log.Debug("padr sent", zap.Stringer("ac_mac", ac), zap.String("service", service))
		deadline := time.Now().Add(timeout)
		for {
			f, p, err := c.next(ctx, deadline)
			if errors.Is(err, errTimeout) {
				break
			}
			if err != nil {
				return Session{}, err
			}
			if !bytesEqual(f.Source, ac) {
				continue
			}
			switch p.Code {
			case CodePADT:
				msg, _ := FindTag[GenericError](p.Tags)
				c.log.Debug("padt before pads ignored", zap.Stringer("ac_mac", ac),
					zap.Uint16("session_id", p.SessionID), zap.String("message", string(msg)))
			case CodePADS:
				return c.confirmed(ac, string(acName), cookie, &p)
			}
		}
		timeout = c.backoff(timeout)
	}
	return Session{}, errTimeout
}

// confirmed turns a PADS into a Session or a *PADSError (RFC 2516 §5.4).
func (c *client) confirmed(ac net.HardwareAddr, acName string, cookie ACCookie, p *Packet) (Session, error) {
	for _, t := range p.Tags {
		switch t := t.(type) {
		case ServiceNameError, ACSystemError, GenericError:
			err := &PADSError{ACMAC: ac, Tag: t.Type(), Message: string(t.Value())}
			c.log.Debug("pads refused", zap.Error(err))
			return Session{}, err
		}
	}
	if p.SessionID == 0 {
		return Session{}, &PADSError{ACMAC: ac, Tag: TagEndOfList}
	}
	service, _ := FindTag[ServiceName](p.Tags)
	s := Session{
		ACMAC:       slices.Clone(ac),
		ACName:      acName,
		ServiceName: string(service),
		SessionID:   p.SessionID,
		LocalMAC:    slices.Clone(c.cfg.MAC),
		VLANs:       slices.Clone(c.cfg.VLANs),
		HostUniq:    slices.Clone(c.hostUniq),
		Cookie:      slices.Clone([]byte(cookie)),
	}
	if mp, ok := FindTag[PPPMaxPayload](p.Tags); ok {
		s.MaxPayload = uint16(mp)
	}
	if r, ok := FindTag[RelaySessionID](p.Tags); ok {
		s.RelaySessionID = slices.Clone([]byte(r))
	}
	c.log.Debug("pads received", zap.Stringer("ac_mac", ac), zap.String("service", s.ServiceName), zap.Uint16("session_id", s.SessionID))
	return s, nil
}

// Scan lists the ACs answering a PADI on conn within d (the RouterOS
// "/interface pppoe-client scan"): one Offer per (AC, service), in the
// order they arrived. The PADI asks for cfg.ServiceName (normally "", so
// every AC lists every service) and is retransmitted with the usual
// backoff while d lasts. If ctx ends first, Scan returns what it has and
// ctx.Err(). conn must also have SetReadDeadline.
func Scan(ctx context.Context, conn FrameConn, d time.Duration, cfg ClientConfig) ([]Offer, error) {
	c, done, err := newClient(ctx, conn, cfg)
	if err != nil {
		return nil, err
	}
	defer done()
	type key struct {
		mac     string
		service string
	}
	seen := make(map[key]bool)
	var offers []Offer
	end := time.Now().Add(d)
	timeout := c.cfg.Timeout
	for time.Now().Before(end) {
		if err := c.padi(); err != nil {
			return offers, err
		}
		deadline := time.Now().Add(timeout)
		if deadline.After(end) {
			deadline = end
		}
		for {
			f, p, err := c.next(ctx, deadline)
			if errors.Is(err, errTimeout) {
				break
			}
			if err != nil {
				return offers, err
			}
			if p.Code != CodePADO {
				continue
			}
			name, _ := FindTag[ACName](p.Tags)
			for _, s := range FindTags[ServiceName](p.Tags) {
				k := key{string(f.Source), string(s)}
				if seen[k] {
					continue
				}
				seen[k] = true
				offers = append(offers, Offer{Service: string(s), MACAddress: slices.Clone(f.Source), ACName: string(name)})
				c.log.Debug("scan offer", zap.Stringer("ac_mac", f.Source), zap.String("ac_name", string(name)), zap.String("service", string(s)))
			}
		}
		timeout = c.backoff(timeout)
	}
	return offers, nil
}
