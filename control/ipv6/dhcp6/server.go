package dhcp6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// PrefixAllocator hands out delegated prefixes of one length; the /ipv6
// pool named by a profile's dhcpv6-pd-pool (pool.PrefixPool) is one.
type PrefixAllocator interface {
	// Allocate returns hint when it is free, else another free prefix.
	Allocate(hint netip.Prefix) (netip.Prefix, error)
	// Reserve takes p if it is free.
	Reserve(p netip.Prefix) error
	// Release returns p.
	Release(p netip.Prefix) error
}

// Server defaults: RouterOS's /ipv6 dhcp-server lease-time=1d, with T1 and
// T2 at RFC 8415 §21.4's recommended 0.5 and 0.8 of it.
const (
	DefaultLifetime = 24 * time.Hour
	// offerHold is how long a prefix offered in an Advertise stays set
	// aside for the Request that should follow.
	offerHold = 2 * time.Minute
)

// ServerConfig is what the DHCPv6 server on one session hands out.
type ServerConfig struct {
	// ServerID is the BNG's DUID (RFC 8415 §11), the same on every
	// session.
	ServerID dhcpv6.DUID
	// LocalID is our IPv6CP Interface-Identifier: replies come from
	// fe80::LocalID.
	LocalID ipv6.InterfaceID
	// Delegate is the prefix pool (profile dhcpv6-pd-pool); nil when the
	// session delegates nothing or only FixedPrefix.
	Delegate PrefixAllocator
	// FixedPrefix is a prefix for this session alone (RADIUS
	// Delegated-IPv6-Prefix); taken before the pool and never returned
	// to it.
	FixedPrefix netip.Prefix
	// Link is the session's /64; when valid, IA_NA gets an address in it.
	Link netip.Prefix
	// DNS is the profile's IPv6 dns-server (RFC 3646 option 23).
	DNS []netip.Addr
	// RapidCommit lets a Solicit with Rapid Commit bind at once (RFC 8415
	// §18.3.1).
	RapidCommit bool
	// Preference is the Advertise's Preference option; RouterOS sends 255.
	Preference uint8
	// ValidLifetime and PreferredLifetime of what is handed out; T1 and T2
	// when to renew and rebind. Zero takes DefaultLifetime and 0.5, 0.8
	// of the preferred lifetime.
	ValidLifetime, PreferredLifetime, T1, T2 time.Duration
}

// Result is what handling one message produced.
type Result struct {
	// Reply is the IPv6 datagram to send back on the session, nil when
	// there is none.
	Reply []byte
	// Bound are delegated prefixes newly bound: route them to the session.
	Bound []netip.Prefix
	// Unbound are delegated prefixes no longer bound: remove their routes.
	Unbound []netip.Prefix
}

// iaKind tells IA_NA from IA_PD bindings; their IAIDs are separate spaces.
type iaKind uint8

const (
	kindNA iaKind = iota
	kindPD
)

type bindingKey struct {
	duid string
	kind iaKind
	iaid [4]byte
}

// binding is one IA's lease: a delegated prefix, or an address as a /128.
type binding struct {
	prefix    netip.Prefix
	fixed     bool // FixedPrefix: not the pool's
	committed bool // false while only offered in an Advertise
	expires   time.Time
}

// Server is the DHCPv6 server of one session. Its bindings live as long as
// the session: Close returns every delegated prefix to the pool.
type Server struct {
	cfg      ServerConfig
	src      netip.Addr
	log      *zap.Logger
	bindings map[bindingKey]*binding
	declined map[netip.Addr]bool
}

