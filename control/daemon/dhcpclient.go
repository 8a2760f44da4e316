package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// menuDHCPv6Client is served from the running clients, not the
// configuration: print shows each dhcp-client's live status and prefix.
const menuDHCPv6Client = "/ipv6 dhcp-client"

// DHCPv6Clients is a Clients that runs /ipv6 dhcp-clients on its
// sessions (client.Manager through ClientManager).
type DHCPv6Clients interface {
	// DHCPv6 returns one row per configured dhcp-client.
	DHCPv6() []client.DHCPv6Status
	// Pools returns the dynamic /ipv6 pools of the delegated prefixes.
	Pools() []client.DynamicPool
}

// dhcpv6Clients reports whether this daemon runs dhcp-clients; without
// them print shows the configuration.
func (d *Daemon) dhcpv6Clients() bool {
	_, ok := d.opts.Clients.(DHCPv6Clients)
	return ok
}

// dhcpv6Props are what /ipv6 dhcp-client print shows of a client, with
// RouterOS's names: prefix and address as "value, time left" (RouterOS's
// duration form), status one of stopped, searching..., requesting...,
// bound, renewing..., rebinding..., releasing....
var dhcpv6Props = []struct {
	name string
	get  func(s *client.DHCPv6Status, now time.Time) string
}{
	{"interface", func(s *client.DHCPv6Status, _ time.Time) string { return s.Interface }},
	{"status", func(s *client.DHCPv6Status, _ time.Time) string { return s.Status }},
	{"request", func(s *client.DHCPv6Status, _ time.Time) string { return strings.Join(s.Request, ",") }},
	{"prefix", func(s *client.DHCPv6Status, now time.Time) string {
		if !s.Prefix.IsValid() {
			return ""
		}
		return s.Prefix.String() + ", " + client.FormatUptime(s.Expires.Sub(now))
	}},
	{"address", func(s *client.DHCPv6Status, now time.Time) string {
		if !s.Address.IsValid() {
			return ""
		}
		return s.Address.String() + ", " + client.FormatUptime(s.Expires.Sub(now))
	}},
	{"pool-name", func(s *client.DHCPv6Status, _ time.Time) string { return s.PoolName }},
	{"expires-after", func(s *client.DHCPv6Status, now time.Time) string {
		if s.Expires.IsZero() {
			return ""
		}
		return client.FormatUptime(s.Expires.Sub(now))
	}},
	{"renew-after", func(s *client.DHCPv6Status, now time.Time) string {
		if s.RenewAt.IsZero() {
			return ""
		}
		return client.FormatUptime(s.RenewAt.Sub(now))
	}},
	{"dns-server", func(s *client.DHCPv6Status, _ time.Time) string {
		ds := make([]string, len(s.DNS))
		for i, d := range s.DNS {
			ds[i] = d.String()
		}
		return strings.Join(ds, ",")
	}},
}

// printDHCPv6Clients prints /ipv6 dhcp-client: RouterOS's table
// (INTERFACE, STATUS, REQUEST, PREFIX), every property with detail, or a
// JSON array.
func (d *Daemon) printDHCPv6Clients(out io.Writer, cmd config.Command, asJSON bool) error {
	flags, err := printFlags(cmd, "detail")
	if err != nil {
		return err
	}
	detail := flags["detail"]
	dc, ok := d.opts.Clients.(DHCPv6Clients)
	if !ok {
		return fmt.Errorf("%s: %w", menuDHCPv6Client, errNotAvailable)
	}
	rows, now := dc.DHCPv6(), time.Now()
	if asJSON {
		js := make([]map[string]string, 0, len(rows))
		for i := range rows {
			row := map[string]string{}
			for _, p := range dhcpv6Props {
				row[p.name] = p.get(&rows[i], now)
			}
			js = append(js, row)
		}
		b, err := json.Marshal(js)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	b.WriteString("Flags: D - dynamic, X - disabled, I - invalid\n")
	if detail {
		for i := range rows {
			var words []string
			for _, p := range dhcpv6Props {
				v := p.get(&rows[i], now)
				if strings.Contains(v, " ") {
					v = strconv.Quote(v)
				} else {
					v = config.Cell(v)
				}
				words = append(words, p.name+"="+v)
			}
			fmt.Fprintf(&b, "%2d   %s\n\n", i, wrap(words, 5, 80))
		}
	} else {
		t := table{head: []string{"#", "INTERFACE", "STATUS", "REQUEST", "PREFIX"}}
		for i := range rows {
			row := []string{strconv.Itoa(i)}
			for _, p := range dhcpv6Props[:len(t.head)-1] {
				row = append(row, config.Cell(p.get(&rows[i], now)))
			}
			t.add(row...)
		}
		b.WriteString(t.String())
	}
	_, err = io.WriteString(out, b.String())
	return err
}

// menuIPv6Pool is printed with the dynamic pools of delegated prefixes
// (flag D, RouterOS's) after the configured ones, when dhcp-clients run.
const menuIPv6Pool = "/ipv6 pool"

// printIPv6Pools prints /ipv6 pool: the configured pools, then each
// dhcp-client's dynamic pool with the time its prefix has left.
func (d *Daemon) printIPv6Pools(out io.Writer, cmd config.Command, asJSON bool) error {
	flags, err := printFlags(cmd, "detail")
	if err != nil {
		return err
	}
	detail := flags["detail"]
	type row struct {
		dynamic                          bool
		name, prefix, length, expires, c string
	}
	var rows []row
	for _, p := range d.Config().IPv6Pools.All() {
		rows = append(rows, row{name: p.Name, prefix: netip.Prefix(p.Prefix).String(), length: strconv.Itoa(p.PrefixLength), c: p.Comment})
	}
	now := time.Now()
	for _, p := range d.opts.Clients.(DHCPv6Clients).Pools() {
		rows = append(rows, row{dynamic: true, name: p.Name, prefix: p.Prefix.String(), length: strconv.Itoa(p.PrefixLength),
			expires: client.FormatUptime(p.Expires.Sub(now))})
	}
	if asJSON {
		js := make([]map[string]string, 0, len(rows))
		for _, r := range rows {
			js = append(js, map[string]string{"name": r.name, "prefix": r.prefix, "prefix-length": r.length,
				"expires-after": r.expires, "dynamic": map[bool]string{false: "false", true: "true"}[r.dynamic], "comment": r.c})
		}
		b, err := json.Marshal(js)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	b.WriteString("Flags: D - dynamic\n")
	if detail {
		for i, r := range rows {
			flag := " "
			if r.dynamic {
				flag = "D"
			}
			words := []string{"name=" + strconv.Quote(r.name), "prefix=" + r.prefix, "prefix-length=" + r.length}
			if r.expires != "" {
				words = append(words, "expires-after="+r.expires)
			}
			if r.c != "" {
				words = append(words, "comment="+strconv.Quote(r.c))
			}
			fmt.Fprintf(&b, "%2d %s %s\n\n", i, flag, wrap(words, 5, 80))
		}
		_, err := io.WriteString(out, b.String())
		return err
	}
	t := table{head: []string{"#", "", "NAME", "PREFIX", "PREFIX-LENGTH", "EXPIRES-AFTER"}}
	for i, r := range rows {
		flag := ""
		if r.dynamic {
			flag = "D"
		}
		t.add(strconv.Itoa(i), flag, config.Cell(r.name), r.prefix, r.length, r.expires)
	}
	b.WriteString(t.String())
	_, err = io.WriteString(out, b.String())
	return err
}
