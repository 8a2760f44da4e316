// Package fib6cache keeps the data plane's upstream IPv6 route cache
// (fib6_cache in bpf/ipv6.h) true to the kernel's routing. The fast path
// keeps each destination's bpf_fib_lookup result under a generation
// number; this package bumps the generation whenever the kernel tells
// (rtnetlink(7)) of a change that can alter an IPv6 lookup's answer: a
// route, a rule, a link, an IPv6 address or netconf (forwarding), or a
// neighbour that changed its MAC or became (in)valid. It also bumps it
// every Period, which bounds what no event announces (a route exception's
// path MTU), and renews the cache's lease: a cache whose watcher stopped
// is not used.
//
// The cache is keyed by destination alone, so it is right only where the
// kernel's answer depends on the destination alone. Where it may not, the
// cache stays off and every packet is looked up: ip -6 rules other than
// the kernel's two defaults (policy routing by source, mark, interface),
// routes with a source prefix (ip -6 route ... from), and multipath or
// nexthop-object routes (the path is chosen by a hash of the flow).
package fib6cache

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// DefaultPeriod is how often the generation is bumped and the lease
// renewed when Options.Period is 0.
const DefaultPeriod = time.Second

// rescanEvery is how often, at most, the routes are dumped again while a
// multipath or source route keeps the cache off and routes change: a
// table of 100,000 routes takes a fraction of a second to dump.
const rescanEvery = time.Second

// leases is how many periods a renewed lease lasts: the cache outlives a
// late tick or two, not a stopped watcher.
const leases = 3

// Target is a data plane with a cache (*maps.Datapath).
type Target interface {
	SetFIB6Cache(maps.FIB6Cache) error
	FIB6CacheControl() (maps.FIB6Cache, error)
}

// Options configure Start.
type Options struct {
	// Namespace is the network namespace whose routing the data plane's
	// lookups see; nil means the calling thread's.
	Namespace *netns.NsHandle
	// Period is how often the generation is bumped without an event and
	// the lease renewed; DefaultPeriod if 0.
	Period time.Duration
	// Log gets a line when the cache turns off or on, and when events
	// were lost; nil logs nothing.
	Log *zap.Logger
}

// Watcher follows one namespace's IPv6 routing for its targets.
type Watcher struct {
	opts    Options
	log     *zap.Logger
	ns      netns.NsHandle
	sock    *nl.NetlinkSocket
	targets []Target
	stop    chan struct{}
	done    chan struct{}

	// The loop's alone.
	gen          uint64
	neigh        map[neighKey]neighState
	ruleReason   string    // why the rules make the cache unsafe; "" if they do not
	routeWhy     string    // the same for the routes
	routeDirty   bool      // routeWhy may be stale: scan again
	routeScanned time.Time // when the routes were last dumped
	on           bool      // what was last written

	mu      sync.Mutex
	enabled bool // for Enabled
}

type neighKey struct {
	ifindex int
	ip      [16]byte
}

type neighState struct {
	valid bool
	mac   string
}

// nudValid is the kernel's NUD_VALID: the states a lookup takes the
// neighbour's MAC in.
const nudValid = netlink.NUD_PERMANENT | netlink.NUD_NOARP | netlink.NUD_REACHABLE |
	netlink.NUD_PROBE | netlink.NUD_STALE | netlink.NUD_DELAY

// Start subscribes to the namespace's changes, checks whether its routing
// depends on more than the destination, and turns the targets' caches on
// if it does not. Events are subscribed before the check, so no change
// after it is missed.
func Start(opts Options, targets ...Target) (*Watcher, error) {
	if opts.Period <= 0 {
		opts.Period = DefaultPeriod
	}
	w := &Watcher{opts: opts, log: opts.Log, ns: netns.None(), targets: targets,
		stop: make(chan struct{}), done: make(chan struct{}), neigh: map[neighKey]neighState{}}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	if opts.Namespace != nil {
		w.ns = *opts.Namespace
	}
	for _, t := range targets {
		c, err := t.FIB6CacheControl()
		if err != nil {
			return nil, fmt.Errorf("fib6cache: %w", err)
		}
		w.gen = max(w.gen, c.Gen)
	}
	s, err := nl.SubscribeAt(w.ns, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_NEIGH, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV6_ROUTE,
		unix.RTNLGRP_IPV6_RULE, unix.RTNLGRP_IPV6_NETCONF)
	if err != nil {
		return nil, fmt.Errorf("fib6cache: subscribe: %w", err)
	}
	// A full table's worth of routes can change at once (a session flood
	// ending): a lost event only costs a rescan, but there is no need to
	// lose them often.
	if err := s.SetReceiveBufferSize(4<<20, false); err != nil {
		s.Close()
		return nil, fmt.Errorf("fib6cache: receive buffer: %w", err)
	}
	// The loop wakes at least this often for the period's bump and Close.
	tv := unix.NsecToTimeval(min(opts.Period, 200*time.Millisecond).Nanoseconds())
	if err := s.SetReceiveTimeout(&tv); err != nil {
		s.Close()
		return nil, fmt.Errorf("fib6cache: receive timeout: %w", err)
	}
	w.sock = s
	w.rescan()
	if err := w.write(); err != nil {
		s.Close()
		return nil, err
	}
	go w.loop()
	return w, nil
}

