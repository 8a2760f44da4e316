package dhcp6

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// Transmission and retransmission parameters of RFC 8415 §7.6.
const (
	SolMaxDelay = 1 * time.Second
	SolTimeout  = 1 * time.Second
	SolMaxRT    = 3600 * time.Second
	ReqTimeout  = 1 * time.Second
	ReqMaxRT    = 30 * time.Second
	ReqMaxRC    = 10
	RenTimeout  = 10 * time.Second
	RenMaxRT    = 600 * time.Second
	RebTimeout  = 10 * time.Second
	RebMaxRT    = 600 * time.Second
	RelTimeout  = 1 * time.Second
	RelMaxRC    = 4
	DecTimeout  = 1 * time.Second
	DecMaxRC    = 4
)

// State is where the client is; the names are RouterOS's /ipv6
// dhcp-client status values.
type State uint8

// Client states.
const (
	Stopped State = iota
	Searching
	Requesting
	Bound
	Renewing
	Rebinding
	Releasing
	Declining
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Searching:
		return "searching..."
	case Requesting:
		return "requesting..."
	case Bound:
		return "bound"
	case Renewing:
		return "renewing..."
	case Rebinding:
		return "rebinding..."
	case Releasing:
		return "releasing..."
	case Declining:
		return "declining..."
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Event tells the caller what a step changed.
type Event uint8

// Events.
const (
	// NoEvent: nothing for the caller to apply.
	NoEvent Event = iota
	// LeaseBound: a new lease; install its prefix, address and DNS.
	LeaseBound
	// LeaseExtended: the same prefix and address with new lifetimes.
	LeaseExtended
	// LeaseLost: the lease expired or the server took it back; remove it.
	LeaseLost
)

func (e Event) String() string {
	return [...]string{"none", "bound", "extended", "lost"}[e]
}

// ClientConfig is what the client asks for.
type ClientConfig struct {
	// DUID identifies this client (RFC 8415 §11).
	DUID dhcpv6.DUID
	// LocalID is our IPv6CP Interface-Identifier: we send from
	// fe80::LocalID.
	LocalID ipv6.InterfaceID
	// IAID names our IA_PD and IA_NA.
	IAID [4]byte
	// RequestPrefix and RequestAddress are RouterOS's request=prefix and
	// request=address.
	RequestPrefix, RequestAddress bool
	// PrefixHint is a length to ask for (RouterOS prefix-hint); 0 none.
	PrefixHint int
	// RapidCommit asks for a two-message exchange (RouterOS rapid-commit).
	RapidCommit bool
	// Rand draws the retransmission jitter; nil seeds one from the runtime.
	Rand *rand.Rand
}

// Lease is what the client holds.
type Lease struct {
	Server     dhcpv6.DUID
	ServerAddr netip.Addr
	// Prefix is the delegated prefix; invalid when none was asked for.
	Prefix netip.Prefix
	// Address is the IA_NA address; invalid when none was asked for.
	Address          netip.Addr
	T1, T2           time.Duration
	Preferred, Valid time.Duration
	Obtained         time.Time
	DNS              []netip.Addr
}

// Expires is when the lease's valid lifetime ends.
func (l Lease) Expires() time.Time { return l.Obtained.Add(l.Valid) }

// exchange is one message being (re)transmitted, RFC 8415 §15.
type exchange struct {
	msg         *dhcpv6.Message
	start, next time.Time
	rt          time.Duration
	count       int
	irt, mrt    time.Duration
	mrc         int
	deadline    time.Time // MRD; zero is none
	firstRTDone bool      // Solicit: the first RT has passed
}

// Client is a DHCPv6 client on one PPP session, for a delegated prefix
// and optionally an address.
type Client struct {
	cfg      ClientConfig
	src      netip.Addr
	log      *zap.Logger
	state    State
	ex       *exchange
	best     *dhcpv6.Message // best Advertise while soliciting
	bestFrom netip.Addr
	lease    *Lease
}

// NewClient checks cfg and returns a stopped client. log may be nil.
func NewClient(cfg ClientConfig, log *zap.Logger) (*Client, error) {
	if cfg.DUID == nil {
		return nil, errors.New("dhcp6: client DUID missing")
	}
	if !cfg.RequestPrefix && !cfg.RequestAddress {
		return nil, errors.New("dhcp6: request neither prefix nor address")
	}
	if cfg.LocalID == (ipv6.InterfaceID{}) {
		return nil, errors.New("dhcp6: zero local interface identifier")
	}
	if cfg.PrefixHint < 0 || cfg.PrefixHint > 128 {
		return nil, fmt.Errorf("dhcp6: prefix hint /%d", cfg.PrefixHint)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Client{cfg: cfg, src: ipv6.LinkLocal(cfg.LocalID), log: log}, nil
}

// State is where the client is.
func (c *Client) State() State { return c.state }

// Lease returns the lease held; false when none.
func (c *Client) Lease() (Lease, bool) {
	if c.lease == nil {
		return Lease{}, false
	}
	return *c.lease, true
}

// Start begins soliciting at now (IPv6CP opened): the first Solicit goes
// after a random delay up to SolMaxDelay (RFC 8415 §18.2.1).
func (c *Client) Start(now time.Time) {
	c.solicit(now.Add(time.Duration(c.cfg.Rand.Int64N(int64(SolMaxDelay) + 1))))
}

func (c *Client) solicit(at time.Time) {
	m := c.message(dhcpv6.MessageTypeSolicit, nil, nil)
	if c.cfg.RapidCommit {
		m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	}
	c.state = Searching
	c.best = nil
	c.begin(at, m, SolTimeout, SolMaxRT, 0, time.Time{})
}

// message builds a client message with our identifiers, the IAs asked
// for (carrying lease when renewing), and DNS in the Option Request.
func (c *Client) message(t dhcpv6.MessageType, server dhcpv6.DUID, lease *Lease) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: t}
	var xid dhcpv6.TransactionID
	for i := range xid {
		xid[i] = byte(c.cfg.Rand.UintN(256))
	}
	m.TransactionID = xid
	m.AddOption(dhcpv6.OptClientID(c.cfg.DUID))
	if server != nil {
		m.AddOption(dhcpv6.OptServerID(server))
	}
	m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	if c.cfg.RequestAddress {
		ia := &dhcpv6.OptIANA{IaId: c.cfg.IAID}
		if lease != nil && lease.Address.IsValid() {
			ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: lease.Address.AsSlice()})
		}
		m.AddOption(ia)
	}
	if c.cfg.RequestPrefix {
		ia := &dhcpv6.OptIAPD{IaId: c.cfg.IAID}
		switch {
		case lease != nil && lease.Prefix.IsValid():
			ia.Options.Add(&dhcpv6.OptIAPrefix{Prefix: ipNet(lease.Prefix)})
		case c.cfg.PrefixHint > 0:
			ia.Options.Add(&dhcpv6.OptIAPrefix{Prefix: ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), c.cfg.PrefixHint))})
		}
		m.AddOption(ia)
	}
	return m
}

