package host

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// demandPoll is how often a disconnected client netdev's dial-on-demand
// counter is read (maps.ClientDemand is polled, not signalled).
const demandPoll = 200 * time.Millisecond

// clientDataPlane is client.DataPlane over maps: each client netdev is a
// veth pair whose peer carries tc_client_out, and the Ethernet interface
// carries xdp_access_in, which decapsulates the AC's frames into the netdev.
type clientDataPlane struct {
	dp  *maps.Datapath
	div *maps.MPDiverts // multilink's diverted packets; nil: no MP
	log *zap.Logger
}

// NewClientDataPlane returns the clients' data plane over dp; div is
// multilink's dispatcher of diverted packets (PPPoE0.Diverts), nil for
// no multilink.
func NewClientDataPlane(dp *maps.Datapath, div *maps.MPDiverts, log *zap.Logger) client.DataPlane {
	if log == nil {
		log = zap.NewNop()
	}
	return clientDataPlane{dp: dp, div: div, log: log}
}

// Netdev implements client.DataPlane. A netdev of that name left by a
// previous pppoed whose session was not adopted (client.NetdevTakeover
// takes the others) is made anew: what the old session put on it
// (addresses, routes) goes with it.
func (c clientDataPlane) Netdev(name string, mtu int) (client.Netdev, error) {
	if err := c.RemoveNetdev(name); err != nil {
		return nil, err
	}
	dev, err := maps.CreateClientDevice(name, mtu)
	if err != nil {
		return nil, err
	}
	if err := c.dp.AttachClientDevice(dev); err != nil {
		maps.DeleteDevice(dev.Name)
		return nil, err
	}
	return c.netdevOf(dev), nil
}

// netdevOf is dev as a client.Netdev, watching it for dial-on-demand.
func (c clientDataPlane) netdevOf(dev *maps.Device) client.Netdev {
	n := &netdev{dp: c.dp, dev: dev, demand: make(chan struct{}, 1), stop: make(chan struct{}), log: c.log}
	n.wg.Add(1)
	go n.pollDemand()
	if c.div == nil {
		return n
	}
	return &mpNetdev{netdev: n, div: c.div}
}

// mpNetdev is a netdev that runs multilink's user-space half
// (client.MPNetdev): reassembled packets are injected into the netdev,
// diverted ones come from the data plane's dispatcher.
type mpNetdev struct {
	*netdev
	div *maps.MPDiverts

	mu  sync.Mutex
	inj *maps.Injector // opened at the first Inject
	idx maps.Index     // the registered session, while diverting
	reg bool
}

// Inject implements client.MPNetdev.
func (n *mpNetdev) Inject(proto ppp.Protocol, packet []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inj == nil {
		inj, err := maps.OpenInjector(n.dev)
		if err != nil {
			return err
		}
		n.inj = inj
	}
	return n.inj.Inject(uint16(proto), packet)
}

// Divert implements client.MPNetdev.
func (n *mpNetdev) Divert(to func(ppp.Protocol, []byte)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reg {
		n.div.Register(n.idx, nil)
		n.reg = false
	}
	if to == nil {
		return
	}
	idx, err := n.dp.ClientIndex(n.dev)
	if err != nil {
		n.log.Warn("multilink: no session index to divert from", zap.String("iface", n.dev.Name), zap.Error(err))
		return
	}
	n.idx, n.reg = idx, true
	n.div.Register(idx, func(proto uint16, packet []byte) { to(ppp.Protocol(proto), packet) })
}

// Close implements client.Netdev.
func (n *mpNetdev) Close() error {
	n.Divert(nil)
	n.mu.Lock()
	inj := n.inj
	n.inj = nil
	n.mu.Unlock()
	var err error
	if inj != nil {
		err = inj.Close()
	}
	return errors.Join(err, n.netdev.Close())
}

