package host

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// ClientAdoption is restart.Clients over the pppoe-clients: restart
// offers it each client session a previous pppoed left installed, which
// it hands to the client named in the session's record (client.Manager
// Offer, which the Manager's Resume prepared).
type ClientAdoption struct{ Manager *client.Manager }

// Adopt implements restart.Adopter.
func (a ClientAdoption) Adopt(rec state.Session, in *maps.Installed) error {
	if in == nil || !in.Client {
		return errors.New("not installed as a client session")
	}
	return a.Manager.Offer(rec, in.Netdev)
}

// Reconciled implements restart.Clients.
func (a ClientAdoption) Reconciled() { a.Manager.Reconciled() }

// AdoptNetdev implements client.NetdevTakeover: the netdev a previous
// pppoed left with a session installed, taken over as it is (its MTU,
// addresses, routes and data-plane entry stay). Its program and those of
// the Ethernet interface ifindex are attached again: each finds its
// pinned link and swaps this binary's program in, with no gap in
// forwarding.
func (c clientDataPlane) AdoptNetdev(name string, ifindex int) (client.Netdev, error) {
	dev, err := maps.LookupDevice(name)
	if err != nil {
		return nil, err
	}
	if _, err := c.dp.ClientIndex(dev); err != nil {
		return nil, fmt.Errorf("client %s: no session installed: %w", name, err)
	}
	if err := c.dp.AttachClientDevice(dev); err != nil {
		return nil, err
	}
	if err := c.dp.AttachAccess(ifindex); err != nil {
		return nil, err
	}
	return c.netdevOf(dev), nil
}

// RemoveNetdev implements client.NetdevTakeover: a netdev left by a
// previous pppoed goes with its session, program, addresses and routes.
func (c clientDataPlane) RemoveNetdev(name string) error {
	if _, err := netlink.LinkByName(name); err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("client %s: %w", name, err)
	}
	dev, err := maps.LookupDevice(name)
	if err != nil {
		return err
	}
	return errors.Join(c.dp.DetachClientDevice(dev), maps.DeleteDevice(name))
}
