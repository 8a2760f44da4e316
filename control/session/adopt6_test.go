package session

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// TestAdoptIPv6: a dual-stack session with a delegated prefix is saved
// and adopted by a "new process" whose prefix pool holds only what the
// record names: nothing is sent at adoption, the prefixes stay on the
// entry, an RS is answered with the same /64, and the client's DHCPv6
// Renew is answered with the same prefix (not NoBinding), the pool
// unchanged; the session's end returns the prefix to the new pool.
func TestAdoptIPv6(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	c := r.dhcpExchange(t)
	lease, _ := c.Lease()
	saved, err := r.s.Resumable()
	if err != nil {
		t.Fatal(err)
	}
	if saved.IPv6 == nil || saved.IPv6.Prefixes.Link != v6Link || !slices.Equal(saved.IPv6.Prefixes.Delegated, []netip.Prefix{lease.Prefix}) {
		t.Fatalf("resumable IPv6 %+v, want link %v and %v delegated", saved.IPv6, v6Link, lease.Prefix)
	}
	if len(saved.IPv6.Bindings) != 1 || !saved.IPv6.Bindings[0].PD || saved.IPv6.Bindings[0].Prefix != lease.Prefix {
		t.Fatalf("resumable bindings %+v", saved.IPv6.Bindings)
	}

	// The new process: its own AAA and a pool with the record's prefix
	// taken again.
	cfg, err := config.Load(script)
	if err != nil {
		t.Fatal(err)
	}
	local, err := aaa.New(cfg.LocalAAA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info := saved.Link.Info
	ans, err := local.Resume(aaa.Resumed{Service: aaa.ServicePPPoE, User: info.User, Profile: saved.Answer.Profile,
		Pool: saved.Answer.Pool, Local: info.IP.Local, Remote: info.IP.Remote})
	if err != nil {
		t.Fatal(err)
	}
	pd, err := pool.NewPrefixPool(pool.PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 56})
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.Reserve(lease.Prefix); err != nil {
		t.Fatal(err)
	}
	ans.IPv6, ans.IPv6Link, ans.IPv6Delegate, ans.IPv6DNS = true, v6Link, pd, saved.Answer.IPv6DNS
	saved.Answer = ans
	sc := r.s.cfg
	sc.KeepaliveTimeout = 0 // the clock jumps to the client's T1 below
	st := *sc.Settings
	st.AAA = local
	sc.Settings = &st
	s2, err := Adopt(sc, saved)
	if err != nil {
		t.Fatal(err)
	}
	r.takeOut()
	r.s = s2
	n := r.sentCount()
	r.s.start(r.now)
	if out := r.takeOut(); len(out) != 0 {
		t.Fatalf("adoption sent %d frames", len(out))
	}
	links, delegated := r.dp6.v6Prefixes()
	if !slices.Equal(links, []netip.Prefix{v6Link}) || !slices.Equal(delegated, []netip.Prefix{lease.Prefix}) {
		t.Fatalf("after adoption the data plane holds %v %v", links, delegated)
	}
	if got := r.s.IPv6(); got.Link != v6Link || !slices.Equal(got.Delegated, []netip.Prefix{lease.Prefix}) {
		t.Fatalf("adopted session shows %+v", got)
	}

	// An RS is answered with the link /64.
	rs, err := ra.MarshalSolicitation(ipv6.LinkLocal(ipv6.InterfaceID(peerIID)))
	if err != nil {
		t.Fatal(err)
	}
	n = r.sentCount()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: rs}, r.now)
	r.at(r.now.Sub(t0) + time.Second)
	answered := false
	for _, b := range r.sentIPv6(n) {
		ad, err := ra.ParseAdvertisement(b)
		if err != nil {
			continue
		}
		for _, o := range ad.Message.Options {
			if pi, ok := o.(*ndp.PrefixInformation); ok && netip.PrefixFrom(pi.Prefix, int(pi.PrefixLength)) == v6Link {
				answered = true
			}
		}
	}
	if !answered {
		t.Fatal("RS after adoption not answered with the link /64")
	}

	// The client renews at T1: the same prefix, with a new lifetime.
	next, ok := c.Next()
	if !ok {
		t.Fatal("client has no renewal due")
	}
	r.at(next.Sub(t0))
	out, _, err := c.Step(r.now)
	if err != nil || out == nil {
		t.Fatalf("client renew: %v", err)
	}
	n = r.sentCount()
	if r.s.Reason() != ReasonNone {
		t.Fatalf("session ended before the Renew: %v", r.s.Reason())
	}
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: out}, r.now)
	if len(r.sentIPv6(n)) == 0 {
		t.Fatal("Renew unanswered")
	}
	for _, b := range r.sentIPv6(n) {
		if p, err := ipv6.Parse(b); err == nil && p.NextHeader == ipv6.ProtoUDP {
			if _, _, err := c.Handle(r.now, b); err != nil {
				t.Fatalf("renew reply: %v", err)
			}
		}
	}
	renewed, ok := c.Lease()
	if !ok || renewed.Prefix != lease.Prefix || !renewed.Obtained.Equal(r.now) {
		t.Fatalf("after the Renew the client holds %+v (ok %v); want %v renewed now", renewed, ok, lease.Prefix)
	}
	if pd.Used() != 1 {
		t.Fatalf("pool has %d out after the Renew, want 1", pd.Used())
	}
	r.s.finish(ReasonAdmin, "", r.now)
	if pd.Used() != 0 {
		t.Fatalf("pool has %d out after the adopted session ended", pd.Used())
	}
}
