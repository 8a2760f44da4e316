package main

import (
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
