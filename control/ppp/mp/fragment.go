package mp

import (
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
)

// ErrOversize is a packet larger than the MRRU at the other end: it can
// neither be sent whole nor reassembled there.
var ErrOversize = errors.New("mp: packet larger than the MRRU")

// Fragmenter splits what we send into MP fragments (RFC 1990 §3) for a peer
// whose MRRU we acked. It keeps the sending sequence number, which runs on
// across packets; one per session, not safe for concurrent use.
type Fragmenter struct {
	format Format
	mrru   int
	seq    uint32
}

// NewFragmenter returns a Fragmenter sending format f (the peer's
// Short-Sequence request) to a peer that reassembles up to mrru octets of
// information.
func NewFragmenter(f Format, mrru uint16) *Fragmenter {
	return &Fragmenter{format: f, mrru: int(mrru)}
}

// Fragment returns the PPP information fields of the MP packets (protocol
// 0x003d) that carry a packet of protocol proto: each is an MP header and
// a slice of the reconstructed packet (the 2-octet protocol field, then
// info), and none is longer than mtu, the peer's MRU. The slices are cut
// as evenly as the MTU allows, so no fragment is a runt. info larger than
// the MRRU is ErrOversize; an MTU that cannot carry a header and one octet
// is an error too. Nothing is consumed from the sequence space on error.
func (fr *Fragmenter) Fragment(proto ppp.Protocol, info []byte, mtu int) ([][]byte, error) {
	if len(info) > fr.mrru {
		return nil, fmt.Errorf("mp: %d octets over MRRU %d: %w", len(info), fr.mrru, ErrOversize)
	}
	hl := fr.format.HeaderLen()
	room := mtu - hl
	if room < 1 {
		return nil, fmt.Errorf("mp: MTU %d leaves no room after a %d-octet header", mtu, hl)
	}
	total := 2 + len(info)
	n := (total + room - 1) / room
	size := (total + n - 1) / n
	whole := make([]byte, 0, total)
	whole = append(whole, byte(proto>>8), byte(proto))
	whole = append(whole, info...)
	out := make([][]byte, 0, n)
	for off := 0; off < total; off += size {
		end := min(off+size, total)
		h := Header{Begin: off == 0, End: end == total, Seq: fr.seq}
		b := make([]byte, 0, hl+end-off)
		b, _ = AppendHeader(b, h, fr.format) // Seq is masked below
		out = append(out, append(b, whole[off:end]...))
		fr.seq = (fr.seq + 1) & fr.format.mask()
	}
	return out, nil
}

// Seq is the sequence number the next fragment gets.
func (fr *Fragmenter) Seq() uint32 { return fr.seq }

// Resume goes on from seq, the Seq a previous process last recorded,
// jumping a quarter of the sequence space ahead (pppoed's restart, #13):
// the fragments sent since the record (fewer than that, see RecordDue)
// are behind the jump, so the peer's reassembler sees the next ones far
// ahead of what it expects (RFC 1990 §4.1: fragments in between lost)
// and takes them up, where starting again from 0 would be behind it and
// thrown away as duplicates.
func (fr *Fragmenter) Resume(seq uint32) {
	fr.seq = (seq + fr.format.resumeJump()) & fr.format.mask()
}

// resumeJump is how far past the recorded number Resume goes on.
func (f Format) resumeJump() uint32 { return 1 << (f.bits() - 2) }

// RecordEvery is how often, as a fraction of the sequence space, a sender
// that records its Seq for Resume records it again: each time it moved
// 1/16 of the space on. Resume's quarter then stays ahead of everything
// sent unless more than 3/16 of the space (768 fragments with short
// sequence numbers, 3,145,728 with long ones) went out between the
// number crossing the mark and its record reaching the file.
const RecordEvery = 16

// RecordDue reports whether seq, a sender's Seq now, has moved RecordEvery
// of the sequence space past recorded, the Seq its record holds: the
// record must be written again for Resume to stay ahead.
func (f Format) RecordDue(recorded, seq uint32) bool {
	return (seq-recorded)&f.mask() >= (f.mask()+1)/RecordEvery
}
