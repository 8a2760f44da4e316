package session

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/mp"
)

// MP is a session's multilink (RFC 1990, RouterOS mrru) as the data plane
// sees it. The zero value is no multilink.
type MP struct {
	// On: MP is up on the session (lcp.Multilink.Active).
	On bool
	// ShortSeq: the peer sends 12-bit sequence numbers.
	ShortSeq bool
	// MRRU is the peer's MRRU: the largest packet routed to the session,
	// which the session fragments when it is over MTU.
	MRRU uint16
}

// MACEndpoint is the Endpoint-Discriminator a link sends with its MRRU
// (RFC 1990 §5.1.3 SHOULD): class 3, the IEEE 802.1 globally assigned MAC
// address of the interface the session runs on, the class most
// implementations send. nil when mac is not a 6-octet MAC.
func MACEndpoint(mac net.HardwareAddr) *lcp.EndpointDiscriminator {
	if len(mac) != 6 {
		return nil
	}
	return &lcp.EndpointDiscriminator{Class: lcp.ClassMAC, Address: slices.Clone(mac)}
}

// MPOf is the data plane's view of what LCP negotiated.
func MPOf(ml lcp.Multilink) MP {
	if !ml.Active() {
		return MP{}
	}
	return MP{On: true, ShortSeq: ml.RecvShortSeq, MRRU: ml.SendMRRU}
}

// RouteMTU is the largest packet the kernel may route to the session: the
// peer's MRRU when MP is on and larger than the link's MTU, else the MTU.
func (e Entry) RouteMTU() uint16 {
	if e.MP.On && e.MP.MRRU > e.MTU {
		return e.MP.MRRU
	}
	return e.MTU
}

// MPPlane is the user-space half of multilink in the data plane. A
// DataPlane that implements it lets sessions negotiate MP; one that does
// not makes them reject it whatever mrru says.
type MPPlane interface {
	// Inject hands the kernel one packet the session reassembled (PPP
	// protocol proto: IPv4 or IPv6) as if it had come from the client.
	Inject(proto ppp.Protocol, packet []byte) error
	// Divert sends the packets the data plane diverts from the entry
	// installed as h, for being over its MTU, to to, from another
	// goroutine; to nil stops them (before Remove).
	Divert(h Handle, to func(proto ppp.Protocol, packet []byte))
}

// divert has the packets the data plane diverts from the entry h, for
// being over its MTU, sent as MP fragments on the session's link.
func (s *Session) divert(h Handle) {
	m := s.mp
	s.cfg.DataPlane.(MPPlane).Divert(h, func(proto ppp.Protocol, pkt []byte) {
		if err := m.Send(proto, pkt); err != nil {
			s.log.Debug("multilink send", zap.Error(err))
		}
	})
}

// MPLink is the user-space half of multilink on one session while LCP has
// MP up (RFC 1990 over one member link): the reassembly of the MP frames
// the data plane passes up (fragments and control protocols), and the
// fragmentation of the packets it diverts for being over the MTU.
//
// Receive, Expire and Deadline belong to the session's goroutine, whose
// timer calls Expire at Deadline: no goroutine of its own. Send may be
// called from any goroutine (the data plane's divert reader).
type MPLink struct {
	ML lcp.Multilink
	re *mp.Reassembler
	// dropped counts data packets refused after reassembly (a source
	// address that is not the session's).
	dropped uint64

	mu   sync.Mutex // guards fr and the record's fields below
	fr   *mp.Fragmenter
	mtu  int
	send func(ppp.Frame) error

	// recorded is the SendSeq the session's state record holds
	// (RecordSeq); due: the sequence number has moved mp.RecordEvery
	// past it since, and onDue was called (once until the next record);
	// noticed: RecordNoticed has told the session so.
	recorded     uint32
	due, noticed bool
	onDue        func()
}

func format(short bool) mp.Format {
	if short {
		return mp.Short
	}
	return mp.Long
}

// NewMPLink starts multilink on a link that negotiated ml with our MRU
// mru and the peer's MRU mtu; send sends one PPP frame on the session.
func NewMPLink(ml lcp.Multilink, mru, mtu uint16, send func(ppp.Frame) error) *MPLink {
	return &MPLink{
		ML:   ml,
		re:   mp.NewReassembler(mp.ReassemblerConfig{Format: format(ml.RecvShortSeq), MRRU: ml.RecvMRRU, MRU: mru}),
		fr:   mp.NewFragmenter(format(ml.SendShortSeq), ml.SendMRRU),
		mtu:  int(mtu),
		send: send,
	}
}

