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
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/rfc3576"
	"layeh.com/radius/vendors/mikrotik"
)

// ErrorCause is an Error-Cause value of a CoA-NAK or Disconnect-NAK
// (RFC 5176 §3.6).
type ErrorCause uint32

// Error causes used here (RFC 5176 §3.6).
const (
	CauseUnsupportedAttribute      ErrorCause = 401
	CauseMissingAttribute          ErrorCause = 402
	CauseNASIdentificationMismatch ErrorCause = 403
	CauseInvalidRequest            ErrorCause = 404
	CauseUnsupportedService        ErrorCause = 405
	CauseInvalidAttributeValue     ErrorCause = 407
	CauseAdministrativelyProhibit  ErrorCause = 501
	CauseSessionContextNotFound    ErrorCause = 503
	CauseSessionNotRemovable       ErrorCause = 504
	CauseResourcesUnavailable      ErrorCause = 506
)

// CauseError is a Handler error that picks the NAK's Error-Cause.
type CauseError struct {
	Cause ErrorCause
	Err   error
}

func (e *CauseError) Error() string { return fmt.Sprintf("error-cause %d: %v", e.Cause, e.Err) }
func (e *CauseError) Unwrap() error { return e.Err }

// Selector names the sessions a Disconnect-Request or CoA-Request is
// about (RFC 5176 §3): every attribute given must match; at least one is.
type Selector struct {
	AcctSessionID    string
	UserName         string
	FramedIP         netip.Addr
	CallingStationID string
}

// Matches reports whether a session with these identifiers is one sel
// names: every attribute the request gave must be equal (RFC 5176 §3),
// the MAC compared without regard to case or separator style
// ("00-11-22-AA-BB-CC" names 00:11:22:aa:bb:cc). An empty Selector
// matches nothing.
func (s Selector) Matches(acctSessionID, user string, ip netip.Addr, callingStationID string) bool {
	if s.empty() {
		return false
	}
	return (s.AcctSessionID == "" || s.AcctSessionID == acctSessionID) &&
		(s.UserName == "" || s.UserName == user) &&
		(!s.FramedIP.IsValid() || s.FramedIP == ip.Unmap()) &&
		(s.CallingStationID == "" || sameMAC(s.CallingStationID, callingStationID))
}

// sameMAC compares two MAC address spellings by their hex digits.
func sameMAC(a, b string) bool {
	digits := func(s string) string {
		out := make([]byte, 0, 12)
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
				out = append(out, c)
			case c >= 'A' && c <= 'F':
				out = append(out, c+'a'-'A')
			case c == ':' || c == '-' || c == '.':
			default:
				return s // not a MAC: compared as given
			}
		}
		return string(out)
	}
	return digits(a) == digits(b)
}

func (s Selector) empty() bool {
	return s.AcctSessionID == "" && s.UserName == "" && !s.FramedIP.IsValid() && s.CallingStationID == ""
}

// Change is what a CoA-Request changes in the selected sessions; nil
// fields stay as they are.
type Change struct {
	SessionTimeout *time.Duration // Session-Timeout; 0 removes the limit
	IdleTimeout    *time.Duration // Idle-Timeout; 0 removes the limit
	RateLimit      *string        // Mikrotik-Rate-Limit
}

// Handler carries out dynamic authorization on live sessions. It returns
// how many sessions it acted on: 0 is answered with Error-Cause 503
// (Session-Context-Not-Found). An error wrapping a *CauseError is a NAK
// with that cause; any other error a NAK with 506 (Resources-Unavailable).
type Handler interface {
	Disconnect(ctx context.Context, sel Selector) (int, error)
	Change(ctx context.Context, sel Selector, ch Change) (int, error)
}

// DynAuthClient is a server allowed to send Disconnect-Request and
// CoA-Request: the /radius entries, or an explicit allow-list.
type DynAuthClient struct {
	Prefix netip.Prefix // a single address is a /32 or /128
	Secret Secret
}

