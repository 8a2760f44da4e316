package pppoe

import (
	"fmt"
	"net"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// Circuit is where a client is: the access interface, the VLAN tags its
// frames carry and its MAC address. It is comparable, so it keys maps; one
// client MAC behind two VLANs is two circuits, as RFC 2516 §4 keys a session
// on the pair of Ethernet addresses and each VLAN is its own broadcast domain.
//
// Only the TPID and the VLAN id of each tag identify the circuit: the
// priority and drop-eligible bits are per-frame QoS marking that a client
// may change between PADI and PADR, so they are zeroed. A tag with VLAN id
// 0 is a priority tag (IEEE 802.1Q §9.6), which puts the frame in no VLAN:
// it is not part of the circuit, so a client that priority-tags its frames
// is on the untagged circuit (or the enclosing VLAN's), as the kernel and a
// bridge see it, and the data plane's parser agrees (bpf/parse.h).
type Circuit struct {
	// Ifindex is the access interface's index.
	Ifindex int
	// VLANs are the tags, outermost first; only the first NumVLANs are set.
	VLANs [ethernet.MaxVLANs]ethernet.VLAN
	// NumVLANs is how many entries of VLANs are in use (0, 1 or 2).
	NumVLANs uint8
	// MAC is the client's Ethernet address.
	MAC [6]byte
}

// CircuitOf returns the circuit of a frame received on ifindex from a
// client: its source address and its VLAN tags.
func CircuitOf(ifindex int, f *ethernet.Frame) (Circuit, error) {
	c := Circuit{Ifindex: ifindex}
	if len(f.Source) != 6 {
		return c, fmt.Errorf("pppoe: circuit: source address of %d bytes", len(f.Source))
	}
	if len(f.VLANs) > ethernet.MaxVLANs {
		return c, fmt.Errorf("pppoe: circuit: %w", ethernet.ErrTooManyVLANs)
	}
	copy(c.MAC[:], f.Source)
	for _, v := range f.VLANs {
		if v.ID == 0 {
			continue
		}
		c.VLANs[c.NumVLANs] = circuitVLAN(v)
		c.NumVLANs++
	}
	return c, nil
}

// circuitVLAN keeps the parts of a tag that say where the client is.
func circuitVLAN(v ethernet.VLAN) ethernet.VLAN {
	tpid := v.TPID
	if tpid == 0 {
		tpid = ethernet.EtherTypeVLAN
	}
	return ethernet.VLAN{TPID: tpid, ID: v.ID}
}

// VLANList returns the circuit's VLAN tags, outermost first, as
// MarshalFrame takes them; nil for an untagged circuit.
func (c Circuit) VLANList() []ethernet.VLAN {
	if c.NumVLANs == 0 {
		return nil
	}
	return append([]ethernet.VLAN(nil), c.VLANs[:c.NumVLANs]...)
}

// HardwareAddr returns the client's MAC address as a net.HardwareAddr.
func (c Circuit) HardwareAddr() net.HardwareAddr {
	return append(net.HardwareAddr(nil), c.MAC[:]...)
}

// String formats c as "ifindex/outer.inner/mac", for logs.
func (c Circuit) String() string {
	s := fmt.Sprintf("%d", c.Ifindex)
	for i := range c.NumVLANs {
		sep := "."
		if i == 0 {
			sep = "/"
		}
		s += fmt.Sprintf("%s%d", sep, c.VLANs[i].ID)
	}
	return s + "/" + net.HardwareAddr(c.MAC[:]).String()
}
