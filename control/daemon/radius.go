package daemon

import (
	"errors"

	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// RadiusSessions is what a RADIUS Disconnect-Request or CoA-Request does
// to the access concentrator's live sessions (radius.SessionControl).
type RadiusSessions struct{ AC *AccessConcentrator }

// Remove ends the sessions as /ppp active remove does (Admin-Reset).
func (r RadiusSessions) Remove(ids ...session.ID) int {
	srv := r.AC.server()
	if srv == nil {
		return 0
	}
	return srv.Remove(ids...)
}

// errNoRateLimit: rate limits are not implemented yet, so a CoA that
// changes one is refused (Error-Cause 401) rather than acknowledged and
// ignored.
var errNoRateLimit = &radius.CauseError{Cause: radius.CauseUnsupportedAttribute, Err: errors.New("rate limits are not implemented")}

// Change applies a CoA's Session-Timeout and Idle-Timeout to one session.
func (r RadiusSessions) Change(id session.ID, ch radius.Change) error {
	if ch.RateLimit != nil {
		return errNoRateLimit
	}
	srv := r.AC.server()
	if srv == nil {
		return session.ErrNotUp
	}
	s, ok := srv.Session(id)
	if !ok {
		return session.ErrNotUp
	}
	return s.SetLimits(session.Limits{SessionTimeout: ch.SessionTimeout, IdleTimeout: ch.IdleTimeout})
}
