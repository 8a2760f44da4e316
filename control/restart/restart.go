// Package restart takes over what a previous pppoed left behind: the
// sessions still installed in the pinned BPF maps and the records in the
// state store (control/state). It follows gobgp's graceful restart: every
// stored record starts stale; Reconcile walks the data plane and offers
// each installed session with its record to an Adopter, which confirms it
// by taking it over; what is not confirmed is swept, the way a session
// ends: map entries removed, address not leased again, PADT to the peer
// with the stored MACs and session id, one log line each.
//
// The access concentrator (control/server) is the Adopter of its
// sessions; the clients' are offered to Options.Clients (client.go).
package restart

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// DataPlane is what Reconcile needs of the data plane (*maps.Datapath).
type DataPlane interface {
	Installed() ([]maps.Installed, error)
	RemoveInstalled(maps.Installed) error
}

// Store is what Reconcile needs of the state store (*state.Store).
type Store interface {
	Sessions() (recs []state.Session, bad []uint64, err error)
	Delete(handle uint64) error
}

// Adopter takes over a session that survived: on nil the session is
// confirmed and kept (its data-plane entry, its record, its id and
// address); on an error it is swept and the error logged as why.
// control/server.Server implements it: it must reserve the session's
// PPPoE id (pppoe.SessionIDs.Reserve), take its address out of its pool,
// count it for max-sessions and one-session-per-host, and resume
// keepalive with rec.MagicLocal. Reconcile calls Adopt from a goroutine
// per CPU at once (a start with 100,000 sessions is otherwise bound to
// one CPU), so it must be safe for concurrent use.
type Adopter interface {
	Adopt(rec state.Session, in *maps.Installed) error
}

// Preparer is an Adopter that can do the per-record work that needs no
// order (decoding) for every record at once, on every CPU, before the
// Adopt calls: Reconcile calls Prepare first when the Adopter has it.
type Preparer interface {
	Prepare(recs []state.Session)
}

// ErrNoAdopter is why sessions are swept while no Adopter is given.
var ErrNoAdopter = errors.New("no access concentrator to adopt it")

// PADT is what ending a session on the wire needs: the frame goes from
// Local to Peer on Ifindex with the VLAN tags, both for a server session
// (from the AC to the subscriber) and a client one (from us to the AC).
type PADT struct {
	Ifindex   int
	VLANs     []state.VLAN
	Local     state.MAC
	Peer      state.MAC
	SessionID uint16
	Message   string
}

// Frame builds the PADT's Ethernet frame (RFC 2516 §5.5).
func (p PADT) Frame() ([]byte, error) {
	var tags []pppoe.Tag
	if p.Message != "" {
		tags = append(tags, pppoe.GenericError(p.Message))
	}
	var vlans []ethernet.VLAN
	for _, v := range p.VLANs {
		vlans = append(vlans, ethernet.VLAN{TPID: ethernet.EtherType(v.TPID), ID: v.ID})
	}
	pkt := &pppoe.Packet{Code: pppoe.CodePADT, SessionID: p.SessionID, Tags: tags}
	if err := pkt.Validate(); err != nil {
		return nil, fmt.Errorf("restart: PADT for session %d: %w", p.SessionID, err)
	}
	return pppoe.MarshalFrame(p.Peer.HardwareAddr(), p.Local.HardwareAddr(), vlans, pkt)
}

// Options configure Reconcile.
type Options struct {
	Store     Store
	DataPlane DataPlane
	// SendPADT sends a swept session's PADT; nil sends none (tests).
	SendPADT func(PADT) error
	// Adopter confirms sessions; nil sweeps every one (ErrNoAdopter).
	Adopter Adopter
	// Clients confirms client sessions; nil sweeps them.
	Clients Clients
	Log     *zap.Logger
}

// Result counts what Reconcile did.
type Result struct {
	// Adopted sessions were confirmed by the Adopter.
	Adopted int
	// Swept are the sessions ended, installed or only recorded.
	Swept int
	// PADTFailed are swept sessions whose PADT could not be sent.
	PADTFailed int
}