// NewServer checks cfg and returns a server with no bindings. log may be
// nil.
func NewServer(cfg ServerConfig, log *zap.Logger) (*Server, error) {
	if cfg.ServerID == nil {
		return nil, errors.New("dhcp6: server DUID missing")
	}
	if cfg.LocalID == (ipv6.InterfaceID{}) {
		return nil, errors.New("dhcp6: zero local interface identifier")
	}
	if cfg.Link.IsValid() && (cfg.Link.Bits() != 64 || !cfg.Link.Addr().Is6()) {
		return nil, fmt.Errorf("dhcp6: link prefix %v is not an IPv6 /64", cfg.Link)
	}
	if cfg.FixedPrefix.IsValid() && (!cfg.FixedPrefix.Addr().Is6() || cfg.FixedPrefix.Addr().Is4In6()) {
		return nil, fmt.Errorf("dhcp6: fixed prefix %v is not IPv6", cfg.FixedPrefix)
	}
	if cfg.ValidLifetime == 0 {
		cfg.ValidLifetime = DefaultLifetime
	}
	if cfg.PreferredLifetime == 0 {
		cfg.PreferredLifetime = cfg.ValidLifetime
	}
	if cfg.PreferredLifetime > cfg.ValidLifetime {
		return nil, fmt.Errorf("dhcp6: preferred lifetime %v longer than valid lifetime %v", cfg.PreferredLifetime, cfg.ValidLifetime)
	}
	if cfg.T1 == 0 {
		cfg.T1 = cfg.PreferredLifetime / 2
	}
	if cfg.T2 == 0 {
		cfg.T2 = cfg.PreferredLifetime * 4 / 5
	}
	if cfg.T1 > cfg.T2 {
		return nil, fmt.Errorf("dhcp6: T1 %v after T2 %v", cfg.T1, cfg.T2)
	}
	for _, d := range cfg.DNS {
		if !d.Is6() || d.Is4In6() {
			return nil, fmt.Errorf("dhcp6: dns-server %v is not IPv6", d)
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{
		cfg:      cfg,
		src:      ipv6.LinkLocal(cfg.LocalID),
		log:      log,
		bindings: map[bindingKey]*binding{},
		declined: map[netip.Addr]bool{},
	}, nil
}

// Handle answers one datagram the session received for UDP port 547.
// Malformed messages and those RFC 8415 §16 says to discard are an error
// (ErrDropped for the latter) and change nothing.
func (s *Server) Handle(now time.Time, pkt []byte) (Result, error) {
	in, err := parse(pkt, ServerPort)
	if err != nil {
		return Result{}, err
	}
	if !in.src.IsLinkLocalUnicast() {
		return Result{}, fmt.Errorf("%w: source %v is not link-local (RFC 8415 §13.1)", ErrDropped, in.src)
	}
	multicast := in.dst == ipv6.AllDHCPRelayAgentsAndServers
	if !multicast && in.dst != s.src {
		return Result{}, fmt.Errorf("%w: destination %v is neither ff02::1:2 nor us", ErrDropped, in.dst)
	}
	reply, res, err := s.handle(now, in.msg, multicast)
	if err != nil || reply == nil {
		return res, err
	}
	res.Reply, err = marshal(reply, s.src, in.src, ServerPort, ClientPort)
	return res, err
}

// handle dispatches on the message type after RFC 8415 §16's checks.
func (s *Server) handle(now time.Time, m *dhcpv6.Message, multicast bool) (*dhcpv6.Message, Result, error) {
	client := m.Options.ClientID()
	server := m.Options.ServerID()
	t := m.Type()
	// §16: which messages must and must not carry a Server Identifier,
	// and which must come to the multicast address (§18.4).
	switch t {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeConfirm, dhcpv6.MessageTypeRebind:
		if server != nil {
			return nil, Result{}, fmt.Errorf("%w: %v with a Server Identifier", ErrDropped, t)
		}
		if !multicast {
			return nil, Result{}, fmt.Errorf("%w: %v to a unicast address", ErrDropped, t)
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		if !sameDUID(server, s.cfg.ServerID) {
			return nil, Result{}, fmt.Errorf("%w: %v for another server", ErrDropped, t)
		}
	case dhcpv6.MessageTypeInformationRequest:
		if server != nil && !sameDUID(server, s.cfg.ServerID) {
			return nil, Result{}, fmt.Errorf("%w: %v for another server", ErrDropped, t)
		}
		if !multicast {
			return nil, Result{}, fmt.Errorf("%w: %v to a unicast address", ErrDropped, t)
		}
		if len(m.Options.IANA()) > 0 || len(m.Options.IAPD()) > 0 {
			return nil, Result{}, fmt.Errorf("%w: Information-request with an IA", ErrDropped)
		}
		return s.reply(m, dhcpv6.MessageTypeReply, client), Result{}, nil
	default:
		return nil, Result{}, fmt.Errorf("%w: %v is not for a server", ErrDropped, t)
	}
	if client == nil {
		return nil, Result{}, fmt.Errorf("%w: %v without a Client Identifier", ErrDropped, t)
	}
	duid := string(client.ToBytes())
	var res Result
	switch t {
	case dhcpv6.MessageTypeSolicit:
		rapid := s.cfg.RapidCommit && m.GetOneOption(dhcpv6.OptionRapidCommit) != nil
		rt := dhcpv6.MessageTypeAdvertise
		if rapid {
			rt = dhcpv6.MessageTypeReply
		}
		r := s.reply(m, rt, client)
		if rapid {
			r.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		} else if s.cfg.Preference != 0 {
			r.AddOption(dhcpv6.OptPreference(s.cfg.Preference))
		}
		s.assign(now, duid, m, r, rapid, &res)
		return r, res, nil
	case dhcpv6.MessageTypeRequest:
		r := s.reply(m, dhcpv6.MessageTypeReply, client)
		s.assign(now, duid, m, r, true, &res)
		return r, res, nil
	case dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind:
		r := s.reply(m, dhcpv6.MessageTypeReply, client)
		if !s.extend(now, duid, m, r, t == dhcpv6.MessageTypeRebind, &res) {
			// §18.3.5: a Rebind for nothing we know and nothing we can
			// take back goes unanswered, so another server may answer.
			return nil, res, nil
		}
		return r, res, nil
	case dhcpv6.MessageTypeRelease:
		r := s.reply(m, dhcpv6.MessageTypeReply, client)
		s.release(duid, m, r, &res)
		return r, res, nil
	case dhcpv6.MessageTypeDecline:
		r := s.reply(m, dhcpv6.MessageTypeReply, client)
		s.decline(duid, m, r)
		return r, res, nil
	case dhcpv6.MessageTypeConfirm:
		return s.confirm(m, client)
	}
	return nil, res, nil
}

// reply starts an answer to m: same transaction, both identifiers, and
// DNS when the client asked for it (RFC 3646 §3).
func (s *Server) reply(m *dhcpv6.Message, t dhcpv6.MessageType, client dhcpv6.DUID) *dhcpv6.Message {
	r := &dhcpv6.Message{MessageType: t, TransactionID: m.TransactionID}
	r.AddOption(dhcpv6.OptServerID(s.cfg.ServerID))
	if client != nil {
		r.AddOption(dhcpv6.OptClientID(client))
	}
	if len(s.cfg.DNS) > 0 && m.IsOptionRequested(dhcpv6.OptionDNSRecursiveNameServer) {
		ips := make([]net.IP, len(s.cfg.DNS))
		for i, d := range s.cfg.DNS {
			ips[i] = d.AsSlice()
		}
		r.AddOption(dhcpv6.OptDNS(ips...))
	}
	return r
}

// assign answers the IAs of a Solicit or Request, binding them when
// commit, only offering them otherwise.
func (s *Server) assign(now time.Time, duid string, m *dhcpv6.Message, r *dhcpv6.Message, commit bool, res *Result) {
	for _, ia := range m.Options.IAPD() {
		k := bindingKey{duid, kindPD, ia.IaId}
		b, err := s.pdBinding(k, ia)
		if err != nil {
			s.log.Debug("dhcpv6: no prefix", zap.Error(err))
			r.AddOption(&dhcpv6.OptIAPD{IaId: ia.IaId, Options: dhcpv6.PDOptions{Options: dhcpv6.Options{status(iana.StatusNoPrefixAvail, "no prefix available")}}})
			continue
		}
		s.hold(now, b, commit, res)
		r.AddOption(s.iaPD(ia.IaId, b.prefix, nil))
	}
	for _, ia := range m.Options.IANA() {
		k := bindingKey{duid, kindNA, ia.IaId}
		b, err := s.naBinding(k)
		if err != nil {
			r.AddOption(&dhcpv6.OptIANA{IaId: ia.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{status(iana.StatusNoAddrsAvail, err.Error())}}})
			continue
		}
		s.hold(now, b, commit, nil)
		r.AddOption(s.iaNA(ia.IaId, b.prefix.Addr(), nil))
	}
}

// hold marks b offered or bound; a delegated prefix bound now for the
// first time is reported in res.
func (s *Server) hold(now time.Time, b *binding, commit bool, res *Result) {
	if !commit {
		if !b.committed {
			b.expires = now.Add(offerHold)
		}
		return
	}
	if !b.committed && res != nil {
		res.Bound = append(res.Bound, b.prefix)
		s.log.Info("dhcpv6: prefix delegated", zap.Stringer("prefix", b.prefix))
	}
	b.committed = true
	b.expires = now.Add(s.cfg.ValidLifetime)
}

// pdBinding finds IA k's delegated prefix or takes a new one: the fixed
// prefix when no other IA has it, else one from the pool, near the
// client's hint (RFC 8415 §18.3.1 lets the server use it).
func (s *Server) pdBinding(k bindingKey, ia *dhcpv6.OptIAPD) (*binding, error) {
	if b := s.bindings[k]; b != nil {
		return b, nil
	}
	if s.cfg.FixedPrefix.IsValid() && !s.holds(s.cfg.FixedPrefix) {
		b := &binding{prefix: s.cfg.FixedPrefix, fixed: true}
		s.bindings[k] = b
		return b, nil
	}
	if s.cfg.Delegate == nil {
		return nil, errors.New("no prefix pool")
	}
	var hint netip.Prefix
	for _, p := range ia.Options.Prefixes() {
		if q, ok := fromIPNet(p.Prefix); ok && !q.Addr().IsUnspecified() {
			hint = q
			break
		}
	}
	p, err := s.cfg.Delegate.Allocate(hint)
	if err != nil {
		return nil, err
	}
	b := &binding{prefix: p}
	s.bindings[k] = b
	return b, nil
}

// holds reports whether some binding has p.
func (s *Server) holds(p netip.Prefix) bool {
	for _, b := range s.bindings {
		if b.prefix == p {
			return true
		}
	}
	return false
}

// naBinding finds IA k's address or picks one in the link /64: an
// interface identifier hashed from the client and IAID, so a client gets
// the same address across sessions, moved on past declined ones.
func (s *Server) naBinding(k bindingKey) (*binding, error) {
	if b := s.bindings[k]; b != nil {
		return b, nil
	}
	if !s.cfg.Link.IsValid() {
		return nil, errors.New("no addresses on this link")
	}
	h := fnv.New64a()
	h.Write([]byte(k.duid))
	h.Write(k.iaid[:])
	seed := h.Sum64()
	for i := range uint64(16) {
		var id ipv6.InterfaceID
		binary.BigEndian.PutUint64(id[:], seed+i)
		if id[0]|id[1]|id[2]|id[3] == 0 {
			continue // keep clear of ::1-style identifiers a router may use
		}
		a, _ := ipv6.WithInterfaceID(s.cfg.Link, id)
		if s.declined[a] || s.holds(netip.PrefixFrom(a, 128)) {
			continue
		}
		b := &binding{prefix: netip.PrefixFrom(a, 128)}
		s.bindings[k] = b
		return b, nil
	}
	return nil, errors.New("every address tried was declined")
}

// iaPD is an IA_PD option carrying p with the configured lifetimes, and
// extra prefixes with lifetimes of zero (ones the client may no longer
// use, RFC 8415 §18.3.4).
func (s *Server) iaPD(iaid [4]byte, p netip.Prefix, stale []netip.Prefix) *dhcpv6.OptIAPD {
	o := &dhcpv6.OptIAPD{IaId: iaid, T1: seconds(s.cfg.T1), T2: seconds(s.cfg.T2)}
	o.Options.Add(&dhcpv6.OptIAPrefix{PreferredLifetime: seconds(s.cfg.PreferredLifetime), ValidLifetime: seconds(s.cfg.ValidLifetime), Prefix: ipNet(p)})
	for _, q := range stale {
		o.Options.Add(&dhcpv6.OptIAPrefix{Prefix: ipNet(q)})
	}
	return o
}

// iaNA is an IA_NA option carrying a, and stale addresses with lifetimes
// of zero.
func (s *Server) iaNA(iaid [4]byte, a netip.Addr, stale []netip.Addr) *dhcpv6.OptIANA {
	o := &dhcpv6.OptIANA{IaId: iaid, T1: seconds(s.cfg.T1), T2: seconds(s.cfg.T2)}
	o.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: a.AsSlice(), PreferredLifetime: seconds(s.cfg.PreferredLifetime), ValidLifetime: seconds(s.cfg.ValidLifetime)})
	for _, q := range stale {
		o.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: q.AsSlice()})
	}
	return o
}