// DynAuthOptions configure the RFC 5176 listener.
type DynAuthOptions struct {
	Clients []DynAuthClient
	// Window is the replay window (default 300 s). See DynAuth.
	Window time.Duration
	// RequireEventTimestamp NAKs requests without Event-Timestamp (402).
	RequireEventTimestamp bool
	// RequireMessageAuthenticator drops requests without one. One that is
	// present is always checked.
	RequireMessageAuthenticator bool
	// NASIdentifier and NASAddress are checked against a request's
	// NAS-Identifier, NAS-IP-Address and NAS-IPv6-Address (403 on a
	// mismatch, RFC 5176 §3); unset means not checked.
	NASIdentifier string
	NASAddress    netip.Addr
	// HandlerTimeout bounds one Handler call (default 10 s).
	HandlerTimeout time.Duration
	Logger         *zap.Logger
}

// DynAuth answers Disconnect-Request and CoA-Request (RFC 5176) on a UDP
// socket (RouterOS: /radius incoming, port 3799).
//
// What gets through: a request from an address of a configured client,
// whose Request Authenticator is right for that client's secret, whose
// Message-Authenticator (when present, or required) is right. Anything
// else is dropped without an answer and counted.
//
// Replay window: a request with an Event-Timestamp (RFC 5176 §3.5) more
// than Window away from our clock, either way, is dropped. A request
// identical to one seen within the Window (same client address and
// Request Authenticator, which is an MD5 over the whole packet) is not
// carried out again: it is answered with the first answer (RFC 5080
// §2.2.2), so a retransmission gets its ACK and a replay does nothing.
// Only a request without Event-Timestamp could be replayed after the
// window; RequireEventTimestamp closes that.
type DynAuth struct {
	h    Handler
	opts DynAuthOptions
	log  *zap.Logger

	mu        sync.Mutex
	clients   []DynAuthClient
	seen      map[dupKey]*dupEntry
	lastSweep time.Time

	// Dropped counts requests dropped unanswered; Acked and Naked the
	// answers.
	Dropped, Acked, Naked atomic.Uint64
	// kinds counts by request kind (disconnect, coa): received, ACKed,
	// NAKed.
	kinds [2][3]atomic.Uint64
}

// DynAuthStats are the Disconnect-Request and CoA-Request counters of a
// listener, for metrics.
type DynAuthStats struct {
	// Dropped are datagrams dropped unanswered (not an allowed client,
	// malformed, failed authentication, replayed): their kind is not
	// trusted.
	Dropped uint64
	// Disconnect and CoA count each kind's authenticated requests and
	// answers.
	Disconnect, CoA DynAuthKindStats
}

// DynAuthKindStats count one kind of request.
type DynAuthKindStats struct{ Received, Acked, Naked uint64 }

// Stats returns the listener's counters.
func (d *DynAuth) Stats() DynAuthStats {
	k := func(i int) DynAuthKindStats {
		return DynAuthKindStats{Received: d.kinds[i][0].Load(), Acked: d.kinds[i][1].Load(), Naked: d.kinds[i][2].Load()}
	}
	return DynAuthStats{Dropped: d.Dropped.Load(), Disconnect: k(0), CoA: k(1)}
}

type dupKey struct {
	client netip.Addr
	auth   [16]byte
}

type dupEntry struct {
	answer  []byte // nil while the request is being carried out
	expires time.Time
}

// NewDynAuth returns a listener calling h.
func NewDynAuth(h Handler, opts DynAuthOptions) *DynAuth {
	if opts.Window <= 0 {
		opts.Window = 300 * time.Second
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &DynAuth{h: h, opts: opts, log: opts.Logger, clients: opts.Clients, seen: map[dupKey]*dupEntry{}}
}

// SetClients replaces the allowed clients (on a configuration reload).
func (d *DynAuth) SetClients(cs []DynAuthClient) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clients = cs
}

// ListenAndServe serves on addr ("127.0.0.1:3799", ":3799") until ctx
// ends.
func (d *DynAuth) ListenAndServe(ctx context.Context, addr string) error {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("radius: dynamic authorization: %w", err)
	}
	return d.Serve(ctx, conn)
}

// Serve answers requests on conn until ctx ends, then closes conn.
func (d *DynAuth) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 64)
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				conn.Close()
				return ctx.Err()
			}
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		src := ua.AddrPort()
		pkt := append([]byte(nil), buf[:n]...)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if answer := d.handle(ctx, src, pkt); answer != nil {
				_, _ = conn.WriteTo(answer, net.UDPAddrFromAddrPort(src))
			}
		}()
	}
}

func (d *DynAuth) drop(src netip.AddrPort, why string, err error) []byte {
	d.Dropped.Add(1)
	d.log.Debug("radius dynamic authorization request dropped", zap.Stringer("from", src), zap.String("reason", why), zap.Error(err))
	return nil
}

