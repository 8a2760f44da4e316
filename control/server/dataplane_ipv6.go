package server

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// ipv6Maps is maps.Datapath's IPv6 prefix API (the IPv6 data plane). It
// is asserted rather than called directly so this adapter builds before
// that data plane is merged; once it is, every *maps.Datapath has it.
type ipv6Maps interface {
	SetIPv6LinkPrefix(k maps.Key, p netip.Prefix) error
	AddIPv6Prefix(k maps.Key, p netip.Prefix) error
	RemoveIPv6Prefix(k maps.Key, p netip.Prefix) error
}

// errNoIPv6 is returned when the maps in use forward no IPv6.
var errNoIPv6 = errors.New("server: this data plane forwards no IPv6")

func (p dataPlane) v6() (ipv6Maps, error) {
	m, ok := any(p.d).(ipv6Maps)
	if !ok {
		return nil, errNoIPv6
	}
	return m, nil
}

// SetIPv6LinkPrefix implements session.IPv6DataPlane: the session's link
// /64 on its maps entry (maps.Datapath.SetIPv6LinkPrefix), the zero
// Prefix to take it away.
func (p dataPlane) SetIPv6LinkPrefix(h session.Handle, pfx netip.Prefix) error {
	mh, ok := h.(mapsHandle)
	if !ok {
		return fmt.Errorf("server: IPv6 link prefix: handle %T is not from NewDataPlane", h)
	}
	m, err := p.v6()
	if err != nil {
		return err
	}
	if err := m.SetIPv6LinkPrefix(mh.key, pfx); err != nil {
		return fmt.Errorf("server: session %d: IPv6 link prefix %v: %w", mh.key.SessionID, pfx, err)
	}
	return nil
}

// AddIPv6Prefix implements session.IPv6DataPlane.
func (p dataPlane) AddIPv6Prefix(h session.Handle, pfx netip.Prefix) error {
	mh, ok := h.(mapsHandle)
	if !ok {
		return fmt.Errorf("server: add IPv6 prefix: handle %T is not from NewDataPlane", h)
	}
	m, err := p.v6()
	if err != nil {
		return err
	}
	if err := m.AddIPv6Prefix(mh.key, pfx); err != nil {
		return fmt.Errorf("server: session %d: add IPv6 prefix: %w", mh.key.SessionID, err)
	}
	return nil
}

// RemoveIPv6Prefix implements session.IPv6DataPlane.
func (p dataPlane) RemoveIPv6Prefix(h session.Handle, pfx netip.Prefix) error {
	mh, ok := h.(mapsHandle)
	if !ok {
		return fmt.Errorf("server: remove IPv6 prefix: handle %T is not from NewDataPlane", h)
	}
	m, err := p.v6()
	if err != nil {
		return err
	}
	if err := m.RemoveIPv6Prefix(mh.key, pfx); err != nil {
		return fmt.Errorf("server: session %d: remove IPv6 prefix: %w", mh.key.SessionID, err)
	}
	return nil
}