// begin starts an exchange whose first transmission is at at.
func (c *Client) begin(at time.Time, m *dhcpv6.Message, irt, mrt time.Duration, mrc int, deadline time.Time) {
	c.ex = &exchange{msg: m, start: at, next: at, irt: irt, mrt: mrt, mrc: mrc, deadline: deadline}
}

// jitter is RAND × d, RAND uniform in [-0.1, 0.1] (RFC 8415 §15); positive
// only for a Solicit's first RT.
func (c *Client) jitter(d time.Duration, positive bool) time.Duration {
	r := c.cfg.Rand.Float64()*0.2 - 0.1
	if positive {
		r = c.cfg.Rand.Float64()*0.1 + 1e-9
	}
	return time.Duration(r * float64(d))
}

// Next is when Step must next be called; false when stopped.
func (c *Client) Next() (time.Time, bool) {
	var t time.Time
	switch {
	case c.ex != nil:
		t = c.ex.next
		if !c.ex.deadline.IsZero() && c.ex.deadline.Before(t) {
			t = c.ex.deadline
		}
	case c.state == Bound && c.lease != nil:
		t = c.lease.Obtained.Add(c.lease.T1)
	default:
		return time.Time{}, false
	}
	if c.lease != nil && c.lease.Expires().Before(t) {
		t = c.lease.Expires()
	}
	return t, true
}

