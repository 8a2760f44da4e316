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
// A session's routes (its /32, its IPv6 prefixes) carry Entry.RouteMTU:
// with multilink up, the peer's MRRU, so the kernel hands the data plane
// packets up to it to fragment.
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

// handle is the inner data plane's handle with what AddSession was given
// and the IPv6 prefixes routed for it.
type handle struct {
	inner  session.Handle
	addr   netip.Addr
	mtu    int
	routes []netip.Prefix // Entry.Routes as routed (AddRoutes)
	v6     *routed6
}

// routed6 are a session's IPv6 prefixes routed on pppoe0, shared by the
// handles an Update hands on, so that Remove unroutes them.
type routed6 struct {
	link      netip.Prefix
	delegated map[netip.Prefix]bool
}

// unroute removes every IPv6 route of the session.
func (d dataPlane) unroute(r *routed6) error {
	var errs []error
	if r.link.IsValid() {
		errs = append(errs, d.h.RemoveIPv6Prefix(r.link))
	}
	for p := range r.delegated {
		errs = append(errs, d.h.RemoveIPv6Prefix(p))
	}
	r.link, r.delegated = netip.Prefix{}, map[netip.Prefix]bool{}
	return errors.Join(errs...)
}

func (d dataPlane) Install(e session.Entry) (session.Handle, error) {
	in, err := d.inner.Install(e)
	if err != nil {
		return nil, err
	}
	mtu := int(e.RouteMTU())
	if err := d.h.AddSession(e.IPv4, mtu); err != nil {
		return nil, errors.Join(err, d.inner.Remove(in))
	}
	if err := d.h.AddRoutes(e.Routes, mtu); err != nil {
		return nil, errors.Join(err, d.h.RemoveSession(e.IPv4, mtu), d.inner.Remove(in))
	}
	return handle{inner: in, addr: e.IPv4, mtu: mtu, routes: e.Routes, v6: &routed6{delegated: map[netip.Prefix]bool{}}}, nil
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
	if err := d.h.AddRoutes(e.Routes, mtu); err != nil {
		return nil, errors.Join(err, d.h.RemoveSession(e.IPv4, mtu))
	}
	in, err := d.inner.Update(hh.inner, e)
	if err != nil {
		return nil, errors.Join(err, d.h.RemoveRoutes(e.Routes, mtu), d.h.RemoveSession(e.IPv4, mtu))
	}
	nh := handle{inner: in, addr: e.IPv4, mtu: mtu, routes: e.Routes, v6: hh.v6}
	var errs []error
	if mtu != hh.mtu {
		// The IPv6 routes carry the route MTU too (AddIPv6Prefix).
		if hh.v6.link.IsValid() {
			errs = append(errs, d.h.AddIPv6Prefix(hh.v6.link, mtu))
		}
		for p := range hh.v6.delegated {
			errs = append(errs, d.h.AddIPv6Prefix(p, mtu))
		}
	}
	return nh, errors.Join(append(errs, d.h.RemoveRoutes(hh.routes, hh.mtu), d.h.RemoveSession(hh.addr, hh.mtu))...)
}

// Adopt implements session.Adopter: the inner entry is adopted and the
// session counted for its route, as Install does (the route itself
// outlived the previous process; syncing it again changes nothing).
func (d dataPlane) Adopt(e session.Entry) (session.Handle, error) {
	ad, ok := d.inner.(session.Adopter)
	if !ok {
		return nil, errors.New("pppoe0: the data plane cannot adopt")
	}
	in, err := ad.Adopt(e)
	if err != nil {
		return nil, err
	}
	mtu := int(e.RouteMTU())
	if err := d.h.AddSession(e.IPv4, mtu); err != nil {
		return nil, err
	}
	if err := d.h.AddRoutes(e.Routes, mtu); err != nil {
		return nil, errors.Join(err, d.h.RemoveSession(e.IPv4, mtu))
	}
	return handle{inner: in, addr: e.IPv4, mtu: mtu, routes: e.Routes, v6: &routed6{delegated: map[netip.Prefix]bool{}}}, nil
}

func (d dataPlane) Remove(h session.Handle) error {
	hh := h.(handle)
	// The inner Remove takes the session's IPv6 prefixes with it.
	return errors.Join(d.unroute(hh.v6), d.h.RemoveRoutes(hh.routes, hh.mtu), d.h.RemoveSession(hh.addr, hh.mtu), d.inner.Remove(hh.inner))
}

// SetIPv6LinkPrefix implements session.IPv6DataPlane: the prefix routed
// on pppoe0 once the inner data plane holds it, unrouted before it lets
// go of it.
func (d dataPlane) SetIPv6LinkPrefix(h session.Handle, p netip.Prefix) error {
	in, ok := d.inner.(session.IPv6DataPlane)
	if !ok {
		return errors.New("pppoe0: the data plane forwards no IPv6")
	}
	hh := h.(handle)
	if !p.IsValid() {
		if hh.v6.link.IsValid() {
			if err := d.h.RemoveIPv6Prefix(hh.v6.link); err != nil {
				return err
			}
		}
		err := in.SetIPv6LinkPrefix(hh.inner, p)
		hh.v6.link = netip.Prefix{}
		return err
	}
	if err := in.SetIPv6LinkPrefix(hh.inner, p); err != nil {
		return err
	}
	old := hh.v6.link
	hh.v6.link = p
	if err := d.h.AddIPv6Prefix(p, hh.mtu); err != nil {
		return err
	}
	if old.IsValid() && old != p {
		return d.h.RemoveIPv6Prefix(old)
	}
	return nil
}

// AddIPv6Prefix implements session.IPv6DataPlane.
func (d dataPlane) AddIPv6Prefix(h session.Handle, p netip.Prefix) error {
	in, ok := d.inner.(session.IPv6DataPlane)
	if !ok {
		return errors.New("pppoe0: the data plane forwards no IPv6")
	}
	hh := h.(handle)
	if err := in.AddIPv6Prefix(hh.inner, p); err != nil {
		return err
	}
	if err := d.h.AddIPv6Prefix(p, hh.mtu); err != nil {
		return errors.Join(err, in.RemoveIPv6Prefix(hh.inner, p))
	}
	hh.v6.delegated[p] = true
	return nil
}

// RemoveIPv6Prefix implements session.IPv6DataPlane.
func (d dataPlane) RemoveIPv6Prefix(h session.Handle, p netip.Prefix) error {
	in, ok := d.inner.(session.IPv6DataPlane)
	if !ok {
		return errors.New("pppoe0: the data plane forwards no IPv6")
	}
	hh := h.(handle)
	delete(hh.v6.delegated, p)
	return errors.Join(d.h.RemoveIPv6Prefix(p), in.RemoveIPv6Prefix(hh.inner, p))
}

func (d dataPlane) Stats(h session.Handle) (session.Stats, error) {
	return d.inner.Stats(h.(handle).inner)
}

// QueueDrops implements session.QueueDropper: the inner data plane's, for
// its handles; none if it queues no session.
func (d dataPlane) QueueDrops() (func(session.Handle) uint64, error) {
	qd, ok := d.inner.(session.QueueDropper)
	if !ok {
		return func(session.Handle) uint64 { return 0 }, nil
	}
	drops, err := qd.QueueDrops()
	if err != nil {
		return nil, err
	}
	return func(h session.Handle) uint64 {
		if hh, ok := h.(handle); ok {
			return drops(hh.inner)
		}
		return 0
	}, nil
}
