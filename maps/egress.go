package maps

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Which devices the XDP programs may redirect to.
//
// An XDP redirect hands the frame to the egress driver's ndo_xdp_xmit. A
// device without one cannot take it and the frame is lost (the redirect
// fails and the ingress device counts a drop: a veth's rx_queue_0_drops),
// although the fast path counted it as forwarded: a veth whose peer has
// neither an XDP program nor GRO on, a NIC whose driver lacks
// ndo_xdp_xmit, a VLAN device. The kernel says which devices can (xdp-features,
// NETDEV_XDP_ACT_NDO_XMIT, over the netdev netlink family) and announces
// changes (a veth's changes when its peer attaches XDP or toggles GRO).
// The programs redirect through tx_ports, which holds exactly those
// devices; for any other egress device they leave the packet, untouched,
// to the kernel, which forwards it through pppoe0 (counted
// pass_no_xdp_xmit).
//
// A goroutine follows the namespace's devices from the first attachment
// on: one dump, then the netdev family's notifications. It runs on a
// thread locked into the namespace because a devmap update resolves the
// ifindex in the namespace of the thread that makes it.

// egress keeps tx_ports equal to the namespace's devices that can transmit
// XDP frames (all devices, in generic XDP mode, where a redirect is an skb
// transmit).
type egress struct {
	ports   *ebpf.Map
	generic bool
	log     *zap.Logger
	ns      netns.NsHandle // the namespace followed; owned

	reqs chan egressReq
	quit chan struct{}
	done chan struct{}

	// Owned by the goroutine.
	conn   *netdevConn
	events *nl.NetlinkSocket
	fast   map[int]bool // devices seen: in tx_ports or not
}

// egressReq asks the goroutine to read one device again (refresh) or to
// tell whether it is in tx_ports (query).
type egressReq struct {
	ifindex int
	query   bool
	reply   chan egressReply
}

type egressReply struct {
	fast bool
	err  error
}

// followDevices starts following the calling thread's namespace, once; a
// later call from another namespace is an error: one Datapath serves the
// devices of one namespace.
func (d *Datapath) followDevices() error {
	cur, err := netns.Get()
	if err != nil {
		return fmt.Errorf("maps: network namespace: %w", err)
	}
	d.egressMu.Lock()
	defer d.egressMu.Unlock()
	if d.egress != nil {
		same := d.egress.ns.Equal(cur)
		cur.Close()
		if !same {
			return errors.New("maps: this data plane already serves the devices of another network namespace")
		}
		return nil
	}
	e := &egress{ports: d.objs.TxPorts, generic: d.genericXDP, log: d.log, ns: cur,
		reqs: make(chan egressReq), quit: make(chan struct{}), done: make(chan struct{}), fast: map[int]bool{}}
	ready := make(chan error, 1)
	go e.run(ready)
	if err := <-ready; err != nil {
		<-e.done
		cur.Close()
		return err
	}
	d.egress = e
	return nil
}

// stopEgress ends the goroutine (tx_ports keeps its entries: the pinned
// programs go on redirecting while no process runs).
func (d *Datapath) stopEgress() {
	d.egressMu.Lock()
	defer d.egressMu.Unlock()
	if d.egress == nil {
		return
	}
	close(d.egress.quit)
	<-d.egress.done
	d.egress.ns.Close()
	d.egress = nil
}

// RefreshDevice reads a device's xdp-features again and puts it in or
// takes it out of the set of XDP redirect targets, logging when its path
// changes. The data plane follows the kernel's notifications by itself
// from the first Attach on; this is for callers that know a device
// changed, and makes the data plane follow the calling thread's namespace
// if nothing did yet. A device that no longer exists is forgotten.
func (d *Datapath) RefreshDevice(ifindex int) error {
	if err := d.followDevices(); err != nil {
		return err
	}
	_, err := d.egressCall(egressReq{ifindex: ifindex})
	return err
}

// XDPRedirects says whether the XDP programs currently redirect to a
// device (it is in tx_ports): false means packets they would send there
// go through the kernel. Before the first Attach or RefreshDevice it is
// false for every device.
func (d *Datapath) XDPRedirects(ifindex int) (bool, error) {
	d.egressMu.Lock()
	started := d.egress != nil
	d.egressMu.Unlock()
	if !started {
		return false, nil
	}
	r, err := d.egressCall(egressReq{ifindex: ifindex, query: true})
	return r, err
}

func (d *Datapath) egressCall(r egressReq) (bool, error) {
	d.egressMu.Lock()
	e := d.egress
	d.egressMu.Unlock()
	if e == nil {
		return false, errors.New("maps: data plane closed")
	}
	r.reply = make(chan egressReply, 1)
	select {
	case e.reqs <- r:
	case <-e.done:
		return false, errors.New("maps: device follower stopped")
	}
	rep := <-r.reply
	return rep.fast, rep.err
}

// netdevEvent is a notification, or resync after the socket overran.
type netdevEvent struct {
	cmd    uint8
	info   netdevInfo
	resync bool
}

