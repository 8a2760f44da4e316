package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// verdict is where a backend's answer waits for the session loop: the
// backend may answer from any goroutine, before or after the session
// ended.
type verdict struct {
	poke func() // tells the session loop an answer is there

	mu    sync.Mutex
	ans   *aaa.Answer
	ended bool // the session is gone: an answer is released on arrival
}

// put is the reply function handed to the backend.
func (v *verdict) put(a aaa.Answer) {
	v.mu.Lock()
	if v.ended || v.ans != nil {
		v.mu.Unlock()
		if a.Lease != nil {
			a.Lease.Release() // nobody will use it
		}
		return
	}
	v.ans = &a
	v.mu.Unlock()
	v.poke()
}

// take returns the answer that arrived, if any.
func (v *verdict) take() (aaa.Answer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ans == nil {
		return aaa.Answer{}, false
	}
	a := *v.ans
	v.ans = nil
	return a, true
}

// close refuses later answers and returns one that came too late for the
// loop.
func (v *verdict) close() (aaa.Answer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ended = true
	if v.ans == nil {
		return aaa.Answer{}, false
	}
	a := *v.ans
	v.ans = nil
	return a, true
}

// authenticate hands the peer's proof to AAA; the answer comes back
// through s.verdict, bounded by the setup deadline. A backend that
// answered before returning (local secrets) is acted on at once, as if
// the link had checked the proof itself.
func (s *Session) authenticate(r link.AuthRequest, now time.Time) {
	if s.askedAAA {
		return // one question per session
	}
	s.askedAAA = true
	left := s.cfg.setupTimeout()
	if !s.setupDeadline.IsZero() {
		left = s.setupDeadline.Sub(now)
	}
	// A timeout, not the deadline itself: the session's clock (Config.Now)
	// need not be the wall clock a context runs on.
	ctx, cancel := context.WithTimeout(context.Background(), left)
	s.cancelAAA = cancel
	c := s.cfg.Circuit
	vlans := make([]uint16, 0, c.NumVLANs)
	for _, v := range c.VLANList() {
		vlans = append(vlans, v.ID)
	}
	var padr pppoe.PADR
	if s.cfg.PADR != nil {
		padr = *s.cfg.PADR
		s.cfg.PADR = nil // AAA is asked once; the tags are not kept for the session's life
	}
	s.cfg.AAA.Authenticate(ctx, aaa.Request{
		Handle:    uint64(s.cfg.ID),
		Service:   aaa.ServicePPPoE,
		Method:    r.Method,
		User:      r.User,
		Password:  []byte(r.Password),
		CHAPID:    r.Identifier,
		Challenge: r.Challenge,
		Response:  r.Response,
		Circuit: aaa.Circuit{
			MAC:            c.HardwareAddr(),
			Interface:      s.cfg.Interface,
			VLANs:          vlans,
			ServiceName:    s.cfg.Service,
			SessionID:      s.cfg.SessionID,
			RelaySessionID: padr.RelaySessionID,
			CircuitID:      padr.Line.CircuitID,
			RemoteID:       padr.Line.RemoteID,
		},
	}, s.verdict.put)
	s.answered(now)
}

// answered hands AAA's answer to the link.
func (s *Session) answered(now time.Time) {
	a, ok := s.verdict.take()
	if !ok {
		return
	}
	if s.cancelAAA != nil {
		// Answered: the question's context and timer go now, not with
		// the session.
		s.cancelAAA()
		s.cancelAAA = nil
	}
	if s.ended {
		if a.Lease != nil {
			a.Lease.Release()
		}
		return
	}
	res := link.AuthResult{OK: a.Accept, Message: a.Message, AuthenticatorResponse: a.AuthenticatorResponse}
	if a.Accept {
		s.answer, s.grant = a, a.Lease
	} else {
		s.authErr = a.Err
		if s.authErr == nil {
			s.authErr = aaa.ErrAuthFailed
		}
	}
	s.carry(s.link.Authenticated(res, nil, now), now)
}

// addresses is the link's AddressPolicy: the answer's Grant. The first
// failure names the session's end (no-address); a user with IPv6 whose
// service configures no IPv4 address at all gets an IPv6-only session.
func (s *Session) addresses(string) (link.IPConfig, error) {
	if s.grant == nil {
		err := errors.New("session: AAA gave no addresses")
		s.addrErr = err
		return link.IPConfig{}, err
	}
	a, err := s.grant.Assign()
	if errors.Is(err, aaa.ErrNoAddress) && s.answer.IPv6 {
		// A service without IPv4 but with IPv6: the link runs IPv6CP
		// alone (link.ErrNoIPv4), nothing went wrong.
		return link.IPConfig{}, fmt.Errorf("%w: %w", link.ErrNoIPv4, err)
	}
	if err != nil {
		// A session up already (an adopted one whose peer opens IPCP
		// late: its link rejects it) goes on: this names no end.
		if s.addrErr == nil && !s.wasUp {
			s.addrErr = err
		}
		return link.IPConfig{}, err
	}
	return a.IPConfig(), nil
}

// endAAA gives back what AAA granted, and whatever an answer still on
// its way will grant.
func (s *Session) endAAA() {
	if s.cancelAAA != nil {
		s.cancelAAA()
	}
	if a, ok := s.verdict.close(); ok && a.Lease != nil {
		a.Lease.Release()
	}
	if s.grant != nil {
		s.grant.Release()
		s.grant = nil
	}
}
