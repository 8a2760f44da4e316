package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Shaper is how a shaped download (Rate.Shape) is shaped.
type Shaper int

const (
	// ShaperAuto is EDT where the kernel has the fq qdisc, else HTB: the
	// first shaped session tries fq and falls back to HTB for good when
	// the kernel has none.
	ShaperAuto Shaper = iota
	// ShaperEDT gives each packet a departure time for the fq qdisc on the
	// access interface (fq.go); a kernel without fq refuses the session.
	ShaperEDT
	// ShaperHTB gives each shaped session a class of an HTB qdisc on its
	// access interface.
	ShaperHTB
)

// ParseShaper reads a Shaper by name: auto, edt or htb.
func ParseShaper(s string) (Shaper, error) {
	switch s {
	case "auto", "":
		return ShaperAuto, nil
	case "edt":
		return ShaperEDT, nil
	case "htb":
		return ShaperHTB, nil
	}
	return 0, fmt.Errorf("maps: shaper %q: want auto, edt or htb", s)
}

// HTBMajor is the major number of the HTB qdisc pppoed installs on an
// access interface (bpf/ratelimit.h RATE_HTB_MAJOR): a shaped session's
// class is HTBMajor:minor.
const HTBMajor = 0x5050

// MaxHTBClasses is how many sessions one access interface can shape with
// HTB: a class minor is 16 bits, and its leaf queue's handle is minor:0,
// a qdisc major of the device's own; so neither 0 (the qdisc itself),
// HTBMajor (the HTB qdisc) nor 0xffff (ingress and clsact) is a minor.
const MaxHTBClasses = 0xffff - 2

// ErrNoHTBClass is wrapped when an access interface already shapes
// MaxHTBClasses sessions.
var ErrNoHTBClass = errors.New("no free HTB class minor")

// htbBucket is the time at a class's rate (and at its ceil) its buckets
// hold: RouterOS's queue bucket-size default, 0.1 ("bucket capacity =
// bucket-size * max-limit"). It also carries the class over a late HTB
// timer on a loaded machine without losing rate.
const htbBucket = 100 * time.Millisecond

// htbQuantum is each class's round-robin share per turn: one full frame.
// The kernel's own (rate / r2q) is megabytes at 200M, which makes classes
// that are ready at once take turns a burst at a time.
const htbQuantum = 1600

// A class's leaf queue holds the shaper's horizon (Rate.Depth, as the EDT
// shaper drops packets later than it) in full frames, within fq's bounds
// for one flow (fq.go): the kernel's default, the device's txqueuelen
// (1000 packets), is 1.2 s at 10M and 12 s at 1M.
const (
	htbLeafFrame    = 1514
	htbLeafMin      = 64
	htbLeafMaxLimit = fqFlowPacketLimit
)

// htbLeafLimit is the leaf queue's length in packets for shaped rate r:
// its horizon's worth.
func htbLeafLimit(r Rate) uint32 {
	n := uint64(float64(r.Rate) / 8 * r.depth().Seconds() / htbLeafFrame)
	return uint32(min(max(n, htbLeafMin), htbLeafMaxLimit))
}

// setLeafLimit makes class minor's leaf a pfifo of n packets, handle
// minor:0 (tc qdisc replace parent MAJOR:minor handle minor: pfifo limit
// n; vishvananda/netlink has no fifo qdisc). The leaf HTB makes itself
// has handle 0, which no request can name to change; a handle of ours
// names it for a rate change, which changes it in place: its packets stay.
func setLeafLimit(ifindex int, minor uint16, n uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(ifindex), Handle: netlink.MakeHandle(minor, 0),
		Parent: netlink.MakeHandle(HTBMajor, minor)})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("pfifo")))
	req.AddData(nl.NewRtAttr(nl.TCA_OPTIONS, nl.Uint32Attr(n))) // struct tc_fifo_qopt
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("maps: HTB class %x:%x leaf limit %d: %w", HTBMajor, minor, n, err)
	}
	return nil
}

// htbClasses tracks the HTB classes of shaped sessions: which minor each
// session index has on which access interface (Datapath.htbMu).
type htbClasses struct {
	byIndex map[Index]htbClass
	used    map[int]map[uint16]bool // ifindex -> minors in use
	next    map[int]uint16          // ifindex -> where the next search starts
}

