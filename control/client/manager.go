package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// ErrNoClient is returned by Manager.Monitor for a name that is not
// configured.
var ErrNoClient = errors.New("no such pppoe-client")

// ErrDisabled is returned by Manager.Monitor for a disabled client.
var ErrDisabled = errors.New("pppoe-client is disabled")

// Manager runs every configured /interface pppoe-client.
type Manager struct {
	deps Deps
	log  *zap.Logger

	mu      sync.Mutex
	order   []string // configured names, config order
	clients map[string]*managed
	closed  bool
	// resuming is the take-over of the previous run's sessions (Resume,
	// adopt.go); nil: none.
	resuming *resumption
}

type managed struct {
	cfg    config.Client
	dhcp   *config.DHCPv6Client // its /ipv6 dhcp-client
	limit  ratelimit.Limit      // its profile's rate-limit
	key    string               // the configuration, to tell a change
	client *Client
	cancel context.CancelFunc
	done   chan struct{}
	slot   int
}

// NewManager returns a Manager with no clients. log may be nil.
func NewManager(deps Deps, log *zap.Logger) *Manager {
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Pools == nil {
		deps.Pools = NewPrefixPools()
	}
	return &Manager{deps: deps, log: log, clients: map[string]*managed{}}
}

// Apply makes the running clients those of clients: removed and changed
// ones are stopped (session terminated, netdev deleted), added and changed
// ones started; unchanged ones keep their sessions. Disabled clients are
// known to List but not run. A client that fails validation is skipped and
// reported in the joined error; the others are applied. dhcp are the /ipv6
// dhcp-clients: each runs on the session of the client it names, and
// changing one restarts that client.
func (m *Manager) Apply(clients []config.Client, dhcp ...config.DHCPv6Client) error {
	return m.apply(clients, nil, dhcp)
}

// ApplyConfig is Apply with cfg's clients and /ipv6 dhcp-clients, each
// client with its profile's rate-limit (Config.ClientRateLimit) for its
// sessions' data plane. A changed limit restarts the client, as any
// change to it does.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	return m.apply(cfg.Clients.Items(), cfg.ClientRateLimit, cfg.DHCPv6Clients.Items())
}

func (m *Manager) apply(clients []config.Client, limit func(config.Client) ratelimit.Limit, dhcp []config.DHCPv6Client) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("client: manager closed")
	}
	want := map[string]config.Client{}
	limits := map[string]ratelimit.Limit{}
	var order []string
	for _, c := range clients {
		want[c.Name] = c
		if limit != nil {
			limits[c.Name] = limit(c)
		}
		order = append(order, c.Name)
	}
	dhcpOf := map[string]*config.DHCPv6Client{}
	for _, d := range dhcp {
		dhcpOf[d.Interface] = &d
	}
	var stop []*managed
	for name, mc := range m.clients {
		c, ok := want[name]
		if !ok || key(c, dhcpOf[name], limits[name]) != mc.key {
			stop = append(stop, mc)
			delete(m.clients, name)
		}
	}
	// Stopping waits for each session's Terminate exchange; do it in
	// parallel so a reload costs one CloseTimeout at most.
	var wg sync.WaitGroup
	for _, mc := range stop {
		wg.Go(func() { m.stop(mc) })
	}
	wg.Wait()

	var errs []error
	for _, name := range order {
		if _, ok := m.clients[name]; ok {
			continue
		}
		c := want[name]
		mc := &managed{cfg: c, dhcp: dhcpOf[name], limit: limits[name], key: key(c, dhcpOf[name], limits[name]), slot: m.freeSlot()}
		if !c.Disabled {
			cl, err := New(c, m.deps, m.log)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if mc.dhcp != nil {
				cl.SetDHCPv6(*mc.dhcp)
			}
			cl.slot, cl.limit = mc.slot, mc.limit
			cl.resuming, cl.digest = m.resuming, sessionDigest(c, mc.dhcp, mc.limit)
			mc.client = cl
			ctx, cancel := context.WithCancel(context.Background())
			mc.cancel, mc.done = cancel, make(chan struct{})
			go func() {
				defer close(mc.done)
				if err := cl.Run(ctx); err != nil {
					m.log.Warn("pppoe-client stopped", zap.String("client", c.Name), zap.Error(err))
				}
			}()
		}
		m.clients[name] = mc
	}
	m.order = order
	return errors.Join(errs...)
}

func (m *Manager) freeSlot() int {
	used := map[int]bool{}
	for _, mc := range m.clients {
		used[mc.slot] = true
	}
	for i := 0; ; i++ {
		if !used[i] {
			return i
		}
	}
}

func (m *Manager) stop(mc *managed) {
	if mc.cancel == nil {
		return
	}
	mc.cancel()
	<-mc.done
}

// key is a client's configuration, with its dhcp-client's and its rate
// limit, as text: config items carry their source line, which must not
// make a moved-but-equal client look changed.
func key(c config.Client, d *config.DHCPv6Client, l ratelimit.Limit) string {
	b, err := json.Marshal(struct {
		C config.Client
		D *config.DHCPv6Client
	}{c, d})
	if err != nil {
		return fmt.Sprint(c, d, l)
	}
	return string(b) + " " + l.String()
}

// InterfaceAppeared tells the clients that an interface appeared (name, a
// physical interface): those waiting for theirs try again now rather than
// after their backoff. Clients name /interface vlan names, which the
// Manager does not resolve, so every waiting client tries.
func (m *Manager) InterfaceAppeared(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mc := range m.clients {
		if mc.client != nil {
			mc.client.Retry()
		}
	}
}

// Close stops every client and waits for them.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var wg sync.WaitGroup
	for _, mc := range m.clients {
		wg.Go(func() { m.stop(mc) })
	}
	wg.Wait()
	m.clients = map[string]*managed{}
	m.order = nil
	return nil
}

// Monitor returns the status of the client name.
func (m *Manager) Monitor(name string) (Status, error) {
	m.mu.Lock()
	mc, ok := m.clients[name]
	m.mu.Unlock()
	switch {
	case !ok:
		return Status{}, fmt.Errorf("client: %q: %w", name, ErrNoClient)
	case mc.client == nil:
		return Status{Name: name, Status: StateDisconnected}, fmt.Errorf("client: %q: %w", name, ErrDisabled)
	}
	return mc.client.Monitor(), nil
}

// List returns the status of every configured client, in config order;
// disabled ones show as disconnected with reason "disabled".
func (m *Manager) List() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.order))
	for _, name := range slices.Clone(m.order) {
		mc := m.clients[name]
		if mc == nil {
			continue
		}
		if mc.client == nil {
			out = append(out, Status{Name: name, Status: StateDisconnected, LastDisconnect: "disabled"})
			continue
		}
		out = append(out, mc.client.Monitor())
	}
	return out
}

// DHCPv6 returns the /ipv6 dhcp-client rows, in client config order: those
// of disabled clients, and disabled dhcp-clients, show as stopped.
func (m *Manager) DHCPv6() []DHCPv6Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []DHCPv6Status
	for _, name := range m.order {
		mc := m.clients[name]
		if mc == nil || mc.dhcp == nil {
			continue
		}
		if mc.client != nil {
			if st, ok := mc.client.DHCPv6(); ok {
				out = append(out, st)
				continue
			}
		}
		out = append(out, DHCPv6Status{Interface: name, Status: "stopped", Request: mc.dhcp.Request, PoolName: mc.dhcp.PoolName})
	}
	return out
}

// Pools returns the dynamic /ipv6 pools the dhcp-clients made.
func (m *Manager) Pools() []DynamicPool { return m.deps.Pools.List() }
