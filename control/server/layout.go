package server

import (
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// stack is a VLAN tag stack as a circuit carries it (TPID and id of each
// tag, outermost first), comparable so it keys maps.
type stack struct {
	n    uint8
	tags [ethernet.MaxVLANs]ethernet.VLAN
}

// stackOf returns the stack of a circuit.
func stackOf(c pppoe.Circuit) stack {
	return stack{n: c.NumVLANs, tags: c.VLANs}
}

func (s stack) String() string {
	out := ""
	for i := range s.n {
		out += fmt.Sprintf(".%d", s.tags[i].ID)
	}
	return out
}

// serverKey names a /interface pppoe-server server entry as config.Diff
// does: interface and service-name.
type serverKey struct{ iface, service string }

// binding is one server entry resolved to where its clients are: the
// physical interface whose socket sees their frames and the VLAN stack they
// carry.
type binding struct {
	key   serverKey
	cfg   config.Server
	port  string // physical interface
	stack stack
	// sessions is what the entry's sessions share (Server.Apply builds
	// it).
	sessions *session.Settings
}

// resolve maps each server entry of cfg to its physical interface and VLAN
// stack. A VLAN interface name walks up its parents: "vlan7" on "svlan100"
// on "ether1" is ether1 with tags [100 (S-tag if use-service-tag), 7]. A
// server on a disabled VLAN is treated as disabled.
func resolve(cfg *config.Config) ([]binding, error) {
	var out []binding
	for _, srv := range cfg.Servers.All() {
		b := binding{key: serverKey{srv.Interface, srv.ServiceName}, cfg: srv}
		name := srv.Interface
		var tags []ethernet.VLAN // innermost first while walking up
		for depth := 0; ; depth++ {
			v, ok := cfg.VLANs.Get(name)
			if !ok {
				break
			}
			if depth >= ethernet.MaxVLANs {
				return nil, fmt.Errorf("server: interface %q: more than %d VLAN tags", srv.Interface, ethernet.MaxVLANs)
			}
			if v.Disabled {
				b.cfg.Disabled = true
			}
			tpid := ethernet.EtherTypeVLAN
			if v.UseServiceTag {
				tpid = ethernet.EtherTypeServiceVLAN
			}
			tags = append(tags, ethernet.VLAN{TPID: tpid, ID: uint16(v.VLANID)})
			name = v.Interface
		}
		b.port = name
		b.stack.n = uint8(len(tags))
		for i, t := range tags {
			b.stack.tags[len(tags)-1-i] = t
		}
		out = append(out, b)
	}
	return out, nil
}