// Receive takes the information field of one PPP 0x003d frame and returns
// the packets it completes, in order. A malformed fragment is counted.
func (m *MPLink) Receive(b []byte, now time.Time) []ppp.Frame {
	out, _ := m.re.Receive(b, now)
	return out
}

// Expire gives up what waited too long and returns what that unblocks.
func (m *MPLink) Expire(now time.Time) []ppp.Frame {
	out, _ := m.re.Expire(now)
	return out
}

// Deadline is when Expire must run; zero when nothing waits.
func (m *MPLink) Deadline() time.Time {
	t, _ := m.re.Deadline()
	return t
}

// Send sends one packet of protocol proto as MP fragments within the
// link's MTU. Safe for concurrent use.
func (m *MPLink) Send(proto ppp.Protocol, packet []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	frags, err := m.fr.Fragment(proto, packet, m.mtu)
	if err != nil {
		return err
	}
	if !m.due && m.onDue != nil && m.format().RecordDue(m.recorded, m.fr.Seq()) {
		// Before the fragments go: the record is on its way as soon as
		// the number passes the mark, not a packet later.
		m.due = true
		m.onDue()
	}
	for _, f := range frags {
		if err := m.send(ppp.Frame{Protocol: ppp.ProtocolMP, Information: f}); err != nil {
			return err
		}
	}
	return nil
}

// Stats returns the reassembler's counters.
func (m *MPLink) Stats() mp.Stats { return m.re.Stats() }

// SendSeq is the sequence number of the next fragment sent, for the
// session's state record.
func (m *MPLink) SendSeq() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fr.Seq()
}

// ResumeSeq goes on sending from a recorded SendSeq (mp.Fragmenter.Resume).
// The record still holds seq, which the sequence is past by the jump: the
// first fragment sent has the record written again (OnRecordDue), so that
// a second restart resumes past what this process sent.
func (m *MPLink) ResumeSeq(seq uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fr.Resume(seq)
	m.recorded, m.due, m.noticed = seq, false, false
}

func (m *MPLink) format() mp.Format { return format(m.ML.SendShortSeq) }

// RecordDue reports whether seq, a SendSeq, has moved far enough past
// recorded, the one a state record holds, for the record to be written
// again (mp.Format.RecordDue), for a caller that keeps the record's
// number itself.
func (m *MPLink) RecordDue(recorded, seq uint32) bool {
	return m.format().RecordDue(recorded, seq)
}

// OnRecordDue has Send call f, from Send's goroutine, when the sending
// sequence number moves mp.RecordEvery of its space past the one
// recorded (RecordSeq): once, until RecordSeq is called again. f must
// not wait (a Poke).
func (m *MPLink) OnRecordDue(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onDue = f
}

// RecordNoticed reports, once per OnRecordDue call, that the record is
// due: the session's goroutine tells its observers (MPSequence).
func (m *MPLink) RecordNoticed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.due || m.noticed {
		return false
	}
	m.noticed = true
	return true
}

// RecordSeq is SendSeq for a state record being written: the number
// OnRecordDue measures from.
func (m *MPLink) RecordSeq() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recorded, m.due, m.noticed = m.fr.Seq(), false, false
	return m.recorded
}

// MPDrops is what multilink reassembly dropped, by reason: packets
// given up or refused, fragments thrown away.
type MPDrops struct {
	// Lost: packets given up because a fragment never came within the
	// timeout (mp.Stats.Lost).
	Lost uint64
	// Overflow: packets given up because the reassembly window filled
	// first, or the peer jumped a window ahead (mp.Stats.Overflow).
	Overflow uint64
	// Oversize: packets whose reassembly exceeded our MRRU.
	Oversize uint64
	// Duplicates: fragments received twice, or after their packet was
	// delivered or given up.
	Duplicates uint64
	// Malformed: fragments too short for an MP header.
	Malformed uint64
	// Refused: reassembled data packets refused (a source that is not
	// the session's, IPv6 without IPv6CP).
	Refused uint64
}

// Add returns d and o summed.
func (d MPDrops) Add(o MPDrops) MPDrops {
	return MPDrops{Lost: d.Lost + o.Lost, Overflow: d.Overflow + o.Overflow, Oversize: d.Oversize + o.Oversize,
		Duplicates: d.Duplicates + o.Duplicates, Malformed: d.Malformed + o.Malformed, Refused: d.Refused + o.Refused}
}

