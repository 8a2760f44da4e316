// Package host is the host side of the data plane: the netdevs pppoed
// makes and the programs it puts on them, between control/pppoe0 (the
// kernel's addresses and routes on pppoe0, netlink only) and maps (the BPF
// programs and maps). PPPoE0 is the access concentrator's slow-path device
// with multilink's reader of diverted packets and its injector;
// ClientDataPlane makes each /interface pppoe-client its netdev.
package host

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/pppoe-xdp/pppoe-xdp/control/daemon"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe0"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// PPPoE0MTU is the slow-path device's MTU: the largest session MTU (RFC
// 2516 §7: 1500 − 8 without RFC 4638). Sessions with a smaller one get a
// host route with theirs (control/pppoe0).
const PPPoE0MTU = 1492

// mpDivertBuffer is each CPU's mp_divert perf buffer: room for about 150
// MRRU-sized (1614-byte) packets waiting to be fragmented.
const mpDivertBuffer = 1 << 18

// PPPoE0 is pppoe0 on the host: the device, its addresses and routes
// (control/pppoe0), and multilink's user-space half, whose one reader of
// diverted packets serves servers and clients and whose reassembled
// packets of server sessions enter the kernel on pppoe0. It is
// daemon.AccessSystem.
type PPPoE0 struct {
	*pppoe0.Host
	Dev *maps.Device
	// Diverts is the data plane's dispatcher of packets over an MP
	// session's MTU, for ClientDataPlane too.
	Diverts *maps.MPDiverts

	dp  *maps.Datapath
	inj *maps.Injector
}

// OpenPPPoE0 creates the slow-path device called name, or takes over the
// one an earlier run left (sessions survive a restart), tells the data
// plane, and starts multilink's reader of diverted packets.
func OpenPPPoE0(dp *maps.Datapath, name string, log *zap.Logger) (*PPPoE0, error) {
	dev, err := maps.LookupDevice(name)
	if err != nil {
		if dev, err = maps.CreatePPPoE0(name, name+"-peer", PPPoE0MTU); err != nil {
			return nil, fmt.Errorf("pppoe0 device %s: %w", name, err)
		}
	}
	if err := dp.SetPPPoE0(dev.Index, dev.MAC); err != nil {
		return nil, fmt.Errorf("pppoe0 device %s: %w", name, err)
	}
	if err := dp.AttachPPPoE0(dev.Index); err != nil {
		return nil, fmt.Errorf("pppoe0 device %s: %w", name, err)
	}
	h, err := pppoe0.New(dev.Index, log)
	if err != nil {
		return nil, fmt.Errorf("pppoe0 device %s: %w", name, err)
	}
	p := &PPPoE0{Host: h, Dev: dev, dp: dp}
	if p.Diverts, err = dp.StartMPDiverts(mpDivertBuffer, log); err != nil {
		h.Close()
		return nil, err
	}
	if p.inj, err = maps.OpenInjector(dev); err != nil {
		p.Diverts.Close()
		h.Close()
		return nil, fmt.Errorf("pppoe0 device %s: %w", name, err)
	}
	return p, nil
}

// Close stops multilink's reader and injector and closes the Host's
// netlink handle. The device, its addresses and routes stay, as do the
// programs: the sessions in the pinned maps may outlive the process.
func (p *PPPoE0) Close() error {
	return errors.Join(p.inj.Close(), p.Diverts.Close(), p.Host.Close())
}

// DataPlane is the server sessions' data plane: the BPF maps with
// multilink, under pppoe0's routes (pppoe0.Host.DataPlane). An MP session
// whose MRRU exceeds pppoe0's MTU raises it (pppoe0.Host.CarryMTU).
func (p *PPPoE0) DataPlane() session.DataPlane {
	return p.Host.DataPlane(server.NewMPDataPlane(p.dp, p.Diverts, p.inj, p.carryMTU))
}

func (p *PPPoE0) carryMTU(mtu int) error {
	return p.CarryMTU(mtu, func(mtu int) error { return maps.SetDeviceMTU(p.Dev, mtu) })
}

// AttachAccess implements daemon.AccessSystem.
func (p *PPPoE0) AttachAccess(ifindex int) error { return p.dp.AttachAccess(ifindex) }

// UpdatePPPoE0 implements daemon.AccessSystem.
func (p *PPPoE0) UpdatePPPoE0(add, del daemon.PPPoE0Set) error {
	return p.Update(add.Addrs, del.Addrs, add.Routes, del.Routes)
}