// extend answers a Renew or Rebind (RFC 8415 §18.3.4, §18.3.5). It
// reports false for a Rebind nothing in which it could answer.
func (s *Server) extend(now time.Time, duid string, m, r *dhcpv6.Message, rebind bool, res *Result) bool {
	answered := false
	for _, ia := range m.Options.IAPD() {
		var asked []netip.Prefix
		for _, p := range ia.Options.Prefixes() {
			if q, ok := fromIPNet(p.Prefix); ok {
				asked = append(asked, q)
			}
		}
		k := bindingKey{duid, kindPD, ia.IaId}
		b := s.bindings[k]
		if b == nil && rebind {
			b = s.adopt(k, asked)
		}
		switch {
		case b != nil && (b.committed || rebind):
			s.hold(now, b, true, res)
			r.AddOption(s.iaPD(ia.IaId, b.prefix, slices.DeleteFunc(asked, func(q netip.Prefix) bool { return q == b.prefix })))
			answered = true
		case rebind && len(asked) > 0:
			// Prefixes that are not ours to give: tell the client to
			// stop using them.
			o := &dhcpv6.OptIAPD{IaId: ia.IaId}
			for _, q := range asked {
				o.Options.Add(&dhcpv6.OptIAPrefix{Prefix: ipNet(q)})
			}
			r.AddOption(o)
			answered = true
		case !rebind:
			r.AddOption(&dhcpv6.OptIAPD{IaId: ia.IaId, Options: dhcpv6.PDOptions{Options: dhcpv6.Options{status(iana.StatusNoBinding, "no binding")}}})
			answered = true
		}
	}
	for _, ia := range m.Options.IANA() {
		k := bindingKey{duid, kindNA, ia.IaId}
		b := s.bindings[k]
		if b == nil || !b.committed {
			if !rebind {
				r.AddOption(&dhcpv6.OptIANA{IaId: ia.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{status(iana.StatusNoBinding, "no binding")}}})
				answered = true
			}
			continue
		}
		s.hold(now, b, true, nil)
		var stale []netip.Addr
		for _, a := range ia.Options.Addresses() {
			if q, ok := addrOf(a.IPv6Addr); ok && q != b.prefix.Addr() {
				stale = append(stale, q)
			}
		}
		r.AddOption(s.iaNA(ia.IaId, b.prefix.Addr(), stale))
		answered = true
	}
	return answered
}