type htbClass struct {
	ifindex int
	minor   uint16
}

func newHTBClasses() *htbClasses {
	return &htbClasses{byIndex: map[Index]htbClass{}, used: map[int]map[uint16]bool{}, next: map[int]uint16{}}
}

// claim records that index holds minor on ifindex (an installed session
// found at Open).
func (h *htbClasses) claim(i Index, ifindex int, minor uint16) {
	if h.used[ifindex] == nil {
		h.used[ifindex] = map[uint16]bool{}
	}
	h.used[ifindex][minor] = true
	h.byIndex[i] = htbClass{ifindex, minor}
}

// alloc finds a free minor on ifindex, from where the last search ended
// so a minor just freed is not reused at once.
func (h *htbClasses) alloc(ifindex int) (uint16, error) {
	used := h.used[ifindex]
	if len(used) >= MaxHTBClasses {
		return 0, fmt.Errorf("maps: HTB on ifindex %d: %d sessions shaped already (16-bit class minors): %w",
			ifindex, MaxHTBClasses, ErrNoHTBClass)
	}
	m := h.next[ifindex]
	for {
		m++
		if m == 0 {
			m = 1
		}
		if !used[m] && m != HTBMajor && m != 0xffff {
			h.next[ifindex] = m
			return m, nil
		}
	}
}

func (h *htbClasses) release(i Index) (htbClass, bool) {
	c, ok := h.byIndex[i]
	if !ok {
		return c, false
	}
	delete(h.byIndex, i)
	delete(h.used[c.ifindex], c.minor)
	if len(h.used[c.ifindex]) == 0 {
		delete(h.used, c.ifindex)
	}
	return c, true
}

// htbClassOf is the kernel class of rate r with minor on ifindex: rate =
// max-limit; a burst (burst-limit above max-limit) is the ceil, and the
// rate bucket is sized so that from idle the class sends at burst-limit
// for as long as RouterOS would let an idle session burst: burst-time x
// burst-threshold / burst-limit (README, "Downstream: policer or
// shaper"). Both buckets hold at least htbBucket at their rate.
func htbClassOf(ifindex int, minor uint16, r Rate) *netlink.HtbClass {
	rate, ceil := r.Rate, r.Rate
	buffer := bucketBytes(rate, htbBucket)
	if r.BurstRate > r.Rate && r.BurstTime > 0 {
		ceil = r.BurstRate
		// bytes = (burst-limit - max-limit)/8 x burst-time x threshold / burst-limit
		burst := float64(r.BurstRate-r.Rate) / 8 * r.BurstTime.Seconds() * float64(r.BurstThreshold) / float64(r.BurstRate)
		buffer = max(buffer, uint64(burst))
	}
	cbuffer := bucketBytes(ceil, htbBucket)
	c := netlink.NewHtbClass(netlink.ClassAttrs{
		LinkIndex: ifindex,
		Parent:    netlink.MakeHandle(HTBMajor, 0),
		Handle:    netlink.MakeHandle(HTBMajor, minor),
	}, netlink.HtbClassAttrs{Rate: rate, Ceil: ceil, Buffer: clampU32(buffer), Cbuffer: clampU32(cbuffer), Quantum: htbQuantum})
	// The buckets are kernel ticks (u32): at a slow rate a long burst
	// overflows them; cap at the largest.
	c.Buffer = xmitTicks(c.Rate, buffer)
	c.Cbuffer = xmitTicks(c.Ceil, cbuffer)
	return c
}

func bucketBytes(bitsPerSec uint64, d time.Duration) uint64 {
	return max(uint64(float64(bitsPerSec)/8*d.Seconds()), 2*htbQuantum)
}

func clampU32(v uint64) uint32 { return uint32(min(v, 1<<32-1)) }

// xmitTicks is netlink.Xmittime without its 32-bit overflow.
func xmitTicks(bytesPerSec, size uint64) uint32 {
	if bytesPerSec == 0 {
		return 0
	}
	return clampU32(uint64(float64(size) / float64(bytesPerSec) * 1e6 * netlink.TickInUsec()))
}