// Close stops the watcher and turns the caches off, so a data plane left
// running (a restart, an upgrade) looks every packet up until a new
// watcher starts.
func (w *Watcher) Close() {
	close(w.stop)
	<-w.done
	w.sock.Close()
	w.gen++
	for _, t := range w.targets {
		if err := t.SetFIB6Cache(maps.FIB6Cache{Gen: w.gen}); err != nil {
			w.log.Warn("fib6 cache: turn off", zap.Error(err))
		}
	}
}

// Enabled says whether the cache was last turned on: false while the
// namespace's routing depends on more than the destination.
func (w *Watcher) Enabled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enabled
}

func (w *Watcher) loop() {
	defer close(w.done)
	next := time.Now().Add(w.opts.Period)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		msgs, from, err := w.sock.Receive()
		changed := false
		switch {
		case err == nil:
			if from.Pid != 0 { // not the kernel's
				continue
			}
			for _, m := range msgs {
				if w.handle(m) {
					changed = true
				}
			}
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ENOBUFS):
			// Events were lost: whatever they said, the generation
			// moves and the rules and routes are looked at again.
			w.log.Warn("fib6 cache: rtnetlink events lost; routes and rules checked again")
			clear(w.neigh)
			w.rescan()
			changed = true
		default:
			w.log.Error("fib6 cache: rtnetlink receive; cache off", zap.Error(err))
			w.ruleReason = "rtnetlink receive failed: " + err.Error()
			_ = w.write()
			<-w.stop
			return
		}
		if w.routeDirty && time.Since(w.routeScanned) >= rescanEvery {
			w.routeWhy = w.scanRoutes()
			w.routeDirty = false
			changed = true
		}
		if now := time.Now(); changed || !now.Before(next) {
			if err := w.write(); err != nil {
				w.log.Warn("fib6 cache", zap.Error(err))
			}
			next = now.Add(w.opts.Period)
		}
	}
}

// handle reads one event and says whether it can change a lookup.
func (w *Watcher) handle(m syscall.NetlinkMessage) bool {
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		why, err := specialRoute(m.Data)
		if m.Header.Type == unix.RTM_NEWROUTE && (err != nil || why != "") {
			if err != nil {
				why = err.Error()
			}
			w.routeWhy = why // off at once
		} else if w.routeWhy != "" {
			// Off for a route this event may have taken away (deleted,
			// or replaced in place by a plain one): whether any is
			// left takes a look at all of them, at most once a
			// second however many go.
			w.routeDirty = true
		}
		return true
	case unix.RTM_NEWRULE, unix.RTM_DELRULE:
		w.ruleReason = w.scanRules()
		return true
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		n, err := netlink.NeighDeserialize(m.Data)
		if err != nil {
			return true
		}
		if n.Family != unix.AF_INET6 {
			return false
		}
		var k neighKey
		k.ifindex = n.LinkIndex
		copy(k.ip[:], n.IP.To16())
		was, known := w.neigh[k]
		if m.Header.Type == unix.RTM_DELNEIGH {
			delete(w.neigh, k)
			return !known || was.valid
		}
		now := neighState{valid: n.State&nudValid != 0, mac: string(n.HardwareAddr)}
		w.neigh[k] = now
		// A neighbour first heard of may have been in a lookup already.
		return !known || now != was
	case unix.RTM_NEWLINK, unix.RTM_DELLINK, unix.RTM_NEWADDR, unix.RTM_DELADDR,
		unix.RTM_NEWNETCONF, unix.RTM_DELNETCONF:
		return true
	}
	return false
}

// write bumps the generation and turns each target's cache on (with a
// fresh lease) or off.
func (w *Watcher) write() error {
	why := w.ruleReason
	if why == "" {
		why = w.routeWhy
	}
	on := why == ""
	if on != w.on {
		if on {
			w.log.Info("fib6 cache on: IPv6 routing depends on the destination alone")
		} else {
			w.log.Info("fib6 cache off: every upstream IPv6 packet is looked up", zap.String("reason", why))
		}
	}
	w.on = on
	w.mu.Lock()
	w.enabled = on
	w.mu.Unlock()
	w.gen++
	c := maps.FIB6Cache{Gen: w.gen}
	if on {
		c.Until = maps.CoarseNow() + leases*w.opts.Period
	}
	var errs []error
	for _, t := range w.targets {
		errs = append(errs, t.SetFIB6Cache(c))
	}
	return errors.Join(errs...)
}

