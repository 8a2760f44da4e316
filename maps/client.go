package maps

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
)

// ClientSession is a PPPoE session in which this box is the client
// (RouterOS /interface pppoe-client): frames from the AC on the Ethernet
// interface are decapsulated into the client's netdev, and what the kernel
// routes into the netdev is encapsulated towards the AC (RFC 2516 §5). The
// AC may send any source address, so there is no anti-spoof check.
type ClientSession struct {
	Ifindex   int    // Ethernet interface the session runs on
	OuterVLAN uint16 // outer VLAN id, 0 = untagged
	InnerVLAN uint16 // inner (QinQ) VLAN id, 0 = none
	// OuterTPID and InnerTPID as in Session: 0 means 0x8100 when the VLAN
	// id is set.
	OuterTPID, InnerTPID uint16
	SessionID            uint16           // PPPoE SESSION_ID (RFC 2516 §4)
	ACMAC                net.HardwareAddr // the AC's MAC (PADS source)
	LocalMAC             net.HardwareAddr // our MAC on the Ethernet interface
	// Local is the address IPCP gave us (RFC 1332 §3.3); informational.
	Local netip.Addr
	// MTU is the largest IP packet sent to the AC (the peer's MRU, RFC 1661
	// §6.1); the netdev's MTU should be the same (SetDeviceMTU).
	MTU uint16
	// MSS is the TCP MSS clamp on SYNs both ways, 0 = none.
	MSS uint16
	// MP is the session's multilink (RFC 1990), zero = off.
	MP MP
	// Limit is the session's rate limits: Rx what the AC sends us, Tx
	// what we send it (the router's directions, as for a server session).
	Limit RateLimit
}

// CreateClientDevice creates a client netdev (RouterOS `name`, e.g.
// pppoe-out1): a veth pair, ARP off, GSO limited to one segment (see
// CreatePPPoE0), its peer named from a hash of name. The kernel routes
// through name; AttachClientDevice puts tc_client_out on the peer.
func CreateClientDevice(name string, mtu int) (*Device, error) {
	return createVeth(name, clientPeerName(name), mtu)
}

// clientPeerName derives a peer name that fits IFNAMSIZ whatever the
// client's name is.
func clientPeerName(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("pxc%08x", h.Sum32())
}

// SetDeviceMTU sets a device's MTU (the negotiated MTU of a client, RFC
// 1661 §6.1), and its peer's so nothing in between refuses a packet.
func SetDeviceMTU(dev *Device, mtu int) error {
	for _, i := range []int{dev.Index, dev.PeerIndex} {
		if err := setMTU(i, mtu); err != nil {
			return fmt.Errorf("maps: %s: MTU %d: %w", dev.Name, mtu, err)
		}
	}
	return nil
}

// AttachClientDevice attaches tc_client_out to a client netdev's peer and
// registers the netdev as down: from now on packets routed into it are
// dropped and counted for ClientDemand until InstallClient.
func (d *Datapath) AttachClientDevice(dev *Device) error {
	v := dataplaneClientDev{}
	err := d.objs.ClientDevs.Update(uint32(dev.PeerIndex), &v, ebpf.UpdateNoExist)
	if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("maps: client device %s: %w", dev.Name, err)
	}
	return d.attach(dev.PeerIndex, hook{d.objs.TcClientOut, dataplaneProgTcClientOut, false, ebpf.AttachTCXIngress})
}

// DetachClientDevice undoes AttachClientDevice, removing the installed
// session if any.
func (d *Datapath) DetachClientDevice(dev *Device) error {
	err := d.RemoveClient(dev)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	if derr := d.objs.ClientDevs.Delete(uint32(dev.PeerIndex)); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
		err = errors.Join(err, fmt.Errorf("maps: client device %s: %w", dev.Name, derr))
	}
	d.attachMu.Lock()
	defer d.attachMu.Unlock()
	return errors.Join(err, d.detach(dev.PeerIndex))
}

func (c ClientSession) raw(dev *Device) (dataplaneSessionKey, dataplaneSessionAttrs, error) {
	var (
		k dataplaneSessionKey
		a dataplaneSessionAttrs
	)
	if len(c.ACMAC) != 6 || len(c.LocalMAC) != 6 {
		return k, a, fmt.Errorf("maps: client session %d: MACs %q, %q: want 6 bytes", c.SessionID, c.ACMAC, c.LocalMAC)
	}
	if len(dev.MAC) != 6 || dev.Index <= 0 || dev.PeerIndex <= 0 {
		return k, a, fmt.Errorf("maps: client session %d: device %+v incomplete", c.SessionID, dev)
	}
	if c.Local.IsValid() && !c.Local.Is4() {
		return k, a, fmt.Errorf("maps: client session %d: local address %v: %w", c.SessionID, c.Local, errors.ErrUnsupported)
	}
	if c.MTU < 68 {
		return k, a, fmt.Errorf("maps: client session %d: MTU %d below 68 (RFC 791)", c.SessionID, c.MTU)
	}
	var err error
	k, err = Key{Ifindex: c.Ifindex, OuterVLAN: c.OuterVLAN, InnerVLAN: c.InnerVLAN,
		SessionID: c.SessionID, ClientMAC: c.ACMAC}.raw()
	if err != nil {
		return k, a, err
	}
	outer, inner, err := tpids(c.SessionID, c.OuterVLAN, c.OuterTPID, c.InnerVLAN, c.InnerTPID)
	if err != nil {
		return k, a, err
	}
	copy(a.PeerMac[:], c.ACMAC)
	copy(a.LocalMac[:], c.LocalMAC)
	a.Ifindex = uint32(c.Ifindex)
	a.OuterVlan, a.OuterTpid = c.OuterVLAN, outer
	a.InnerVlan, a.InnerTpid = c.InnerVLAN, inner
	a.SessionId = c.SessionID
	a.Mtu, a.Mss = c.MTU, c.MSS
	a.Flags = uint16(dataplaneSessionFlagSESSION_F_ACTIVE|dataplaneSessionFlagSESSION_F_CLIENT) | c.MP.flags()
	if c.Local.Is4() {
		a.Ipv4 = c.Local.As4()
	}
	a.NetdevIfindex = uint32(dev.Index)
	copy(a.NetdevMac[:], dev.MAC)
	return k, a, nil
}

