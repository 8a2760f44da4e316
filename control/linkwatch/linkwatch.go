// Package linkwatch follows the network interfaces of the daemon's network
// namespace through rtnetlink link events (RTM_NEWLINK, RTM_DELLINK;
// rtnetlink(7)) and tells, by name, when an interface appears, goes, or
// changes. RouterOS configuration names interfaces (interface=ether3); the
// kernel knows them by ifindex, and a deleted and re-created interface
// (driver reload, VLAN or bond rebuilt, container restarted) comes back
// under its name with a new ifindex. Whatever holds a socket, a program or
// a session on an interface must let go of the old one and take the new.
//
// Events are hints: for every name an event mentions, the watcher asks the
// kernel what that name is now and reports the difference from what it
// last saw. So a burst of events, or an overflow of the event socket
// (after which it lists every interface again), never leaves it believing
// in an interface that is gone.
package linkwatch

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
)

// Kind is what happened to a name.
type Kind uint8

const (
	// Appeared: the name has an interface now (created, re-created,
	// renamed to it, or moved into the namespace).
	Appeared Kind = iota + 1
	// Gone: the name's interface was deleted, renamed or moved out of the
	// namespace. Index is the interface that went.
	Gone
	// Changed: the same interface reported a change (flags, carrier,
	// MTU, MAC, XDP program).
	Changed
)

func (k Kind) String() string {
	switch k {
	case Appeared:
		return "appeared"
	case Gone:
		return "gone"
	case Changed:
		return "changed"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Event is one change of one interface name.
type Event struct {
	Kind  Kind
	Name  string
	Index int              // the interface: the new one for Appeared, the old one for Gone
	MAC   net.HardwareAddr // nil for Gone
}

// Options configure Start.
type Options struct {
	// Namespace is the network namespace to follow; nil means the calling
	// thread's (the daemon's: pppoed is started inside its namespace).
	Namespace *netns.NsHandle
	// Log gets a line when the event socket overflowed and the interfaces
	// were listed again; nil logs nothing.
	Log *zap.Logger
}

// Watcher follows the interfaces of one namespace.
type Watcher struct {
	opts   Options
	log    *zap.Logger
	nl     *netlink.Handle
	handle func(Event)
	stop   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	byName map[string]state
	byIdx  map[int]string
}

type state struct {
	index int
	mac   string
}

// resubscribeDelay spaces out attempts to subscribe again after the event
// socket failed.
const resubscribeDelay = 100 * time.Millisecond

// Start lists the namespace's interfaces and follows their changes from
// then on: handle gets every Event, in order, from one goroutine, until
// Close. Interfaces present at Start are not reported; Index tells them.
func Start(opts Options, handle func(Event)) (*Watcher, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	var (
		h   *netlink.Handle
		err error
	)
	if opts.Namespace != nil {
		h, err = netlink.NewHandleAt(*opts.Namespace)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("linkwatch: netlink: %w", err)
	}
	w := &Watcher{opts: opts, log: opts.Log, nl: h, handle: handle, stop: make(chan struct{}), done: make(chan struct{}),
		byName: map[string]state{}, byIdx: map[int]string{}}
	// Subscribed before listing: nothing that changes after the list is
	// missed (and what the list already shows is not reported twice).
	sub, err := w.subscribe()
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := w.resync(false); err != nil {
		close(sub.done)
		h.Close()
		return nil, err
	}
	go w.run(sub)
	return w, nil
}

// Close stops following; handle is not called after Close returns.
func (w *Watcher) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.nl.Close()
	return nil
}

// Index returns name's ifindex as last seen, false if it has none.
func (w *Watcher) Index(name string) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.byName[name]
	return st.index, ok
}

// subscription is one rtnetlink socket's events; closing done closes the
// socket.
type subscription struct {
	ch   chan netlink.LinkUpdate
	done chan struct{}
}

func (w *Watcher) subscribe() (*subscription, error) {
	s := &subscription{ch: make(chan netlink.LinkUpdate, 256), done: make(chan struct{})}
	err := netlink.LinkSubscribeWithOptions(s.ch, s.done, netlink.LinkSubscribeOptions{
		Namespace: w.opts.Namespace,
		// The channel closes on a receive error (ENOBUFS when events came
		// faster than they were read); run subscribes again and lists.
		ErrorCallback: func(err error) { w.log.Debug("link events", zap.Error(err)) },
		// Room for a burst (a bond or a hundred VLANs rebuilt at once).
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		close(s.done)
		return nil, fmt.Errorf("linkwatch: subscribe to link events: %w", err)
	}
	return s, nil
}

func (w *Watcher) run(s *subscription) {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			close(s.done)
			return
		case u, ok := <-s.ch:
			if !ok {
				close(s.done)
				if s = w.recover(); s == nil {
					return
				}
				continue
			}
			names := map[string]bool{}
			w.mention(names, u)
			// Take what else is queued: one look per name for a burst.
		drain:
			for {
				select {
				case u, ok := <-s.ch:
					if !ok {
						break drain
					}
					w.mention(names, u)
				default:
					break drain
				}
			}
			var evs []Event
			for name := range names {
				evs = append(evs, w.reconcile(name)...)
			}
			w.emit(evs)
		}
	}
}

