// Package maps is the only Go code that touches BPF: it loads the data plane
// (bpf/dataplane.c, compiled by bpf2go), pins its maps and links under a
// bpffs directory, attaches the programs to interfaces, and offers typed,
// byte-order-safe access to the session maps. The generated types stay in
// this package.
//
// Map layout and semantics are documented in bpf/types.h and bpf/maps.h.
package maps

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DefaultPinPath is where maps and links are pinned unless Options says
// otherwise.
const DefaultPinPath = "/sys/fs/bpf/pppoe-xdp"

// DefaultMaxSessions sizes the session maps unless Options says otherwise.
const DefaultMaxSessions = 262144

// Options configures Open.
type Options struct {
	// PinPath is the bpffs directory for maps and links (DefaultPinPath if
	// empty). Where it is not on a bpffs one is mounted: on /sys/fs/bpf if
	// it is below, else on PinPath itself, never over files (bpffs.go).
	PinPath string
	// MaxSessions is the capacity of every session-sized map
	// (DefaultMaxSessions if 0). Reopening pinned maps needs the same value.
	MaxSessions uint32
	// Logger receives attach warnings; nil means no logging.
	Logger *zap.Logger
	// GenericXDP attaches the XDP programs in generic (skb) mode even where
	// the driver has native XDP: for testing, or drivers whose native XDP
	// misbehaves. Without it, native is tried first and generic is the
	// fallback, with a warning.
	GenericXDP bool
	// Clsact attaches the TC programs as cls_bpf filters on a clsact qdisc
	// even where the kernel has tcx: the pre-6.6 way, for hosts whose
	// other tools manage TC that way. Without it, tcx is used where the
	// kernel has it and clsact otherwise.
	Clsact bool
	// RxSpread is the set of CPUs the access devices hand session data
	// frames to, by a hash of session and flow (spread.go); empty: every
	// frame is handled on the CPU it arrived on.
	RxSpread []int
	// Shaper is how shaped downloads are shaped (htb.go): ShaperAuto
	// (EDT with fq where the kernel has it, else HTB), ShaperEDT or
	// ShaperHTB.
	Shaper Shaper
}

// Datapath is the loaded data plane: programs, maps and the session index
// allocator. Its methods are safe for concurrent use.
type Datapath struct {
	objs    objects
	spec    *ebpf.CollectionSpec // as loaded, for the per-device programs (hwvlan.go)
	pinPath string
	max     uint32
	cpus    uint32   // possible CPUs: session_stats has a block of max slots per CPU
	stats   []byte   // session_stats, mapped: read and written with 64-bit atomics
	rate    rateMaps // rates and rates_on, mapped (ratelimit.go)
	// slotMask is session_slots' size - 1 (slot.go).
	slotMask uint32
	// sessionFront and subscriberFront are session_slots and
	// subscriber_slots with what this process knows they hold (slot.go);
	// d.mu.
	sessionFront, subscriberFront *slotFront
	// slot6Mask is subscriber6_slots' size - 1 (ipv6slot.go).
	slot6Mask uint32
	log       *zap.Logger
	// genericXDP forces generic XDP attachments (Options.GenericXDP).
	genericXDP bool
	// clsact forces clsact TC attachments (Options.Clsact).
	clsact bool

	// attachMu serializes attaching and detaching: two attaches of one
	// hook at once (two sessions of one client) would both find it free.
	attachMu sync.Mutex

	mu     sync.Mutex
	free   []Index     // free session indices, popped from the end
	inUse  indexSet    // allocated indices
	v6     *v6Prefixes // subscribers_v6 as installed (ipv6.go)
	routes *routes4    // routes_v4 as installed (routes.go)

	// egress follows which devices XDP may redirect to (egress.go);
	// nil until the first attachment.
	egressMu sync.Mutex
	egress   *egress

	// hwvlan holds each device's xdp_access_in_hwvlan (hwvlan.go).
	hwvlanMu sync.Mutex
	hwvlan   map[int]*ebpf.Program

	// spread and spreadCPUs: the spreading programs and CPU set
	// (Options.RxSpread, spread.go); zero without spreading.
	spread     spreadProgs
	spreadCPUs []int

	// htbMu guards shaper and htb: how shaped downloads are shaped
	// (ShaperAuto until the first shaped session) and the HTB classes of
	// the sessions HTB shapes (htb.go).
	htbMu  sync.Mutex
	shaper Shaper
	htb    *htbClasses
	// htbRetired is what the HTB qdiscs removed had dropped (HTBDrops).
	htbRetired uint64
}

