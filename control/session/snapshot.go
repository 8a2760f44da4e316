package session

import (
	"net/netip"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// Snapshot is one row of RouterOS's /ppp active print.
type Snapshot struct {
	// ID is the session's handle, RouterOS's .id.
	ID ID
	// Name is the authenticated user, "" before authentication.
	Name string
	// Service is the protocol, always "pppoe" here.
	Service string
	// CallerID is the client's MAC address, upper case as RouterOS shows it.
	CallerID string
	// Encoding is the PPP encryption in use; none is implemented, so "".
	Encoding string
	// Address is the client's IPv4 address once IPCP is opened.
	Address netip.Addr
	// Uptime is how long the session has existed (since its PADS).
	Uptime time.Duration
	// SessionID is the PPPoE SESSION_ID (RFC 2516 §4).
	SessionID uint16
	// Circuit is where the client is; Interface its name.
	Circuit   pppoe.Circuit
	Interface string
	// ServiceName is the PPPoE Service-Name the session was opened for.
	ServiceName string
	// State is where the session is in its life.
	State State
	// MTU and MRU are what LCP negotiated (RFC 1661 §6.1).
	MTU, MRU uint16
	// MP is the session's multilink as installed (RFC 1990), zero when
	// off.
	MP MP
	// RateLimit is the session's rate-limit, ShapeTx whether its download
	// is shaped (queue-type); /queue simple shows it as a dynamic queue.
	RateLimit ratelimit.Limit
	ShapeTx   bool
	// Stats are the data plane's counters over the session's life (every
	// install, if IPCP renegotiated): zero until installed, never going
	// down, and after the end the final counts.
	Stats Stats
}

// Snapshot returns the session as /ppp active print shows it. It may be
// called from any goroutine.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	snap := Snapshot{
		ID:          s.cfg.ID,
		Name:        s.user,
		Service:     "pppoe",
		CallerID:    strings.ToUpper(s.cfg.Circuit.HardwareAddr().String()),
		Address:     s.addr,
		SessionID:   s.cfg.SessionID,
		Circuit:     s.cfg.Circuit,
		Interface:   s.cfg.Interface,
		ServiceName: s.cfg.Service,
		State:       s.state,
		MTU:         s.mtu,
		MRU:         s.mru,
	}
	if s.installed {
		// the limit the data plane holds the session to
		snap.RateLimit, snap.ShapeTx = s.entry.RateLimit, s.entry.ShapeTx
		s.readStatsLocked(s.handle)
	}
	if s.installed {
		snap.MP = s.entry.MP
	}
	snap.Stats = s.statsLocked()
	s.mu.Unlock()
	snap.Uptime = s.now().Sub(s.cfg.Opened)
	return snap
}

// readStatsLocked refreshes cur from the data plane; on a failed read cur
// keeps the last good one. s.mu held.
func (s *Session) readStatsLocked(h Handle) {
	if st, err := s.cfg.DataPlane.Stats(h); err == nil {
		s.cur = countsOf(st)
	}
}

// statsLocked is the session's counters over its life: the data plane's
// over its installs and multilink's in user space. s.mu held.
func (s *Session) statsLocked() Stats {
	st := s.past.stats().Add(s.cur.stats())
	if s.mpTotals != nil {
		st = st.Add(s.mpTotals.stats)
	}
	return st
}
