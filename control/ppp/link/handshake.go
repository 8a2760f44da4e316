package link

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/pap"
)

// handshake is the state of the Authenticate phase (RFC 1661 §3.5), for
// either role.
type handshake struct {
	method auth.Method
	// deadline gives up authentication; retry retransmits pending (the
	// Authenticator's Challenge, the Peer's PAP Authenticate-Request).
	deadline, retry time.Time
	pending         []byte
	// id and challenge are those of the current CHAP Challenge, sent
	// (Authenticator) or answered (Peer).
	id        uint8
	challenge []byte
	answered  bool // Peer: a Response to id was sent
	// peerChallenge and ntResponse are the Peer's MS-CHAPv2 Response
	// parts, kept to check the authenticator response (RFC 2759 §8.8).
	peerChallenge, ntResponse []byte
	// done: authentication succeeded. The Authenticator keeps its reply
	// to answer a retransmitted request again (RFC 1334 §2.2.1, RFC 1994
	// §4.2: the Success may have been lost); the Peer its Response to
	// answer a retransmitted Challenge.
	done    bool
	reply   []byte
	replyID uint8
	// asked: the Authenticator handed the request to its owner
	// (AuthRequested) and waits for Authenticated; replyID is the
	// request's identifier.
	asked bool
}

func (l *Link) nextAuthID() uint8 {
	l.authID++
	return l.authID
}

func (l *Link) sendAuth(p interface{ MarshalBinary() ([]byte, error) }) []byte {
	b, err := p.MarshalBinary()
	if err != nil {
		return nil // over-long names or messages; the peer times out
	}
	l.send(ppp.Frame{Protocol: l.au.method.Protocol(), Information: b})
	return b
}

func (l *Link) resend(b []byte) {
	l.send(ppp.Frame{Protocol: l.au.method.Protocol(), Information: bytes.Clone(b)})
}

// startAuth enters the Authenticate phase with method m.
func (l *Link) startAuth(m auth.Method) {
	l.setPhase(PhaseAuthenticate)
	l.au = handshake{method: m, deadline: l.now.Add(l.cfg.AuthTimeout)}
	switch {
	case l.cfg.Role == Authenticator && m != auth.PAP:
		c, err := auth.NewChallenge(l.cfg.Rand, m)
		if err != nil {
			l.authFailed(fmt.Sprintf("challenge: %v", err))
			return
		}
		l.au.id, l.au.challenge = l.nextAuthID(), c
		l.au.pending = l.sendAuth(&chap.Challenge{Identifier: l.au.id, Value: c, Name: l.cfg.Name})
		l.au.retry = l.now.Add(l.cfg.Restart)
	case l.cfg.Role == Peer && m == auth.PAP:
		l.au.id = l.nextAuthID()
		l.au.pending = l.sendAuth(&pap.Request{Identifier: l.au.id, PeerID: l.cfg.User, Password: l.cfg.Password})
		l.au.retry = l.now.Add(l.cfg.Restart)
	}
}

func (l *Link) tickAuth(now time.Time) {
	if due(l.au.deadline, now) {
		l.authFailed("timeout")
		return
	}
	if due(l.au.retry, now) {
		l.resend(l.au.pending)
		l.au.retry = now.Add(l.cfg.Restart)
	}
}

// authOK ends the Authenticate phase successfully.
func (l *Link) authOK() {
	l.au.done = true
	l.au.deadline, l.au.retry, l.au.pending = time.Time{}, time.Time{}, nil
	l.emit(AuthSucceeded{User: l.info.User, Method: l.au.method})
	if l.phase == PhaseAuthenticate {
		l.startNetwork()
	}
}

// authFailed ends the Authenticate phase in failure: RFC 1661 §3.5 goes on
// to the Terminate phase.
func (l *Link) authFailed(reason string) {
	l.emit(AuthFailed{User: l.info.User, Method: l.au.method, Reason: reason})
	l.au.deadline, l.au.retry, l.au.pending = time.Time{}, time.Time{}, nil
	l.setReason("authentication failed: " + reason)
	l.lcpDo(l.lcp.Close())
}

func (l *Link) receiveAuth(f ppp.Frame) {
	if l.cfg.Role == Authenticator {
		l.authenticate(f)
	} else {
		l.answer(f)
	}
}

