package aaa_test

import (
	"context"
	"errors"
	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"net/netip"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

func request(p aaa.Proof) link.AuthRequest {
	return link.AuthRequest{Method: p.Method, User: p.User, Password: string(p.Password), Identifier: p.ID, Challenge: p.Challenge, Response: p.Response}
}

func TestVerify(t *testing.T) {
	rows := []struct {
		name    string
		proof   func(t *testing.T) aaa.Proof
		ok      bool
		message string
		err     error // from Err
	}{
		{"good pap", func(t *testing.T) aaa.Proof { return proof(t, auth.PAP, "erin", "e") }, true, "", nil},
		{"good mschap2", func(t *testing.T) aaa.Proof { return proof(t, auth.MSCHAPv2, "erin", "e") }, true, "", nil},
		{"wrong password", func(t *testing.T) aaa.Proof { return proof(t, auth.CHAP, "erin", "x") }, false, aaa.MessageAuthFailed, aaa.ErrAuthFailed},
		{"unknown user", func(t *testing.T) aaa.Proof { return proof(t, auth.CHAP, "zed", "x") }, false, aaa.MessageAuthFailed, aaa.ErrAuthFailed},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			l := newLocal(t)
			le := l.Begin(aaa.ServicePPPoE)
			defer le.Release()
			p := r.proof(t)
			res, err := le.Verify(context.Background(), request(p))
			if err != nil || res.OK != r.ok || res.Message != r.message {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
			if (p.Method == auth.MSCHAPv2 && r.ok) != (res.AuthenticatorResponse != nil) {
				t.Errorf("authenticator response %q", res.AuthenticatorResponse)
			}
			if !errors.Is(le.Err(), r.err) || (r.err == nil) != (le.Err() == nil) {
				t.Errorf("Err = %v, want %v", le.Err(), r.err)
			}
		})
	}
	// only-one is a refusal with its own message.
	l := newLocal(t)
	first := l.Begin(aaa.ServicePPPoE)
	if res, _ := first.Verify(context.Background(), request(proof(t, auth.PAP, "erin", "e"))); !res.OK {
		t.Fatal("first session refused")
	}
	second := l.Begin(aaa.ServicePPPoE)
	res, err := second.Verify(context.Background(), request(proof(t, auth.PAP, "erin", "e")))
	if err != nil || res.OK || res.Message != aaa.MessageOnlyOne || !errors.Is(second.Err(), aaa.ErrOnlyOne) {
		t.Errorf("second session: %+v, %v, Err %v", res, err, second.Err())
	}
	// A released lease is an error, not a refusal.
	second.Release()
	if _, err := second.Verify(context.Background(), request(proof(t, auth.PAP, "erin", "e"))); err == nil {
		t.Error("Verify on a released lease")
	}
}

func TestAddressPolicy(t *testing.T) {
	a := netip.MustParseAddr
	l := newLocal(t)
	le := l.Begin(aaa.ServicePPPoE)
	defer le.Release()
	if _, err := le.Addresses("alice"); err == nil {
		t.Error("addresses before authentication")
	}
	if res, _ := le.Verify(context.Background(), request(proof(t, auth.CHAP, "alice", "wonderland"))); !res.OK {
		t.Fatal("refused")
	}
	if _, err := le.Addresses("bob"); err == nil || !strings.Contains(le.Err().Error(), "bob") {
		t.Errorf("addresses for another user: %v", err)
	}
	got, err := le.Addresses("alice")
	want := link.IPConfig{Local: a("10.0.0.1"), Remote: a("10.0.0.10"), DNS1: a("192.0.2.53"), DNS2: a("192.0.2.54")}
	if err != nil || got != want || le.Err() != nil {
		t.Errorf("aaa.Addresses = %+v, %v; want %+v", got, err, want)
	}
	// One DNS server: DNS2 stays unset so the link rejects the peer's request for it.
	b := l.Begin(aaa.ServicePPPoE)
	defer b.Release()
	_, _ = b.Verify(context.Background(), request(proof(t, auth.PAP, "bob", "builder")))
	if got, _ := b.Addresses("bob"); got.DNS1.IsValid() || got.DNS2.IsValid() {
		t.Errorf("bob's profile has no DNS: %+v", got)
	}
	// Exhaustion is kept for the log line.
	x := l.Begin(aaa.ServicePPPoE)
	_, _ = x.Verify(context.Background(), request(proof(t, auth.PAP, "alice", "wonderland")))
	_, _ = x.Addresses("alice")
	y := l.Begin(aaa.ServicePPPoE)
	_, _ = y.Verify(context.Background(), request(proof(t, auth.PAP, "alice", "wonderland")))
	if _, err := y.Addresses("alice"); !errors.Is(err, pool.ErrNoAddrAvail) || !errors.Is(y.Err(), pool.ErrNoAddrAvail) {
		t.Errorf("exhausted: %v / %v", err, y.Err())
	}
	x.Release()
	y.Release()
}

// FuzzAuthenticate feeds arbitrary credentials to every method: no panic,
// and nothing but the right password for an existing user gets in.
func FuzzAuthenticate(f *testing.F) {
	f.Add(uint8(1), "alice", []byte("wonderland"), uint8(0), []byte{}, []byte{})
	f.Add(uint8(2), "alice", []byte{}, uint8(7), []byte("0123456789abcdef"), make([]byte, 16))
	f.Add(uint8(3), "alice", []byte{}, uint8(7), []byte("8bytes!!"), make([]byte, 49))
	f.Add(uint8(4), "alice", []byte{}, uint8(7), []byte("authenticator-16"), make([]byte, 49))
	cfg := load(f, script)
	f.Fuzz(func(t *testing.T, m uint8, user string, pw []byte, id uint8, ch, resp []byte) {
		l, err := aaa.New(cfg.LocalAAA(), nil)
		if err != nil {
			t.Fatal(err)
		}
		le := l.Begin(aaa.ServicePPPoE)
		res, err := le.Authenticate(aaa.Proof{Method: auth.Method(m), User: user, Password: pw, ID: id, Challenge: ch, Response: resp})
		if err == nil {
			var sec *config.Secret
			if s, ok := cfg.Secrets.Get(user); ok {
				sec = &s
			}
			switch {
			case sec == nil || sec.Disabled:
				t.Fatalf("accepted %q, who has no usable secret", user)
			case res.User != user:
				t.Fatalf("accepted %q as %q", user, res.User)
			case auth.Method(m) == auth.PAP && string(pw) != sec.Password:
				t.Fatalf("wrong PAP password accepted for %q", user)
			}
		}
		le.Release()
		if l.Online(user) != 0 || l.Counters().Leases != 0 {
			t.Fatal("release left state behind")
		}
	})
}
