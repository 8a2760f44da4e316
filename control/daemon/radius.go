package daemon

import (
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// RadiusSessions is what a RADIUS Disconnect-Request or CoA-Request does
// to the access concentrator's live sessions (radiusaaa.SessionControl).
type RadiusSessions struct{ AC *AccessConcentrator }

// Remove ends the sessions as /ppp active remove does (Admin-Reset).
func (r RadiusSessions) Remove(ids ...session.ID) int {
	srv := r.AC.server()
	if srv == nil {
		return 0
	}
	return srv.Remove(ids...)
}

// Change applies a CoA to one session.
func (r RadiusSessions) Change(id session.ID, ch radius.Change) error {
	srv := r.AC.server()
	if srv == nil {
		return session.ErrNotUp
	}
	s, ok := srv.Session(id)
	if !ok {
		return session.ErrNotUp
	}
	return radiusaaa.ApplyChange(s, ch)
}

// LateRadiusSessions is RadiusSessions for an AAA backend built before the
// access concentrator whose options carry it: *AC is read at each
// request, and is set once NewAccessConcentrator has returned, before
// anything starts.
type LateRadiusSessions struct{ AC **AccessConcentrator }

// Remove implements radiusaaa.SessionControl.
func (l LateRadiusSessions) Remove(ids ...session.ID) int {
	return RadiusSessions{AC: *l.AC}.Remove(ids...)
}

// Change implements radiusaaa.SessionControl.
func (l LateRadiusSessions) Change(id session.ID, ch radius.Change) error {
	return RadiusSessions{AC: *l.AC}.Change(id, ch)
}