// handle checks one datagram and returns the answer to send, if any.
func (d *DynAuth) handle(ctx context.Context, src netip.AddrPort, b []byte) []byte {
	client, ok := d.client(src.Addr())
	if !ok {
		return d.drop(src, "not an allowed client", nil)
	}
	b, err := frame(b)
	if err != nil {
		return d.drop(src, "malformed", err)
	}
	code := radius.Code(b[0])
	if code != radius.CodeDisconnectRequest && code != radius.CodeCoARequest {
		return d.drop(src, "not a Disconnect-Request or CoA-Request", errCode)
	}
	secret := []byte(client.Secret)
	if err := verifyRequest(b, secret, d.opts.RequireMessageAuthenticator); err != nil {
		return d.drop(src, "authentication", err)
	}
	req, err := radius.Parse(b, secret)
	if err != nil {
		return d.drop(src, "malformed", err)
	}
	now := time.Now()
	if ts, err := rfc2869.EventTimestamp_Lookup(req); err == nil {
		if skew := now.Sub(ts); skew > d.opts.Window || skew < -d.opts.Window {
			return d.drop(src, "Event-Timestamp outside the replay window", fmt.Errorf("%v off", skew.Round(time.Second)))
		}
	}
	kind := 0
	if code == radius.CodeCoARequest {
		kind = 1
	}
	d.kinds[kind][0].Add(1)
	key := dupKey{client: src.Addr().Unmap(), auth: req.Authenticator}
	if dup, answer := d.remember(key, now); dup {
		if answer == nil {
			return d.drop(src, "duplicate of a request in progress", nil)
		}
		return answer
	}
	cause, n := d.carryOut(ctx, req)
	ack, nak := radius.CodeDisconnectACK, radius.CodeDisconnectNAK
	if code == radius.CodeCoARequest {
		ack, nak = radius.CodeCoAACK, radius.CodeCoANAK
	}
	resp := req.Response(ack)
	if cause != 0 {
		resp = req.Response(nak)
		_ = rfc3576.ErrorCause_Set(resp, rfc3576.ErrorCause(cause))
		d.Naked.Add(1)
		d.kinds[kind][2].Add(1)
	} else {
		d.Acked.Add(1)
		d.kinds[kind][1].Add(1)
	}
	for _, ps := range req.Attributes {
		if ps.Type == rfc2865.ProxyState_Type { // RFC 5176 §3: copied, in order
			resp.Add(ps.Type, ps.Attribute)
		}
	}
	answer, err := encodeResponse(resp, req.Authenticator)
	if err != nil {
		d.forget(key)
		return d.drop(src, "answer", err)
	}
	d.mu.Lock()
	if e := d.seen[key]; e != nil {
		e.answer = answer
	}
	d.mu.Unlock()
	d.log.Info("radius dynamic authorization", zap.Stringer("from", src), zap.Stringer("code", code),
		zap.Uint32("error_cause", uint32(cause)), zap.Int("sessions", n))
	return answer
}

func (d *DynAuth) client(a netip.Addr) (DynAuthClient, bool) {
	a = a.Unmap()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		if c.Prefix.Contains(a) {
			return c, true
		}
	}
	return DynAuthClient{}, false
}

// remember records key as seen, or reports it a duplicate with the answer
// it got (nil while in progress). Expired entries are swept at most once
// a second.
func (d *DynAuth) remember(key dupKey, now time.Time) (dup bool, answer []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.lastSweep) > time.Second {
		for k, e := range d.seen {
			if now.After(e.expires) {
				delete(d.seen, k)
			}
		}
		d.lastSweep = now
	}
	if e, ok := d.seen[key]; ok && now.Before(e.expires) {
		return true, e.answer
	}
	d.seen[key] = &dupEntry{expires: now.Add(d.opts.Window)}
	return false, nil
}

func (d *DynAuth) forget(key dupKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, key)
}

// Attributes a request may carry besides what it selects or changes.
var dynAuthHousekeeping = map[radius.Type]bool{
	rfc2869.EventTimestamp_Type: true, rfc2869.MessageAuthenticator_Type: true,
	rfc2865.ProxyState_Type: true, rfc2865.ReplyMessage_Type: true,
	rfc2865.NASIPAddress_Type: true, rfc2865.NASIdentifier_Type: true, rfc3162.NASIPv6Address_Type: true,
}

