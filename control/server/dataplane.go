package server

import (
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// dataPlane adapts the BPF maps (maps.Datapath) to session.DataPlane.
type dataPlane struct {
	d *maps.Datapath
}

// mapsHandle is the session.Handle of an entry installed through
// NewDataPlane: the maps key to remove it by and the index its counters
// live at.
type mapsHandle struct {
	key   maps.Key
	index maps.Index
}

// NewDataPlane returns the session.DataPlane that installs sessions into the
// BPF data plane d: the PPPoE session (RFC 2516 §4) keyed by access
// interface, VLAN tags, session id and client MAC, with the client's IPCP
// address (RFC 1332 §3.3), MTU and MSS clamp. Stats' LastSeen is
// CLOCK_MONOTONIC_COARSE (maps.Stats), which only the session's keepalive
// compares with itself.
func NewDataPlane(d *maps.Datapath) session.DataPlane {
	return dataPlane{d: d}
}

// mapsSession converts a session entry into the data plane's form.
func mapsSession(e session.Entry) maps.Session {
	s := maps.Session{
		Key: maps.Key{
			Ifindex:   e.Circuit.Ifindex,
			SessionID: e.SessionID,
			ClientMAC: e.Circuit.HardwareAddr(),
		},
		ACMAC: e.ACMAC,
		IPv4:  e.IPv4,
		MTU:   e.MTU,
		MSS:   e.MSS,
		MP:    maps.MP{On: e.MP.On, ShortSeq: e.MP.ShortSeq},
		Limit: maps.LimitOf(e.RateLimit, e.ShapeTx),
	}
	vlans := e.Circuit.VLANList()
	if len(vlans) > 0 {
		s.OuterVLAN = vlans[0].ID
		s.OuterTPID = uint16(vlans[0].TPID)
	}
	if len(vlans) > 1 {
		s.InnerVLAN = vlans[1].ID
		s.InnerTPID = uint16(vlans[1].TPID)
	}
	return s
}

// Install implements session.DataPlane.
func (p dataPlane) Install(e session.Entry) (session.Handle, error) {
	// A shaped download's fq qdisc or HTB class is the data plane's to
	// install (maps.Options.Shaper).
	s := mapsSession(e)
	idx, err := p.d.Install(s)
	if err != nil {
		return nil, fmt.Errorf("server: install session %d of %s: %w", e.SessionID, e.Circuit, err)
	}
	if len(e.Routes) > 0 {
		if err := p.d.SetRoutes(s.Key, e.Routes); err != nil {
			return nil, errors.Join(fmt.Errorf("server: install session %d of %s: %w", e.SessionID, e.Circuit, err), p.d.Remove(s.Key))
		}
	}
	return mapsHandle{key: s.Key, index: idx}, nil
}

// Update implements session.DataPlane: maps.Datapath.Update rewrites the
// slot fronts, the hash maps and session_info together.
func (p dataPlane) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	mh, ok := h.(mapsHandle)
	if !ok {
		return nil, fmt.Errorf("server: update: handle %T is not from NewDataPlane", h)
	}
	s := mapsSession(e)
	if k := s.Key; k.Ifindex != mh.key.Ifindex || k.OuterVLAN != mh.key.OuterVLAN || k.InnerVLAN != mh.key.InnerVLAN ||
		k.SessionID != mh.key.SessionID || k.ClientMAC.String() != mh.key.ClientMAC.String() {
		return nil, fmt.Errorf("server: update session %d: the key cannot change", mh.key.SessionID)
	}
	idx, err := p.d.Update(s)
	if err != nil {
		return nil, fmt.Errorf("server: update session %d of %s: %w", e.SessionID, e.Circuit, err)
	}
	if err := p.d.SetRoutes(s.Key, e.Routes); err != nil {
		return nil, fmt.Errorf("server: update session %d of %s: %w", e.SessionID, e.Circuit, err)
	}
	return mapsHandle{key: s.Key, index: idx}, nil
}

// Remove implements session.DataPlane.
func (p dataPlane) Remove(h session.Handle) error {
	mh, ok := h.(mapsHandle)
	if !ok {
		return fmt.Errorf("server: remove: handle %T is not from NewDataPlane", h)
	}
	if err := p.d.Remove(mh.key); err != nil {
		return fmt.Errorf("server: remove session %d of %s: %w", mh.key.SessionID, mh.key.ClientMAC, err)
	}
	return nil
}