// adopt binds a prefix a rebinding client already holds when it is ours
// to give and free: what a client keeps across a restart of the BNG.
func (s *Server) adopt(k bindingKey, asked []netip.Prefix) *binding {
	for _, q := range asked {
		if q == s.cfg.FixedPrefix && !s.holds(q) {
			b := &binding{prefix: q, fixed: true}
			s.bindings[k] = b
			return b
		}
		if s.cfg.Delegate != nil && s.cfg.Delegate.Reserve(q) == nil {
			b := &binding{prefix: q}
			s.bindings[k] = b
			return b
		}
	}
	return nil
}

// release ends the bindings of the IAs in a Release (RFC 8415 §18.3.7).
func (s *Server) release(duid string, m, r *dhcpv6.Message, res *Result) {
	r.AddOption(status(iana.StatusSuccess, "released"))
	for _, ia := range m.Options.IAPD() {
		k := bindingKey{duid, kindPD, ia.IaId}
		if s.bindings[k] == nil {
			r.AddOption(&dhcpv6.OptIAPD{IaId: ia.IaId, Options: dhcpv6.PDOptions{Options: dhcpv6.Options{status(iana.StatusNoBinding, "no binding")}}})
			continue
		}
		s.drop(k, res)
	}
	for _, ia := range m.Options.IANA() {
		k := bindingKey{duid, kindNA, ia.IaId}
		if s.bindings[k] == nil {
			r.AddOption(&dhcpv6.OptIANA{IaId: ia.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{status(iana.StatusNoBinding, "no binding")}}})
			continue
		}
		s.drop(k, res)
	}
}