// ensureHTB makes the HTB qdisc HTBMajor:0 the root qdisc of ifindex,
// unless it already is. Packets naming none of its classes (every
// unshaped session's, and the host's own) go to its direct queue: sent at
// once, unshaped. A root qdisc the operator configured is replaced, as
// EnsureFQ does: a shaped session cannot be shaped without it.
func ensureHTB(ifindex int) error {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("maps: HTB on ifindex %d: %w", ifindex, err)
	}
	if ok, err := hasHTB(link); err != nil || ok {
		return err
	}
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(HTBMajor, 0)})
	if err := netlink.QdiscReplace(q); err != nil {
		return fmt.Errorf("maps: HTB on %s: %w", link.Attrs().Name, err)
	}
	if err := countIP(ifindex); err != nil {
		return fmt.Errorf("maps: HTB on %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// htbOverhead is what HTB is told to add to a packet's length: the
// Ethernet and PPPoE headers taken away, so that a class counts the IP
// packet, as the policer and the EDT shaper do and RouterOS's queue on a
// PPPoE interface does (a session's VLAN tags, 4 bytes each, are still
// counted).
const htbOverhead int32 = -(14 + 6 + 2)

// tcaStabBase is TCA_STAB_BASE (linux/pkt_sched.h), the tc_sizespec in
// TCA_STAB.
const tcaStabBase = 1

// countIP gives pppoed's HTB qdisc on ifindex a size table with no table,
// only an overhead of htbOverhead (tc qdisc change ... stab overhead -22
// htb): vishvananda/netlink has no size tables. struct tc_sizespec:
// cell_log, size_log u8, cell_align s16, overhead s32, linklayer, mpu,
// mtu, tsize u32; tsize 0: the length plus the overhead.
func countIP(ifindex int) error {
	spec := make([]byte, 24)
	overhead := htbOverhead
	binary.NativeEndian.PutUint32(spec[4:], uint32(overhead))
	stab := nl.NewRtAttr(unix.TCA_STAB, nil)
	stab.AddRtAttr(tcaStabBase, spec)
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(ifindex), Handle: netlink.MakeHandle(HTBMajor, 0), Parent: netlink.HANDLE_ROOT})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("htb")))
	req.AddData(stab)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("size table (overhead %d): %w", htbOverhead, err)
	}
	return nil
}

// hasHTB reports whether link's root qdisc is pppoed's HTB.
func hasHTB(link netlink.Link) (bool, error) {
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return false, fmt.Errorf("maps: HTB on %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "htb" && q.Attrs().Handle == netlink.MakeHandle(HTBMajor, 0) {
			return true, nil
		}
	}
	return false, nil
}

// removeHTB deletes pppoed's HTB qdisc from ifindex (the kernel puts the
// device's default back) once it shapes no session.
func removeHTB(ifindex int) error {
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(HTBMajor, 0)})
	if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("maps: remove HTB from ifindex %d: %w", ifindex, err)
	}
	return nil
}

// shaperFor decides how the session on ifindex is shaped; under EDT it
// installs fq on the interface (HTB's qdisc is shapeTx's, under htbMu).
func (d *Datapath) shaperFor(ifindex int) (Shaper, error) {
	d.htbMu.Lock()
	mode := d.shaper
	d.htbMu.Unlock()
	if mode == ShaperHTB {
		return ShaperHTB, nil
	}
	_, err := EnsureFQ(ifindex)
	if err != nil && mode == ShaperAuto && errors.Is(err, unix.ENOENT) {
		d.htbMu.Lock()
		d.shaper = ShaperHTB
		d.htbMu.Unlock()
		d.log.Info("the kernel has no fq qdisc: shaped downloads are shaped by HTB classes on the access interface")
		return ShaperHTB, nil
	}
	if err != nil {
		return 0, err
	}
	return ShaperEDT, nil
}

