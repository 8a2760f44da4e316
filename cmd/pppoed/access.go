package main

import (
	"github.com/pppoe-xdp/pppoe-xdp/control/daemon"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe0"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// accessSystem is daemon.AccessSystem: the data plane on the access
// interfaces, pppoe0's addresses and routes from control/pppoe0.
type accessSystem struct {
	dp *maps.Datapath
	*pppoe0.Host
}

// AttachAccess implements daemon.AccessSystem.
func (s accessSystem) AttachAccess(ifindex int) error { return s.dp.AttachAccess(ifindex) }

// UpdatePPPoE0 implements daemon.AccessSystem.
func (s accessSystem) UpdatePPPoE0(add, del daemon.PPPoE0Set) error {
	return s.Update(add.Addrs, del.Addrs, add.Routes, del.Routes)
}
