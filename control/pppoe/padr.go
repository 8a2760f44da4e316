package pppoe

import (
	"errors"
	"fmt"
	"slices"
)

// PADR is what a PADR asks for, as the AC's admission and AAA see it: the
// service, the host's and a relay's tags (RFC 2516 Appendix A) and the
// access line a TR-101 intermediate agent described.
type PADR struct {
	// Service is the Service-Name the session opens under (the one
	// requested, or for an empty request the first offered).
	Service string
	// HostUniq is the host's Host-Uniq, nil when absent.
	HostUniq []byte
	// MaxPayload is the PPP-Max-Payload granted in the PADS (RFC 4638
	// §4), 0 when none was agreed (then the PPP MRU is at most 1492).
	MaxPayload uint16
	// RelaySessionID is the Relay-Session-Id a relay added, nil when
	// absent.
	RelaySessionID []byte
	// Line is the TR-101 Agent-Circuit-Id and Agent-Remote-Id, zero when
	// no intermediate agent added them.
	Line LineID
}

// VendorBBF is the Broadband Forum's (formerly DSL Forum's) SMI enterprise
// number, the vendor id of TR-101's Vendor-Specific tag.
const VendorBBF = 3561

// TR-101 §3.9.3 sub-option types inside the Broadband Forum's
// Vendor-Specific tag (the same codes as RFC 4679's attributes 1 and 2).
const (
	subAgentCircuitID = 0x01
	subAgentRemoteID  = 0x02
)

// LineID is what a TR-101 PPPoE intermediate agent says about the access
// line (TR-101 §3.9.3): RADIUS sends it as Agent-Circuit-Id and
// Agent-Remote-Id (RFC 4679 §4.1, the NAS-Port-Id of many BNGs).
type LineID struct {
	// CircuitID identifies the access node and port
	// ("access-node-id eth slot/port:vlan"); nil when absent.
	CircuitID []byte
	// RemoteID identifies the subscriber; nil when absent.
	RemoteID []byte
}

// IsZero reports whether no intermediate agent described the line.
func (l LineID) IsZero() bool { return l.CircuitID == nil && l.RemoteID == nil }

// ErrLineID is wrapped by ParseLineID's errors.
var ErrLineID = errors.New("pppoe: malformed TR-101 line id")

// ParseLineID reads the Agent-Circuit-Id and Agent-Remote-Id sub-options of
// the Broadband Forum Vendor-Specific tag's data: type (1 octet), length
// (1 octet), value. Unknown sub-options (access-loop characteristics,
// TR-101 §3.9.3's 0x81 and up) are skipped; a sub-option that runs past
// the data is an error and nothing of the tag is taken.
func ParseLineID(data []byte) (LineID, error) {
	var l LineID
	for b := data; len(b) > 0; {
		if len(b) < 2 {
			return LineID{}, fmt.Errorf("%w: sub-option header at %d", ErrLineID, len(data)-len(b))
		}
		t, n := b[0], int(b[1])
		if len(b) < 2+n {
			return LineID{}, fmt.Errorf("%w: sub-option %#02x length %d past the tag", ErrLineID, t, n)
		}
		v := b[2 : 2+n]
		switch t {
		case subAgentCircuitID:
			l.CircuitID = slices.Clone(v)
		case subAgentRemoteID:
			l.RemoteID = slices.Clone(v)
		}
		b = b[2+n:]
	}
	return l, nil
}

// FindLineID returns the line id of the first Broadband Forum
// Vendor-Specific tag in tags; ok is false when there is none or it is
// malformed (a relay's bad tag must not keep the subscriber out).
func FindLineID(tags []Tag) (l LineID, ok bool) {
	for _, t := range tags {
		v, isVS := t.(VendorSpecific)
		if !isVS || v.VendorID != VendorBBF {
			continue
		}
		l, err := ParseLineID(v.Data)
		return l, err == nil
	}
	return LineID{}, false
}