var dynAuthSelectors = map[radius.Type]bool{
	rfc2865.UserName_Type: true, rfc2866.AcctSessionID_Type: true,
	rfc2865.FramedIPAddress_Type: true, rfc2865.CallingStationID_Type: true,
}

// carryOut checks a verified request's attributes and calls the handler.
// It returns the Error-Cause of a NAK, or 0 for an ACK, and the number of
// sessions acted on.
func (d *DynAuth) carryOut(ctx context.Context, req *radius.Packet) (ErrorCause, int) {
	coa := req.Code == radius.CodeCoARequest
	for _, a := range req.Attributes {
		switch {
		case dynAuthHousekeeping[a.Type] || dynAuthSelectors[a.Type]:
		case a.Type == rfc2865.ServiceType_Type:
			return CauseUnsupportedService, 0 // Authorize-Only (RFC 5176 §3.2): no re-authorization here
		case coa && (a.Type == rfc2865.SessionTimeout_Type || a.Type == rfc2865.IdleTimeout_Type):
		case coa && a.Type == rfc2865.VendorSpecific_Type:
			if id, v, err := radius.VendorSpecific(a.Attribute); err != nil || id != vendorMikrotik || len(v) < 2 || v[0] != 8 || int(v[1]) != len(v) {
				return CauseUnsupportedAttribute, 0
			}
		default:
			return CauseUnsupportedAttribute, 0
		}
	}
	if cause := d.checkNAS(req); cause != 0 {
		return cause, 0
	}
	if d.opts.RequireEventTimestamp {
		if _, err := rfc2869.EventTimestamp_Lookup(req); err != nil {
			return CauseMissingAttribute, 0
		}
	}
	var sel Selector
	sel.UserName, _ = rfc2865.UserName_LookupString(req)
	sel.AcctSessionID, _ = rfc2866.AcctSessionID_LookupString(req)
	sel.CallingStationID, _ = rfc2865.CallingStationID_LookupString(req)
	if _, ok := req.Lookup(rfc2865.FramedIPAddress_Type); ok {
		ip, err := rfc2865.FramedIPAddress_Lookup(req)
		if err != nil {
			return CauseInvalidAttributeValue, 0
		}
		sel.FramedIP = ip4(ip, nil)
	}
	if sel.empty() {
		return CauseMissingAttribute, 0
	}
	hctx, cancel := context.WithTimeout(ctx, d.opts.HandlerTimeout)
	defer cancel()
	var n int
	var err error
	if coa {
		var ch Change
		if v, err := rfc2865.SessionTimeout_Lookup(req); err == nil {
			t := time.Duration(v) * time.Second
			ch.SessionTimeout = &t
		}
		if v, err := rfc2865.IdleTimeout_Lookup(req); err == nil {
			t := time.Duration(v) * time.Second
			ch.IdleTimeout = &t
		}
		if v, err := mikrotik.MikrotikRateLimit_LookupString(req); err == nil {
			ch.RateLimit = &v
		}
		n, err = d.h.Change(hctx, sel, ch)
	} else {
		n, err = d.h.Disconnect(hctx, sel)
	}
	var ce *CauseError
	switch {
	case errors.As(err, &ce):
		return ce.Cause, n
	case err != nil:
		d.log.Warn("radius dynamic authorization failed", zap.Error(err))
		return CauseResourcesUnavailable, n
	case n == 0:
		return CauseSessionContextNotFound, 0
	}
	return 0, n
}

// checkNAS compares the request's NAS identification with ours.
func (d *DynAuth) checkNAS(req *radius.Packet) ErrorCause {
	if id, err := rfc2865.NASIdentifier_LookupString(req); err == nil && d.opts.NASIdentifier != "" && id != d.opts.NASIdentifier {
		return CauseNASIdentificationMismatch
	}
	want := d.opts.NASAddress.Unmap()
	if ip, err := rfc2865.NASIPAddress_Lookup(req); err == nil && want.Is4() && ip4(ip, nil) != want {
		return CauseNASIdentificationMismatch
	}
	if ip, err := rfc3162.NASIPv6Address_Lookup(req); err == nil && want.Is6() && ip4(ip, nil) != want {
		return CauseNASIdentificationMismatch
	}
	return 0
}
