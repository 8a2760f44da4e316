package aaa_test

import (
	"errors"
	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
)

const script = `
/ip pool
add name=small ranges=10.0.0.10-10.0.0.11
add name=big ranges=10.1.0.0/24
add name=statics ranges=10.2.0.0/29
/ppp profile
add name=pooled local-address=10.0.0.1 remote-address=small dns-server=192.0.2.53,192.0.2.54
add name=fixed local-address=10.9.0.1 remote-address=10.9.0.2
add name=single local-address=10.0.0.1 remote-address=big only-one=yes
add name=nolocal remote-address=big
add name=localpool local-address=big remote-address=big change-tcp-mss=no
/ppp secret
add name=alice password=wonderland profile=pooled
add name=bob password=builder profile=fixed service=pppoe
add name=carol password=carol-pw profile=pooled service=l2tp
add name=dave password=dave-pw profile=pooled disabled=yes
add name=erin password=e profile=single
add name=frank password=f profile=pooled local-address=10.3.0.1 remote-address=10.2.0.5
add name=gina password=g profile=pooled remote-address=172.16.0.9
add name=hank password=h profile=nolocal
add name=ivy password=i profile=localpool
add name=jack password=j profile=fixed service=any
`

func load(t testing.TB, s string) *config.Config {
	t.Helper()
	cfg, err := config.Load(s)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func newLocal(t *testing.T) *aaa.Local {
	t.Helper()
	l, err := aaa.New(load(t, script).LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// proof builds what an honest peer who knows password sends for m.
func proof(t *testing.T, m auth.Method, user, password string) aaa.Proof {
	t.Helper()
	p := aaa.Proof{Method: m, User: user, ID: 7}
	var err error
	switch m {
	case auth.PAP:
		p.Password = []byte(password)
	case auth.CHAP:
		p.Challenge = []byte("0123456789abcdef")
		p.Response = auth.MD5Response(p.ID, []byte(password), p.Challenge)
	case auth.MSCHAPv1:
		p.Challenge = []byte("8bytes!!")
		p.Response, err = auth.MSCHAPv1Response(p.Challenge, []byte(password))
	case auth.MSCHAPv2:
		p.Challenge = []byte("authenticator-16")
		var r chap.MSCHAPv2Response
		copy(r.PeerChallenge[:], "peer-challenge16")
		var nt []byte
		nt, err = auth.GenerateNTResponse(p.Challenge, r.PeerChallenge[:], []byte(user), []byte(password))
		if err == nil {
			copy(r.NTResponse[:], nt)
			p.Response, err = r.MarshalBinary()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthenticateMethods(t *testing.T) {
	methods := []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2}
	rows := []struct {
		name, service, user, password string
		ok                            bool
		why                           string // in the error when !ok
	}{
		{"good", "pppoe", "alice", "wonderland", true, ""},
		{"service pppoe", "pppoe", "bob", "builder", true, ""},
		{"service any", "pppoe", "jack", "j", true, ""},
		{"wrong password", "pppoe", "alice", "wonderlanD", false, "wrong password"},
		{"empty password", "pppoe", "alice", "", false, "wrong password"},
		{"unknown user", "pppoe", "mallory", "x", false, "no such secret"},
		{"user case matters", "pppoe", "Alice", "wonderland", false, "no such secret"},
		{"disabled", "pppoe", "dave", "dave-pw", false, "disabled"},
		{"service mismatch", "pppoe", "carol", "carol-pw", false, "service l2tp"},
		{"service matches l2tp", "l2tp", "carol", "carol-pw", true, ""},
		{"pppoe secret on l2tp", "l2tp", "bob", "builder", false, "service pppoe"},
	}
	for _, m := range methods {
		for _, r := range rows {
			t.Run(m.String()+"/"+r.name, func(t *testing.T) {
				l := newLocal(t)
				le := l.Begin(r.service)
				defer le.Release()
				res, err := le.Authenticate(proof(t, m, r.user, r.password))
				if r.ok != (err == nil) {
					t.Fatalf("err = %v, want ok=%v", err, r.ok)
				}
				c := l.Counters()
				if !r.ok {
					if !errors.Is(err, aaa.ErrAuthFailed) || !strings.Contains(err.Error(), r.why) {
						t.Errorf("err = %v, want aaa.ErrAuthFailed with %q", err, r.why)
					}
					if r.password != "" && strings.Contains(err.Error(), r.password) {
						t.Errorf("error %q leaks the password", err)
					}
					if c.AuthFailed != 1 || c.AuthOK != 0 || le.User() != "" {
						t.Errorf("counters %+v user %q after failure", c, le.User())
					}
					return
				}
				if res.User != r.user || le.User() != r.user || c.AuthOK != 1 || l.Online(r.user) != 1 {
					t.Errorf("result %+v counters %+v online %d", res, c, l.Online(r.user))
				}
				if m == auth.MSCHAPv2 {
					p := proof(t, m, r.user, r.password)
					var resp chap.MSCHAPv2Response
					_ = resp.UnmarshalBinary(p.Response)
					good, err := auth.CheckAuthenticatorResponse([]byte(r.password), resp.NTResponse[:], resp.PeerChallenge[:], p.Challenge, []byte(r.user), res.AuthenticatorResponse)
					if err != nil || !good {
						t.Errorf("authenticator response %q does not check: %v", res.AuthenticatorResponse, err)
					}
				} else if res.AuthenticatorResponse != nil {
					t.Errorf("authenticator response for %v", m)
				}
			})
		}
	}
}

func TestAuthenticateMalformed(t *testing.T) {
	rows := []struct {
		name   string
		mutate func(*aaa.Proof)
	}{
		{"chap short response", func(p *aaa.Proof) { p.Response = p.Response[:15] }},
		{"chap long response", func(p *aaa.Proof) { p.Response = append(p.Response, 0) }},
		{"chap other id", func(p *aaa.Proof) { p.ID++ }},
		{"chap other challenge", func(p *aaa.Proof) { p.Challenge = []byte("another challenge") }},
		{"chap empty response", func(p *aaa.Proof) { p.Response = nil }},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			le := newLocal(t).Begin(aaa.ServicePPPoE)
			defer le.Release()
			p := proof(t, auth.CHAP, "alice", "wonderland")
			r.mutate(&p)
			if _, err := le.Authenticate(p); !errors.Is(err, aaa.ErrAuthFailed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// MS-CHAP responses truncated at every length, and one octet too long.
	for _, m := range []auth.Method{auth.MSCHAPv1, auth.MSCHAPv2} {
		good := proof(t, m, "alice", "wonderland")
		for n := 0; n <= len(good.Response)+1; n++ {
			if n == len(good.Response) {
				continue
			}
			p := good
			p.Response = append(slices.Clone(good.Response), 0)[:n]
			le := newLocal(t).Begin(aaa.ServicePPPoE)
			if _, err := le.Authenticate(p); !errors.Is(err, aaa.ErrAuthFailed) {
				t.Errorf("%v response of %d octets: err = %v", m, n, err)
			}
			le.Release()
		}
		// The MS-CHAPv1 LM-only flag is refused.
		if m == auth.MSCHAPv1 {
			p := good
			p.Response = slices.Clone(good.Response)
			p.Response[48] = 0
			if _, err := newLocal(t).Begin(aaa.ServicePPPoE).Authenticate(p); !errors.Is(err, aaa.ErrAuthFailed) {
				t.Errorf("LM-only response: err = %v", err)
			}
		}
	}
	if _, err := newLocal(t).Begin(aaa.ServicePPPoE).Authenticate(aaa.Proof{Method: 99, User: "alice"}); !errors.Is(err, aaa.ErrAuthFailed) {
		t.Errorf("unknown method: err = %v", err)
	}
}

func authed(t *testing.T, l *aaa.Local, user, password string) *aaa.Lease {
	t.Helper()
	le := l.Begin(aaa.ServicePPPoE)
	if _, err := le.Authenticate(proof(t, auth.PAP, user, password)); err != nil {
		t.Fatal(err)
	}
	return le
}

func TestAddresses(t *testing.T) {
	a := netip.MustParseAddr
	rows := []struct {
		user, password string
		want           aaa.Addresses
		pool           string // pool whose Used goes up by one, "" none
		mss            bool
	}{
		{"alice", "wonderland", aaa.Addresses{a("10.0.0.1"), a("10.0.0.10"), []netip.Addr{a("192.0.2.53"), a("192.0.2.54")}}, "small", true},
		{"bob", "builder", aaa.Addresses{a("10.9.0.1"), a("10.9.0.2"), nil}, "", true},
		// aaa.Secret's addresses win; the remote one lies in "statics" and is reserved there.
		{"frank", "f", aaa.Addresses{a("10.3.0.1"), a("10.2.0.5"), []netip.Addr{a("192.0.2.53"), a("192.0.2.54")}}, "statics", true},
		// A secret remote address outside every pool is used as is.
		{"gina", "g", aaa.Addresses{a("10.0.0.1"), a("172.16.0.9"), []netip.Addr{a("192.0.2.53"), a("192.0.2.54")}}, "", true},
		{"ivy", "i", aaa.Addresses{a("10.1.0.0"), a("10.1.0.1"), nil}, "big", false},
	}
	for _, r := range rows {
		t.Run(r.user, func(t *testing.T) {
			l := newLocal(t)
			before := l.PoolUsed(r.pool)
			le := authed(t, l, r.user, r.password)
			got, err := le.Assign()
			if err != nil {
				t.Fatal(err)
			}
			if got.Local != r.want.Local || got.Remote != r.want.Remote || !slices.Equal(got.DNS, r.want.DNS) {
				t.Errorf("addresses %+v, want %+v", got, r.want)
			}
			if le.Profile().ChangeTCPMSS != r.mss {
				t.Errorf("change-tcp-mss %v", le.Profile().ChangeTCPMSS)
			}
			again, _ := le.Assign()
			if again.Remote != got.Remote {
				t.Errorf("second call gave %v", again.Remote)
			}
			used := func() int { return l.PoolUsed("small") + l.PoolUsed("big") + l.PoolUsed("statics") }
			if r.pool != "" {
				if l.PoolUsed(r.pool) <= before {
					t.Errorf("pool %s used %d, was %d", r.pool, l.PoolUsed(r.pool), before)
				}
			}
			n := used()
			le.Release()
			if want := 0; used() != want {
				t.Errorf("after release %d addresses used (was %d), want %d", used(), n, want)
			}
		})
	}
}

func TestAddressErrors(t *testing.T) {
	l := newLocal(t)
	le := l.Begin(aaa.ServicePPPoE)
	if _, err := le.Assign(); err == nil {
		t.Error("addresses before authentication")
	}
	h := authed(t, l, "hank", "h")
	if _, err := h.Assign(); !errors.Is(err, aaa.ErrNoAddress) {
		t.Errorf("no local-address: err = %v", err)
	}
	h.Release()
	if l.PoolUsed("big") != 0 {
		t.Errorf("failed lease kept %d addresses of big", l.PoolUsed("big"))
	}
	// The static address of frank can be held once.
	f1 := authed(t, l, "frank", "f")
	if _, err := f1.Assign(); err != nil {
		t.Fatal(err)
	}
	f2 := authed(t, l, "frank", "f")
	if _, err := f2.Assign(); !errors.Is(err, pool.ErrInUse) {
		t.Errorf("second holder of 10.2.0.5: err = %v", err)
	}
	f2.Release()
	f1.Release()
	if _, err := f1.Assign(); err == nil {
		t.Error("addresses of a released lease")
	}
	if _, err := f1.Authenticate(proof(t, auth.PAP, "frank", "f")); err == nil {
		t.Error("authenticate a released lease")
	}
}

func TestExhaustionAndReleaseOnce(t *testing.T) {
	l := newLocal(t)
	var leases []*aaa.Lease
	for range 2 { // small has two addresses
		le := authed(t, l, "alice", "wonderland")
		if _, err := le.Assign(); err != nil {
			t.Fatal(err)
		}
		leases = append(leases, le)
	}
	third := authed(t, l, "alice", "wonderland")
	_, err := third.Assign()
	if !errors.Is(err, pool.ErrNoAddrAvail) || !strings.Contains(err.Error(), `pool "small"`) {
		t.Fatalf("exhausted pool: err = %v", err)
	}
	if c := l.Counters(); c.PoolExhausted != 1 || c.Leases != 3 {
		t.Errorf("counters %+v", c)
	}
	third.Release()
	// Release twice: the second call must not free an address someone else got since.
	leases[0].Release()
	fourth := authed(t, l, "alice", "wonderland")
	if _, err := fourth.Assign(); err != nil {
		t.Fatal(err)
	}
	leases[0].Release()
	if got := l.PoolUsed("small"); got != 2 {
		t.Errorf("small used %d after a double release, want 2", got)
	}
	if l.Online("alice") != 2 {
		t.Errorf("alice online %d, want 2", l.Online("alice"))
	}
	leases[1].Release()
	fourth.Release()
	if c := l.Counters(); c.Leases != 0 || l.Online("alice") != 0 || l.PoolUsed("small") != 0 {
		t.Errorf("after all releases: counters %+v online %d used %d", c, l.Online("alice"), l.PoolUsed("small"))
	}
}

func TestOnlyOne(t *testing.T) {
	l := newLocal(t)
	first := authed(t, l, "erin", "e")
	second := l.Begin(aaa.ServicePPPoE)
	if _, err := second.Authenticate(proof(t, auth.PAP, "erin", "e")); !errors.Is(err, aaa.ErrOnlyOne) {
		t.Fatalf("second session: err = %v", err)
	}
	second.Release()
	// A profile without only-one allows several.
	a1, a2 := authed(t, l, "alice", "wonderland"), authed(t, l, "alice", "wonderland")
	a1.Release()
	a2.Release()
	first.Release()
	third := authed(t, l, "erin", "e")
	third.Release()
	if c := l.Counters(); c.OnlyOneRefused != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestOnlyOneConcurrent(t *testing.T) {
	l := newLocal(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			le := l.Begin(aaa.ServicePPPoE)
			if _, err := le.Authenticate(proof(t, auth.CHAP, "erin", "e")); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d concurrent sessions of an only-one user, want 1", won)
	}
}

func TestReauthenticate(t *testing.T) {
	l := newLocal(t)
	le := authed(t, l, "alice", "wonderland")
	if _, err := le.Authenticate(proof(t, auth.CHAP, "alice", "wonderland")); err != nil {
		t.Errorf("same user again: %v", err)
	}
	if _, err := le.Authenticate(proof(t, auth.PAP, "bob", "builder")); !errors.Is(err, aaa.ErrAuthFailed) {
		t.Errorf("another user on the same lease: err = %v", err)
	}
	le.Release()
	if l.Online("alice") != 0 || l.Online("bob") != 0 {
		t.Error("online count leaked")
	}
}

func TestUpdateKeepsLeases(t *testing.T) {
	l := newLocal(t)
	le := authed(t, l, "alice", "wonderland")
	got, err := le.Assign()
	if err != nil {
		t.Fatal(err)
	}
	// Shrink "small" to a range without the leased address, drop alice,
	// and change the profile.
	next := strings.NewReplacer(
		"add name=small ranges=10.0.0.10-10.0.0.11", "add name=small ranges=10.0.0.11",
		"add name=alice password=wonderland profile=pooled\n", "",
		"dns-server=192.0.2.53,192.0.2.54", "dns-server=198.51.100.1",
		"/ppp secret\n", "/ppp secret\nadd name=kim password=k profile=pooled\n",
	).Replace(script)
	if err := l.Update(load(t, next).LocalAAA()); err != nil {
		t.Fatal(err)
	}
	if l.PoolUsed("small") != 1 {
		t.Errorf("small used %d after update, want the live lease", l.PoolUsed("small"))
	}
	if again, _ := le.Assign(); again.Remote != got.Remote || len(again.DNS) != 2 {
		t.Errorf("live lease changed: %+v", again)
	}
	if _, err := l.Begin(aaa.ServicePPPoE).Authenticate(proof(t, auth.PAP, "alice", "wonderland")); !errors.Is(err, aaa.ErrAuthFailed) {
		t.Errorf("removed secret still authenticates: %v", err)
	}
	// The shrunk pool's one address goes to a new session, and then it is full:
	// the retired 10.0.0.10 is not handed out again.
	k := authed(t, l, "kim", "k")
	if ka, err := k.Assign(); err != nil || ka.Remote != netip.MustParseAddr("10.0.0.11") {
		t.Errorf("new session after update: %+v, %v", ka, err)
	}
	k2 := authed(t, l, "kim", "k")
	if _, err := k2.Assign(); !errors.Is(err, pool.ErrNoAddrAvail) {
		t.Errorf("retired address handed out again: err = %v", err)
	}
	k2.Release()
	k.Release()
	le.Release()
	if l.PoolUsed("small") != 0 {
		t.Errorf("small used %d after release", l.PoolUsed("small"))
	}
	p, _ := l.Profile("pooled")
	if len(p.DNS) != 1 || p.DNS[0] != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("profile not updated: %+v", p)
	}
	// An invalid pool set is refused and nothing changes.
	bad := load(t, script)
	bad.Pools, _ = bad.Pools.With(config.Pool{Name: "loop", NextPool: "loop"})
	if err := l.Update(bad.LocalAAA()); err == nil {
		t.Error("update with a looping next-pool accepted")
	}
	if _, ok := l.Profile("pooled"); !ok {
		t.Error("failed update dropped profiles")
	}
}

func TestProfileDefaults(t *testing.T) {
	rows := []struct {
		script       string
		onlyOne, mss bool
		profile      string
	}{
		{"", false, true, "default"},
		{"/ppp profile set default only-one=yes change-tcp-mss=no", true, false, "default"},
		// A new profile's change-tcp-mss is yes (config's default), its only-one "default".
		{"/ppp profile set default only-one=yes change-tcp-mss=no\n/ppp profile add name=p", true, true, "p"},
		{"/ppp profile set default only-one=yes change-tcp-mss=no\n/ppp profile add name=p change-tcp-mss=default", true, false, "p"},
		{"/ppp profile set default only-one=yes\n/ppp profile add name=p only-one=no change-tcp-mss=yes", false, true, "p"},
	}
	for _, r := range rows {
		l, err := aaa.New(load(t, r.script).LocalAAA(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := l.Profile(r.profile)
		if !ok || p.OnlyOne != r.onlyOne || p.ChangeTCPMSS != r.mss {
			t.Errorf("%q: profile %s = %+v", r.script, r.profile, p)
		}
	}
}

// TestRateLimit: a profile's rate-limit (the default profile's when it
// has none) reaches the lease, and a secret's overrides it.
func TestRateLimit(t *testing.T) {
	l, err := aaa.New(load(t, `
/ppp profile
set default rate-limit=2M/4M
add name=plan rate-limit="10M/50M 20M/100M" queue-type=cake-default
add name=plain
/ppp secret
add name=p1 password=x profile=plan
add name=p2 password=x profile=plan rate-limit=1M/3M
add name=p3 password=x profile=plain
`).LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		user, want string
		shape      bool
	}{{"p1", "10M/50M 20M/100M", true}, {"p2", "1M/3M", true}, {"p1", "10M/50M 20M/100M", true}, {"p3", "2M/4M", false}} {
		// p1 after p2: p2's own rate-limit is p2's alone, the profile
		// its leases share is unchanged.
		le := l.Begin(aaa.ServicePPPoE)
		if _, err := le.Authenticate(proof(t, auth.PAP, r.user, "x")); err != nil {
			t.Fatal(err)
		}
		p := le.Profile()
		if p.RateLimit.String() != r.want || p.ShapeTx != r.shape {
			t.Errorf("%s: rate limit %q shape %v, want %q %v", r.user, p.RateLimit, p.ShapeTx, r.want, r.shape)
		}
		le.Release()
	}
}
