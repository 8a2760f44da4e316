package session

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/dhcp6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
)

// fakeDP6 is fakeDP with the IPv6 prefixes per installed entry, refusing
// them for an entry that is not installed as the maps do.
type fakeDP6 struct {
	*fakeDP
	link      map[int]netip.Prefix
	delegated map[int][]netip.Prefix
}

func (d *fakeDP6) SetIPv6LinkPrefix(h Handle, p netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.installed[h.(int)]; !ok {
		return errors.New("no such entry")
	}
	if !p.IsValid() {
		delete(d.link, h.(int))
		return nil
	}
	d.link[h.(int)] = p
	return nil
}

func (d *fakeDP6) AddIPv6Prefix(h Handle, p netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.installed[h.(int)]; !ok {
		return errors.New("no such entry")
	}
	if !slices.Contains(d.delegated[h.(int)], p) {
		d.delegated[h.(int)] = append(d.delegated[h.(int)], p)
	}
	return nil
}

func (d *fakeDP6) RemoveIPv6Prefix(h Handle, p netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.Index(d.delegated[h.(int)], p)
	if i < 0 {
		return errors.New("not delegated")
	}
	d.delegated[h.(int)] = slices.Delete(d.delegated[h.(int)], i, i+1)
	return nil
}

// Remove takes the entry's prefixes with it, as maps.Datapath.Remove does.
func (d *fakeDP6) Remove(h Handle) error {
	if err := d.fakeDP.Remove(h); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.link, h.(int))
	delete(d.delegated, h.(int))
	d.mu.Unlock()
	return nil
}

// v6Prefixes returns what the data plane holds over every entry.
func (d *fakeDP6) v6Prefixes() (links, delegated []netip.Prefix) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.link {
		links = append(links, p)
	}
	for _, ps := range d.delegated {
		delegated = append(delegated, ps...)
	}
	return links, delegated
}

// v6Backend is the local backend's answer with IPv6 turned on: a fixed
// link /64 whose release it records, a real prefix pool for PD.
type v6Backend struct {
	inner    aaa.Backend
	link     netip.Prefix
	pd       *pool.PrefixPool
	released *int
	lease    time.Duration // the profile's dhcpv6-lease-time; 0 unset
}

type countedGrant struct {
	aaa.Grant
	released *int
}

func (g countedGrant) Release() { *g.released++; g.Grant.Release() }

func (b v6Backend) Authenticate(ctx context.Context, req aaa.Request, reply func(aaa.Answer)) {
	b.inner.Authenticate(ctx, req, func(a aaa.Answer) {
		a.IPv6, a.IPv6Link, a.IPv6Delegate = true, b.link, b.pd
		a.DHCPv6LeaseTime = b.lease
		a.IPv6DNS = []netip.Addr{netip.MustParseAddr("2001:db8::53")}
		a.Lease = countedGrant{a.Lease, b.released}
		reply(a)
	})
}

var (
	v6Link  = netip.MustParsePrefix("2001:db8:1:2::/64")
	peerIID = ipv6cp.InterfaceID{0x02, 0, 0, 0xff, 0xfe, 0, 0, 0x01}
)

type v6Rig struct {
	*rig
	dp6      *fakeDP6
	pd       *pool.PrefixPool
	released int
}

// newV6Rig is a rig whose AAA turns IPv6 on and whose peer runs IPv6CP.
func newV6Rig(t *testing.T) *v6Rig {
	t.Helper()
	pd, err := pool.NewPrefixPool(pool.PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 56})
	if err != nil {
		t.Fatal(err)
	}
	v := &v6Rig{pd: pd}
	v.rig = newRig(t, "alice", "wonderland", func(c *Config, pc *link.Config) {
		v.dp6 = &fakeDP6{fakeDP: c.DataPlane.(*fakeDP), link: map[int]netip.Prefix{}, delegated: map[int][]netip.Prefix{}}
		c.DataPlane = v.dp6
		c.AAA = v6Backend{inner: c.AAA, link: v6Link, pd: pd, released: &v.released}
		pc.IPv6 = func() bool { return true }
		pc.InterfaceID = func() ipv6cp.InterfaceID { return peerIID }
	})
	return v
}

// sentIPv6 returns the IPv6 datagrams the session sent since i.
func (r *rig) sentIPv6(from int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, f := range r.sent[from:] {
		if f.Protocol == ppp.ProtocolIPv6 {
			out = append(out, f.Information)
		}
	}
	return out
}

