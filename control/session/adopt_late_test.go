package session

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// lateScript serves dual-stack (alice), IPv6-only (carol) and IPv4-only
// (dave) users from real pools.
const lateScript = `
/ip pool add name=subs ranges=10.0.0.10-10.0.0.11
/ipv6 pool add name=links prefix=2001:db8:1::/48 prefix-length=64
/ipv6 pool add name=pd prefix=2001:db8:100::/48 prefix-length=56
/ppp profile add name=dual local-address=10.0.0.1 remote-address=subs remote-ipv6-prefix-pool=links dhcpv6-pd-pool=pd
/ppp profile add name=v6only remote-ipv6-prefix-pool=links dhcpv6-pd-pool=pd
/ppp profile add name=v4only local-address=10.0.0.1 remote-address=subs
/ppp secret add name=alice password=wonderland profile=dual
/ppp secret add name=carol password=wonderland profile=v6only
/ppp secret add name=dave password=wonderland profile=v4only
`

func lateAAA(t *testing.T) *aaa.Local {
	t.Helper()
	cfg, err := config.Load(lateScript)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return local
}

// newLateRig is a rig over lateScript's AAA whose peer runs IPCP and
// IPv6CP.
func newLateRig(t *testing.T, user string) (*rig, *fakeDP6) {
	t.Helper()
	local := lateAAA(t)
	var dp6 *fakeDP6
	r := newRig(t, user, "wonderland", func(c *Config, pc *link.Config) {
		dp6 = &fakeDP6{fakeDP: c.DataPlane.(*fakeDP), link: map[int]netip.Prefix{}, delegated: map[int][]netip.Prefix{}}
		c.DataPlane = dp6
		c.AAA = local
		pc.IPv6 = func() bool { return true }
		pc.InterfaceID = func() ipv6cp.InterfaceID { return peerIID }
	})
	r.aaa = local
	return r, dp6
}

// exchangeHolding is exchange with the frames of protocol held lost
// both ways: a peer whose NCP has not got through yet.
func (r *rig) exchangeHolding(peerOut link.Output, held ppp.Protocol) {
	r.t.Helper()
	keep := func(fs []ppp.Frame) []ppp.Frame {
		return slices.DeleteFunc(fs, func(f ppp.Frame) bool { return f.Protocol == held })
	}
	pending := keep(peerOut.Send)
	r.notePeer(peerOut)
	for range 100 {
		for _, f := range pending {
			r.s.receive(f, r.now)
		}
		pending = nil
		for _, f := range keep(r.takeOut()) {
			out := r.peer.Receive(f, r.now)
			r.notePeer(out)
			pending = append(pending, keep(out.Send)...)
		}
		if len(pending) == 0 {
			return
		}
	}
	r.t.Fatal("exchange does not settle")
}

// adoptIn takes r's session over in a "new process" whose AAA is local:
// its Resumable, turned into a record and back as control/server does,
// resumed by local and adopted. Nothing may be sent.
func (r *rig) adoptIn(local *aaa.Local) {
	r.t.Helper()
	saved, err := r.s.Resumable()
	if err != nil {
		r.t.Fatal(err)
	}
	r.adoptFrom(local, saved)
}

// adoptFrom is adoptIn from saved, a record written earlier (a crash).
func (r *rig) adoptFrom(local *aaa.Local, saved Resumable) {
	r.t.Helper()
	info := saved.Link.Info
	rs := aaa.Resumed{Service: aaa.ServicePPPoE, User: info.User, Profile: saved.Answer.Profile,
		Local: info.IP.Local, Remote: info.IP.Remote}
	if info.IP.Remote.IsValid() {
		rs.Pool = saved.Answer.Pool
	}
	if v := saved.IPv6; v != nil {
		rs.IPv6 = &aaa.ResumedIPv6{Link: v.Prefixes.Link, PDPool: aaa.PoolName(saved.Answer.IPv6Delegate),
			Delegated: v.Prefixes.Delegated, DNS: saved.Answer.IPv6DNS}
	}
	ans, err := local.Resume(rs)
	if err != nil {
		r.t.Fatal(err)
	}
	saved.Answer = ans
	sc := r.s.cfg
	st := *sc.Settings
	st.AAA = local
	sc.Settings = &st
	s2, err := Adopt(sc, saved)
	if err != nil {
		r.t.Fatal(err)
	}
	r.takeOut()
	r.s, r.aaa = s2, local
	r.s.start(r.now)
	if out := r.takeOut(); len(out) != 0 {
		r.t.Fatalf("adoption sent %d frames", len(out))
	}
}

// peerRetries moves the clock past the peer's Restart timer: its NCP
// that got no answer asks again, and the exchange runs to its end.
func (r *rig) peerRetries() {
	r.mu.Lock()
	r.now = r.now.Add(3 * time.Second)
	r.mu.Unlock()
	r.exchange(r.peer.Tick(r.now))
}

