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