// SweepMessage is the Generic-Error of a swept session's PADT.
const SweepMessage = "pppoed restarted without this session's state"

// Reconcile adopts or sweeps every session the data plane and the store
// hold, and returns what it did. It fails only when it cannot read them;
// a session that cannot be removed is logged and counted as swept (its
// entry is left to the next start).
func Reconcile(o Options) (Result, error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	var res Result
	installed, err := o.DataPlane.Installed()
	if err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	recs, bad, err := o.Store.Sessions()
	if err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	if p, ok := o.Adopter.(Preparer); ok {
		p.Prepare(recs)
	}
	// Every record is stale until the data plane and the Adopter confirm
	// it.
	stale := make(map[state.Circuit]*state.Session, len(recs))
	for i := range recs {
		stale[recs[i].Circuit()] = &recs[i]
	}
	sweep := func(p PADT, why string, fields ...zap.Field) {
		res.Swept++
		p.Message = SweepMessage
		fields = append(fields, zap.Int("ifindex", p.Ifindex), zap.Uint16("session_id", p.SessionID),
			zap.Stringer("mac", p.Peer), zap.String("reason", why))
		if o.SendPADT != nil {
			if err := o.SendPADT(p); err != nil {
				res.PADTFailed++
				fields = append(fields, zap.NamedError("padt_error", err))
			}
		}
		log.Info("session swept at start", fields...)
	}
	// Each installed session with its record, and why it cannot be
	// adopted before the Adopter is asked.
	recs4 := make([]*state.Session, len(installed))
	whys := make([]error, len(installed))
	adopted := make([]bool, len(installed)) // asked already (clients)
	for i := range installed {
		in := &installed[i]
		c := state.Circuit{Ifindex: in.Ifindex, OuterVLAN: in.OuterVLAN, InnerVLAN: in.InnerVLAN, SessionID: in.SessionID}
		copy(c.PeerMAC[:], in.ClientMAC)
		rec := stale[c]
		delete(stale, c)
		recs4[i] = rec
		switch {
		case rec == nil:
			whys[i] = errors.New("no state record")
		case rec.Phase != state.PhaseUp:
			whys[i] = fmt.Errorf("state record in phase %q", rec.Phase)
		case adopterOf(o, in.Client) == nil:
			whys[i] = ErrNoAdopter
		case in.Client:
			// A host's few client sessions, one at a time.
			whys[i] = o.Clients.Adopt(*rec, in)
			adopted[i] = true
		}
	}
	adoptAll(o.Adopter, installed, recs4, whys, adopted)
	for i := range installed {
		in, rec, why := &installed[i], recs4[i], whys[i]
		if why == nil {
			res.Adopted++
			continue
		}
		p := padtOf(in, rec)
		fields := []zap.Field{zap.Stringer("address", in.IPv4), zap.Bool("client", in.Client)}
		if rec != nil {
			fields = append(fields, zap.String("handle", fmt.Sprintf("*%X", rec.Handle)), zap.String("user", rec.User))
		}
		if err := o.DataPlane.RemoveInstalled(*in); err != nil && !errors.Is(err, maps.ErrNotFound) {
			fields = append(fields, zap.NamedError("remove_error", err))
		}
		sweep(p, why.Error(), fields...)
		if rec != nil {
			deleteRecord(o.Store, log, rec.Handle)
		}
	}
	// What is left was recorded but is not in the data plane: sessions
	// still negotiating at the crash, or ones whose install the crash
	// interrupted. The peer may still think it has a session: a PADT.
	for _, rec := range stale {
		why := "not in the data plane"
		if rec.Phase != state.PhaseUp {
			why = "negotiation in progress at the last exit"
		}
		sweep(PADT{Ifindex: rec.Iface.Ifindex, VLANs: rec.Iface.VLANs, Local: rec.LocalMAC, Peer: rec.PeerMAC, SessionID: rec.SessionID},
			why, zap.String("handle", fmt.Sprintf("*%X", rec.Handle)), zap.String("user", rec.User))
		deleteRecord(o.Store, log, rec.Handle)
	}
	for _, h := range bad {
		log.Warn("state record unreadable: removed", zap.String("handle", fmt.Sprintf("*%X", h)))
		deleteRecord(o.Store, log, h)
	}
	return res, nil
}