// authenticate is the Authenticator's side of PAP and CHAP.
func (l *Link) authenticate(f ppp.Frame) {
	req := AuthRequest{Method: l.au.method}
	var id uint8
	if f.Protocol == ppp.ProtocolPAP {
		p, err := pap.Parse(f.Information)
		r, ok := p.(*pap.Request)
		if err != nil || !ok {
			return
		}
		id, req.User, req.Password = r.Identifier, r.PeerID, r.Password
	} else {
		p, err := chap.Parse(f.Information)
		r, ok := p.(*chap.Response)
		if err != nil || !ok {
			return
		}
		id, req.User = r.Identifier, r.Name
		req.Identifier, req.Challenge, req.Response = l.au.id, l.au.challenge, bytes.Clone(r.Value)
	}
	if l.au.done {
		if id == l.au.replyID && l.au.reply != nil {
			l.resend(l.au.reply)
		}
		return
	}
	if l.phase != PhaseAuthenticate || (f.Protocol == ppp.ProtocolCHAP && id != l.au.id) {
		return
	}
	if l.au.asked {
		return // a retransmission while the verdict is on its way
	}
	l.info.User = req.User
	if l.cfg.Verifier == Deferred {
		// The owner asks its backend and answers with Authenticated;
		// the Challenge is not repeated meanwhile (the peer has
		// answered it), the phase's deadline still runs.
		l.au.asked, l.au.replyID, l.au.retry, l.au.pending = true, id, time.Time{}, nil
		l.emit(AuthRequested{Request: req})
		return
	}
	res, err := l.cfg.Verifier.Verify(context.Background(), req)
	l.verdict(id, res, err)
}

// Authenticated hands the link the verdict on the AuthRequested it
// emitted (Authenticator without a Verifier). A verdict nobody waits for
// (the phase timed out, the link went down) does nothing.
func (l *Link) Authenticated(res AuthResult, err error, now time.Time) Output {
	if !l.up || l.dead || !l.au.asked || l.au.done || l.phase != PhaseAuthenticate {
		return Output{}
	}
	l.begin(now)
	l.au.asked = false
	l.verdict(l.au.replyID, res, err)
	return l.end()
}

// verdict answers the peer's request id with res and ends the phase.
func (l *Link) verdict(id uint8, res AuthResult, err error) {
	reason := ""
	switch {
	case err != nil:
		res.OK, reason = false, fmt.Sprintf("verifier: %v", err)
	case !res.OK:
		reason = "rejected"
		if res.Message != "" {
			reason += ": " + printable(res.Message)
		}
	}
	var reply interface{ MarshalBinary() ([]byte, error) }
	if res.OK {
		if reply, err = l.success(id, res); err != nil {
			res.OK, reason = false, err.Error()
		}
	}
	if !res.OK {
		reply = l.failure(id, res.Message)
	}
	b := l.sendAuth(reply)
	if !res.OK {
		l.authFailed(reason)
		return
	}
	l.au.reply, l.au.replyID = b, id
	l.authOK()
}

// success builds the Authenticator's positive answer.
func (l *Link) success(id uint8, res AuthResult) (interface{ MarshalBinary() ([]byte, error) }, error) {
	msg := res.Message
	if msg == "" {
		msg = "Welcome"
	}
	switch l.au.method {
	case auth.PAP:
		return &pap.Ack{Identifier: id, Message: msg}, nil
	case auth.MSCHAPv2:
		// RFC 2759 §5: "S=<auth_string> M=<message>".
		d, err := auth.ParseAuthenticatorResponse(res.AuthenticatorResponse)
		if err != nil {
			return nil, fmt.Errorf("verifier: MS-CHAPv2 authenticator response: %w", err)
		}
		s := chap.MSCHAPv2Success{Message: msg}
		copy(s.AuthenticatorResponse[:], d)
		t, err := s.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("verifier: MS-CHAPv2 success: %w", err)
		}
		return &chap.Success{Identifier: id, Message: string(t)}, nil
	}
	return &chap.Success{Identifier: id, Message: msg}, nil
}

// failure builds the Authenticator's negative answer. MS-CHAP's carries
// error 691, no retry (RFC 2433 §2.2, RFC 2759 §6).
func (l *Link) failure(id uint8, msg string) interface{ MarshalBinary() ([]byte, error) } {
	if msg == "" {
		msg = "Authentication failed"
	}
	switch l.au.method {
	case auth.PAP:
		return &pap.Nak{Identifier: id, Message: msg}
	case auth.MSCHAPv1, auth.MSCHAPv2:
		f := chap.MSCHAPFailure{Error: chap.ErrorAuthenticationFailure, Message: msg}
		if l.au.method == auth.MSCHAPv2 {
			f.Challenge, f.Version = l.au.challenge, 3
		}
		t, err := f.MarshalText()
		if err == nil {
			msg = string(t)
		}
	}
	return &chap.Failure{Identifier: id, Message: msg}
}