// objects is what Open loads: every map, and every program but
// xdp_access_in_hwvlan, which only loads bound to a device (hwvlan.go).
type objects struct {
	dataplaneMaps
	dataplaneVariables
	TcAccessIn  *ebpf.Program `ebpf:"tc_access_in"`
	TcClientOut *ebpf.Program `ebpf:"tc_client_out"`
	TcPppoe0Out *ebpf.Program `ebpf:"tc_pppoe0_out"`
	XdpAccessIn *ebpf.Program `ebpf:"xdp_access_in"`
	XdpUplinkIn *ebpf.Program `ebpf:"xdp_uplink_in"`
}

func (o *objects) Close() error {
	return errors.Join(o.dataplaneMaps.Close(), o.TcAccessIn.Close(), o.TcClientOut.Close(),
		o.TcPppoe0Out.Close(), o.XdpAccessIn.Close(), o.XdpUplinkIn.Close())
}

// Open loads the data plane, reusing maps already pinned under the pin
// path (so sessions survive a daemon restart) and pinning new ones. The
// session index allocator is rebuilt from the sessions map.
func Open(opts Options) (*Datapath, error) {
	if opts.PinPath == "" {
		opts.PinPath = DefaultPinPath
	}
	if opts.MaxSessions == 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	mountedAt, err := prepareBPFFS(opts.PinPath)
	if err != nil {
		return nil, err
	}
	warnPrivateMount(opts.Logger, mountedAt)
	spec, err := loadDataplane()
	if err != nil {
		return nil, fmt.Errorf("maps: %w", err)
	}
	for _, name := range []string{dataplaneMapSessions, dataplaneMapSessionInfo,
		dataplaneMapSubscribersV4, dataplaneMapRoutesV4} {
		spec.Maps[name].MaxEntries = opts.MaxSessions
	}
	// A link /64 and a delegated prefix per session (bpf/maps.h).
	spec.Maps[dataplaneMapSubscribersV6].MaxEntries = 2 * opts.MaxSessions
	// session_stats has a slot per session and CPU (bpf/maps.h).
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("maps: %w", err)
	}
	slots := uint64(opts.MaxSessions) * uint64(cpus)
	if slots > 1<<31 {
		return nil, fmt.Errorf("maps: %d sessions x %d CPUs of counters is too many; lower MaxSessions", opts.MaxSessions, cpus)
	}
	spec.Maps[dataplaneMapSessionStats].MaxEntries = uint32(slots)
	rateSpecs(spec, opts.MaxSessions)
	spec.Maps[dataplaneMapRxCpus].MaxEntries = uint32(cpus)
	if err := spec.Variables[dataplaneVarMaxSessions].Set(opts.MaxSessions); err != nil {
		return nil, fmt.Errorf("maps: max_sessions: %w", err)
	}
	nslots, err := slotCount(opts.MaxSessions)
	if err != nil {
		return nil, err
	}
	// A seed the peers cannot know keys the discovery_hosts slots
	// (bpf/maps.h); a new one per load only makes every host new once.
	var seed [4]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("maps: disc_seed: %w", err)
	}
	if err := spec.Variables[dataplaneVarDiscSeed].Set(binary.NativeEndian.Uint32(seed[:])); err != nil {
		return nil, fmt.Errorf("maps: disc_seed: %w", err)
	}
	spec.Maps[dataplaneMapSessionSlots].MaxEntries = nslots
	spec.Maps[dataplaneMapSubscriberSlots].MaxEntries = nslots
	if err := spec.Variables[dataplaneVarSlotMask].Set(nslots - 1); err != nil {
		return nil, fmt.Errorf("maps: slot_mask: %w", err)
	}
	// Twice subscribers_v6, as the IPv4 slots are twice their map; set
	// before the stamp, whose fingerprint covers every map's size.
	spec.Maps[dataplaneMapSubscriber6Slots].MaxEntries = 2 * nslots
	if err := spec.Variables[dataplaneVarSlot6Mask].Set(2*nslots - 1); err != nil {
		return nil, fmt.Errorf("maps: slot6_mask: %w", err)
	}
	// Pins stamped with another layout are refused before anything is
	// loaded: reusing them would misread every installed session.
	stamp := dataplaneLayoutStamp{Version: LayoutVersion, Fingerprint: layoutFingerprint(spec)}
	if err := checkLayout(opts.PinPath, stamp); err != nil {
		return nil, err
	}
	// Maps pinned by an earlier run are reused; those this call pins must
	// not outlive a failed load (a program the verifier rejects), or the
	// next start would take them for a previous run's.
	var fresh []string
	for name, m := range spec.Maps {
		if m.Pinning != ebpf.PinByName {
			continue
		}
		if _, err := os.Stat(filepath.Join(opts.PinPath, name)); errors.Is(err, os.ErrNotExist) {
			fresh = append(fresh, filepath.Join(opts.PinPath, name))
		}
	}
	unpinFresh := func() {
		for _, p := range fresh {
			_ = os.Remove(p)
		}
	}
	d := &Datapath{spec: spec, pinPath: opts.PinPath, max: opts.MaxSessions, cpus: uint32(cpus), slotMask: nslots - 1, slot6Mask: 2*nslots - 1, log: opts.Logger, genericXDP: opts.GenericXDP, clsact: opts.Clsact,
		shaper: opts.Shaper, htb: newHTBClasses()}
	err = spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: opts.PinPath},
	})
	if err != nil {
		unpinFresh()
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("maps: load: %+v", verr)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			// Tell a changed layout apart from every other load error,
			// and say what to do only then (cilium/ebpf's own split).
			name, capacity := incompatibleMap(spec, opts.PinPath)
			if capacity {
				return nil, fmt.Errorf("maps: pinned map %s under %s was made for another number of sessions than %d "+
					"(--capacity): start with the --capacity it was made with, which keeps the installed sessions, "+
					"or stop pppoed (PADT to every subscriber), remove %s and start again: %w",
					name, opts.PinPath, opts.MaxSessions, opts.PinPath, err)
			}
			return nil, &LayoutError{PinPath: opts.PinPath, WantVersion: LayoutVersion, WantPrint: stamp.Fingerprint, Map: name, Err: err}
		}
		return nil, fmt.Errorf("maps: load: %w", err)
	}
	// The stamp goes in once the maps are known to fit: a first load, or
	// pins of a pppoed older than stamps whose maps this one can use.
	if err := d.objs.Layout.Put(uint32(0), &stamp); err != nil {
		d.objs.Close()
		unpinFresh()
		return nil, fmt.Errorf("maps: layout stamp: %w", err)
	}
	created := func(name string) bool { return slices.Contains(fresh, filepath.Join(opts.PinPath, name)) }
	d.sessionFront = newSlotFront(d.objs.SessionSlots, nslots, created(dataplaneMapSessionSlots))
	d.subscriberFront = newSlotFront(d.objs.SubscriberSlots, nslots, created(dataplaneMapSubscriberSlots))
	if d.stats, err = unix.Mmap(d.objs.SessionStats.FD(), 0, int(slots)*counterSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		d.objs.Close()
		unpinFresh()
		return nil, fmt.Errorf("maps: mmap session_stats: %w", err)
	}
	if err := d.openRate(); err != nil {
		_ = unix.Munmap(d.stats)
		d.objs.Close()
		unpinFresh()
		return nil, err
	}
	if err := d.rebuildFree(); err != nil {
		d.closeRate()
		d.objs.Close()
		unpinFresh()
		return nil, err
	}
	// Not fatal: a class left behind shapes nothing, and the sessions
	// found are claimed before anything is deleted.
	if err := d.rebuildHTB(); err != nil {
		d.log.Warn("HTB classes of the sessions found", zap.Error(err))
	}
	if err := d.rebuildRoutes(); err != nil {
		d.closeRate()
		d.objs.Close()
		unpinFresh()
		return nil, err
	}
	if err := d.rebuildV6(); err != nil {
		d.closeRate()
		d.objs.Close()
		unpinFresh()
		return nil, err
	}
	if len(opts.RxSpread) > 0 {
		if err := d.loadSpread(opts.RxSpread); err != nil {
			d.closeSpread()
			d.objs.Close()
			unpinFresh()
			return nil, err
		}
	}
	d.sweepSevered()
	return d, nil
}