// Step runs the timers due at now and returns the datagram to send, if
// any, and what changed.
func (c *Client) Step(now time.Time) ([]byte, Event, error) {
	ev := NoEvent
	if c.lease != nil && !now.Before(c.lease.Expires()) {
		// RFC 8415 §18.2.5: once the valid lifetimes pass, the lease is
		// gone; begin again.
		c.log.Info("dhcpv6 client: lease expired", zap.Stringer("prefix", c.lease.Prefix))
		c.lease = nil
		c.solicit(now)
		ev = LeaseLost
	}
	switch c.state {
	case Bound:
		if now.Before(c.lease.Obtained.Add(c.lease.T1)) {
			return nil, ev, nil
		}
		c.state = Renewing
		c.begin(now, c.message(dhcpv6.MessageTypeRenew, c.lease.Server, c.lease), RenTimeout, RenMaxRT, 0, c.lease.Obtained.Add(c.lease.T2))
	case Renewing:
		if !now.Before(c.lease.Obtained.Add(c.lease.T2)) {
			c.state = Rebinding
			c.begin(now, c.message(dhcpv6.MessageTypeRebind, nil, c.lease), RebTimeout, RebMaxRT, 0, c.lease.Expires())
		}
	}
	if c.ex == nil || now.Before(c.ex.next) {
		return nil, ev, nil
	}
	x := c.ex
	if c.state == Searching && x.count > 0 && !x.firstRTDone {
		x.firstRTDone = true
		if c.best != nil {
			out, err := c.request(now)
			return out, ev, err
		}
	}
	if (x.mrc > 0 && x.count >= x.mrc) || (!x.deadline.IsZero() && !now.Before(x.deadline)) {
		return c.giveUp(now, ev)
	}
	// RFC 8415 §15: RT doubles from IRT up to MRT, each with jitter.
	switch {
	case x.count == 0:
		x.rt = x.irt + c.jitter(x.irt, c.state == Searching)
	case x.mrt > 0 && 2*x.rt > x.mrt:
		x.rt = x.mrt + c.jitter(x.mrt, false)
	default:
		x.rt = 2*x.rt + c.jitter(x.rt, false)
	}
	x.count++
	x.next = now.Add(x.rt)
	elapsed := now.Sub(x.start) / (10 * time.Millisecond)
	if x.count == 1 {
		elapsed = 0
	}
	x.msg.UpdateOption(dhcpv6.OptElapsedTime(min(elapsed, 0xffff) * 10 * time.Millisecond))
	out, err := marshal(x.msg, c.src, ipv6.AllDHCPRelayAgentsAndServers, ClientPort, ServerPort)
	return out, ev, err
}

// giveUp ends an exchange that ran out of retransmissions or time.
func (c *Client) giveUp(now time.Time, ev Event) ([]byte, Event, error) {
	switch c.state {
	case Requesting:
		c.solicit(now) // §18.2.2: on REQ_MAX_RC go back to Solicit
	case Releasing:
		c.ex, c.state = nil, Stopped
	case Declining:
		c.solicit(now)
	case Rebinding:
		// Rebind's MRD is the lease's end: it is lost.
		if c.lease != nil {
			c.lease = nil
			ev = LeaseLost
		}
		c.solicit(now)
	}
	return nil, ev, nil
}

// request sends a Request for the best Advertise.
func (c *Client) request(now time.Time) ([]byte, error) {
	adv := c.best
	c.best = nil
	m := c.message(dhcpv6.MessageTypeRequest, adv.Options.ServerID(), nil)
	// Ask for what was offered (RFC 8415 §18.2.2 lets the client copy the
	// IAs from the Advertise).
	m.Options.Del(dhcpv6.OptionIAPD)
	m.Options.Del(dhcpv6.OptionIANA)
	for _, ia := range adv.Options.IANA() {
		m.AddOption(ia)
	}
	for _, ia := range adv.Options.IAPD() {
		m.AddOption(ia)
	}
	c.state = Requesting
	c.begin(now, m, ReqTimeout, ReqMaxRT, ReqMaxRC, time.Time{})
	out, _, err := c.Step(now)
	return out, err
}

// Handle takes a datagram the session received for UDP port 546 and
// returns what to send back at once, if anything, and what changed.
func (c *Client) Handle(now time.Time, pkt []byte) ([]byte, Event, error) {
	in, err := parse(pkt, ClientPort)
	if err != nil {
		return nil, NoEvent, err
	}
	m := in.msg
	x := c.ex
	if x == nil || m.TransactionID != x.msg.TransactionID {
		return nil, NoEvent, fmt.Errorf("%w: %v for no transaction of ours", ErrDropped, m.Type())
	}
	// RFC 8415 §16.3, §16.10: our Client Identifier and a Server Identifier.
	if !sameDUID(m.Options.ClientID(), c.cfg.DUID) || m.Options.ServerID() == nil {
		return nil, NoEvent, fmt.Errorf("%w: %v without our client or any server identifier", ErrDropped, m.Type())
	}
	switch {
	case m.Type() == dhcpv6.MessageTypeAdvertise && c.state == Searching:
		return c.advertise(now, m, in.src)
	case m.Type() == dhcpv6.MessageTypeReply && c.state == Searching:
		if !c.cfg.RapidCommit || m.GetOneOption(dhcpv6.OptionRapidCommit) == nil {
			return nil, NoEvent, fmt.Errorf("%w: Reply to a Solicit without Rapid Commit", ErrDropped)
		}
		return c.reply(now, m, in.src)
	case m.Type() == dhcpv6.MessageTypeReply && c.state != Bound && c.state != Stopped:
		return c.reply(now, m, in.src)
	}
	return nil, NoEvent, fmt.Errorf("%w: %v while %v", ErrDropped, m.Type(), c.state)
}

