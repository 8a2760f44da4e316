package session

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/mp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
)

// mpDP is fakeDP with multilink's user-space half: it records what the
// session injects and where it wants diverted packets.
type mpDP struct {
	*fakeDP
	mu       sync.Mutex
	injected [][]byte
	diverts  map[int]func(ppp.Protocol, []byte)
}

func (d *mpDP) Inject(proto ppp.Protocol, pkt []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.injected = append(d.injected, append([]byte(nil), pkt...))
	return nil
}

func (d *mpDP) Divert(h Handle, to func(ppp.Protocol, []byte)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if to == nil {
		delete(d.diverts, h.(int))
		return
	}
	d.diverts[h.(int)] = to
}

// ipv4 is an IPv4 packet of n octets from src (header checksum left 0:
// nothing here checks it).
func ipv4(n int, src [4]byte) []byte {
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(n))
	p[6] = 0x40 // DF
	p[8], p[9] = 64, 17
	copy(p[12:], src[:])
	copy(p[16:], []byte{192, 0, 2, 1})
	for i := 20; i < n; i++ {
		p[i] = byte(i)
	}
	return p
}

func withMP(server, peer uint16, dp *mpDP) rigOpt {
	return func(c *Config, p *link.Config) {
		if dp != nil {
			c.DataPlane = dp
		}
		c.Link.Multilink = lcp.MultilinkPolicy{MRRU: server}
		p.Multilink = lcp.MultilinkPolicy{MRRU: peer}
	}
}

// TestMultilinkNegotiated: with mrru on both ends the session installs MP
// with the clamp following the MRRU, routes the peer's MRRU, reassembles
// what the client sends in fragments (NCP/LCP inside MP to the link,
// data from its address to the kernel, counted), and fragments what the
// data plane diverts. With MP off at either end, or a data plane without
// the user-space half, the session comes up without it.
func TestMultilinkNegotiated(t *testing.T) {
	for _, tt := range []struct {
		name         string
		server, peer uint16
		noPlane      bool
		want         MP
		mss          uint16
	}{
		{name: "both", server: 1614, peer: 1614, want: MP{On: true, MRRU: 1614}, mss: 1574},
		{name: "server only", server: 1614, mss: 1420},
		{name: "client only", peer: 1614, mss: 1420},
		{name: "neither", mss: 1420},
		{name: "data plane without mp", server: 1614, peer: 1614, noPlane: true, mss: 1420},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dp := &mpDP{diverts: map[int]func(ppp.Protocol, []byte){}}
			var plane *mpDP
			if !tt.noPlane {
				plane = dp
			}
			r := newRig(t, "alice", "wonderland", withMP(tt.server, tt.peer, plane))
			if plane != nil {
				dp.fakeDP = r.dp
			}
			r.up()
			if r.s.State() != StateUp {
				t.Fatalf("state %v", r.s.State())
			}
			es := r.dp.entries()
			if len(es) != 1 {
				t.Fatalf("entries %+v", es)
			}
			e := es[0]
			if e.MP != tt.want || e.MSS != tt.mss || e.MTU != 1460 {
				t.Errorf("entry MP %+v MSS %d MTU %d, want %+v %d 1460", e.MP, e.MSS, e.MTU, tt.want, tt.mss)
			}
			wantRoute := uint16(1460)
			if tt.want.On {
				wantRoute = 1614
			}
			if e.RouteMTU() != wantRoute {
				t.Errorf("route MTU %d, want %d", e.RouteMTU(), wantRoute)
			}
			if snap := r.s.Snapshot(); snap.MP != tt.want {
				t.Errorf("snapshot MP %+v", snap.MP)
			}
			if len(dp.diverts) != map[bool]int{true: 1}[tt.want.On] {
				t.Errorf("diverts %d", len(dp.diverts))
			}
		})
	}
}