// recover subscribes again after the event socket failed and lists every
// interface, reporting what changed meanwhile. It returns nil once the
// watcher is closed.
func (w *Watcher) recover() *subscription {
	w.log.Warn("link events lost (socket overflow or error): listing interfaces again")
	for {
		select {
		case <-w.stop:
			return nil
		default:
		}
		s, err := w.subscribe()
		if err == nil {
			if err = w.resync(true); err == nil {
				return s
			}
			close(s.done)
		}
		w.log.Warn("link events", zap.Error(err))
		select {
		case <-w.stop:
			return nil
		case <-time.After(resubscribeDelay):
		}
	}
}

// mention adds the names an update concerns: its own, and the one its
// ifindex had before (a rename).
func (w *Watcher) mention(names map[string]bool, u netlink.LinkUpdate) {
	if a := u.Attrs(); a != nil && a.Name != "" {
		names[a.Name] = true
	}
	w.mu.Lock()
	if old, ok := w.byIdx[int(u.Index)]; ok {
		names[old] = true
	}
	w.mu.Unlock()
}

// resync lists every interface and reconciles every name known or listed.
func (w *Watcher) resync(report bool) error {
	var (
		links []netlink.Link
		err   error
	)
	for range 5 {
		if links, err = w.nl.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("linkwatch: list interfaces: %w", err)
	}
	now := map[string]state{}
	for _, l := range links {
		a := l.Attrs()
		now[a.Name] = state{index: a.Index, mac: a.HardwareAddr.String()}
	}
	w.mu.Lock()
	names := map[string]bool{}
	for name := range w.byName {
		names[name] = true
	}
	w.mu.Unlock()
	for name := range now {
		names[name] = true
	}
	var evs []Event
	for name := range names {
		st, ok := now[name]
		evs = append(evs, w.update(name, st, ok, false)...)
	}
	if report {
		w.emit(evs)
	}
	return nil
}

// emit hands events over, every Gone first: a name renamed to another's
// (or an ifindex moving between names) is let go of before it is taken.
func (w *Watcher) emit(evs []Event) {
	for _, e := range evs {
		if e.Kind == Gone {
			w.handle(e)
		}
	}
	for _, e := range evs {
		if e.Kind != Gone {
			w.handle(e)
		}
	}
}

// reconcile asks the kernel what name is now and returns the difference.
func (w *Watcher) reconcile(name string) []Event {
	l, err := w.nl.LinkByName(name)
	var lnf netlink.LinkNotFoundError
	if err != nil && !errors.As(err, &lnf) {
		// Not an answer about the name (the socket failed): keep what
		// is known; the next event or a resync tells.
		w.log.Debug("link lookup", zap.String("iface", name), zap.Error(err))
		return nil
	}
	var st state
	if err == nil {
		st = state{index: l.Attrs().Index, mac: l.Attrs().HardwareAddr.String()}
	}
	return w.update(name, st, err == nil, true)
}

// update records name's state now and returns the change; evented says
// the kernel announced something about it.
func (w *Watcher) update(name string, now state, present, evented bool) []Event {
	w.mu.Lock()
	was, known := w.byName[name]
	if known && w.byIdx[was.index] == name {
		delete(w.byIdx, was.index)
	}
	if present {
		w.byName[name] = now
		w.byIdx[now.index] = name
	} else {
		delete(w.byName, name)
	}
	w.mu.Unlock()
	mac, _ := net.ParseMAC(now.mac)
	switch {
	case known && (!present || was.index != now.index):
		evs := []Event{{Kind: Gone, Name: name, Index: was.index}}
		if present {
			evs = append(evs, Event{Kind: Appeared, Name: name, Index: now.index, MAC: mac})
		}
		return evs
	case !known && present:
		return []Event{{Kind: Appeared, Name: name, Index: now.index, MAC: mac}}
	case known && present && (evented || was.mac != now.mac):
		return []Event{{Kind: Changed, Name: name, Index: now.index, MAC: mac}}
	}
	return nil
}