// answer is the Peer's side of PAP and CHAP.
func (l *Link) answer(f ppp.Frame) {
	if f.Protocol == ppp.ProtocolPAP {
		p, err := pap.Parse(f.Information)
		if err != nil || l.au.done {
			return
		}
		switch p := p.(type) {
		case *pap.Ack:
			if p.Identifier == l.au.id {
				l.authOK()
			}
		case *pap.Nak:
			if p.Identifier == l.au.id {
				l.authFailed("rejected: " + printable(p.Message))
			}
		}
		return
	}
	p, err := chap.Parse(f.Information)
	if err != nil {
		return
	}
	switch p := p.(type) {
	case *chap.Challenge:
		l.respond(p)
	case *chap.Success:
		if p.Identifier != l.au.id || !l.au.answered || l.au.done {
			return
		}
		if l.au.method == auth.MSCHAPv2 && !l.checkServer(p.Message) {
			l.authFailed("MS-CHAPv2 authenticator response does not match: the server does not know the password")
			return
		}
		l.authOK()
	case *chap.Failure:
		if p.Identifier != l.au.id || !l.au.answered {
			return
		}
		msg := printable(p.Message)
		if l.au.method != auth.CHAP {
			var mf chap.MSCHAPFailure
			if mf.UnmarshalText([]byte(p.Message)) == nil {
				msg = fmt.Sprintf("E=%d %s", mf.Error, printable(mf.Message))
			}
		}
		l.authFailed("rejected: " + msg)
	}
}

// respond answers a CHAP Challenge (RFC 1994 §4.1, RFC 2433 §2.2, RFC 2759
// §4). A re-challenge in the Network phase is answered too.
func (l *Link) respond(c *chap.Challenge) {
	if l.au.answered && c.Identifier == l.au.id && bytes.Equal(c.Value, l.au.challenge) {
		// A retransmitted Challenge: our Response was lost. Answer
		// it the same, or an MS-CHAPv2 Success computed over the first
		// peer challenge would not verify.
		l.resend(l.au.reply)
		return
	}
	pw := []byte(l.cfg.Password)
	var value []byte
	var peerChallenge, nt []byte
	var err error
	switch l.au.method {
	case auth.CHAP:
		value = auth.MD5Response(c.Identifier, pw, c.Value)
	case auth.MSCHAPv1:
		value, err = auth.MSCHAPv1Response(c.Value, pw)
	case auth.MSCHAPv2:
		peerChallenge = make([]byte, auth.PeerChallengeLen)
		if _, err = io.ReadFull(l.cfg.Rand, peerChallenge); err != nil {
			break
		}
		nt, err = auth.GenerateNTResponse(c.Value, peerChallenge, auth.StripDomain([]byte(l.cfg.User)), pw)
		if err != nil {
			break
		}
		r := chap.MSCHAPv2Response{}
		copy(r.PeerChallenge[:], peerChallenge)
		copy(r.NTResponse[:], nt)
		value, err = r.MarshalBinary()
	}
	if err != nil {
		return // a malformed Challenge; the Authenticator times out
	}
	l.au.id, l.au.challenge, l.au.answered = c.Identifier, bytes.Clone(c.Value), true
	l.au.peerChallenge, l.au.ntResponse = peerChallenge, nt
	l.au.reply = l.sendAuth(&chap.Response{Identifier: c.Identifier, Value: value, Name: l.cfg.User})
}

// checkServer verifies the "S=" of an MS-CHAPv2 Success (RFC 2759 §8.8).
func (l *Link) checkServer(msg string) bool {
	var s chap.MSCHAPv2Success
	if s.UnmarshalText([]byte(msg)) != nil {
		return false
	}
	received := []byte("S=" + hex.EncodeToString(s.AuthenticatorResponse[:]))
	ok, err := auth.CheckAuthenticatorResponse([]byte(l.cfg.Password), l.au.ntResponse, l.au.peerChallenge,
		l.au.challenge, auth.StripDomain([]byte(l.cfg.User)), received)
	return err == nil && ok
}
