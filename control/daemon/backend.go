package daemon

import (
	"context"
	"encoding/json"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"io"
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/metrics"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// Servers is the access concentrator: every /interface pppoe-server server
// entry with its sessions (control/server behind an adapter).
type Servers interface {
	// Apply makes the running servers match cfg. Sessions whose server,
	// secret, profile and pool did not change must survive. An error that
	// is not an *AppliedError means nothing changed. A server whose
	// interface cannot be opened is no error (see Invalid).
	Apply(cfg *config.Config) error
	// Sessions lists the active sessions for /ppp active print.
	Sessions() []Active
	// Remove disconnects the one session (PADT, data-plane entry removed,
	// address returned) whose Active.ID is id, and no other.
	Remove(id string) error
	// QueueDrops returns what the shaper queue of each session whose
	// download is queued outside the BPF (an HTB class) dropped, by
	// Active.ID: read at once for every session, for /queue simple print.
	QueueDrops() (map[string]uint64, error)
	// Counters reports the discovery and authentication counters.
	Counters() ServerCounters
	// Invalid lists the enabled servers that cannot run (their interface
	// does not exist, say) by config.Server Key, with the reason: print's
	// I flag. They are kept, and run once Retry can open their interface.
	Invalid() map[string]error
	// Retry tries again to open the interfaces of invalid servers and
	// serves those it opens, returning their names.
	Retry() []string
	// Close ends every session as Remove does.
	Close() error
}

// Active is one row of /ppp active: a PPP session the daemon serves, with
// the RouterOS column names in the comments.
type Active struct {
	ID        string        // .id: the session's handle ("*1A"), for Servers.Remove
	Name      string        // name: the authenticated user
	Service   string        // service: "pppoe"
	CallerID  string        // caller-id: the client's MAC
	Encoding  string        // encoding: MPPE/compression, "" for none
	Address   netip.Addr    // address: the client's IPv4 (RFC 1332 §3.3)
	Uptime    time.Duration // uptime
	SessionID uint16        // session-id: PPPoE SESSION_ID (RFC 2516 §4)
	State     string        // session state, for metrics ("up" once IPCP is open)
	// Counters from the BPF data plane; "in" is from the client, as
	// RouterOS counts on the server.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// MRRU is the peer's MRRU when multilink is on, 0 when off;
	// ReassemblyDrops what MP reassembly dropped (session.MPLink.Drops),
	// MPDrops the same by reason.
	MRRU            uint16
	ReassemblyDrops uint64
	MPDrops         session.MPDrops
	// RateLimit is the session's rate-limit (rx = in, from the client),
	// ShapeTx whether its download is shaped; RateDropsIn/Out what the
	// limit dropped. /queue simple shows them.
	RateLimit                 ratelimit.Limit
	ShapeTx                   bool
	RateDropsIn, RateDropsOut uint64
}

// ServerCounters are the access concentrator's counters for metrics.
type ServerCounters struct {
	// States counts the live sessions by state (session.State names), for
	// pppoe_sessions: from counters kept as sessions change state, so a
	// scrape costs the same at 10 sessions and at 100,000.
	States        map[string]int
	Discovery     pppoe.Counters    // RFC 2516 discovery, summed over interfaces
	AuthFailures  map[string]uint64 // by method: pap, chap, mschap1, mschap2
	PoolExhausted uint64            // sessions refused for want of an address
	// HalfOpen sessions are admitted and negotiating, Established ones
	// have had their IPCP open (what max-sessions counts).
	HalfOpen, Established int
	// Refused counts PADRs refused, by limit: max-sessions, max-starting,
	// max-starting-per-host, other.
	Refused map[string]uint64
	// LateDuplicates counts PADRs repeated after the duplicate window
	// that joined their attempt.
	LateDuplicates uint64
	// QueueDrops counts session frames dropped at a full session queue.
	QueueDrops uint64
	// Ended counts ended sessions by reason (session.Reason names).
	Ended map[string]uint64
	// Traffic is what sessions carried by interface, ended ones included.
	Traffic map[string]metrics.Traffic
	// MPReassemblyDrops is what multilink reassembly dropped, by reason
	// (session.MPDrops.Reasons), ended sessions included.
	MPReassemblyDrops map[string]uint64
}

// Clients are the /interface pppoe-client connections.
type Clients interface {
	// Apply makes the running clients match cfg, leaving connections
	// whose configuration did not change up.
	Apply(cfg *config.Config) error
	// Monitor returns a client's live status (RouterOS's monitor fields:
	// status, uptime, ac-name, ac-mac, service-name, mtu, mru,
	// local-address, remote-address, ...).
	Monitor(name string) (ClientStatus, error)
	// Close disconnects every client (PADT, routes and addresses removed).
	Close() error
}

// ClientStatus is one refresh of a client's monitor; client.Status is one.
type ClientStatus interface {
	// Render writes the RouterOS "name: value" lines.
	Render(w io.Writer) error
	json.Marshaler
}

// Scanner lists the access concentrators answering a PADI on an interface
// (a physical or /interface vlan name) within d: RouterOS's
// "/interface pppoe-client scan".
type Scanner func(ctx context.Context, iface string, d time.Duration) ([]client.Offer, error)
