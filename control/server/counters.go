package server

import (
	"sync/atomic"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Counters are the access concentrator's counters, a snapshot for metrics.
type Counters struct {
	// States is the number of live sessions in each state (StateDown is
	// always 0: ended sessions are gone).
	States [session.NumStates]int64
	// Ended counts ended sessions by reason.
	Ended map[session.Reason]uint64
	// AuthFailures counts refused credentials by method.
	AuthFailures map[auth.Method]uint64
	// Refused counts PADRs refused by max-sessions or another admission
	// error (RFC 2516 §5.4 AC-System-Error); RefusedBy splits them by
	// the limit that refused them: max-sessions, max-starting,
	// max-starting-per-host, other.
	Refused   uint64
	RefusedBy map[string]uint64
	// LateDuplicates counts PADRs retransmitted after the discovery
	// server's duplicate window that joined the attempt they repeat
	// (same client, same Host-Uniq) instead of opening another session.
	LateDuplicates uint64
	// HalfOpen is the number of sessions admitted whose IPCP has not
	// opened yet; Established of those whose IPCP has opened (what
	// max-sessions counts).
	HalfOpen, Established int
	// UnknownSession counts session frames for no known session;
	// UnknownPADT the PADTs sent back for them (RFC 2516 §5.5),
	// rate-limited.
	UnknownSession, UnknownPADT uint64
	// QueueDrops counts session frames dropped because their session
	// already had its queue (session.DefaultQueue frames) waiting for its
	// loop, or had just ended: the demultiplexer never waits for one.
	QueueDrops uint64
	// NoServer counts frames on a VLAN stack (or untagged) where no
	// enabled server listens.
	NoServer uint64
	// Setups counts sessions that reached IPCP Opened; SetupTime is the sum
	// of their PADR → NetworkUp latencies (Options.SetupLatency gets each).
	Setups    uint64
	SetupTime time.Duration
	// Discovery sums the discovery counters of the current servers.
	Discovery pppoe.Counters
	// Traffic is what the sessions' data plane entries carried, by
	// interface (the server's interface name), ended sessions included.
	Traffic map[string]session.Stats
	// AAA holds authentication and pool counters.
	AAA aaa.Counters
}

type counters struct {
	states                        [session.NumStates]atomic.Int64
	ended                         [session.NumReasons]atomic.Uint64
	authFailures                  [auth.MSCHAPv2 + 1]atomic.Uint64
	refused, unknown, unknownPADT atomic.Uint64
	refusedBy                     [numLimits]atomic.Uint64
	lateDuplicates                atomic.Uint64
	noServer, setups, queueDrops  atomic.Uint64
	setupTime                     atomic.Int64
}

// limit is what refused a PADR.
type limit uint8

const (
	limitMaxSessions limit = iota
	limitMaxStarting
	limitMaxStartingPerHost
	limitOther // no free session id, a session that could not be built
	numLimits
)

var limitNames = [numLimits]string{"max-sessions", "max-starting", "max-starting-per-host", "other"}

func (l limit) String() string { return limitNames[l] }

func addDiscovery(a *pppoe.Counters, b pppoe.Counters) {
	a.Malformed += b.Malformed
	a.Ignored += b.Ignored
	a.MACLimited += b.MACLimited
	a.GlobalLimited += b.GlobalLimited
	a.PADIReceived += b.PADIReceived
	a.PADIDropped += b.PADIDropped
	a.PADIUnserved += b.PADIUnserved
	a.PADISilenced += b.PADISilenced
	a.PADOSent += b.PADOSent
	a.PADODelayed += b.PADODelayed
	a.PADODropped += b.PADODropped
	a.PADRReceived += b.PADRReceived
	a.PADRDropped += b.PADRDropped
	a.PADRBadCookie += b.PADRBadCookie
	a.PADRDuplicates += b.PADRDuplicates
	a.PADSSent += b.PADSSent
	a.PADSErrors += b.PADSErrors
	a.PADTReceived += b.PADTReceived
	a.PADTSent += b.PADTSent
	a.WriteErrors += b.WriteErrors
}