func (r *rig) sentCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func TestIPv6UpSendsRA(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	if r.s.State() != StateUp {
		t.Fatalf("state %v", r.s.State())
	}
	if got := r.s.IPv6().Link; got != v6Link {
		t.Fatalf("link prefix %v, want %v", got, v6Link)
	}
	links, _ := r.dp6.v6Prefixes()
	if !slices.Equal(links, []netip.Prefix{v6Link}) {
		t.Fatalf("data plane link prefixes %v, want %v", links, v6Link)
	}
	n := r.sentCount()
	r.at(0) // the first RA is due as IPv6CP opens
	ras := r.sentIPv6(n)
	if len(ras) != 1 {
		t.Fatalf("%d IPv6 datagrams after IPv6CP opened, want 1 RA", len(ras))
	}
	ad, err := ra.ParseAdvertisement(ras[0])
	if err != nil {
		t.Fatal(err)
	}
	c := ra.Autoconfigure(ad, ipv6.InterfaceID(peerIID), 1492)
	want, _ := ipv6.WithInterfaceID(v6Link, ipv6.InterfaceID(peerIID))
	if len(c.Addresses) != 1 || c.Addresses[0].Addr != want {
		t.Fatalf("SLAAC from the RA: %+v, want %v", c, want)
	}
	if ad.Message.RouterLifetime == 0 {
		t.Fatal("router lifetime 0 in the first RA")
	}
}

func TestIPv6RouterSolicitationAnswered(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	r.at(0) // the first, unsolicited RA
	rs, err := ra.MarshalSolicitation(ipv6.LinkLocal(ipv6.InterfaceID(peerIID)))
	if err != nil {
		t.Fatal(err)
	}
	n := r.sentCount()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: rs}, r.now)
	r.at(ra.MaxRADelayTime)
	ras := r.sentIPv6(n)
	if len(ras) != 1 {
		t.Fatalf("%d RAs answering the RS, want 1", len(ras))
	}
	p, err := ipv6.Parse(ras[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.Dst != ipv6.LinkLocal(ipv6.InterfaceID(peerIID)) {
		t.Fatalf("RA to %v, want the soliciting client", p.Dst)
	}
}

// dhcpExchange runs a PD client against the session until it has a lease.
func (r *v6Rig) dhcpExchange(t *testing.T) *dhcp6.Client {
	t.Helper()
	c, err := dhcp6.NewClient(dhcp6.ClientConfig{
		DUID:          &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: client.HardwareAddr()},
		LocalID:       ipv6.InterfaceID(peerIID),
		IAID:          [4]byte{0, 0, 0, 1},
		RequestPrefix: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(r.now)
	for i := 0; i < 10; i++ {
		if _, ok := c.Lease(); ok {
			return c
		}
		if next, ok := c.Next(); ok && !next.After(r.now) {
			out, _, err := c.Step(r.now)
			if err != nil {
				t.Fatal(err)
			}
			if out != nil {
				r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: out}, r.now)
			}
		} else if ok {
			r.at(next.Sub(t0))
			continue
		}
		for _, b := range r.sentIPv6(0) {
			if p, err := ipv6.Parse(b); err != nil || p.NextHeader != ipv6.ProtoUDP {
				continue
			}
			out, _, err := c.Handle(r.now, b)
			if err != nil {
				continue // an RA, or an answer already taken
			}
			if out != nil {
				r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: out}, r.now)
			}
		}
		r.mu.Lock()
		r.sent = nil
		r.mu.Unlock()
	}
	t.Fatal("no DHCPv6 lease")
	return nil
}

func TestIPv6DHCPv6PrefixDelegated(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	c := r.dhcpExchange(t)
	l, _ := c.Lease()
	if !l.Prefix.IsValid() || l.Prefix.Bits() != 56 || !r.pd.Contains(l.Prefix) {
		t.Fatalf("delegated %v, want a /56 of the pool", l.Prefix)
	}
	if got := r.s.IPv6().Delegated; !slices.Equal(got, []netip.Prefix{l.Prefix}) {
		t.Fatalf("session holds %v, want %v", got, l.Prefix)
	}
	_, delegated := r.dp6.v6Prefixes()
	if !slices.Equal(delegated, []netip.Prefix{l.Prefix}) {
		t.Fatalf("data plane routes %v, want %v", delegated, l.Prefix)
	}
	if r.pd.Used() != 1 {
		t.Fatalf("pool has %d prefixes out, want 1", r.pd.Used())
	}
}

