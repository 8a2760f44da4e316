package maps

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
)

// DiscoveryLimits are xdp_access_in's limits on PPPoE discovery frames
// (bpf/discovery.h): PADIs and PADRs over them are dropped before they
// reach user space, counted as ReasonDiscoveryMAC and
// ReasonDiscoveryGlobal. A rate of 0 turns that limit off; a burst of 0
// means 1. control/pppoe's Limiter is the same algorithm in Go.
type DiscoveryLimits struct {
	// MACRate and MACBurst bound one host (access interface, VLANs,
	// source MAC): its PADIs and PADRs together, per second.
	MACRate, MACBurst uint32
	// PADIRate and PADIBurst bound the PADIs of all hosts per second, once
	// for hosts heard for the first time and once more for hosts heard
	// before (retransmissions), so at most twice the rate pass.
	PADIRate, PADIBurst uint32
}

// SetDiscoveryLimits sets the discovery limits of every access interface.
// The buckets keep their state: lowering a limit takes effect as the
// buckets drain.
func (d *Datapath) SetDiscoveryLimits(l DiscoveryLimits) error {
	v := dataplaneDiscLimits{MacRate: l.MACRate, MacBurst: l.MACBurst, PadiRate: l.PADIRate, PadiBurst: l.PADIBurst}
	if err := d.objs.DiscoveryLimits.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("maps: discovery_limits: %w", err)
	}
	return nil
}

// DiscoveryLimits returns the discovery limits in force.
func (d *Datapath) DiscoveryLimits() (DiscoveryLimits, error) {
	var v dataplaneDiscLimits
	if err := d.objs.DiscoveryLimits.Lookup(uint32(0), &v); err != nil {
		return DiscoveryLimits{}, fmt.Errorf("maps: discovery_limits: %w", err)
	}
	return DiscoveryLimits{MACRate: v.MacRate, MACBurst: v.MacBurst, PADIRate: v.PadiRate, PADIBurst: v.PadiBurst}, nil
}

// DiscoveryHost is a host the discovery limiter remembers (a
// discovery_hosts slot) and how many of its frames the per-MAC limit
// dropped while it held its slot.
type DiscoveryHost struct {
	Ifindex              int
	OuterVLAN, InnerVLAN uint16
	MAC                  net.HardwareAddr
	Dropped              uint32
}

// DiscoveryHosts returns the hosts the per-MAC limit dropped frames of:
// the flooding MACs.
func (d *Datapath) DiscoveryHosts() ([]DiscoveryHost, error) {
	var (
		cursor ebpf.MapBatchCursor
		keys   = make([]uint32, 4096)
		vals   = make([]dataplaneDiscHost, 4096)
		out    []DiscoveryHost
	)
	for {
		n, err := d.objs.DiscoveryHosts.BatchLookup(&cursor, keys, vals, nil)
		for _, v := range vals[:n] {
			if v.Key.Ifindex == 0 || v.Dropped == 0 {
				continue
			}
			out = append(out, DiscoveryHost{Ifindex: int(v.Key.Ifindex), OuterVLAN: v.Key.OuterVlan, InnerVLAN: v.Key.InnerVlan,
				MAC: net.HardwareAddr(append([]byte(nil), v.Key.Mac[:]...)), Dropped: v.Dropped})
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("maps: discovery_hosts: %w", err)
		}
	}
}
