package config

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// jumboServer is a server that grants RFC 4638 PPP-Max-Payload, so its
// PADOs carry that tag too.
const jumboServer = "/interface pppoe-server server add interface=ether3 service-name=pppoeservice max-mtu=1500 max-mru=1500 disabled=no\n"

func setIdentity(n int) string {
	return "/system identity set name=" + strings.Repeat("a", n) + "\n"
}

// TestServeLimits: what cannot go on the wire or into the kernel is
// refused when it is configured, with the limit, rather than accepted and
// then not served.
func TestServeLimits(t *testing.T) {
	long := strings.Repeat("s", 20)
	tests := []struct {
		name, script string
		line         int
		prop, reason string
	}{
		{"identity over the tag limit", setIdentity(1401), 1, "name", "1401 bytes, more than the 1400 an AC-Name can have"},
		{"identity over the PADO's room", jumboServer + setIdentity(1397), 2, "name",
			"1397 bytes, more than the 1396 the AC-Name can have on ether3: a PADO carries it"},
		{"identity set first, server added after", setIdentity(1397) + jumboServer, 1, "name", "more than the 1396"},
		{"identity and service names over the PADO's room", setIdentity(1390) + jumboServer +
			"/interface pppoe-server server add interface=ether3 service-name=" + long + " disabled=no\n" +
			"/interface pppoe-server server add interface=ether3 service-name=" + long + "x disabled=no\n",
			1, "name", "1390 bytes, more than the 1347 the AC-Name can have on ether3"},
		{"service names over the PADO's room", "/system identity set name=bng1\n" +
			"/interface pppoe-server server add interface=ether3 service-name=" + strings.Repeat("a", 500) + " disabled=no\n" +
			"/interface pppoe-server server add interface=ether3 service-name=" + strings.Repeat("b", 500) + " disabled=no\n" +
			"/interface pppoe-server server add interface=ether3 service-name=" + strings.Repeat("c", 500) + " disabled=no\n",
			4, "service-name", "the service names of the 3 servers on ether3 leave the AC-Name 0 bytes in a PADO, and the system identity has 4"},
		{"identity NUL", `/system identity set name="a\00b"`, 1, "name", "NUL"},
		{"service NUL", `/interface pppoe-server server add interface=e service-name="a\00"`, 1, "service-name", "NUL"},
		{"service over the tag limit", "/interface pppoe-server server add interface=e service-name=" + strings.Repeat("s", 1401),
			1, "service-name", "more than the 1400 a Service-Name can have"},
		{"server interface name", "/interface pppoe-server server add interface=\"eth 1\"", 1, "interface", "white space"},
		{"server interface too long", "/interface pppoe-server server add interface=averylonginterface", 1, "interface",
			"18 bytes, more than the 15 of a Linux interface name"},
		{"client name too long", "/interface pppoe-client add interface=ether1 name=pppoe-out-to-isp1", 1, "name",
			"17 bytes, more than the 15 of a Linux interface name"},
		{"client name with slash", "/interface pppoe-client add interface=ether1 name=a/b", 1, "name", "'/'"},
		{"client interface", "/interface pppoe-client add interface=eth0:1", 1, "interface", "':'"},
		{"vlan parent", "/interface vlan add name=v vlan-id=1 interface=..", 1, "interface", "cannot be a Linux interface name"},
		{"client service over the PADI", "/interface pppoe-client add interface=ether1 service-name=" + strings.Repeat("s", 1457), 1,
			"service-name", "1457 bytes, more than the 1456 a PADI has room for"},
		{"client service NUL", `/interface pppoe-client add interface=ether1 service-name="\00"`, 1, "service-name", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.script)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			if e.Line != tt.line || e.Property != tt.prop || !strings.Contains(e.Error(), tt.reason) {
				t.Fatalf("got %q; want line %d prop %q containing %q", e.Error(), tt.line, tt.prop, tt.reason)
			}
		})
	}
	// At the limits everything loads. A long VLAN name is fine: it is
	// pppoe-xdp's, not the kernel's.
	for _, ok := range []string{
		setIdentity(1400),
		jumboServer + setIdentity(1396),
		"/interface pppoe-server server add interface=ether3 service-name=pppoeservice disabled=no\n" + setIdentity(1400),
		jumboServer + "/interface pppoe-server server add interface=ether4 service-name=x disabled=no\n" + setIdentity(1396),
		"/interface pppoe-client add interface=ether1 name=pppoe-out-isp-1 service-name=" + strings.Repeat("s", 1456),
		"/interface vlan add name=a-rather-long-vlan-name vlan-id=7 interface=ether1\n" +
			"/interface pppoe-server server add interface=a-rather-long-vlan-name",
	} {
		if _, err := Load(ok); err != nil {
			t.Errorf("%.60q...: %v", ok, err)
		}
	}
}

type noAdmission struct{ t *testing.T }

func (a noAdmission) Open(pppoe.Circuit, pppoe.PADR) (uint16, error) {
	a.t.Fatal("a PADI reached admission")
	return 0, nil
}
func (a noAdmission) Close(pppoe.Circuit, uint16) {}