// advertise keeps the best Advertise; one with preference 255, or one
// after the first RT has passed, is requested at once (RFC 8415 §18.2.1).
func (c *Client) advertise(now time.Time, m *dhcpv6.Message, from netip.Addr) ([]byte, Event, error) {
	if s := m.Options.Status(); s != nil && s.StatusCode != iana.StatusSuccess {
		return nil, NoEvent, fmt.Errorf("%w: Advertise with status %v", ErrDropped, s.StatusCode)
	}
	if !c.offers(m) {
		return nil, NoEvent, fmt.Errorf("%w: Advertise offers nothing we asked for", ErrDropped)
	}
	if c.best == nil || m.Options.Preference() > c.best.Options.Preference() {
		c.best, c.bestFrom = m, from
	}
	if m.Options.Preference() == 255 || c.ex.firstRTDone {
		out, err := c.request(now)
		return out, NoEvent, err
	}
	return nil, NoEvent, nil
}

// offers reports whether m holds a usable prefix or address.
func (c *Client) offers(m *dhcpv6.Message) bool {
	p, a := c.ias(m)
	return p.IsValid() || a.IsValid()
}

// ias picks from m our IA_PD's prefix and IA_NA's address with non-zero
// valid lifetime, skipping IAs with an error status or T1 > T2 (RFC 8415
// §21.4, §21.21).
func (c *Client) ias(m *dhcpv6.Message) (netip.Prefix, netip.Addr) {
	var p netip.Prefix
	var a netip.Addr
	for _, ia := range m.Options.IAPD() {
		if ia.IaId != c.cfg.IAID || (ia.Options.Status() != nil && ia.Options.Status().StatusCode != iana.StatusSuccess) || (ia.T2 != 0 && ia.T1 > ia.T2) {
			continue
		}
		for _, o := range ia.Options.Prefixes() {
			if q, ok := fromIPNet(o.Prefix); ok && o.ValidLifetime > 0 && o.PreferredLifetime <= o.ValidLifetime {
				p = q
			}
		}
	}
	for _, ia := range m.Options.IANA() {
		if ia.IaId != c.cfg.IAID || (ia.Options.Status() != nil && ia.Options.Status().StatusCode != iana.StatusSuccess) || (ia.T2 != 0 && ia.T1 > ia.T2) {
			continue
		}
		for _, o := range ia.Options.Addresses() {
			if q, ok := addrOf(o.IPv6Addr); ok && o.ValidLifetime > 0 && o.PreferredLifetime <= o.ValidLifetime {
				a = q
			}
		}
	}
	return p, a
}

