package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// dhcpClients is a Clients running /ipv6 dhcp-clients.
type dhcpClients struct {
	*fakeClients
	rows  []client.DHCPv6Status
	pools []client.DynamicPool
}

func (d *dhcpClients) DHCPv6() []client.DHCPv6Status { return d.rows }
func (d *dhcpClients) Pools() []client.DynamicPool   { return d.pools }

// TestDHCPv6ClientPrint: /ipv6 dhcp-client print shows the running
// clients' status and prefix with the time left, as RouterOS does; detail
// and JSON every property; without dhcp-clients running, the configuration.
func TestDHCPv6ClientPrint(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pppoed.rsc")
	script := baseConfig + "/ipv6 pool add name=lan prefix=2001:db8:1::/48 prefix-length=64\n" +
		"/ipv6 dhcp-client add interface=pppoe-out1 request=prefix pool-name=isp-pd\n"
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(2*time.Hour + 30*time.Minute + 30*time.Second)
	cl := &dhcpClients{fakeClients: &fakeClients{}, rows: []client.DHCPv6Status{
		{Interface: "pppoe-out1", Status: "bound", Request: config.DHCPv6Request{"prefix"}, PoolName: "isp-pd",
			Prefix: netip.MustParsePrefix("2001:db8:200::/56"), Expires: exp, RenewAt: exp.Add(-time.Hour),
			DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53")}},
		{Interface: "pppoe-out2", Status: "searching...", Request: config.DHCPv6Request{"prefix"}, PoolName: "pd2"},
	}}
	d := New(Options{ConfigPath: file, Clients: cl, MonitorInterval: time.Millisecond})
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(cfg); err != nil {
		t.Fatal(err)
	}
	exec := func(s string, asJSON bool) string {
		t.Helper()
		var b bytes.Buffer
		if err := d.Exec(context.Background(), api.Request{Script: s, JSON: asJSON}, &b); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return b.String()
	}
	out := exec("/ipv6 dhcp-client print", false)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "INTERFACE") || !strings.Contains(lines[1], "PREFIX") {
		t.Fatalf("print:\n%s", out)
	}
	if !strings.Contains(lines[2], "pppoe-out1") || !strings.Contains(lines[2], "bound") ||
		!strings.Contains(lines[2], "2001:db8:200::/56, 2h30m") || !strings.Contains(lines[3], "searching...") {
		t.Errorf("print rows:\n%s", out)
	}
	if col := strings.Index(lines[1], "STATUS"); lines[2][col:col+5] != "bound" {
		t.Errorf("column STATUS moved:\n%s", out)
	}
	det := exec("/ipv6 dhcp-client print detail", false)
	for _, w := range []string{"pool-name=isp-pd", "expires-after=2h30m", "renew-after=1h30m", "dns-server=2001:db8::53"} {
		if !strings.Contains(det, w) {
			t.Errorf("print detail lacks %s:\n%s", w, det)
		}
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(exec("/ipv6 dhcp-client print", true)), &rows); err != nil || len(rows) != 2 ||
		rows[0]["prefix"] == "" || rows[1]["status"] != "searching..." {
		t.Errorf("print JSON: %v %v", rows, err)
	}

	// /ipv6 pool: the configured pools, then the dynamic one.
	cl.pools = []client.DynamicPool{{Name: "isp-pd", Prefix: netip.MustParsePrefix("2001:db8:200::/56"), PrefixLength: 64, Expires: exp, Owner: "pppoe-out1"}}
	pools := exec("/ipv6 pool print", false)
	pl := strings.Split(strings.TrimSuffix(pools, "\n"), "\n")
	if len(pl) != 4 || !strings.Contains(pl[2], "lan") || strings.Contains(pl[2], " D ") ||
		!strings.Contains(pl[3], " D isp-pd") || !strings.Contains(pl[3], "2001:db8:200::/56") || !strings.Contains(pl[3], "2h30m") {
		t.Errorf("/ipv6 pool print:\n%s", pools)
	}
	if det := exec("/ipv6 pool print detail", false); !strings.Contains(det, ` D name="isp-pd" prefix=2001:db8:200::/56 prefix-length=64`) ||
		!strings.Contains(det, "expires-after=2h30m") {
		t.Errorf("/ipv6 pool print detail:\n%s", det)
	}

	// A daemon without dhcp-clients prints the configuration.
	h := newHarness(t, script)
	if out, err := h.exec("/ipv6 dhcp-client print", false); err != nil || !strings.Contains(out, "POOL-NAME") {
		t.Errorf("configuration print: %v\n%s", err, out)
	}
}
