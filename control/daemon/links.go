package daemon

import (
	"net"
	"sync"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/linkwatch"
)

// Interfaces come and go under a running daemon: a driver reload, a VLAN or
// bond rebuilt, a container restarted. The configuration names them, so
// whatever the daemon holds on one (a socket, sessions, programs) is let go
// of when it goes and taken again when an interface of that name is back,
// with its new ifindex and MAC. What happens to each:
//
//   - access interface (a server's): its sessions end (interface-gone:
//     entries removed, addresses returned, nothing sent, as RouterOS ends
//     them), its socket closes; the servers stay configured and discovery
//     starts again when it is back;
//   - a client's interface: its socket is shut down, the client's session
//     ends (routes, address, data-plane entry removed) and the client
//     waits for the interface, then dials again;
//   - uplink: xdp_uplink_in is detached and attached again when it is
//     back; meanwhile downstream traffic takes the kernel's path;
//   - every interface that goes: the data plane's programs and pins on
//     that ifindex are removed (DetachInterface).

// LinkParts are the parts of the daemon that use interfaces by name; nil
// ones are left out.
type LinkParts struct {
	Servers    *AccessConcentrator
	Interfaces *Interfaces // the clients' sockets
	// ClientsRetry tells the clients waiting for an interface that one
	// appeared (client.Manager.InterfaceAppeared).
	ClientsRetry func(name string)
	Uplinks      *Uplinks
	// Detach takes the data plane off an interface that went
	// (maps.Datapath.DetachInterface).
	Detach func(ifindex int) error
	Log    *zap.Logger

	mu      sync.Mutex
	lastErr map[string]string // per name: the last open failure logged
}

// HandleLink is the linkwatch handler that keeps the parts in step.
func (p *LinkParts) HandleLink(ev linkwatch.Event) {
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("iface", ev.Name), zap.Int("ifindex", ev.Index))
	switch ev.Kind {
	case linkwatch.Gone:
		if p.Servers != nil {
			if n, ok := p.Servers.InterfaceGone(ev.Name, ev.Index); ok {
				log.Warn("access interface gone: its sessions ended; served again when it is back", zap.Int("sessions", n))
			}
		}
		if p.Interfaces != nil && p.Interfaces.InterfaceGone(ev.Name, ev.Index) {
			log.Warn("client interface gone: its clients wait for it to come back")
		}
		if p.Uplinks != nil {
			p.Uplinks.gone(ev.Name, ev.Index)
		}
		if p.Detach != nil {
			if err := p.Detach(ev.Index); err != nil {
				log.Warn("detaching the data plane from an interface that went", zap.Error(err))
			}
		}
	case linkwatch.Appeared, linkwatch.Changed:
		if p.Uplinks != nil {
			p.Uplinks.appeared(ev.Name, ev.Index)
		}
		if p.Servers != nil {
			opened, err := p.Servers.InterfaceAppeared(ev.Name, ev.Index)
			switch {
			case err != nil:
				if p.firstFailure(ev.Name, err) {
					log.Warn("access interface cannot be served", zap.Error(err))
				}
			case opened:
				p.firstFailure(ev.Name, nil)
				log.Info("access interface back: serving it")
			}
		}
		if ev.Kind == linkwatch.Appeared && p.ClientsRetry != nil {
			p.ClientsRetry(ev.Name)
		}
	}
}

// firstFailure records name's latest open failure (nil: none) and reports
// whether it differs from the one before, so that an interface that keeps
// changing while it cannot be served logs its reason once.
func (p *LinkParts) firstFailure(name string, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr == nil {
		p.lastErr = map[string]string{}
	}
	if err == nil {
		delete(p.lastErr, name)
		return false
	}
	if p.lastErr[name] == err.Error() {
		return false
	}
	p.lastErr[name] = err.Error()
	return true
}

// UplinkSystem puts the downstream fast path on uplinks and takes it off.
type UplinkSystem interface {
	AttachUplink(ifindex int) error
	DetachInterface(ifindex int) error
}

// Uplinks keeps xdp_uplink_in on the --uplink interfaces as they come and
// go. Without it an uplink still forwards, through the kernel and pppoe0's
// TC program, only slower; so neither an absent uplink nor one that cannot
// take our program (a foreign XDP program on it) stops the daemon.
type Uplinks struct {
	sys  UplinkSystem
	log  *zap.Logger
	want map[string]bool

	mu       sync.Mutex
	attached map[string]int    // name → ifindex attached
	failed   map[string]string // name → last attach error logged
}

// NewUplinks returns the uplinks names (nothing attached before Start).
func NewUplinks(names []string, sys UplinkSystem, log *zap.Logger) *Uplinks {
	if log == nil {
		log = zap.NewNop()
	}
	u := &Uplinks{sys: sys, log: log, want: map[string]bool{}, attached: map[string]int{}, failed: map[string]string{}}
	for _, n := range names {
		u.want[n] = true
	}
	return u
}

// Start attaches to the uplinks present now; those absent are attached
// when they appear.
func (u *Uplinks) Start() {
	for name := range u.want {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			u.log.Warn("uplink not present: attaching when it appears", zap.String("iface", name), zap.Error(err))
			continue
		}
		u.appeared(name, ifi.Index)
	}
}

func (u *Uplinks) appeared(name string, ifindex int) {
	if !u.want[name] {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.attached[name] == ifindex {
		return
	}
	log := u.log.With(zap.String("iface", name), zap.Int("ifindex", ifindex))
	if err := u.sys.AttachUplink(ifindex); err != nil {
		if u.failed[name] != err.Error() {
			log.Error("uplink: downstream fast path not attached; its traffic takes the kernel's path", zap.Error(err))
			u.failed[name] = err.Error()
		}
		return
	}
	delete(u.failed, name)
	u.attached[name] = ifindex
	log.Info("uplink attached")
}

func (u *Uplinks) gone(name string, ifindex int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if idx, ok := u.attached[name]; !ok || idx != ifindex {
		return
	}
	delete(u.attached, name)
	u.log.Warn("uplink gone: attaching again when it is back", zap.String("iface", name), zap.Int("ifindex", ifindex))
	if err := u.sys.DetachInterface(ifindex); err != nil {
		u.log.Warn("uplink detach", zap.String("iface", name), zap.Error(err))
	}
}