// InstallClient starts forwarding between a client netdev (attached with
// AttachClientDevice) and its session; one netdev carries one session.
// The index is the session's in Stats, shared with server sessions.
func (d *Datapath) InstallClient(dev *Device, c ClientSession) (Index, error) {
	key, attrs, err := c.raw(dev)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var cd dataplaneClientDev
	if err := d.objs.ClientDevs.Lookup(uint32(dev.PeerIndex), &cd); err != nil {
		return 0, fmt.Errorf("maps: install client session %d: device %s not attached: %w", c.SessionID, dev.Name, err)
	}
	if cd.Flags&uint32(dataplaneClientFlagCLIENT_F_UP) != 0 {
		return 0, fmt.Errorf("maps: install client session %d on %s: %w", c.SessionID, dev.Name, ErrExists)
	}
	idx, err := d.installLocked(key, attrs, false, c.Limit)
	if err != nil {
		return 0, err
	}
	cd.SessionIndex = uint32(idx)
	cd.Flags = uint32(dataplaneClientFlagCLIENT_F_UP)
	if err := d.objs.ClientDevs.Put(uint32(dev.PeerIndex), &cd); err != nil {
		_, _ = d.removeLocked(key)
		return 0, fmt.Errorf("maps: install client session %d: client_devs: %w", c.SessionID, err)
	}
	return idx, nil
}

// RemoveClient takes a client netdev's session out of the data plane: the
// netdev is down again (packets into it count towards ClientDemand) and
// the AC's frames for the session go to user space as unknown.
func (d *Datapath) RemoveClient(dev *Device) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var cd dataplaneClientDev
	if err := d.objs.ClientDevs.Lookup(uint32(dev.PeerIndex), &cd); err != nil {
		return fmt.Errorf("maps: remove client on %s: %w", dev.Name, notFound(err))
	}
	if cd.Flags&uint32(dataplaneClientFlagCLIENT_F_UP) == 0 {
		return fmt.Errorf("maps: remove client on %s: %w", dev.Name, ErrNotFound)
	}
	// Down first, so the egress program stops using the index.
	down := dataplaneClientDev{Demand: cd.Demand}
	if err := d.objs.ClientDevs.Put(uint32(dev.PeerIndex), &down); err != nil {
		return fmt.Errorf("maps: remove client on %s: %w", dev.Name, err)
	}
	var a dataplaneSessionAttrs
	if err := d.objs.SessionInfo.Lookup(cd.SessionIndex, &a); err != nil {
		return fmt.Errorf("maps: remove client on %s: session_info: %w", dev.Name, err)
	}
	key := dataplaneSessionKey{Ifindex: a.Ifindex, OuterVlan: a.OuterVlan, InnerVlan: a.InnerVlan,
		SessionId: a.SessionId, PeerMac: a.PeerMac}
	if _, err := d.removeLocked(key); err != nil {
		return fmt.Errorf("maps: remove client on %s: %w", dev.Name, err)
	}
	return nil
}

// ClientIndex returns the session index of a client netdev's installed
// session, for Stats.
func (d *Datapath) ClientIndex(dev *Device) (Index, error) {
	var cd dataplaneClientDev
	if err := d.objs.ClientDevs.Lookup(uint32(dev.PeerIndex), &cd); err != nil {
		return 0, fmt.Errorf("maps: client %s: %w", dev.Name, notFound(err))
	}
	if cd.Flags&uint32(dataplaneClientFlagCLIENT_F_UP) == 0 {
		return 0, fmt.Errorf("maps: client %s: %w", dev.Name, ErrNotFound)
	}
	return Index(cd.SessionIndex), nil
}

// ClientDemand is the dial-on-demand hook: the number of packets the kernel
// routed into a client netdev while no session was installed (they were
// dropped). It only grows; the control plane polls it and dials when it
// changes. Polling a map keeps the signal in the kernel across daemon
// restarts, with no reader that must keep up.
func (d *Datapath) ClientDemand(dev *Device) (uint64, error) {
	var cd dataplaneClientDev
	if err := d.objs.ClientDevs.Lookup(uint32(dev.PeerIndex), &cd); err != nil {
		return 0, fmt.Errorf("maps: client %s: %w", dev.Name, notFound(err))
	}
	return cd.Demand, nil
}
