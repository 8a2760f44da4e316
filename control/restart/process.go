package restart

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
)

// Once runs Reconcile once per process: from the access concentrator's
// start, with it as the Adopter, or, when the configuration has no
// server, after the daemon's start with none (every session swept).
// Whichever comes first does it; the other call does nothing.
type Once struct {
	Store     Store
	DataPlane DataPlane
	Log       *zap.Logger
	// After runs once the sessions are adopted or swept (nil: nothing):
	// RADIUS sends Stops for the accounted sessions not adopted.
	After func()
	// Clients adopts the client sessions (nil: swept); told when all
	// were offered (Clients.Reconciled), whatever the outcome.
	Clients Clients

	mu   sync.Mutex
	done bool
}

// Reconcile reconciles with a as the Adopter (nil: none) unless it has
// been done; the PADTs go out through a Sender of their own.
func (o *Once) Reconcile(a Adopter) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return nil
	}
	o.done = true
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	padt := &Sender{}
	defer padt.Close()
	if o.Clients != nil {
		defer o.Clients.Reconciled()
	}
	start := time.Now()
	res, err := Reconcile(Options{Store: o.Store, DataPlane: o.DataPlane, SendPADT: padt.Send, Adopter: a, Clients: o.Clients, Log: log})
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	if o.After != nil {
		o.After()
	}
	if res.Adopted+res.Swept > 0 {
		log.Info("sessions of the previous run", zap.Int("adopted", res.Adopted), zap.Int("swept", res.Swept),
			zap.Int("padt_failed", res.PADTFailed), zap.Duration("took", time.Since(start)))
	}
	return nil
}

// handleBlock is how many session handles a run reserves in the state
// store at start (state.Store.ReserveHandles).
const handleBlock = 1 << 20

// Discovery is the state discovery goes on from after a restart.
type Discovery struct {
	CookieKey  []byte            // a PADO's AC-Cookie of the last run is still good
	SessionIDs *pppoe.SessionIDs // goes on after the last run's cursor
	Handles    *session.IDs      // above every handle of the last runs
	// ServerDUID is the DHCPv6 server's DUID (RFC 8415 §11), the same
	// on every session and after every restart: clients Renew with it.
	ServerDUID dhcpv6.DUID
}

// LoadDiscovery reads the Discovery of the last run from the store and
// reserves this run's block of session handles.
func LoadDiscovery(store *state.Store) (Discovery, error) {
	var d Discovery
	var err error
	if d.CookieKey, err = store.CookieKey(); err != nil {
		return d, err
	}
	uuid, err := store.ServerUUID()
	if err != nil {
		return d, err
	}
	d.ServerDUID = &dhcpv6.DUIDUUID{UUID: uuid}
	cursor, err := store.SIDCursor()
	if err != nil {
		return d, err
	}
	d.SessionIDs = pppoe.NewSessionIDs()
	d.SessionIDs.SetCursor(cursor)
	first, err := store.ReserveHandles(handleBlock)
	if err != nil {
		return d, err
	}
	d.Handles = session.NewIDs(session.ID(first))
	return d, nil
}

// ExitPlanned is pppoed's exit status after a planned restart: the unit
// counts it as success (SuccessExitStatus) and starts pppoed again
// whatever Restart= says (RestartForceExitStatus), so "pppoectl /system
// restart" works under systemd as "systemctl restart" does. 75 is
// EX_TEMPFAIL.
const ExitPlanned = 75

// Planned records a planned restart in the store and returns the status
// the process exits with at once. The sessions are left where the next
// run finds them: installed in the pinned maps (forwarding on) and
// recorded in the store, every record in the file already. Nothing is
// stopped, closed or removed; that is the point: the exit is a kill -9
// that leaves a note saying it was meant. The records still queued in
// writer (state.Writer) go into the file first.
func Planned(store *state.Store, writer interface{ Flush() }, log *zap.Logger) int {
	writer.Flush()
	if err := store.RecordExit(state.Exit{Kind: state.ExitRestart, At: time.Now().UTC(), PID: os.Getpid()}); err != nil {
		log.Warn("state store", zap.Error(err))
	}
	log.Info("pppoed exiting for a restart: sessions stay installed", zap.Int("status", ExitPlanned))
	_ = log.Sync()
	return ExitPlanned
}
