package aaa

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

// TestLeaseFootprint: a live session's lease holds its profile by
// pointer, shared with every lease of that profile, and lets go of the
// user's secret once the addresses the secret may fix are assigned: it
// is one allocation of 256 bytes for the session's life (issue 18).
func TestLeaseFootprint(t *testing.T) {
	if n := unsafe.Sizeof(Lease{}); n > 256 {
		t.Errorf("Lease is %d bytes, more than the 256-byte size class", n)
	}
	l, err := New(Settings{
		Secrets:  secretList{"alice": {Name: "alice", Password: "pw", Profile: "p"}, "bob": {Name: "bob", Password: "pw", Profile: "p"}},
		Profiles: []Profile{{Name: "p", LocalAddress: "10.0.0.1", RemoteAddress: "subs"}},
		Pools:    []pool.Spec{{Name: "subs", Ranges: []pool.Range{{First: netip.MustParseAddr("10.0.0.2"), Last: netip.MustParseAddr("10.0.0.9")}}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leases []*Lease
	for _, user := range []string{"alice", "bob"} {
		le := l.Begin(ServicePPPoE)
		if _, err := le.Authenticate(Proof{Method: auth.PAP, User: user, Password: []byte("pw")}); err != nil {
			t.Fatal(err)
		}
		if _, err := le.Assign(); err != nil {
			t.Fatal(err)
		}
		if le.secret != nil {
			t.Errorf("%s: the lease keeps the secret after its addresses are assigned", user)
		}
		leases = append(leases, le)
	}
	if leases[0].profile != leases[1].profile {
		t.Error("two leases of one profile hold a copy each")
	}
	for _, le := range leases {
		le.Release()
	}
}

type secretList map[string]Secret

func (s secretList) Get(name string) (Secret, bool) { v, ok := s[name]; return v, ok }