// Total is every drop, whatever its reason.
func (d MPDrops) Total() uint64 {
	return d.Lost + d.Overflow + d.Oversize + d.Duplicates + d.Malformed + d.Refused
}

// Reasons are the drops by the names metrics and /ppp active use.
func (d MPDrops) Reasons() map[string]uint64 {
	return map[string]uint64{"lost": d.Lost, "overflow": d.Overflow, "oversize": d.Oversize,
		"duplicate": d.Duplicates, "malformed": d.Malformed, "refused": d.Refused}
}

// DropsByReason is what reassembly dropped on this link, by reason.
func (m *MPLink) DropsByReason() MPDrops {
	st := m.re.Stats()
	return MPDrops{Lost: st.Lost, Overflow: st.Overflow, Oversize: st.Oversize,
		Duplicates: st.Duplicates, Malformed: st.Malformed, Refused: m.dropped}
}

// Drops counts what reassembly dropped, every reason together.
func (m *MPLink) Drops() uint64 { return m.DropsByReason().Total() }

// Refused counts a reassembled data packet refused (see FromPeer).
func (m *MPLink) Refused() { m.dropped++ }

// IsData reports whether a reassembled frame is data for the kernel
// (IPv4, IPv6) rather than a control protocol for the link.
func IsData(p ppp.Protocol) bool { return p == ppp.ProtocolIPv4 || p == ppp.ProtocolIPv6 }

// FromPeer is the anti-spoofing check the data plane does for whole
// packets, for an IPv4 packet the session reassembled: its source is
// addr, the address IPCP gave the peer. It returns the packet cut to its
// IP length. IPv6 has FromPeer6.
func FromPeer(proto ppp.Protocol, packet []byte, addr netip.Addr) ([]byte, bool) {
	if proto != ppp.ProtocolIPv4 || len(packet) < 20 || packet[0]>>4 != 4 || !addr.Is4() {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(packet[2:]))
	if n < 20 || n > len(packet) || netip.AddrFrom4([4]byte(packet[12:16])) != addr {
		return nil, false
	}
	return packet[:n], true
}

// IPv6Verdict is what becomes of an IPv6 packet the session reassembled,
// as bpf/ipv6.h decides for a whole one.
type IPv6Verdict uint8

const (
	// IPv6Refused: malformed, or a source that is not the session's.
	IPv6Refused IPv6Verdict = iota
	// IPv6Link: for the session's link (a link-local source, a link-local
	// or multicast destination: RS, DHCPv6), which a router never
	// forwards (RFC 4291 §2.5.6): the control plane's.
	IPv6Link
	// IPv6Forward: from the link /64 or a delegated prefix, for the kernel.
	IPv6Forward
)

// FromPeer6 is FromPeer for IPv6 against the session's prefixes: the
// anti-spoofing check v6_src_ok does for whole packets (the source in the
// link /64 or a delegated prefix), after v6_local's test for what is the
// link's. It returns the packet cut to its IP length.
func FromPeer6(packet []byte, p Prefixes) ([]byte, IPv6Verdict) {
	if len(packet) < 40 || packet[0]>>4 != 6 {
		return nil, IPv6Refused
	}
	n := 40 + int(binary.BigEndian.Uint16(packet[4:]))
	if n > len(packet) {
		return nil, IPv6Refused
	}
	src := netip.AddrFrom16([16]byte(packet[8:24]))
	dst := netip.AddrFrom16([16]byte(packet[24:40]))
	if src.IsLinkLocalUnicast() || dst.IsLinkLocalUnicast() || dst.IsMulticast() {
		return packet[:n], IPv6Link
	}
	if p.Link.IsValid() && p.Link.Contains(src) {
		return packet[:n], IPv6Forward
	}
	for _, d := range p.Delegated {
		if d.Contains(src) {
			return packet[:n], IPv6Forward
		}
	}
	return nil, IPv6Refused
}

// mpTotals is what multilink did in user space over a session's life:
// packets reassembled and injected (stats.PacketsUp, BytesUp) and what
// reassembly dropped (stats.MPDrops, ReassemblyDrops); ended is what the
// MPLinks before the current one dropped.
type mpTotals struct {
	stats Stats
	ended MPDrops
}

func (t *mpTotals) setDrops(d MPDrops) {
	t.stats.MPDrops, t.stats.ReassemblyDrops = d, d.Total()
}
