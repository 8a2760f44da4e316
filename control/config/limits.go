package config

import (
	"fmt"
	"strings"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// What the configuration accepts, it must be able to serve: a value that
// passes here and then cannot go on the wire or into the kernel would be
// accepted and then break service. These are the limits that come from
// outside pppoe-xdp.

// The echoed tags a PADO must have room for besides the AC's own. A client's
// Host-Uniq has no limit in RFC 2516; pppd and rp-pppoe send 4 bytes and
// pppoe-xdp's client 8, so 32 leaves a margin. A relay's Relay-Session-Id
// is what RFC 2516 §5.1 keeps PADIs 16 bytes short for: a 12-byte value.
const (
	hostUniqRoom = 32
	relayIDRoom  = 12
)

// maxTagName is the longest AC-Name or Service-Name the discovery server
// takes (pppoe.ServerConfig.Validate refuses longer ones).
const maxTagName = 1400

// maxIfname is the longest Linux interface name (IFNAMSIZ less the NUL).
const maxIfname = 15

// checkServe rejects an AC-Name (the system identity) and service names
// that a PADO has no room for within the Ethernet MTU, or with NUL bytes
// (RFC 2516 tag values are not NUL-terminated), and servers on interfaces
// Linux cannot have.
func (c *Config) checkServe() error {
	id := c.Identity
	if strings.ContainsRune(id.Name, 0) {
		return errf(id.line, "name", "/system identity: NUL byte in the AC-Name")
	}
	type group struct {
		iface    string
		services []Server
		jumbo    bool // a server grants RFC 4638 PPP-Max-Payload
	}
	groups := map[string]*group{}
	var order []*group
	for _, s := range c.Servers.All() {
		if strings.ContainsRune(s.ServiceName, 0) {
			return errf(s.line, "service-name", "/interface pppoe-server server: NUL byte in service-name")
		}
		if len(s.ServiceName) > maxTagName {
			return errf(s.line, "service-name", "/interface pppoe-server server: %d bytes, more than the %d a Service-Name can have",
				len(s.ServiceName), maxTagName)
		}
		if c.VLANs.Index(s.Interface) < 0 {
			if err := checkIfname(s.Interface); err != nil {
				return errf(s.line, "interface", "/interface pppoe-server server: %v", err)
			}
		}
		if s.Disabled {
			continue
		}
		g := groups[s.Interface]
		if g == nil {
			g = &group{iface: s.Interface}
			groups[s.Interface] = g
			order = append(order, g)
		}
		g.services = append(g.services, s)
		g.jumbo = g.jumbo || min(s.MaxMTU, s.MaxMRU) > 1492
	}
	// The AC-Name goes into every PADO: its limit is the least room any
	// interface's PADO leaves it.
	limit, tight := maxTagName, (*group)(nil)
	for _, g := range order {
		n, err := padoLen("", g.services, g.jumbo)
		if err != nil {
			return errf(g.services[0].line, "service-name", "/interface pppoe-server server: %v", err)
		}
		if room := pppoe.MaxDiscoveryLen - n; room < limit {
			limit, tight = room, g
		}
	}
	if len(id.Name) <= limit {
		return nil
	}
	if tight == nil {
		return errf(id.line, "name", "/system identity: %d bytes, more than the %d an AC-Name can have", len(id.Name), limit)
	}
	// Which to blame cannot be known (a CLI command and a line of the
	// file are not ordered): blame the larger.
	services := 0
	for _, sv := range tight.services {
		services += 4 + len(sv.ServiceName) // tag header and value
	}
	if services > len(id.Name) {
		last := tight.services[len(tight.services)-1]
		return errf(last.line, "service-name", "/interface pppoe-server server: the service names of the %d servers on %s "+
			"leave the AC-Name %d bytes in a PADO, and the system identity has %d: shorten either "+
			"(a PADO fits in one %d-byte Ethernet payload, RFC 2516)",
			len(tight.services), tight.iface, max(limit, 0), len(id.Name), pppoe.MaxDiscoveryLen)
	}
	return errf(id.line, "name", "/system identity: %d bytes, more than the %d the AC-Name can have on %s: a PADO carries "+
		"it with the service names there, the AC-Cookie and room for a %d-byte Host-Uniq and a Relay-Session-Id "+
		"in one %d-byte Ethernet payload (RFC 2516)",
		len(id.Name), limit, tight.iface, hostUniqRoom, pppoe.MaxDiscoveryLen)
}

// checkClients rejects a client whose PADI could not be sent (RFC 2516
// §5.1 keeps it to 1484 bytes), and names of kernel interfaces Linux
// cannot have: a VLAN's parent, a client's interface and a client itself
// (pppoe-xdp makes a netdev of that name). VLAN names are pppoe-xdp's own.
func (c *Config) checkClients() error {
	for _, v := range c.VLANs.All() {
		if c.VLANs.Index(v.Interface) < 0 {
			if err := checkIfname(v.Interface); err != nil {
				return errf(v.line, "interface", "/interface vlan %s: %v", v.Name, err)
			}
		}
	}
	for _, cl := range c.Clients.All() {
		if strings.ContainsRune(cl.ServiceName, 0) {
			return errf(cl.line, "service-name", "/interface pppoe-client %s: NUL byte in service-name", cl.Name)
		}
		if n, err := padiLen(cl.ServiceName); err != nil || n > pppoe.MaxPADILen {
			return errf(cl.line, "service-name", "/interface pppoe-client %s: %d bytes, more than the %d a PADI has room for "+
				"(RFC 2516 §5.1: %d bytes with the client's Host-Uniq and PPP-Max-Payload)",
				cl.Name, len(cl.ServiceName), len(cl.ServiceName)-(n-pppoe.MaxPADILen), pppoe.MaxPADILen)
		}
		if err := checkIfname(cl.Name); err != nil {
			return errf(cl.line, "name", "/interface pppoe-client: %v (the client's netdev has this name)", err)
		}
		if c.VLANs.Index(cl.Interface) < 0 {
			if err := checkIfname(cl.Interface); err != nil {
				return errf(cl.line, "interface", "/interface pppoe-client %s: %v", cl.Name, err)
			}
		}
	}
	return nil
}

// padoLen is the size of the largest PADO the AC sends on an interface
// whose enabled servers are services, with room for the echoed tags: the
// answer to a PADI for any service, which lists every service (RFC 2516
// §5.2), carrying a Host-Uniq of hostUniqRoom bytes through a relay.
func padoLen(acName string, services []Server, jumbo bool) (int, error) {
	tags := []pppoe.Tag{pppoe.ACName(acName)}
	for _, s := range services {
		tags = append(tags, pppoe.ServiceName(s.ServiceName))
	}
	tags = append(tags, pppoe.ACCookie(make([]byte, pppoe.CookieLen)),
		pppoe.HostUniq(make([]byte, hostUniqRoom)), pppoe.RelaySessionID(make([]byte, relayIDRoom)))
	if jumbo {
		tags = append(tags, pppoe.PPPMaxPayload(1500))
	}
	b, err := (&pppoe.Packet{Code: pppoe.CodePADO, Tags: tags}).MarshalBinary()
	return len(b), err
}

// clientHostUniq is the length of the Host-Uniq pppoe-xdp's client sends.
const clientHostUniq = 8

// padiLen is the size of the PADI a client asking for service sends (RFC
// 2516 §5.1), counting PPP-Max-Payload whether or not it is sent.
func padiLen(service string) (int, error) {
	b, err := (&pppoe.Packet{Code: pppoe.CodePADI, Tags: []pppoe.Tag{pppoe.ServiceName(service),
		pppoe.HostUniq(make([]byte, clientHostUniq)), pppoe.PPPMaxPayload(1500)}}).MarshalBinary()
	return len(b), err
}

// checkIfname applies Linux's rules for interface names (dev_valid_name):
// 1 to 15 bytes, not "." or "..", no '/', ':' or white space.
func checkIfname(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q cannot be a Linux interface name", name)
	case len(name) > maxIfname:
		return fmt.Errorf("%q: %d bytes, more than the %d of a Linux interface name", name, len(name), maxIfname)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("%q: a Linux interface name cannot have '/', ':' or white space", name)
	}
	return nil
}
