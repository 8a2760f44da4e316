package daemon

import (
	"fmt"
	"net"
	"sync"

	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// Interfaces opens the Ethernet side of clients and scans (client.Interfaces)
// over AF_PACKET: one socket and Mux per physical interface, shared by every
// client and scan on it, with /interface vlan names resolved against the
// running configuration.
type Interfaces struct {
	d    *Daemon
	mu   sync.Mutex
	muxs map[string]ifaceMux
}

// ifaceMux is the socket of one physical interface, on the ifindex it was
// opened on.
type ifaceMux struct {
	*client.Mux
	ifindex int
}

// NewInterfaces returns the AF_PACKET interfaces of the configuration of
// the Daemon they are given to (Options.Interfaces): they exist before it,
// since the client manager the Daemon runs needs them.
func NewInterfaces() *Interfaces {
	return &Interfaces{muxs: map[string]ifaceMux{}}
}

// Attach implements client.Interfaces.
func (s *Interfaces) Attach(name string) (client.Attachment, error) {
	if s.d == nil {
		return client.Attachment{}, fmt.Errorf("interface %s: no daemon to resolve it in (Options.Interfaces)", name)
	}
	parent, vlans, err := resolveVLAN(s.d.Config(), name)
	if err != nil {
		return client.Attachment{}, err
	}
	ifi, err := net.InterfaceByName(parent)
	if err != nil {
		return client.Attachment{}, fmt.Errorf("interface %s: %w", parent, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.muxs[parent]
	if ok && (m.ifindex != ifi.Index || closed(m.Done())) {
		// The interface was re-created (its Gone not handled yet) or the
		// socket failed: a new socket on what the name is now.
		m.Close()
		ok = false
	}
	if !ok {
		c, err := afpacket.Listen(ifi)
		if err != nil {
			return client.Attachment{}, fmt.Errorf("interface %s: %w", parent, err)
		}
		m = ifaceMux{Mux: client.NewMux(c), ifindex: ifi.Index}
		s.muxs[parent] = m
	}
	return client.Attachment{Conn: m.Port(), Ifindex: ifi.Index, MAC: ifi.HardwareAddr, VLANs: vlans, Lost: m.Done()}, nil
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// InterfaceGone shuts the socket of the physical interface name down if it
// is still the one opened on ifindex: the clients on it lose their
// sessions and wait for the interface to come back. It reports whether
// there was such a socket.
func (s *Interfaces) InterfaceGone(name string, ifindex int) bool {
	s.mu.Lock()
	m, ok := s.muxs[name]
	if !ok || m.ifindex != ifindex {
		s.mu.Unlock()
		return false
	}
	delete(s.muxs, name)
	s.mu.Unlock()
	m.Shutdown(fmt.Sprintf("interface %s (ifindex %d) gone", name, ifindex))
	return true
}

// Close closes every socket.
func (s *Interfaces) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, m := range s.muxs {
		m.Close()
		delete(s.muxs, k)
	}
	return nil
}

// resolveVLAN turns an /interface vlan name into its physical parent and
// tags, outermost first; any other name is a physical interface.
func resolveVLAN(cfg *config.Config, name string) (string, []ethernet.VLAN, error) {
	var tags []ethernet.VLAN
	for depth := 0; ; depth++ {
		if depth > cfg.VLANs.Len() {
			return "", nil, fmt.Errorf("vlan %s: loop", name)
		}
		v, ok := cfg.VLANs.Get(name)
		if !ok {
			return name, tags, nil
		}
		tag := ethernet.VLAN{ID: uint16(v.VLANID), TPID: ethernet.EtherTypeVLAN}
		if v.UseServiceTag {
			tag.TPID = ethernet.EtherTypeServiceVLAN
		}
		tags = append([]ethernet.VLAN{tag}, tags...)
		name = v.Interface
	}
}

// ClientManager adapts client.Manager to Clients.
type ClientManager struct{ *client.Manager }

// Apply implements Clients.
func (m ClientManager) Apply(cfg *config.Config) error { return m.Manager.ApplyConfig(cfg) }

// Monitor implements Clients.
func (m ClientManager) Monitor(name string) (ClientStatus, error) { return m.Manager.Monitor(name) }