// TestAdoptLateNCP: a session adopted before its peer opened one of its
// network protocols (IPCP or IPv6CP was still on its way when the record
// was written) negotiates it when the peer asks again, as a live session
// would: IPCP gets an address from the new process's pool and the entry
// takes it in place, IPv6CP gets a link /64 and the entry its prefix;
// the session stays the one adopted (no install, no second session up).
func TestAdoptLateNCP(t *testing.T) {
	for _, late := range []ppp.Protocol{ppp.ProtocolIPCP, ppp.ProtocolIPv6CP} {
		t.Run(late.String(), func(t *testing.T) {
			r, dp6 := newLateRig(t, "alice")
			r.s.start(r.now)
			r.exchangeHolding(r.peer.Up(r.now), late)
			if r.s.State() != StateUp {
				t.Fatalf("state %v with one NCP open", r.s.State())
			}
			r.adoptIn(lateAAA(t))
			installs := r.dp.next
			r.peerRetries()
			if r.s.Reason() != ReasonNone || r.s.State() != StateUp {
				t.Fatalf("session %v (%v) after the late %v", r.s.State(), r.s.Reason(), late)
			}
			es := r.dp.entries()
			if len(es) != 1 || r.dp.next != installs {
				t.Fatalf("entries %+v after %d installs, want the adopted one alone", es, r.dp.next-installs)
			}
			switch late {
			case ppp.ProtocolIPCP:
				if a := es[0].IPv4; !a.IsValid() || r.s.Snapshot().Address != a || r.aaa.PoolUsed("subs") != 1 {
					t.Fatalf("entry IPv4 %v, snapshot %v, %d out of the pool: want the late IPCP's address",
						a, r.s.Snapshot().Address, r.aaa.PoolUsed("subs"))
				}
				if links, _ := dp6.v6Prefixes(); len(links) != 1 {
					t.Fatalf("link prefixes %v, want IPv6's kept", links)
				}
			case ppp.ProtocolIPv6CP:
				links, _ := dp6.v6Prefixes()
				if len(links) != 1 || !netip.MustParsePrefix("2001:db8:1::/48").Contains(links[0].Addr()) ||
					r.s.IPv6().Link != links[0] || r.aaa.PrefixPoolUsed("links") != 1 {
					t.Fatalf("link prefixes %v, session %+v, %d out of the pool: want a /64 of the new pool",
						links, r.s.IPv6(), r.aaa.PrefixPoolUsed("links"))
				}
				if !es[0].IPv4.IsValid() {
					t.Fatalf("entry %+v lost IPv4", es[0])
				}
			}
			again, err := r.s.Resumable()
			if err != nil || len(again.Link.NCPs) != 2 {
				t.Fatalf("resumable %+v (%v): want both NCPs recorded now", again.Link.NCPs, err)
			}
			r.s.finish(ReasonAdmin, "", r.now)
			if r.aaa.PoolUsed("subs") != 0 || r.aaa.PrefixPoolUsed("links") != 0 {
				t.Fatalf("pools hold %d, %d after the end", r.aaa.PoolUsed("subs"), r.aaa.PrefixPoolUsed("links"))
			}
		})
	}
}

// TestAdoptRejectsNCPNotOffered: an adopted session answers a network
// protocol its service does not offer with a Protocol-Reject, as it did
// before the restart: IPCP on an IPv6-only service (the link remembers
// there is no IPv4), IPv6CP on an IPv4-only one. It stays up.
func TestAdoptRejectsNCPNotOffered(t *testing.T) {
	for _, c := range []struct {
		user  string
		proto ppp.Protocol
		req   []byte // a Configure-Request's options
	}{
		{"carol", ppp.ProtocolIPCP, []byte{3, 6, 0, 0, 0, 0}},
		{"dave", ppp.ProtocolIPv6CP, []byte{1, 10, 2, 0, 0, 0xff, 0xfe, 0, 0, 1}},
	} {
		t.Run(c.user, func(t *testing.T) {
			r, _ := newLateRig(t, c.user)
			r.up()
			if r.s.State() != StateUp {
				t.Fatalf("state %v", r.s.State())
			}
			r.adoptIn(lateAAA(t))
			b, err := (&ppp.Packet{Code: ppp.ConfigureRequest, Identifier: 0x33, Data: c.req}).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				r.s.receive(ppp.Frame{Protocol: c.proto, Information: b}, r.now)
				var rejected bool
				for _, f := range r.takeOut() {
					var p ppp.Packet
					var d ppp.ProtocolRejectData
					if f.Protocol == ppp.ProtocolLCP && p.UnmarshalBinary(f.Information) == nil && p.Code == ppp.ProtocolReject &&
						d.UnmarshalBinary(p.Data) == nil && d.Protocol == c.proto {
						rejected = true
					}
				}
				if !rejected {
					t.Fatalf("%v Configure-Request %d not Protocol-Rejected", c.proto, i)
				}
			}
			if r.s.State() != StateUp || r.s.Reason() != ReasonNone {
				t.Fatalf("session %v (%v)", r.s.State(), r.s.Reason())
			}
		})
	}
}