// adoptAll asks a the sessions whys leaves open (nil) and not asked
// already, on every CPU, and puts its answers in whys.
func adoptAll(a Adopter, installed []maps.Installed, recs []*state.Session, whys []error, asked []bool) {
	var todo []int
	for i, why := range whys {
		if why == nil && !asked[i] {
			todo = append(todo, i)
		}
	}
	// What adoption allocates lives on (the sessions): collecting while
	// the heap grows only marks it again and again. A GOGC of 400 for
	// the while (unless it is higher, or off) halves the collections;
	// GOMEMLIMIT, when set, still bounds the heap.
	if old := debug.SetGCPercent(400); old < 0 || old > 400 {
		debug.SetGCPercent(old)
	} else {
		defer debug.SetGCPercent(old)
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(todo)/256))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(todo) {
					return
				}
				i := todo[k]
				whys[i] = a.Adopt(*recs[i], &installed[i])
			}
		}()
	}
	wg.Wait()
}

func deleteRecord(s Store, log *zap.Logger, h uint64) {
	if err := s.Delete(h); err != nil {
		log.Warn("state store", zap.String("handle", fmt.Sprintf("*%X", h)), zap.Error(err))
	}
}

// padtOf addresses an installed session's PADT: the record's MACs and
// tags where there is one (they are what the session was set up with),
// else the data plane's.
func padtOf(in *maps.Installed, rec *state.Session) PADT {
	if rec != nil {
		return PADT{Ifindex: rec.Iface.Ifindex, VLANs: rec.Iface.VLANs, Local: rec.LocalMAC, Peer: rec.PeerMAC, SessionID: rec.SessionID}
	}
	p := PADT{Ifindex: in.Ifindex, SessionID: in.SessionID}
	copy(p.Local[:], in.LocalMAC)
	copy(p.Peer[:], in.ClientMAC)
	if in.OuterVLAN != 0 {
		p.VLANs = append(p.VLANs, state.VLAN{TPID: tpid(in.OuterTPID), ID: in.OuterVLAN})
	}
	if in.InnerVLAN != 0 {
		p.VLANs = append(p.VLANs, state.VLAN{TPID: tpid(in.InnerTPID), ID: in.InnerVLAN})
	}
	return p
}

func tpid(t uint16) uint16 {
	if t == 0 {
		return maps.TPID8021Q
	}
	return t
}

// Sender sends PADTs through AF_PACKET sockets, one per interface, opened
// as needed. Close it when done.
type Sender struct {
	mu    sync.Mutex
	conns map[int]*afpacket.Conn
}

// Send sends p's frame out of its interface.
func (s *Sender) Send(p PADT) error {
	b, err := p.Frame()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[p.Ifindex]
	if c == nil {
		ifi, err := net.InterfaceByIndex(p.Ifindex)
		if err != nil {
			return fmt.Errorf("restart: PADT on ifindex %d: %w", p.Ifindex, err)
		}
		if c, err = afpacket.Listen(ifi); err != nil {
			return fmt.Errorf("restart: PADT on %s: %w", ifi.Name, err)
		}
		if s.conns == nil {
			s.conns = map[int]*afpacket.Conn{}
		}
		s.conns[p.Ifindex] = c
	}
	if err := c.WriteFrame(b); err != nil {
		return fmt.Errorf("restart: PADT on ifindex %d: %w", p.Ifindex, err)
	}
	return nil
}

// Close closes the sockets.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	s.conns = nil
	return errors.Join(errs...)
}