// decline sets aside addresses the client found in use (RFC 8415
// §18.3.8); Decline is for addresses only, IA_PDs in it are ignored.
func (s *Server) decline(duid string, m, r *dhcpv6.Message) {
	r.AddOption(status(iana.StatusSuccess, "declined"))
	for _, ia := range m.Options.IANA() {
		k := bindingKey{duid, kindNA, ia.IaId}
		b := s.bindings[k]
		if b == nil {
			r.AddOption(&dhcpv6.OptIANA{IaId: ia.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{status(iana.StatusNoBinding, "no binding")}}})
			continue
		}
		for _, a := range ia.Options.Addresses() {
			if q, ok := addrOf(a.IPv6Addr); ok && q == b.prefix.Addr() {
				s.declined[q] = true
				delete(s.bindings, k)
			}
		}
	}
}

// confirm tells a client whether its addresses are still on this link
// (RFC 8415 §18.3.3); with no addresses to judge there is no reply.
func (s *Server) confirm(m *dhcpv6.Message, client dhcpv6.DUID) (*dhcpv6.Message, Result, error) {
	var addrs []netip.Addr
	for _, ia := range m.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			if q, ok := addrOf(a.IPv6Addr); ok {
				addrs = append(addrs, q)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, Result{}, fmt.Errorf("%w: Confirm without addresses", ErrDropped)
	}
	r := s.reply(m, dhcpv6.MessageTypeReply, client)
	code := iana.StatusSuccess
	for _, a := range addrs {
		if !s.cfg.Link.IsValid() || !s.cfg.Link.Contains(a) {
			code = iana.StatusNotOnLink
		}
	}
	r.AddOption(status(code, code.String()))
	return r, Result{}, nil
}