// reply takes the Reply that ends the current exchange.
func (c *Client) reply(now time.Time, m *dhcpv6.Message, from netip.Addr) ([]byte, Event, error) {
	switch c.state {
	case Releasing:
		c.ex, c.state = nil, Stopped
		return nil, NoEvent, nil
	case Declining:
		c.solicit(now)
		return nil, NoEvent, nil
	}
	if s := m.Options.Status(); s != nil && s.StatusCode != iana.StatusSuccess {
		return nil, NoEvent, fmt.Errorf("dhcp6: Reply with status %v: %s", s.StatusCode, s.StatusMessage)
	}
	p, a := c.ias(m)
	if (c.cfg.RequestPrefix && !p.IsValid()) || (c.cfg.RequestAddress && !a.IsValid()) {
		// NoBinding, NoPrefixAvail, or lifetimes of zero: what we hold or
		// asked for is not ours; start over (RFC 8415 §18.2.10.1).
		ev := NoEvent
		if c.lease != nil {
			c.lease, ev = nil, LeaseLost
		}
		c.solicit(now.Add(SolTimeout))
		return nil, ev, nil
	}
	l := &Lease{Server: m.Options.ServerID(), ServerAddr: from, Prefix: p, Address: a, Obtained: now}
	l.Preferred, l.Valid = time.Duration(1<<63-1), time.Duration(1<<63-1)
	for _, ia := range m.Options.IAPD() {
		if ia.IaId != c.cfg.IAID {
			continue
		}
		c.times(l, ia.T1, ia.T2)
		for _, o := range ia.Options.Prefixes() {
			if q, ok := fromIPNet(o.Prefix); ok && q == p {
				l.Preferred, l.Valid = min(l.Preferred, o.PreferredLifetime), min(l.Valid, o.ValidLifetime)
			}
		}
	}
	for _, ia := range m.Options.IANA() {
		if ia.IaId != c.cfg.IAID {
			continue
		}
		c.times(l, ia.T1, ia.T2)
		for _, o := range ia.Options.Addresses() {
			if q, ok := addrOf(o.IPv6Addr); ok && q == a {
				l.Preferred, l.Valid = min(l.Preferred, o.PreferredLifetime), min(l.Valid, o.ValidLifetime)
			}
		}
	}
	// §21.4: T1 and T2 of zero leave the times to the client: 0.5 and 0.8
	// of the shortest preferred lifetime.
	if l.T1 == 0 {
		l.T1 = l.Preferred / 2
	}
	if l.T2 == 0 {
		l.T2 = l.Preferred * 4 / 5
	}
	for _, ip := range m.Options.DNS() {
		if d, ok := addrOf(ip); ok {
			l.DNS = append(l.DNS, d)
		}
	}
	ev := LeaseBound
	if c.lease != nil && c.lease.Prefix == l.Prefix && c.lease.Address == l.Address {
		ev = LeaseExtended
	} else {
		c.log.Info("dhcpv6 client: bound", zap.Stringer("prefix", l.Prefix), zap.Stringer("address", l.Address))
	}
	c.lease, c.ex, c.state = l, nil, Bound
	return nil, ev, nil
}

// times takes the smallest non-zero T1 and T2 of the IAs.
func (c *Client) times(l *Lease, t1, t2 time.Duration) {
	if t1 > 0 && (l.T1 == 0 || t1 < l.T1) {
		l.T1 = t1
	}
	if t2 > 0 && (l.T2 == 0 || t2 < l.T2) {
		l.T2 = t2
	}
}

// Release gives the lease back (the session is ending or the client was
// disabled): the lease is dropped at once and a Release goes to the
// server (RFC 8415 §18.2.7), retransmitted until a Reply or RelMaxRC.
func (c *Client) Release(now time.Time) ([]byte, error) {
	if c.lease == nil {
		c.ex, c.state = nil, Stopped
		return nil, nil
	}
	m := c.message(dhcpv6.MessageTypeRelease, c.lease.Server, c.lease)
	c.lease = nil
	c.state = Releasing
	c.begin(now, m, RelTimeout, 0, RelMaxRC, time.Time{})
	out, _, err := c.Step(now)
	return out, err
}

// Decline tells the server the lease's address is in use by another node
// (duplicate address detection failed, RFC 8415 §18.2.8); the lease is
// dropped and the client solicits again once the server replies.
func (c *Client) Decline(now time.Time) ([]byte, error) {
	if c.lease == nil || !c.lease.Address.IsValid() {
		return nil, errors.New("dhcp6: no address to decline")
	}
	m := c.message(dhcpv6.MessageTypeDecline, c.lease.Server, nil)
	m.Options.Del(dhcpv6.OptionIAPD)
	m.Options.Del(dhcpv6.OptionIANA)
	ia := &dhcpv6.OptIANA{IaId: c.cfg.IAID}
	ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: c.lease.Address.AsSlice()})
	m.AddOption(ia)
	c.lease = nil
	c.state = Declining
	c.begin(now, m, DecTimeout, 0, DecMaxRC, time.Time{})
	out, _, err := c.Step(now)
	return out, err
}

// Status is one row of RouterOS's /ipv6 dhcp-client print for this
// client: STATUS, and PREFIX and ADDRESS as "value, time left" (RouterOS
// prints the time left in its own duration form; here Go's).
type Status struct {
	Status, Prefix, Address string
	DNS                     []netip.Addr
}

// Status is the client's print row at now.
func (c *Client) Status(now time.Time) Status {
	st := Status{Status: c.state.String()}
	if l := c.lease; l != nil {
		left := l.Expires().Sub(now).Truncate(time.Second)
		if l.Prefix.IsValid() {
			st.Prefix = fmt.Sprintf("%v, %v", l.Prefix, left)
		}
		if l.Address.IsValid() {
			st.Address = fmt.Sprintf("%v, %v", l.Address, left)
		}
		st.DNS = l.DNS
	}
	return st
}