// shapeTx prepares session i's shaped download rate r on ifindex: under
// HTB it makes or changes the session's class and returns the minor the
// BPF names (0: EDT, or not shaped). A rate change is a class change in
// place: the class's queue stays, no packet is lost to it.
func (d *Datapath) shapeTx(i Index, ifindex int, r Rate) (uint16, error) {
	if !r.Shape || r.Rate == 0 {
		return 0, nil
	}
	mode, err := d.shaperFor(ifindex)
	if err != nil || mode != ShaperHTB {
		return 0, err
	}
	d.htbMu.Lock()
	defer d.htbMu.Unlock()
	if c, ok := d.htb.byIndex[i]; ok && c.ifindex == ifindex {
		if err := netlink.ClassChange(htbClassOf(ifindex, c.minor, r)); err != nil {
			return 0, fmt.Errorf("maps: HTB class %x:%x: %w", HTBMajor, c.minor, err)
		}
		return c.minor, setLeafLimit(ifindex, c.minor, htbLeafLimit(r))
	}
	minor, err := d.htb.alloc(ifindex)
	if err != nil {
		return 0, err
	}
	// Under htbMu: the last class's removal takes the qdisc away.
	if err := ensureHTB(ifindex); err != nil {
		return 0, err
	}
	if err := netlink.ClassReplace(htbClassOf(ifindex, minor, r)); err != nil {
		return 0, fmt.Errorf("maps: HTB class %x:%x on ifindex %d: %w", HTBMajor, minor, ifindex, err)
	}
	if err := setLeafLimit(ifindex, minor, htbLeafLimit(r)); err != nil {
		_ = netlink.ClassDel(htbClassOf(ifindex, minor, r))
		return 0, err
	}
	d.htb.claim(i, ifindex, minor)
	return minor, nil
}

// unshapeTx deletes session i's HTB class, if it has one, after the BPF
// stopped naming it, and the interface's qdisc with its last class.
func (d *Datapath) unshapeTx(i Index) error {
	d.htbMu.Lock()
	defer d.htbMu.Unlock()
	c, ok := d.htb.release(i)
	if !ok {
		return nil
	}
	cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: c.ifindex, Parent: netlink.MakeHandle(HTBMajor, 0),
		Handle: netlink.MakeHandle(HTBMajor, c.minor)}, netlink.HtbClassAttrs{})
	var err error
	if e := netlink.ClassDel(cl); e != nil && !errors.Is(e, unix.ENOENT) && !errors.Is(e, unix.ENODEV) {
		err = fmt.Errorf("maps: delete HTB class %x:%x on ifindex %d: %w", HTBMajor, c.minor, c.ifindex, e)
	}
	if d.htb.used[c.ifindex] == nil {
		if v, e := qdiscDrops(c.ifindex); e == nil {
			d.htbRetired += v // HTBDrops goes on counting them
		}
		err = errors.Join(err, removeHTB(c.ifindex))
	}
	return err
}

// rebuildHTB finds, after a restart, the class of each installed session
// HTB shapes (its minor is in its rates flags), and deletes the classes
// of pppoed's HTB qdiscs no installed session holds (a crash between a
// class's creation and its session's), and a qdisc left with no class.
// Sessions that are not restored later are removed through Remove, which
// deletes their class. Only interfaces some installed session is on are
// looked at: a data plane under other pins (a test, a bench) must not
// take the classes of a pppoed serving other interfaces for orphans.
func (d *Datapath) rebuildHTB() error {
	var key dataplaneSessionKey
	var attrs dataplaneSessionAttrs
	var l dataplaneRateLine
	ifaces := map[int]bool{}
	it := d.objs.Sessions.Iterate()
	for it.Next(&key, &attrs) {
		if d.checkIndex(Index(attrs.Index)) != nil {
			continue
		}
		ifaces[int(attrs.Ifindex)] = true
		// unit_shift and flags share a word, flags the upper half (bpfel).
		flags := uint32(atomic.LoadUint64(word(d.rate.rates, lineWord(Index(attrs.Index), 1, unsafe.Offsetof(l.UnitShift)))) >> 32)
		want := uint32(dataplaneRateFlagRATE_F_SHAPE | dataplaneRateFlagRATE_F_CLASS)
		if flags&want == want && flags>>16 != 0 {
			d.htb.claim(Index(attrs.Index), int(attrs.Ifindex), uint16(flags>>16))
			if d.shaper == ShaperAuto { // the kernel had no fq
				d.shaper = ShaperHTB
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maps: reading pinned sessions: %w", err)
	}
	var errs []error
	for ifindex := range ifaces {
		link, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			continue // gone: so are its qdisc and classes
		}
		ok, err := hasHTB(link)
		if err != nil || !ok {
			continue
		}
		cls, err := netlink.ClassList(link, netlink.MakeHandle(HTBMajor, 0))
		if err != nil {
			errs = append(errs, fmt.Errorf("maps: HTB classes of %s: %w", link.Attrs().Name, err))
			continue
		}
		for _, c := range cls {
			_, minor := netlink.MajorMinor(c.Attrs().Handle)
			if c.Type() != "htb" || d.htb.used[ifindex][minor] {
				continue
			}
			if err := netlink.ClassDel(c); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("maps: delete leftover HTB class %x:%x of %s: %w", HTBMajor, minor, link.Attrs().Name, err))
			}
		}
		if len(d.htb.used[ifindex]) == 0 {
			errs = append(errs, removeHTB(ifindex))
		}
	}
	return errors.Join(errs...)
}