// Stats implements session.DataPlane.
func (p dataPlane) Stats(h session.Handle) (session.Stats, error) {
	mh, ok := h.(mapsHandle)
	if !ok {
		return session.Stats{}, fmt.Errorf("server: stats: handle %T is not from NewDataPlane", h)
	}
	st, err := p.d.Stats(mh.index)
	if err != nil {
		return session.Stats{}, fmt.Errorf("server: stats of session %d: %w", mh.key.SessionID, err)
	}
	rs, err := p.d.RateStats(mh.index)
	if err != nil {
		return session.Stats{}, fmt.Errorf("server: rate stats of session %d: %w", mh.key.SessionID, err)
	}
	return session.Stats{
		PacketsUp:     st.PacketsUp,
		BytesUp:       st.BytesUp,
		PacketsDown:   st.PacketsDown,
		BytesDown:     st.BytesDown,
		Drops:         st.Drops,
		RateDropsUp:   rs.DroppedRx,
		RateDropsDown: rs.DroppedTx,
		LastSeen:      st.LastSeen,
	}, nil
}

// QueueDrops implements session.QueueDropper: what the HTB class of each
// HTB-shaped session dropped (maps.Datapath.HTBClassDrops).
func (p dataPlane) QueueDrops() (func(session.Handle) uint64, error) {
	drops, err := p.d.HTBClassDrops()
	if err != nil {
		return nil, fmt.Errorf("server: shaper drops: %w", err)
	}
	return func(h session.Handle) uint64 {
		if mh, ok := h.(mapsHandle); ok {
			return drops[mh.index]
		}
		return 0
	}, nil
}

// mpDataPlane is NewDataPlane with multilink's user-space half
// (session.MPPlane): reassembled packets go into the kernel on pppoe0
// through inj, diverted ones come from div, and carry makes pppoe0 carry
// the largest MRRU a session was installed with, so that the kernel
// hands over packets up to it (and takes injected ones that size).
type mpDataPlane struct {
	dataPlane
	div   *maps.MPDiverts
	inj   *maps.Injector
	carry func(mtu int) error
}

// NewMPDataPlane returns NewDataPlane(d) that also runs multilink: div is
// the data plane's divert dispatcher, inj an Injector on pppoe0, carry
// raises pppoe0's MTU (pppoe0.Host.CarryMTU).
func NewMPDataPlane(d *maps.Datapath, div *maps.MPDiverts, inj *maps.Injector, carry func(mtu int) error) session.DataPlane {
	return &mpDataPlane{dataPlane: dataPlane{d: d}, div: div, inj: inj, carry: carry}
}

// Install implements session.DataPlane.
func (p *mpDataPlane) Install(e session.Entry) (session.Handle, error) {
	if e.MP.On {
		if err := p.carry(int(e.RouteMTU())); err != nil {
			return nil, fmt.Errorf("server: install session %d of %s: %w", e.SessionID, e.Circuit, err)
		}
	}
	return p.dataPlane.Install(e)
}

// Update implements session.DataPlane.
func (p *mpDataPlane) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	if e.MP.On {
		if err := p.carry(int(e.RouteMTU())); err != nil {
			return nil, fmt.Errorf("server: update session %d of %s: %w", e.SessionID, e.Circuit, err)
		}
	}
	return p.dataPlane.Update(h, e)
}

// Adopt implements session.Adopter: as Install, pppoe0 must carry an
// adopted MP session's MRRU (a new process may have made pppoe0 again,
// at its default MTU).
func (p *mpDataPlane) Adopt(e session.Entry) (session.Handle, error) {
	if e.MP.On {
		if err := p.carry(int(e.RouteMTU())); err != nil {
			return nil, fmt.Errorf("server: adopt session %d of %s: %w", e.SessionID, e.Circuit, err)
		}
	}
	return p.dataPlane.Adopt(e)
}

// Inject implements session.MPPlane.
func (p *mpDataPlane) Inject(proto ppp.Protocol, packet []byte) error {
	return p.inj.Inject(uint16(proto), packet)
}

// Divert implements session.MPPlane.
func (p *mpDataPlane) Divert(h session.Handle, to func(ppp.Protocol, []byte)) {
	mh, ok := h.(mapsHandle)
	if !ok {
		return
	}
	if to == nil {
		p.div.Register(mh.index, nil)
		return
	}
	p.div.Register(mh.index, func(proto uint16, packet []byte) { to(ppp.Protocol(proto), packet) })
}

// Adopt implements session.Adopter: the entry a previous process
// installed is looked up, not written; its counters go on. It fails when
// the maps hold no such session or one forwarding elsewhere.
func (p dataPlane) Adopt(e session.Entry) (session.Handle, error) {
	want := mapsSession(e)
	got, idx, err := p.d.Lookup(want.Key)
	if err != nil {
		return nil, fmt.Errorf("server: adopt session %d of %s: %w", e.SessionID, e.Circuit, err)
	}
	if got.IPv4 != want.IPv4 || got.MTU != want.MTU || got.ACMAC.String() != want.ACMAC.String() {
		return nil, fmt.Errorf("server: adopt session %d of %s: installed as %v mtu %d from %v, want %v mtu %d from %v",
			e.SessionID, e.Circuit, got.IPv4, got.MTU, got.ACMAC, want.IPv4, want.MTU, want.ACMAC)
	}
	return mapsHandle{key: want.Key, index: idx}, nil
}