func TestMultilinkData(t *testing.T) {
	dp := &mpDP{diverts: map[int]func(ppp.Protocol, []byte){}}
	r := newRig(t, "alice", "wonderland", withMP(1614, 1614, dp))
	dp.fakeDP = r.dp
	r.up()
	peerFr := mp.NewFragmenter(mp.Long, 1614)
	send := func(frags [][]byte) {
		for _, f := range frags {
			r.s.receive(ppp.Frame{Protocol: ppp.ProtocolMP, Information: f}, r.now)
		}
	}
	// A 1500-byte packet from the client's address in two fragments.
	pkt := ipv4(1500, [4]byte{10, 0, 0, 10})
	frags, err := peerFr.Fragment(ppp.ProtocolIPv4, pkt, 1480)
	if err != nil || len(frags) != 2 {
		t.Fatalf("fragment: %d, %v", len(frags), err)
	}
	send(frags)
	if len(dp.injected) != 1 || !bytes.Equal(dp.injected[0], pkt) {
		t.Fatalf("injected %d packets", len(dp.injected))
	}
	// Another address: reassembled, refused, counted.
	frags, _ = peerFr.Fragment(ppp.ProtocolIPv4, ipv4(1500, [4]byte{10, 0, 0, 99}), 1480)
	send(frags)
	// A fragment lost: the first half waits, then is given up.
	frags, _ = peerFr.Fragment(ppp.ProtocolIPv4, pkt, 1480)
	send(frags[:1])
	if r.s.next().After(r.now.Add(mp.DefaultTimeout)) {
		t.Errorf("next wake %v: the reassembly timeout is not on the session's timer", r.s.next().Sub(r.now))
	}
	r.at(2 * mp.DefaultTimeout)
	if r.s.mp.re.Held() != 0 {
		t.Errorf("%d fragments still held after the timeout", r.s.mp.re.Held())
	}
	// An LCP Echo-Request inside MP goes to the link, which answers.
	r.takeOut()
	echo := ppp.Packet{Code: ppp.EchoRequest, Identifier: 9, Data: []byte{0x22, 0x22, 0x22, 0x22}}
	b, _ := echo.MarshalBinary()
	frags, _ = peerFr.Fragment(ppp.ProtocolLCP, b, 1480)
	send(frags)
	// The lost packet's second fragment took a sequence number, but the
	// timeout gave that packet up: the echo's beginning is answered at
	// once, without waiting for the gap again.
	if got := packets(r.takeOut(), ppp.ProtocolLCP, ppp.EchoReply); got != 1 {
		t.Errorf("%d Echo-Replies to an Echo-Request inside MP", got)
	}
	if len(dp.injected) != 1 {
		t.Errorf("injected %d packets, want 1", len(dp.injected))
	}
	st := r.s.Snapshot().Stats
	want := MPDrops{Lost: 1, Refused: 1}
	if st.PacketsUp != 1 || st.BytesUp != 1500 || st.ReassemblyDrops != 2 || st.MPDrops != want {
		t.Errorf("stats %+v, want 1 packet, 1500 bytes up, 2 reassembly drops (one refused, one packet lost)", st)
	}

	// Downstream: what the data plane diverts goes out as fragments the
	// client reassembles.
	var divert func(ppp.Protocol, []byte)
	for _, d := range dp.diverts {
		divert = d
	}
	down := ipv4(1600, [4]byte{192, 0, 2, 1})
	divert(ppp.ProtocolIPv4, down)
	re := mp.NewReassembler(mp.ReassemblerConfig{MRRU: 1614, MRU: 1460})
	var got []ppp.Frame
	for _, f := range r.takeOut() {
		if f.Protocol != ppp.ProtocolMP || len(f.Information) > 1460 {
			t.Fatalf("sent %v of %d octets", f.Protocol, len(f.Information))
		}
		out, err := re.Receive(f.Information, r.now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	if len(got) != 1 || got[0].Protocol != ppp.ProtocolIPv4 || !bytes.Equal(got[0].Information, down) {
		t.Fatalf("client reassembled %+v", got)
	}

	// The end: the divert is withdrawn before the entry goes.
	r.s.finish(ReasonAdmin, "", r.now)
	if len(dp.diverts) != 0 {
		t.Errorf("divert still registered after the end")
	}
}

func packets(fs []ppp.Frame, proto ppp.Protocol, code ppp.Code) int {
	n := 0
	for _, f := range fs {
		var p ppp.Packet
		if f.Protocol == proto && p.UnmarshalBinary(f.Information) == nil && p.Code == code {
			n++
		}
	}
	return n
}

// mpDP6 is a data plane with both IPv6 prefixes and multilink's
// user-space half.
type mpDP6 struct {
	*fakeDP6
	mp *mpDP
}

func (d *mpDP6) Inject(proto ppp.Protocol, pkt []byte) error { return d.mp.Inject(proto, pkt) }
func (d *mpDP6) Divert(h Handle, to func(ppp.Protocol, []byte)) {
	d.mp.Divert(h, to)
}

// ipv6Packet is an IPv6 packet of n octets (UDP, no checksum checked
// here) from src to dst.
func ipv6Packet(n int, src, dst netip.Addr) []byte {
	p := make([]byte, n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(n-40))
	p[6], p[7] = 17, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	for i := 40; i < n; i++ {
		p[i] = byte(i)
	}
	return p
}

// TestMultilinkIPv6: IPv6 reassembled from MP fragments goes where a whole
// packet goes in the data plane: from the link /64 to the kernel, counted;
// a Router Solicitation to the control plane, which answers; a source
// outside the session's prefixes refused and counted. Diverted IPv6 over
// the MTU leaves as fragments.
func TestMultilinkIPv6(t *testing.T) {
	pd, err := pool.NewPrefixPool(pool.PrefixSpec{Name: "pd", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), PrefixLength: 56})
	if err != nil {
		t.Fatal(err)
	}
	released := 0
	mdp := &mpDP{diverts: map[int]func(ppp.Protocol, []byte){}}
	r := newRig(t, "alice", "wonderland", withMP(1614, 1614, nil), func(c *Config, pc *link.Config) {
		mdp.fakeDP = c.DataPlane.(*fakeDP)
		c.DataPlane = &mpDP6{fakeDP6: &fakeDP6{fakeDP: mdp.fakeDP, link: map[int]netip.Prefix{}, delegated: map[int][]netip.Prefix{}}, mp: mdp}
		c.AAA = v6Backend{inner: c.AAA, link: v6Link, pd: pd, released: &released}
		pc.IPv6 = func() bool { return true }
		pc.InterfaceID = func() ipv6cp.InterfaceID { return peerIID }
	})
	r.up()
	r.at(0) // the first RA
	if r.s.State() != StateUp || r.s.mp == nil || r.s.IPv6().Link != v6Link {
		t.Fatalf("state %v, mp %v, IPv6 %+v", r.s.State(), r.s.mp != nil, r.s.IPv6())
	}
	peerFr := mp.NewFragmenter(mp.Long, 1614)
	send := func(proto ppp.Protocol, pkt []byte) {
		t.Helper()
		frags, err := peerFr.Fragment(proto, pkt, 1400)
		if err != nil || len(frags) < 2 {
			t.Fatalf("fragment: %d, %v", len(frags), err)
		}
		for _, f := range frags {
			r.s.receive(ppp.Frame{Protocol: ppp.ProtocolMP, Information: f}, r.now)
		}
	}
	slaac, _ := ipv6.WithInterfaceID(v6Link, ipv6.InterfaceID(peerIID))
	core := netip.MustParseAddr("2001:db8:ffff::10")

	// 1500 octets from the SLAAC address, with Ethernet padding after it.
	pkt := ipv6Packet(1500, slaac, core)
	send(ppp.ProtocolIPv6, append(slices.Clone(pkt), 0, 0, 0, 0))
	if len(mdp.injected) != 1 || !bytes.Equal(mdp.injected[0], pkt) {
		t.Fatalf("injected %d packets, want the 1500-octet one cut to its length", len(mdp.injected))
	}
	// Another session's prefix: refused, counted.
	send(ppp.ProtocolIPv6, ipv6Packet(1500, netip.MustParseAddr("2001:db8:9::2"), core))
	// A Router Solicitation inside MP (padded out so it takes two
	// fragments) is the control plane's: answered with an RA.
	rs, err := ra.MarshalSolicitation(ipv6.LinkLocal(ipv6.InterfaceID(peerIID)))
	if err != nil {
		t.Fatal(err)
	}
	n := r.sentCount()
	send(ppp.ProtocolIPv6, append(rs, make([]byte, 1500)...))
	r.at(ra.MaxRADelayTime)
	if got := len(r.sentIPv6(n)); got != 1 {
		t.Errorf("%d RAs answering an RS inside MP, want 1", got)
	}
	if len(mdp.injected) != 1 {
		t.Errorf("injected %d packets, want 1", len(mdp.injected))
	}
	st := r.s.Snapshot().Stats
	if st.PacketsUp != 1 || st.BytesUp != 1500 || st.ReassemblyDrops != 1 || st.MPDrops != (MPDrops{Refused: 1}) {
		t.Errorf("stats %+v, want 1 packet, 1500 bytes up, 1 reassembly drop (the foreign source)", st)
	}

	// Downstream IPv6 over the MTU leaves as fragments.
	var divert func(ppp.Protocol, []byte)
	for _, d := range mdp.diverts {
		divert = d
	}
	down := ipv6Packet(1600, core, slaac)
	divert(ppp.ProtocolIPv6, down)
	re := mp.NewReassembler(mp.ReassemblerConfig{MRRU: 1614, MRU: 1460})
	var got []ppp.Frame
	for _, f := range r.takeOut() {
		if f.Protocol != ppp.ProtocolMP {
			continue
		}
		out, err := re.Receive(f.Information, r.now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	if len(got) != 1 || got[0].Protocol != ppp.ProtocolIPv6 || !bytes.Equal(got[0].Information, down) {
		t.Fatalf("client reassembled %+v", got)
	}
}

// TestMultilinkEndpointDiscriminator: with mrru set the server sends an
// Endpoint-Discriminator, class 3 with the access interface's MAC (RFC
// 1990 §5.1.3), and acks the peer's (class 1, locally assigned, as
// Windows sends), which the link reports.
func TestMultilinkEndpointDiscriminator(t *testing.T) {
	dp := &mpDP{diverts: map[int]func(ppp.Protocol, []byte){}}
	peerEP := lcp.EndpointDiscriminator{Class: lcp.ClassLocal, Address: []byte("windows-guid-0001")}
	r := newRig(t, "alice", "wonderland", withMP(1614, 1614, dp), func(c *Config, p *link.Config) {
		p.Multilink.Endpoint = &peerEP
	})
	dp.fakeDP = r.dp
	r.up()
	if r.s.State() != StateUp {
		t.Fatalf("state %v", r.s.State())
	}
	var sent *lcp.EndpointDiscriminator
	for _, f := range r.sent {
		var pk ppp.Packet
		if f.Protocol != ppp.ProtocolLCP || pk.UnmarshalBinary(f.Information) != nil || pk.Code != ppp.ConfigureRequest {
			continue
		}
		opts, err := ppptest.Options(pk.Data, lcp.FromRaw)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range opts {
			if e, ok := o.(lcp.EndpointDiscriminator); ok {
				sent = &e
			}
		}
	}
	if sent == nil || sent.Class != lcp.ClassMAC || !bytes.Equal(sent.Address, acMAC) {
		t.Errorf("server's Endpoint-Discriminator %+v, want class 3 with %v", sent, acMAC)
	}
	ml := r.s.link.Info().Multilink
	if !ml.Active() || ml.PeerEndpoint == nil || ml.PeerEndpoint.Class != lcp.ClassLocal || !bytes.Equal(ml.PeerEndpoint.Address, peerEP.Address) {
		t.Errorf("negotiated %+v, want MP with the peer's class 1 discriminator", ml)
	}
}

// TestAdoptMultilinkRecord: the state record follows multilink's sending
// sequence number. A session with short sequence numbers (4096) sends
// 1,200 fragments, more than the quarter of the space a restart jumps,
// with no event of its own after the one that wrote its record; a crash
// then, and the session adopted from what was last written, must send
// ahead of every fragment the peer saw, or the peer throws its packets
// away as old ones. The record is written again every 1/16 of the space,
// not per fragment.
func TestAdoptMultilinkRecord(t *testing.T) {
	dp := &mpDP{diverts: map[int]func(ppp.Protocol, []byte){}}
	short := func(_ *Config, p *link.Config) { p.Multilink.ShortSeq = true }
	r := newRig(t, "alice", "wonderland", withMP(1614, 1614, dp), short)
	dp.fakeDP = r.dp
	// The journal's part (control/server): the record written at the
	// session's events, from the session's goroutine.
	var record Resumable
	records := 0
	journal := ObserverFunc(func(s *Session, _ time.Time, e Event) {
		switch e.(type) {
		case Stopping, Stopped:
			return
		}
		if rec, err := s.Resumable(); err == nil {
			record, records = rec, records+1
		}
	})
	r.s.observers = append(r.s.observers, journal)
	r.up()
	if !r.s.mp.ML.SendShortSeq || records == 0 {
		t.Fatalf("short sequence numbers %v, %d records: the rig is not what the test needs", r.s.mp.ML.SendShortSeq, records)
	}
	upRecords := records

	// The peer reassembles everything the session sends.
	peer := mp.NewReassembler(mp.ReassemblerConfig{Format: mp.Short, MRRU: 1614, MRU: 1460})
	delivered := 0
	var last uint32 // sequence number of the newest fragment sent
	down := ipv4(1600, [4]byte{192, 0, 2, 1})
	send := func() {
		t.Helper()
		var divert func(ppp.Protocol, []byte)
		for _, d := range dp.diverts {
			divert = d
		}
		divert(ppp.ProtocolIPv4, down)
		// The session's loop steps it when poked (Engine.Step).
		r.s.eng.Step((*acRole)(r.s), r.now)
		for _, f := range r.takeOut() {
			if f.Protocol != ppp.ProtocolMP {
				continue
			}
			h, _, err := mp.ParseHeader(f.Information, mp.Short)
			if err != nil {
				t.Fatal(err)
			}
			last = h.Seq
			out, err := peer.Receive(f.Information, r.now)
			if err != nil {
				t.Fatal(err)
			}
			delivered += len(out)
		}
	}
	const packets = 600 // two fragments each at MTU 1460
	for range packets {
		send()
	}
	if delivered != packets || peer.Stats().Fragments != 2*packets {
		t.Fatalf("peer reassembled %d of %d packets from %d fragments", delivered, packets, peer.Stats().Fragments)
	}
	const every = 4096 / 16 // the record's step: 1/16 of the short sequence space
	if n := records - upRecords; n > 2*packets/every+1 {
		t.Errorf("%d records written for %d fragments: want one every %d", n, 2*packets, every)
	}

	// kill -9: the new process knows only the record. Twice: the
	// adopted session's first fragments have the record written again,
	// so a second crash soon after the first resumes past them too.
	for crash := 1; crash <= 2; crash++ {
		cfg, err := config.Load(script)
		if err != nil {
			t.Fatal(err)
		}
		local, err := aaa.New(cfg.LocalAAA(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.adoptFrom(local, record)
		r.s.observers = append(r.s.observers, journal)
		before := delivered
		for i := range 3 {
			prev := last
			send()
			// 12-bit serial arithmetic (RFC 1990 §4.1).
			if d := int32((last-1-prev)<<20) >> 20; i == 0 && d <= 0 {
				t.Errorf("crash %d: adopted session sent %#x after %#x: not ahead of what the peer saw", crash, last-1, prev)
			}
		}
		if got := delivered - before; got != 3 {
			t.Fatalf("crash %d: peer reassembled %d of 3 packets sent after the restart (%d duplicates): the resumed sequence is behind",
				crash, got, peer.Stats().Duplicates)
		}
	}
	r.s.finish(ReasonAdmin, "", r.now)
}