// TestIdentityLimitOnTheWire holds the computed limit against the
// discovery server: with the longest identity the configuration accepts,
// a PADI asking for any service with a 32-byte Host-Uniq through a relay
// still gets its PADO; one byte more and it would not.
func TestIdentityLimitOnTheWire(t *testing.T) {
	acMAC := net.HardwareAddr{2, 0xac, 0, 0, 0, 1}
	host := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	padi, err := pppoe.MarshalFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, host, nil, &pppoe.Packet{
		Code: pppoe.CodePADI,
		Tags: []pppoe.Tag{pppoe.ServiceName(""), pppoe.HostUniq(make([]byte, hostUniqRoom)),
			pppoe.RelaySessionID(make([]byte, relayIDRoom)), pppoe.PPPMaxPayload(1500)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		servers string
		limit   int
	}{
		{jumboServer, 1396},
		{jumboServer + "/interface pppoe-server server add interface=ether3 service-name=video max-mtu=1500 max-mru=1500 disabled=no\n", 1387},
	} {
		c, err := Load(tc.servers + setIdentity(tc.limit))
		if err != nil {
			t.Fatalf("the limit %d itself: %v", tc.limit, err)
		}
		if _, err := Load(tc.servers + setIdentity(tc.limit+1)); err == nil {
			t.Fatalf("%d bytes accepted", tc.limit+1)
		}
		sc := pppoe.ServerConfig{ACName: c.Identity.Name, MAC: acMAC, Ifindex: 1, MaxPayload: 1500}
		for _, s := range c.Servers.All() {
			sc.ServiceNames = append(sc.ServiceNames, s.ServiceName)
		}
		for _, extra := range []int{0, 1} {
			sc.ACName = strings.Repeat("a", tc.limit+extra)
			srv := pppoe.NewServer(sc, noAdmission{t}, nil)
			out := srv.Handle(padi, time.Now())
			if got, want := len(out), 1-extra; got != want {
				t.Errorf("AC-Name of %d bytes (limit %d): %d PADOs, want %d", len(sc.ACName), tc.limit, got, want)
			}
		}
	}
}

func TestPrintEscapes(t *testing.T) {
	c := mustLoad(t, `/ppp secret add name="a\1B[2Jb" comment="two\nlines" profile=default
/system identity set name="ac\07"`)
	for _, detail := range []bool{false, true} {
		out := mustPrint(t, c, "/ppp secret", detail)
		if strings.ContainsAny(out, "\x1b\a") || strings.Contains(out, "two\nlines") {
			t.Errorf("print (detail %v) lets control characters through:\n%q", detail, out)
		}
		if !strings.Contains(out, `;;; "two\nlines"`) {
			t.Errorf("print (detail %v): comment not escaped:\n%s", detail, out)
		}
	}
	if out := mustPrint(t, c, "/ppp secret", false); !strings.Contains(out, "\n     \"a\\x1b[2Jb\" any     default\n") {
		t.Errorf("table:\n%s", out)
	}
	if out := mustPrint(t, c, "/system identity", false); out != "  name: \"ac\\a\"\n" {
		t.Errorf("identity: %q", out)
	}
	for in, want := range map[string]string{
		"plain": "plain", "Büro #1": "Büro #1", "": "", `"quoted"`: `"\"quoted\""`,
		"tab\there": `"tab\there"`, "bell\a": `"bell\a"`, "\xff": `"\xff"`, "\u202eevil": `"\u202eevil"`,
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPrintInvalid(t *testing.T) {
	c := mustLoad(t, referenceServer+"/interface pppoe-server server add interface=ether9 service-name=x disabled=no\n")
	inv := func(key string) bool { return key == "ether9/x" }
	out, err := PrintWith(c, "/interface pppoe-server server", PrintOptions{Invalid: inv})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != "Flags: X - disabled, I - invalid" || !strings.HasPrefix(lines[2], " 0   pppoeservice") || !strings.HasPrefix(lines[3], " 1 I x") {
		t.Errorf("print:\n%s", out)
	}
	if out, _ := PrintWith(c, "/interface pppoe-server server", PrintOptions{Detail: true, Invalid: inv}); !strings.Contains(out, " 1 I  service-name=") {
		t.Errorf("print detail:\n%s", out)
	}
	js, err := PrintJSONWith(c, "/interface pppoe-server server", PrintOptions{Invalid: inv})
	if err != nil || !strings.Contains(string(js), `"invalid": false`) || !strings.Contains(string(js), `"invalid": true`) {
		t.Errorf("JSON %v:\n%s", err, js)
	}
}

func TestLoadContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadContext(ctx, secretsScript(5000)); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadContext = %v, want context.Canceled", err)
	}
	cmds, err := Parse(secretsScript(5000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New().ApplyContext(ctx, cmds); !errors.Is(err, context.Canceled) {
		t.Errorf("ApplyContext = %v, want context.Canceled", err)
	}
}