// Close releases this process's file descriptors. Pinned maps and links,
// and so the attached programs and installed sessions, stay in the kernel.
func (d *Datapath) Close() error {
	d.stopEgress()
	d.closeHWVLAN()
	d.closeRate()
	d.closeSpread()
	if d.stats != nil {
		_ = unix.Munmap(d.stats)
		d.stats = nil
	}
	return d.objs.Close()
}

// Unpin removes everything this package pinned under the pin path (maps
// and links): attachments made through pinned links go away once the last
// descriptor is closed. Use it to uninstall, and in tests.
func (d *Datapath) Unpin() error {
	var errs []error
	for _, m := range []*ebpf.Map{d.objs.Sessions, d.objs.SessionSlots, d.objs.SubscriberSlots, d.objs.SessionInfo, d.objs.SessionStats,
		d.objs.SubscribersV4, d.objs.SubscribersV6, d.objs.Config, d.objs.Counters, d.objs.ClientDevs, d.objs.UplinkMacs,
		d.objs.DiscoveryHosts, d.objs.DiscoveryLimits, d.objs.DiscoveryGlobal, d.objs.TxPorts, d.objs.MpDivert, d.objs.Layout,
		d.objs.Rates, d.objs.RatesOn, d.objs.Subscriber6Slots, d.objs.V6Lens, d.objs.RoutesV4} {
		if err := m.Unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(d.pinPath, linksDir)); err != nil {
		errs = append(errs, err)
	}
	if err := removePinDir(d.pinPath); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("maps: unpin: %w", err)
	}
	return nil
}

// PinPath is the bpffs directory holding the pinned maps (one file per
// map, named as in bpf/maps.h) and links/.
func (d *Datapath) PinPath() string { return d.pinPath }

// Program returns a loaded program by its C name ("xdp_access_in",
// "xdp_uplink_in", "tc_access_in", "tc_pppoe0_out", "tc_client_out"), for
// benchmarks and
// BPF_PROG_TEST_RUN; nil if there is none.
func (d *Datapath) Program(name string) *ebpf.Program {
	switch name {
	case dataplaneProgXdpAccessIn:
		return d.objs.XdpAccessIn
	case dataplaneProgXdpUplinkIn:
		return d.objs.XdpUplinkIn
	case dataplaneProgTcAccessIn:
		return d.objs.TcAccessIn
	case dataplaneProgTcPppoe0Out:
		return d.objs.TcPppoe0Out
	case dataplaneProgTcClientOut:
		return d.objs.TcClientOut
	case dataplaneProgXdpAccessSpread:
		return d.spread.Spread
	case dataplaneProgXdpAccessCpu:
		return d.spread.CPU
	}
	return nil
}
