package maps

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Reason is an index of the global per-CPU counters map: why the data plane
// did what it did with a packet (bpf/types.h enum reason).
type Reason uint32

// Reasons, numbered by the C enum (generated, never hand-copied).
const (
	ReasonPassDiscovery   = Reason(dataplaneReasonREASON_PASS_DISCOVERY)
	ReasonPassControl     = Reason(dataplaneReasonREASON_PASS_CONTROL)
	ReasonPassOther       = Reason(dataplaneReasonREASON_PASS_OTHER)
	ReasonFastUp          = Reason(dataplaneReasonREASON_FAST_UP)
	ReasonFastDown        = Reason(dataplaneReasonREASON_FAST_DOWN)
	ReasonPassSlow        = Reason(dataplaneReasonREASON_PASS_SLOW)
	ReasonSlowUp          = Reason(dataplaneReasonREASON_SLOW_UP)
	ReasonSlowDown        = Reason(dataplaneReasonREASON_SLOW_DOWN)
	ReasonSpoofed         = Reason(dataplaneReasonREASON_SPOOFED)
	ReasonUnknownSession  = Reason(dataplaneReasonREASON_UNKNOWN_SESSION)
	ReasonMalformed       = Reason(dataplaneReasonREASON_MALFORMED)
	ReasonMTUExceeded     = Reason(dataplaneReasonREASON_MTU_EXCEEDED)
	ReasonTTLExceeded     = Reason(dataplaneReasonREASON_TTL_EXCEEDED)
	ReasonNoNeigh         = Reason(dataplaneReasonREASON_NO_NEIGH)
	ReasonMSSClamped      = Reason(dataplaneReasonREASON_MSS_CLAMPED)
	ReasonUnknownDest     = Reason(dataplaneReasonREASON_UNKNOWN_DEST)
	ReasonError           = Reason(dataplaneReasonREASON_ERROR)
	ReasonClientIn        = Reason(dataplaneReasonREASON_CLIENT_IN)
	ReasonClientOut       = Reason(dataplaneReasonREASON_CLIENT_OUT)
	ReasonClientDemand    = Reason(dataplaneReasonREASON_CLIENT_DEMAND)
	ReasonGSO             = Reason(dataplaneReasonREASON_GSO)
	ReasonDiscoveryMAC    = Reason(dataplaneReasonREASON_DISC_MAC_LIMIT)
	ReasonDiscoveryGlobal = Reason(dataplaneReasonREASON_DISC_GLOBAL_LIMIT)
	ReasonPassNoXDPXmit   = Reason(dataplaneReasonREASON_PASS_NO_XDP_XMIT)
	ReasonMPPass          = Reason(dataplaneReasonREASON_MP_PASS)
	ReasonMPDivert        = Reason(dataplaneReasonREASON_MP_DIVERT)
	ReasonRateRxDrop      = Reason(dataplaneReasonREASON_RATE_RX_DROP)
	ReasonRateTxDrop      = Reason(dataplaneReasonREASON_RATE_TX_DROP)
	ReasonRateShapeDrop   = Reason(dataplaneReasonREASON_RATE_SHAPE_DROP)
	ReasonPassShape       = Reason(dataplaneReasonREASON_PASS_SHAPE)
	numReasons            = Reason(dataplaneReasonREASON_MAX)
)

var reasonNames = [...]string{
	ReasonPassDiscovery:   "pass_discovery",
	ReasonPassControl:     "pass_control",
	ReasonPassOther:       "pass_other",
	ReasonFastUp:          "fast_up",
	ReasonFastDown:        "fast_down",
	ReasonPassSlow:        "pass_slow",
	ReasonSlowUp:          "slow_up",
	ReasonSlowDown:        "slow_down",
	ReasonSpoofed:         "spoofed",
	ReasonUnknownSession:  "unknown_session",
	ReasonMalformed:       "malformed",
	ReasonMTUExceeded:     "mtu_exceeded",
	ReasonTTLExceeded:     "ttl_exceeded",
	ReasonNoNeigh:         "no_neigh",
	ReasonMSSClamped:      "mss_clamped",
	ReasonUnknownDest:     "unknown_dest",
	ReasonError:           "error",
	ReasonClientIn:        "client_in",
	ReasonClientOut:       "client_out",
	ReasonClientDemand:    "client_demand",
	ReasonGSO:             "gso",
	ReasonDiscoveryMAC:    "discovery_mac_limit",
	ReasonDiscoveryGlobal: "discovery_global_limit",
	ReasonPassNoXDPXmit:   "pass_no_xdp_xmit",
	ReasonMPPass:          "mp_pass",
	ReasonMPDivert:        "mp_divert",
	ReasonRateRxDrop:      "rate_rx_drop",
	ReasonRateTxDrop:      "rate_tx_drop",
	ReasonRateShapeDrop:   "rate_shape_drop",
	ReasonPassShape:       "pass_shape",
}

// String returns the reason's snake_case name (as metrics label it).
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint32(r))
}

// Reasons lists every reason the data plane counts.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Counters returns every reason's count summed over CPUs.
func (d *Datapath) Counters() (map[Reason]uint64, error) {
	out := make(map[Reason]uint64, numReasons)
	per := make([]uint64, ebpf.MustPossibleCPU())
	for _, r := range Reasons() {
		if err := d.objs.Counters.Lookup(uint32(r), &per); err != nil {
			return nil, fmt.Errorf("maps: counter %v: %w", r, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[r] = sum
	}
	return out, nil
}

// ReasonNameHTBDrop is NamedCounters' name for HTBDrops: shaped
// downloads the HTB shaper dropped (README, "Rate limits").
const ReasonNameHTBDrop = "rate_htb_drop"

// NamedCounters is Counters keyed by reason name, as metrics export them,
// and HTBDrops as rate_htb_drop.
func (d *Datapath) NamedCounters() (map[string]uint64, error) {
	c, err := d.Counters()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(c)+1)
	for r, n := range c {
		out[r.String()] = n
	}
	// The HTB shaper's drops are the kernel's, not a BPF counter's.
	out[ReasonNameHTBDrop] = d.HTBDrops()
	return out, nil
}