// netdev is one client's netdev in the data plane.
type netdev struct {
	dp     *maps.Datapath
	dev    *maps.Device
	log    *zap.Logger
	demand chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func (n *netdev) Ifindex() int { return n.dev.Index }

// Install implements client.Netdev.
func (n *netdev) Install(s client.Session) error {
	// Frames from the AC reach the netdev through xdp_access_in on the
	// Ethernet interface (attaching twice is harmless).
	if err := n.dp.AttachAccess(s.Ifindex); err != nil {
		return err
	}
	if s.MTU > 0 {
		// With multilink up, the AC's MRRU: the kernel hands the data
		// plane packets up to it to fragment, and takes reassembled ones
		// that size.
		if err := maps.SetDeviceMTU(n.dev, int(s.RouteMTU())); err != nil {
			return err
		}
	}
	cs, err := clientSession(s)
	if err != nil {
		return fmt.Errorf("client %s: %w", n.dev.Name, err)
	}
	_, err = n.dp.InstallClient(n.dev, cs)
	return err
}

// clientSession is s as the data plane's client entry.
func clientSession(s client.Session) (maps.ClientSession, error) {
	cs := maps.ClientSession{
		Ifindex: s.Ifindex, SessionID: s.SessionID, ACMAC: s.ACMAC, LocalMAC: s.LocalMAC,
		Local: s.Local, MTU: s.MTU, MSS: s.MSS, MP: maps.MP{On: s.MP.On, ShortSeq: s.MP.ShortSeq},
		Limit: maps.LimitOf(s.RateLimit, false),
	}
	if len(s.VLANs) > 2 {
		return cs, fmt.Errorf("%d VLAN tags, the data plane carries 2", len(s.VLANs))
	}
	if len(s.VLANs) > 0 {
		cs.OuterVLAN, cs.OuterTPID = s.VLANs[0].ID, uint16(s.VLANs[0].TPID)
	}
	if len(s.VLANs) > 1 {
		cs.InnerVLAN, cs.InnerTPID = s.VLANs[1].ID, uint16(s.VLANs[1].TPID)
	}
	return cs, nil
}

// Remove implements client.Netdev.
func (n *netdev) Remove() error {
	err := n.dp.RemoveClient(n.dev)
	if errors.Is(err, maps.ErrNotFound) {
		return nil
	}
	return err
}

// Stats implements client.Netdev: the data plane counts the AC's frames as
// "up" (they arrive on the access side) and ours to it as "down".
func (n *netdev) Stats() (client.Stats, error) {
	idx, err := n.dp.ClientIndex(n.dev)
	if err != nil {
		return client.Stats{}, err
	}
	st, err := n.dp.Stats(idx)
	if err != nil {
		return client.Stats{}, err
	}
	return clientStats(st), nil
}

// clientStats turns the data plane's view round: it counts the AC's
// frames as "up" (they arrive on the access side) and ours as "down".
func clientStats(st maps.Stats) client.Stats {
	return client.Stats{PacketsIn: st.PacketsUp, BytesIn: st.BytesUp,
		PacketsOut: st.PacketsDown, BytesOut: st.BytesDown, LastSeen: st.LastSeen}
}

// Demand implements client.Netdev.
func (n *netdev) Demand() <-chan struct{} { return n.demand }

func (n *netdev) pollDemand() {
	defer n.wg.Done()
	last, _ := n.dp.ClientDemand(n.dev)
	t := time.NewTicker(demandPoll)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		v, err := n.dp.ClientDemand(n.dev)
		if err != nil || v == last {
			continue
		}
		last = v
		select {
		case n.demand <- struct{}{}:
		default:
		}
	}
}

// Close implements client.Netdev: the session and the programs go, and the
// netdev with its peer.
func (n *netdev) Close() error {
	n.once.Do(func() { close(n.stop) })
	n.wg.Wait()
	return errors.Join(n.dp.DetachClientDevice(n.dev), maps.DeleteDevice(n.dev.Name))
}