// TestIPv6DHCPv6LeaseTimeAndDUID: the session's DHCPv6 server answers
// with the server's DUID (Settings.ServerDUID, the same for every
// session and restart) and hands out the profile's dhcpv6-lease-time as
// valid and preferred lifetime, T1 and T2 at 0.5 and 0.8 of it (RFC 8415
// §21.4).
func TestIPv6DHCPv6LeaseTimeAndDUID(t *testing.T) {
	duid := &dhcpv6.DUIDUUID{UUID: [16]byte{0x5e, 0x1f, 15: 0x01}}
	pd, err := pool.NewPrefixPool(pool.PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 56})
	if err != nil {
		t.Fatal(err)
	}
	r := &v6Rig{pd: pd}
	r.rig = newRig(t, "alice", "wonderland", func(c *Config, pc *link.Config) {
		r.dp6 = &fakeDP6{fakeDP: c.DataPlane.(*fakeDP), link: map[int]netip.Prefix{}, delegated: map[int][]netip.Prefix{}}
		c.DataPlane = r.dp6
		c.ServerDUID = duid
		c.AAA = v6Backend{inner: c.AAA, link: v6Link, pd: pd, released: &r.released, lease: 10 * time.Second}
		pc.IPv6 = func() bool { return true }
		pc.InterfaceID = func() ipv6cp.InterfaceID { return peerIID }
	})
	r.up()
	l, _ := r.dhcpExchange(t).Lease()
	if l.Server == nil || !l.Server.Equal(duid) {
		t.Errorf("server DUID %v, want %v", l.Server, duid)
	}
	if l.Valid != 10*time.Second || l.Preferred != 10*time.Second || l.T1 != 5*time.Second || l.T2 != 8*time.Second {
		t.Errorf("lease valid %v preferred %v T1 %v T2 %v, want 10s, 10s, 5s, 8s", l.Valid, l.Preferred, l.T1, l.T2)
	}
}

func TestIPv6TerminateKeepsIPv4(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	r.dhcpExchange(t)
	before := r.dp.entries()
	if len(before) != 1 {
		t.Fatalf("%d entries installed, want 1", len(before))
	}
	term := ppp.Packet{Code: ppp.TerminateRequest, Identifier: 77}
	b, err := term.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	n := r.sentCount()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: b}, r.now)
	ras := r.sentIPv6(n)
	if len(ras) != 1 {
		t.Fatalf("%d IPv6 datagrams as IPv6CP closed, want the final RA", len(ras))
	}
	if ad, err := ra.ParseAdvertisement(ras[0]); err != nil || ad.Message.RouterLifetime != 0 {
		t.Fatalf("final RA %v, %v: want router lifetime 0", ad.Message, err)
	}
	links, delegated := r.dp6.v6Prefixes()
	if len(links)+len(delegated) != 0 {
		t.Fatalf("data plane still routes %v %v", links, delegated)
	}
	if r.pd.Used() != 0 {
		t.Fatalf("pool has %d prefixes out after IPv6CP closed", r.pd.Used())
	}
	if r.s.State() != StateUp || !slices.EqualFunc(r.dp.entries(), before, func(a, b Entry) bool { return a.IPv4 == b.IPv4 }) {
		t.Fatalf("IPv4 disturbed: state %v, entries %v", r.s.State(), r.dp.entries())
	}
	if r.released != 0 {
		t.Fatal("the lease was released with the session still up")
	}
	// Later IPv6 is IPv6CP-less data: no longer answered.
	rs, _ := ra.MarshalSolicitation(ipv6.LinkLocal(ipv6.InterfaceID(peerIID)))
	n = r.sentCount()
	r.s.receive(ppp.Frame{Protocol: ppp.ProtocolIPv6, Information: rs}, r.now)
	r.at(time.Second)
	if got := r.sentIPv6(n); len(got) != 0 {
		t.Fatalf("RS answered after IPv6CP closed: %d", len(got))
	}
}

