package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf/perf"
	"go.uber.org/zap"
)

// MP is a session's multilink (RFC 1990, RouterOS mrru) as the data plane
// sees it (bpf/mp.h). The zero value is no multilink: MP frames from the
// peer go to user space, packets over the MTU get ICMP Fragmentation Needed.
type MP struct {
	// On: multilink is up on the session (lcp.Multilink.Active). Whole
	// packets the peer wraps in an MP header (B and E set) are unwrapped
	// on the fast path; fragments reach user space as PPP protocol 0x003d
	// frames on the access interface; packets over MTU (within the route's
	// MTU, which user space sets to the peer's MRRU) reach user space
	// through MPDivertReader to be fragmented.
	On bool
	// ShortSeq: the peer sends 12-bit sequence numbers
	// (lcp.Multilink.RecvShortSeq); else 24-bit ones.
	ShortSeq bool
}

func (m MP) flags() uint16 {
	var f uint16
	if m.On {
		f |= uint16(dataplaneSessionFlagSESSION_F_MP)
		if m.ShortSeq {
			f |= uint16(dataplaneSessionFlagSESSION_F_MP_SHORT)
		}
	}
	return f
}

func mpOf(flags uint16) MP {
	return MP{
		On:       flags&uint16(dataplaneSessionFlagSESSION_F_MP) != 0,
		ShortSeq: flags&uint16(dataplaneSessionFlagSESSION_F_MP_SHORT) != 0,
	}
}

// MPDiverted is one packet the data plane diverted because it is larger
// than its MP session's MTU: user space fragments it (mp.Fragmenter) and
// sends the fragments on the session's packet socket.
type MPDiverted struct {
	Index Index // the session, as Install/InstallClient returned it
	// Protocol is the packet's PPP protocol: 0x0021 (IPv4) or 0x0057 (IPv6).
	Protocol uint16
	// Forwarded: the XDP fast path already decremented the TTL.
	Forwarded bool
	// Packet is the IP packet, Ethernet header and padding removed.
	Packet []byte
}

// MPDivertReader reads the mp_divert perf buffers. One per process; not
// safe for concurrent Reads.
type MPDivertReader struct {
	r *perf.Reader
}

// OpenMPDivert starts reading diverted packets; perCPU is each CPU's buffer
// size in bytes (rounded up to pages; it should hold a few MRRU-sized
// packets). Until a reader is open the data plane drops such packets
// and counts them as errors.
func (d *Datapath) OpenMPDivert(perCPU int) (*MPDivertReader, error) {
	r, err := perf.NewReader(d.objs.MpDivert, perCPU)
	if err != nil {
		return nil, fmt.Errorf("maps: mp_divert reader: %w", err)
	}
	return &MPDivertReader{r: r}, nil
}

// ErrMPRecord is a malformed mp_divert record; the reader goes on.
var ErrMPRecord = errors.New("maps: malformed mp_divert record")

const mpHdrLen = int(unsafe.Sizeof(dataplaneMpDivertHdr{}))

// Read blocks for the next diverted packet. Lost samples (a full buffer)
// are reported as an error counting them; Close ends a blocked Read with
// os.ErrClosed.
func (r *MPDivertReader) Read() (MPDiverted, error) {
	rec, err := r.r.Read()
	if err != nil {
		if errors.Is(err, perf.ErrClosed) {
			return MPDiverted{}, fmt.Errorf("maps: mp_divert: %w", os.ErrClosed)
		}
		return MPDiverted{}, fmt.Errorf("maps: mp_divert: %w", err)
	}
	if rec.LostSamples != 0 {
		return MPDiverted{}, fmt.Errorf("maps: mp_divert: %d packets lost (buffer full)", rec.LostSamples)
	}
	return parseMPRecord(rec.RawSample)
}

// parseMPRecord decodes one sample: struct mp_divert_hdr, then the frame
// from its Ethernet header. perf pads samples to 8 bytes, so the IP
// length fields, not the sample's, say where the packet ends.
func parseMPRecord(b []byte) (MPDiverted, error) {
	const ethHLen = 14
	if len(b) < mpHdrLen+ethHLen+1 {
		return MPDiverted{}, fmt.Errorf("%w: %d bytes", ErrMPRecord, len(b))
	}
	m := MPDiverted{
		Index:     Index(binary.NativeEndian.Uint32(b[0:])),
		Protocol:  binary.NativeEndian.Uint16(b[4:]),
		Forwarded: b[6] != 0,
	}
	ip := b[mpHdrLen+ethHLen:]
	var n int
	switch {
	case m.Protocol == 0x0021 && len(ip) >= 20 && ip[0]>>4 == 4:
		n = int(binary.BigEndian.Uint16(ip[2:]))
	case m.Protocol == 0x0057 && len(ip) >= 40 && ip[0]>>4 == 6:
		n = 40 + int(binary.BigEndian.Uint16(ip[4:]))
	default:
		return MPDiverted{}, fmt.Errorf("%w: protocol %#04x", ErrMPRecord, m.Protocol)
	}
	if n > len(ip) {
		return MPDiverted{}, fmt.Errorf("%w: IP length %d over %d bytes", ErrMPRecord, n, len(ip))
	}
	m.Packet = ip[:n:n]
	return m, nil
}

// Close stops the reader.
func (r *MPDivertReader) Close() error { return r.r.Close() }

// MPDiverts hands each packet the data plane diverts to the function
// registered for its session's Index (Install's or InstallClient's): one
// reader per data plane serves the access concentrator's sessions and the
// clients' alike. The functions run on its goroutine, one packet at a
// time; Packet is theirs.
type MPDiverts struct {
	r    *MPDivertReader
	log  *zap.Logger
	mu   sync.Mutex
	to   map[Index]func(proto uint16, packet []byte)
	done chan struct{}
	// Unclaimed counts packets for an index nobody registered (a session
	// that just ended), Errors the reader's failures (lost samples).
	unclaimed, errs atomic.Uint64
}

// StartMPDiverts opens the mp_divert reader (OpenMPDivert) and starts
// dispatching.
func (d *Datapath) StartMPDiverts(perCPU int, log *zap.Logger) (*MPDiverts, error) {
	r, err := d.OpenMPDivert(perCPU)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	m := &MPDiverts{r: r, log: log, to: map[Index]func(uint16, []byte){}, done: make(chan struct{})}
	go m.run()
	return m, nil
}

func (m *MPDiverts) run() {
	defer close(m.done)
	for {
		p, err := m.r.Read()
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			m.errs.Add(1)
			m.log.Debug("mp_divert", zap.Error(err))
			continue
		}
		m.mu.Lock()
		fn := m.to[p.Index]
		m.mu.Unlock()
		if fn == nil {
			m.unclaimed.Add(1)
			continue
		}
		fn(p.Protocol, p.Packet)
	}
}

// Register sends idx's diverted packets to fn; fn nil stops them.
func (m *MPDiverts) Register(idx Index, fn func(proto uint16, packet []byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fn == nil {
		delete(m.to, idx)
		return
	}
	m.to[idx] = fn
}

// Unclaimed returns how many diverted packets found no session, and how
// many read errors (lost samples) there were.
func (m *MPDiverts) Unclaimed() (unclaimed, errs uint64) { return m.unclaimed.Load(), m.errs.Load() }

// Close stops the reader and waits for its goroutine.
func (m *MPDiverts) Close() error {
	err := m.r.Close()
	<-m.done
	return err
}
