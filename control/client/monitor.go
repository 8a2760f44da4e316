package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// State is the RouterOS monitor's status: where the client is in bringing
// its link up.
type State string

// The monitor's status values, as RouterOS prints them.
const (
	// StateDialing: PPPoE discovery (RFC 2516 §5) and LCP negotiation
	// (RFC 1661 §3.4).
	StateDialing State = "dialing"
	// StateVerifying: authentication (RFC 1661 §3.5) and IPCP.
	StateVerifying State = "verifying password..."
	// StateConnected: a network protocol (IPCP or IPv6CP) opened and
	// the data plane installed.
	StateConnected State = "connected"
	// StateDisconnected: no session; waiting to redial, or for traffic
	// with dial-on-demand.
	StateDisconnected State = "disconnected"
)

// Status is what "/interface pppoe-client monitor" shows, with the
// reference's field names and meanings. Fields other than Status are zero
// unless they apply: the discovery fields once a session was confirmed,
// the link fields once connected.
type Status struct {
	Name   string `json:"name"`
	Status State  `json:"status"`
	// Uptime is how long the client has been connected.
	Uptime time.Duration `json:"-"`
	// ActiveLinks is the number of bonded MLPPP links: 1 when connected
	// (one link per client, with or without MP), 0 otherwise.
	ActiveLinks int `json:"active-links"`
	// MRRU is the MRRU we receive with when multilink (RFC 1990) is up
	// on the link, 0 when it is not.
	MRRU int `json:"mrru,omitempty"`
	// ReassemblyDrops counts what multilink reassembly dropped over the
	// connection (session.MPLink.Drops).
	ReassemblyDrops uint64 `json:"mp-reassembly-drops,omitempty"`
	// Encoding is the encryption and encoding in use: none is
	// implemented, so it is always empty.
	Encoding    string `json:"encoding"`
	ServiceName string `json:"service-name"`
	ACName      string `json:"ac-name"`
	// ACMAC is the access concentrator's address (RFC 2516 §5.2).
	ACMAC net.HardwareAddr `json:"-"`
	// MTU and MRU are the effective values negotiated by LCP (RFC 1661
	// §6.1): MTU what we send (the AC's MRU), MRU what we receive.
	MTU int `json:"mtu"`
	MRU int `json:"mru"`
	// LocalAddress is the address IPCP gave us, RemoteAddress the AC's
	// (the gateway) (RFC 1332 §3.3).
	LocalAddress  netip.Addr `json:"local-address"`
	RemoteAddress netip.Addr `json:"remote-address"`
	// DNSServers are the peer's DNS servers (RFC 1877), with use-peer-dns.
	DNSServers []netip.Addr `json:"dns-servers,omitempty"`
	// LocalIPv6 and RemoteIPv6 are the link-local addresses of the
	// Interface-Identifiers IPv6CP negotiated (RFC 5072 §5), while it is
	// open.
	LocalIPv6  netip.Addr `json:"local-ipv6,omitzero"`
	RemoteIPv6 netip.Addr `json:"remote-ipv6,omitzero"`
	// IPv6Address is the address SLAAC formed from the AC's Router
	// Advertisement (RFC 4862), with its prefix length.
	IPv6Address netip.Prefix `json:"ipv6-address,omitzero"`
	// IPv6DNS are the RDNSS servers of the RA (RFC 8106), with
	// use-peer-dns.
	IPv6DNS []netip.Addr `json:"ipv6-dns,omitempty"`
	// DHCPv6Status and DHCPv6Prefix are the /ipv6 dhcp-client's status
	// and delegated prefix, when one runs on this client.
	DHCPv6Status string       `json:"dhcpv6-status,omitempty"`
	DHCPv6Prefix netip.Prefix `json:"dhcpv6-prefix,omitzero"`
	// SessionID is the PPPoE session id (RFC 2516 §4).
	SessionID uint16 `json:"session-id,omitempty"`
	// LastDisconnect is why the last session ended or the last attempt
	// failed; it stays until the next one.
	LastDisconnect string `json:"last-disconnect-reason,omitempty"`
}

// MarshalJSON writes s with kebab-case keys, uptime in seconds and ac-mac
// as text.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	var mac string
	if len(s.ACMAC) > 0 {
		mac = strings.ToUpper(s.ACMAC.String())
	}
	return json.Marshal(struct {
		plain
		Uptime int64  `json:"uptime"`
		ACMAC  string `json:"ac-mac"`
	}{plain(s), int64(s.Uptime / time.Second), mac})
}

// keyWidth right-aligns every key to the longest one, "remote-address", as
// RouterOS does.
const keyWidth = len("remote-address")

// Render writes s as RouterOS prints the monitor: one right-aligned
// "key: value" per line. Only status is shown while not connected, plus the
// reason of the last disconnect ("reason", not a RouterOS field).
func (s Status) Render(w io.Writer) error {
	var b strings.Builder
	// Values from the AC (service-name, ac-name, a reason it sent) are
	// escaped: they come from the network.
	line := func(k, v string) { fmt.Fprintf(&b, "%*s: %s\n", keyWidth, k, config.Cell(v)) }
	line("status", string(s.Status))
	if s.Status == StateConnected {
		line("uptime", FormatUptime(s.Uptime))
		line("active-links", fmt.Sprint(s.ActiveLinks))
		line("encoding", s.Encoding)
		line("service-name", s.ServiceName)
		line("ac-name", s.ACName)
		line("ac-mac", strings.ToUpper(s.ACMAC.String()))
		line("mtu", fmt.Sprint(s.MTU))
		line("mru", fmt.Sprint(s.MRU))
		if s.MRRU != 0 {
			line("mrru", fmt.Sprint(s.MRRU))
		}
		line("local-address", addrString(s.LocalAddress))
		line("remote-address", addrString(s.RemoteAddress))
		if len(s.DNSServers) > 0 {
			ds := make([]string, len(s.DNSServers))
			for i, d := range s.DNSServers {
				ds[i] = d.String()
			}
			line("dns-servers", strings.Join(ds, ","))
		}
		if s.LocalIPv6.IsValid() {
			line("local-ipv6", s.LocalIPv6.String())
			line("remote-ipv6", s.RemoteIPv6.String())
		}
		if s.IPv6Address.IsValid() {
			line("ipv6-address", s.IPv6Address.String())
		}
		if len(s.IPv6DNS) > 0 {
			ds := make([]string, len(s.IPv6DNS))
			for i, d := range s.IPv6DNS {
				ds[i] = d.String()
			}
			line("ipv6-dns", strings.Join(ds, ","))
		}
		if s.DHCPv6Status != "" {
			line("dhcpv6-status", s.DHCPv6Status)
		}
		if s.DHCPv6Prefix.IsValid() {
			line("dhcpv6-prefix", s.DHCPv6Prefix.String())
		}
	} else if s.LastDisconnect != "" {
		line("reason", s.LastDisconnect)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// FormatUptime formats d as RouterOS prints durations: weeks, days, hours,
// minutes and seconds, zero units left out, "0s" for nothing.
func FormatUptime(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	return b.String()
}