// drop ends binding k, returning a pool prefix to the pool.
func (s *Server) drop(k bindingKey, res *Result) {
	b := s.bindings[k]
	delete(s.bindings, k)
	if k.kind != kindPD {
		return
	}
	if b.committed {
		res.Unbound = append(res.Unbound, b.prefix)
		s.log.Info("dhcpv6: prefix released", zap.Stringer("prefix", b.prefix))
	}
	if !b.fixed {
		if err := s.cfg.Delegate.Release(b.prefix); err != nil {
			s.log.Warn("dhcpv6: returning prefix to pool", zap.Stringer("prefix", b.prefix), zap.Error(err))
		}
	}
}

// Step ends bindings whose valid lifetime passed without a Renew or
// Rebind, and offers never requested. Call it at Next.
func (s *Server) Step(now time.Time) Result {
	var res Result
	for k, b := range s.bindings {
		if !now.Before(b.expires) {
			s.drop(k, &res)
		}
	}
	return res
}

// Next is when the earliest binding expires; false with no bindings.
func (s *Server) Next() (time.Time, bool) {
	var t time.Time
	for _, b := range s.bindings {
		if t.IsZero() || b.expires.Before(t) {
			t = b.expires
		}
	}
	return t, !t.IsZero()
}

// Delegated lists the prefixes bound now, for routes and the data plane.
func (s *Server) Delegated() []netip.Prefix {
	var out []netip.Prefix
	for k, b := range s.bindings {
		if k.kind == kindPD && b.committed {
			out = append(out, b.prefix)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// Addresses lists the IA_NA addresses bound now.
func (s *Server) Addresses() []netip.Addr {
	var out []netip.Addr
	for k, b := range s.bindings {
		if k.kind == kindNA && b.committed {
			out = append(out, b.prefix.Addr())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Close ends every binding (the session ended) and returns what was bound,
// every pool prefix back in its pool.
func (s *Server) Close() Result {
	var res Result
	for k := range s.bindings {
		s.drop(k, &res)
	}
	return res
}