// rescan looks at every rule and route.
func (w *Watcher) rescan() {
	w.ruleReason = w.scanRules()
	w.routeWhy = w.scanRoutes()
}

// scanRules returns why the IPv6 rules make a lookup depend on more than
// the destination, "" if they are the kernel's defaults: priority 0 to
// table local, 32766 to main, matching everything.
func (w *Watcher) scanRules() string {
	h, err := netlink.NewHandleAt(w.ns)
	if err != nil {
		return "rules: " + err.Error()
	}
	defer h.Close()
	rules, err := h.RuleList(netlink.FAMILY_V6)
	if err != nil {
		return "rules: " + err.Error()
	}
	want := map[int]int{0: unix.RT_TABLE_LOCAL, 32766: unix.RT_TABLE_MAIN}
	for _, r := range rules {
		if table, ok := want[r.Priority]; !ok || r.Table != table || !matchesAll(r) {
			return fmt.Sprintf("ip -6 rule priority %d table %d", r.Priority, r.Table)
		}
		delete(want, r.Priority)
	}
	if len(want) != 0 {
		return "a default ip -6 rule was removed"
	}
	return ""
}

// matchesAll: a rule with no selector (ip rule's "from all").
func matchesAll(r netlink.Rule) bool {
	return r.Src == nil && r.Dst == nil && r.IifName == "" && r.OifName == "" && r.Mark == 0 && r.Mask == nil &&
		r.Tos == 0 && r.TunID == 0 && !r.Invert && r.Dport == nil && r.Sport == nil && r.IPProto == 0 &&
		r.UIDRange == nil && r.Type <= unix.FR_ACT_TO_TBL
}

// scanRoutes dumps the IPv6 routes of every table and returns why one
// makes a lookup depend on more than the destination, "" if none does.
func (w *Watcher) scanRoutes() string {
	w.routeScanned = time.Now()
	s, err := nl.GetNetlinkSocketAt(w.ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return "routes: " + err.Error()
	}
	defer s.Close()
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
	msg := nl.NewRtMsg()
	msg.Family = unix.AF_INET6
	req.AddData(msg)
	if err := s.Send(req); err != nil {
		return "routes: " + err.Error()
	}
	why := ""
	for {
		msgs, _, err := s.Receive()
		if err != nil {
			return "routes: " + err.Error()
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return why
			case unix.NLMSG_ERROR:
				return "routes: dump failed"
			case unix.RTM_NEWROUTE:
				if why != "" {
					continue // read to the end of the dump
				}
				if r, err := specialRoute(m.Data); err != nil {
					why = err.Error()
				} else {
					why = r
				}
			}
		}
	}
}

// specialRoute says why an IPv6 route message's route makes lookups
// depend on more than the destination: a source prefix, several paths or
// a nexthop object (which may be a group). "" if none of these.
func specialRoute(b []byte) (string, error) {
	if len(b) < unix.SizeofRtMsg {
		return "", errors.New("route message too short")
	}
	rt := nl.DeserializeRtMsg(b)
	if rt.Family != unix.AF_INET6 {
		return "", nil
	}
	attrs, err := routeAttrs(b[unix.SizeofRtMsg:])
	if err != nil {
		return "", err
	}
	dst, table := "::", uint32(rt.Table)
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_DST:
			dst = net.IP(a.Value).String()
		case unix.RTA_TABLE:
			if len(a.Value) == 4 {
				table = native.Uint32(a.Value)
			}
		}
	}
	dst = fmt.Sprintf("%s/%d table %d", dst, rt.Dst_len, table)
	if rt.Src_len != 0 {
		return "ip -6 route " + dst + " has a source prefix", nil
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_MULTIPATH:
			return "ip -6 route " + dst + " is multipath", nil
		case rtaNHID:
			return "ip -6 route " + dst + " uses a nexthop object", nil
		}
	}
	return "", nil
}

var native = nl.NativeEndian()

// routeAttrs splits a message's struct rtattr list (rtnetlink(7)). It is
// nl.ParseRouteAttr's job, but that one panics on an attribute shorter
// than its own header.
func routeAttrs(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	var out []syscall.NetlinkRouteAttr
	for len(b) >= unix.SizeofRtAttr {
		l, typ := int(native.Uint16(b[0:2])), native.Uint16(b[2:4])
		if l < unix.SizeofRtAttr || l > len(b) {
			return nil, fmt.Errorf("route message: attribute %d of length %d in %d bytes", typ, l, len(b))
		}
		out = append(out, syscall.NetlinkRouteAttr{Attr: syscall.RtAttr{Len: uint16(l), Type: typ}, Value: b[unix.SizeofRtAttr:l]})
		b = b[min((l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(b)):]
	}
	return out, nil
}

// rtaNHID is RTA_NH_ID (linux/rtnetlink.h), which x/sys/unix lacks.
const rtaNHID = 30