func (e *egress) run(ready chan<- error) {
	defer close(e.done)
	// Never unlocked: the thread leaves the process's namespace, and a
	// goroutine that ends locked takes its thread with it.
	runtime.LockOSThread()
	if err := netns.Set(e.ns); err != nil {
		ready <- fmt.Errorf("maps: enter network namespace: %w", err)
		return
	}
	var err error
	if e.conn, err = dialNetdev(); err != nil {
		ready <- err
		return
	}
	defer e.conn.close()
	// Subscribed before the dump, so no change falls between the two.
	if e.events, err = e.conn.subscribe(); err != nil {
		ready <- err
		return
	}
	events := make(chan netdevEvent)
	readerDone := make(chan struct{})
	go e.read(events, readerDone)
	defer func() {
		e.events.Close() // ends read
		<-readerDone
	}()
	if err := e.sync(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for {
		select {
		case <-e.quit:
			return
		case ev := <-events:
			switch {
			case ev.resync:
				if err := e.sync(); err != nil {
					e.log.Warn("re-reading devices' xdp-features", zap.Error(err))
				}
			case ev.cmd == netdevCmdDevDelNtf:
				e.forget(ev.info.ifindex)
			default:
				e.apply(ev.info)
			}
		case r := <-e.reqs:
			r.reply <- e.handle(r)
		}
	}
}

func (e *egress) handle(r egressReq) egressReply {
	if r.query {
		var v uint32
		err := e.ports.Lookup(uint32(r.ifindex), &v)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return egressReply{}
		}
		return egressReply{fast: err == nil, err: err}
	}
	info, err := e.conn.get(r.ifindex)
	if errors.Is(err, unix.ENODEV) {
		e.forget(r.ifindex)
		return egressReply{}
	}
	if err != nil {
		return egressReply{err: err}
	}
	return egressReply{fast: e.apply(info)}
}

// read turns the notifications into events until the socket is closed.
func (e *egress) read(events chan<- netdevEvent, done chan<- struct{}) {
	defer close(done)
	for {
		msgs, _, err := e.events.Receive()
		if errors.Is(err, unix.ENOBUFS) {
			select {
			case events <- netdevEvent{resync: true}:
				continue
			case <-e.quit:
				return
			}
		}
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.Header.Type != e.conn.family || len(m.Data) < nl.SizeofGenlmsg {
				continue
			}
			cmd := m.Data[0]
			if cmd != netdevCmdDevAddNtf && cmd != netdevCmdDevDelNtf && cmd != netdevCmdDevChangeNtf {
				continue
			}
			info, err := parseNetdevMessage(m.Data)
			if err != nil {
				continue
			}
			select {
			case events <- netdevEvent{cmd: cmd, info: info}:
			case <-e.quit:
				return
			}
		}
	}
}

// sync makes tx_ports match a fresh dump, including entries a previous
// run left for devices that can no longer take XDP frames.
func (e *egress) sync() error {
	devs, err := e.conn.dump()
	if err != nil {
		return err
	}
	want := map[int]bool{}
	for _, info := range devs {
		want[info.ifindex] = e.apply(info)
	}
	for i := range e.fast {
		if _, ok := want[i]; !ok {
			e.forget(i)
		}
	}
	var key, next uint32
	var stale []uint32
	for err = e.ports.NextKey(nil, &next); err == nil; err = e.ports.NextKey(key, &next) {
		if !want[int(next)] {
			stale = append(stale, next)
		}
		key = next
	}
	for _, k := range stale {
		_ = e.ports.Delete(k)
	}
	return nil
}

// apply puts a device in tx_ports or takes it out, logs its path when it
// is new or changed, and says whether it is in.
func (e *egress) apply(info netdevInfo) bool {
	fast := e.generic || info.canXmitXDP()
	var err error
	if fast {
		err = e.ports.Put(uint32(info.ifindex), uint32(info.ifindex))
	} else if err = e.ports.Delete(uint32(info.ifindex)); errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	if err != nil {
		fast = false
		e.log.Warn("cannot update the XDP redirect targets: the kernel forwards what the fast path would send to this device",
			append(e.deviceFields(info.ifindex), zap.Error(err))...)
	}
	if was, seen := e.fast[info.ifindex]; seen && was == fast && err == nil {
		return fast
	}
	e.fast[info.ifindex] = fast
	if err == nil {
		e.logPath(info.ifindex, fast)
	}
	return fast
}

func (e *egress) forget(ifindex int) {
	delete(e.fast, ifindex)
	// The kernel already dropped the entry of a device that went.
	_ = e.ports.Delete(uint32(ifindex))
}

// logPath is the one line per device that says which path the packets the
// fast path sends to it take, and why.
func (e *egress) logPath(ifindex int, fast bool) {
	f := e.deviceFields(ifindex)
	switch {
	case fast && e.generic:
		e.log.Info("egress device: XDP fast path", append(f, zap.String("why", "generic XDP: redirected frames are sent as packets"))...)
	case fast:
		e.log.Info("egress device: XDP fast path", append(f, zap.String("why", "its xdp-features include ndo-xmit"))...)
	default:
		why := "its xdp-features lack ndo-xmit: it cannot transmit XDP frames"
		if l, err := netlink.LinkByIndex(ifindex); err == nil && l.Type() == "veth" {
			why += " (a veth can once its peer has an XDP program or GRO on)"
		}
		e.log.Info("egress device: kernel forwarding", append(f, zap.String("why", why))...)
	}
}

func (e *egress) deviceFields(ifindex int) []zap.Field {
	f := []zap.Field{zap.Int("ifindex", ifindex)}
	if l, err := netlink.LinkByIndex(ifindex); err == nil {
		f = append(f, zap.String("iface", l.Attrs().Name))
	}
	return f
}