// qdiscDrops reads the drops of pppoed's HTB qdisc on ifindex (one
// RTM_GETQDISC of that qdisc alone: a dump would list every class's leaf
// too). HTB counts there every packet a leaf refused: a shaped download
// over its queue.
func qdiscDrops(ifindex int) (uint64, error) {
	// The kernel answers a get of one qdisc (tc_get_qdisc) as a
	// notification, sent to the asker only with NLM_F_ECHO.
	req := nl.NewNetlinkRequest(unix.RTM_GETQDISC, unix.NLM_F_ECHO)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(ifindex), Handle: netlink.MakeHandle(HTBMajor, 0), Parent: netlink.HANDLE_ROOT})
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWQDISC)
	if err != nil {
		return 0, fmt.Errorf("maps: HTB on ifindex %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofTcMsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofTcMsg:])
		if err != nil {
			return 0, fmt.Errorf("maps: HTB on ifindex %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type != nl.TCA_STATS2 {
				continue
			}
			st, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return 0, fmt.Errorf("maps: HTB on ifindex %d: stats: %w", ifindex, err)
			}
			for _, q := range st {
				// struct gnet_stats_queue: qlen, backlog, drops, ...
				if q.Attr.Type == nl.TCA_STATS_QUEUE && len(q.Value) >= 12 {
					return uint64(binary.NativeEndian.Uint32(q.Value[8:])), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("maps: HTB on ifindex %d: no queue statistics", ifindex)
}

// HTBDrops is the packets pppoed's HTB qdiscs dropped since this data
// plane was opened (with what the qdiscs it found then had dropped
// before): shaped downloads over their leaf queue, and the direct queue's
// should it ever overflow. Qdiscs removed since count too.
func (d *Datapath) HTBDrops() uint64 {
	d.htbMu.Lock()
	defer d.htbMu.Unlock()
	n := d.htbRetired
	for ifindex := range d.htb.used {
		if v, err := qdiscDrops(ifindex); err == nil {
			n += v
		}
	}
	return n
}

// HTBClass is the HTB class minor that shapes session i's download, 0 if
// none.
func (d *Datapath) HTBClass(i Index) uint16 {
	d.htbMu.Lock()
	defer d.htbMu.Unlock()
	return d.htb.byIndex[i].minor
}

// HTBClassDrops reads, with one class dump per access interface, what
// each HTB-shaped session's class dropped, by session index: the packets
// its leaf queue refused. The class's count, not the leaf qdisc's: HTB
// counts there every packet the leaf refused (the same number for a
// pfifo), and one class dump has every session's, where the leaves' would
// be a qdisc dump of every leaf and the map from leaf to class.
// A session whose class went meanwhile is left out; so is an interface
// that went (its classes with it).
func (d *Datapath) HTBClassDrops() (map[Index]uint64, error) {
	d.htbMu.Lock()
	byMinor := map[int]map[uint16]Index{}
	for i, c := range d.htb.byIndex {
		if byMinor[c.ifindex] == nil {
			byMinor[c.ifindex] = map[uint16]Index{}
		}
		byMinor[c.ifindex][c.minor] = i
	}
	d.htbMu.Unlock()
	out := make(map[Index]uint64)
	var errs []error
	for ifindex, minors := range byMinor {
		cls, err := netlink.ClassList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, netlink.MakeHandle(HTBMajor, 0))
		if errors.Is(err, unix.ENODEV) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("maps: HTB classes of ifindex %d: %w", ifindex, err))
			continue
		}
		for _, c := range cls {
			a := c.Attrs()
			major, minor := netlink.MajorMinor(a.Handle)
			i, ok := minors[minor]
			if !ok || major != HTBMajor || a.Statistics == nil || a.Statistics.Queue == nil {
				continue
			}
			out[i] = uint64(a.Statistics.Queue.Drops)
		}
	}
	return out, errors.Join(errs...)
}