func TestIPv6SessionEndReturnsPrefixes(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	r.dhcpExchange(t)
	n := r.sentCount()
	r.s.finish(ReasonAdmin, "", r.now)
	r.mu.Lock()
	sent := slices.Clone(r.sent[n:])
	r.mu.Unlock()
	if len(sent) < 2 || sent[0].Protocol != ppp.ProtocolIPv6 || sent[1].Protocol != ppp.ProtocolLCP {
		t.Fatalf("an admin end sent %d frames; want the final RA, then LCP Terminate-Request", len(sent))
	}
	if ad, err := ra.ParseAdvertisement(sent[0].Information); err != nil || ad.Message.RouterLifetime != 0 {
		t.Fatalf("final RA %v, %v: want router lifetime 0", ad.Message, err)
	}
	if r.pd.Used() != 0 {
		t.Fatalf("pool has %d prefixes out after the session ended", r.pd.Used())
	}
	links, delegated := r.dp6.v6Prefixes()
	if len(links)+len(delegated) != 0 {
		t.Fatalf("data plane still routes %v %v", links, delegated)
	}
	if r.released != 1 {
		t.Fatalf("lease released %d times, want 1", r.released)
	}
}

// IPCP closing while IPv6CP is open takes only the address out of the
// entry: no removal, the prefixes and the counters stay, the session stays
// up; IPCP opening again puts the address back into the same entry.
func TestIPCPDownKeepsIPv6(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	c := r.dhcpExchange(t)
	l, _ := c.Lease()
	info := r.s.link.Info()
	r.dp.setStats(Stats{PacketsUp: 7, BytesUp: 700})
	r.s.act(link.NetworkDown{Protocol: ppp.ProtocolIPCP}, r.now)
	es := r.dp.entries()
	if r.dp.removes != 0 || len(es) != 1 || es[0].IPv4.IsValid() {
		t.Fatalf("after IPCP closed: %d removes, entries %+v; want the entry kept without IPv4", r.dp.removes, es)
	}
	links, delegated := r.dp6.v6Prefixes()
	if !slices.Equal(links, []netip.Prefix{v6Link}) || !slices.Equal(delegated, []netip.Prefix{l.Prefix}) {
		t.Fatalf("after IPCP closed the data plane holds %v %v, want %v %v", links, delegated, v6Link, l.Prefix)
	}
	snap := r.s.Snapshot()
	if snap.State != StateUp || snap.Address.IsValid() || snap.Stats.PacketsUp != 7 {
		t.Fatalf("after IPCP closed: state %v address %v stats %+v; want up, no address, the counters kept", snap.State, snap.Address, snap.Stats)
	}
	if r.s.next().IsZero() {
		t.Fatal("no timer left: the keepalive stopped with IPCP")
	}
	r.s.act(link.NetworkUp{Protocol: ppp.ProtocolIPCP, Info: info}, r.now)
	es = r.dp.entries()
	if r.dp.removes != 0 || len(es) != 1 || es[0].IPv4 != info.IP.Remote {
		t.Fatalf("after IPCP reopened: %d removes, entries %+v; want one with %v", r.dp.removes, es, info.IP.Remote)
	}
	if links, delegated := r.dp6.v6Prefixes(); !slices.Equal(links, []netip.Prefix{v6Link}) || !slices.Equal(delegated, []netip.Prefix{l.Prefix}) {
		t.Fatalf("after IPCP reopened the data plane holds %v %v", links, delegated)
	}
	if r.pd.Used() != 1 || r.released != 0 {
		t.Fatalf("pool has %d out, lease released %d times", r.pd.Used(), r.released)
	}
	if got := r.s.Snapshot().Address; got != info.IP.Remote {
		t.Fatalf("address %v after IPCP reopened, want %v", got, info.IP.Remote)
	}
}

// A client that sent PADT is gone: its prefixes come back, no RA follows.
func TestIPv6PADTSendsNoRA(t *testing.T) {
	r := newV6Rig(t)
	r.up()
	r.dhcpExchange(t)
	n := r.sentCount()
	r.s.finish(ReasonPADT, "", r.now)
	if got := r.sentIPv6(n); len(got) != 0 {
		t.Fatalf("%d IPv6 datagrams to a client that sent PADT", len(got))
	}
	if r.pd.Used() != 0 || r.released != 1 {
		t.Fatalf("pool has %d out, lease released %d times", r.pd.Used(), r.released)
	}
}
