package pppoe0

import (
	"errors"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// DataPlane returns dp with pppoe0's routes following its sessions: a
// session is routed (AddSession) once its entry is installed, so the
// first packet the kernel routes to it finds it, and unrouted
// (RemoveSession) before its entry goes.
//
// A session's route carries Entry.RouteMTU: with multilink up, the peer's
// MRRU, so the kernel hands the data plane packets up to it to fragment.
// When dp runs multilink's user-space half (session.MPPlane), so does the
// result.
func (h *Host) DataPlane(dp session.DataPlane) session.DataPlane {
	d := dataPlane{inner: dp, h: h}
	if mp, ok := dp.(session.MPPlane); ok {
		return mpDataPlane{dataPlane: d, mp: mp}
	}
	return d
}

// mpDataPlane passes multilink's user-space half through.
type mpDataPlane struct {
	dataPlane
	mp session.MPPlane
}

func (d mpDataPlane) Inject(proto ppp.Protocol, packet []byte) error {
	return d.mp.Inject(proto, packet)
}

func (d mpDataPlane) Divert(h session.Handle, to func(ppp.Protocol, []byte)) {
	d.mp.Divert(h.(handle).inner, to)
}

type dataPlane struct {
	inner session.DataPlane
	h     *Host
}

// handle is the inner data plane's handle with what AddSession was given.
type handle struct {
	inner session.Handle
	addr  netip.Addr
	mtu   int
}

func (d dataPlane) Install(e session.Entry) (session.Handle, error) {
	in, err := d.inner.Install(e)
	if err != nil {
		return nil, err
	}
	if err := d.h.AddSession(e.IPv4, int(e.RouteMTU())); err != nil {
		return nil, errors.Join(err, d.inner.Remove(in))
	}
	return handle{inner: in, addr: e.IPv4, mtu: int(e.RouteMTU())}, nil
}

// Update routes the new address (and MTU) before the entry moves to it
// and unroutes the old one after: AddSession and RemoveSession count, so
// the same address with a new MTU works the same way.
func (d dataPlane) Update(h session.Handle, e session.Entry) (session.Handle, error) {
	hh := h.(handle)
	mtu := int(e.RouteMTU())
	if err := d.h.AddSession(e.IPv4, mtu); err != nil {
		return nil, err
	}
	in, err := d.inner.Update(hh.inner, e)
	if err != nil {
		return nil, errors.Join(err, d.h.RemoveSession(e.IPv4, mtu))
	}
	nh := handle{inner: in, addr: e.IPv4, mtu: mtu}
	return nh, d.h.RemoveSession(hh.addr, hh.mtu)
}

func (d dataPlane) Remove(h session.Handle) error {
	hh := h.(handle)
	return errors.Join(d.h.RemoveSession(hh.addr, hh.mtu), d.inner.Remove(hh.inner))
}

func (d dataPlane) Stats(h session.Handle) (session.Stats, error) {
	return d.inner.Stats(h.(handle).inner)
}
