package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

// referenceServer is the Quick Example server block of the RouterOS
// reference, verbatim with the "[admin@MikroTik] > " prompts stripped.
const referenceServer = `/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret
add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server
add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice
`

// referenceClient is the reference's client example line, verbatim.
const referenceClient = `/interface pppoe-client add name=pppoe-user-mike user=user password=passwd interface=wlan1 service-name=internet disabled=no`

// referenceQuickClient is the Quick Example client command as typed at the
// root prompt (relative path), with its print's max-mtu=auto max-mru=auto.
const referenceQuickClient = `interface pppoe-client add interface=ether2 password=StrongPass service-name=pppoeservice name=PPPoE-Out disabled=no user=MT-User max-mtu=auto max-mru=auto`

func mustLoad(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Load(s)
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, s)
	}
	return c
}

func TestReferenceServer(t *testing.T) {
	c := mustLoad(t, referenceServer)
	if c.Pools.Len() != 1 || c.Pools.At(0).Name != "pppoe-pool" || len(c.Pools.At(0).Ranges) != 1 ||
		c.Pools.At(0).Ranges[0].Size() != 4 {
		t.Fatalf("pools = %+v", c.Pools)
	}
	if c.Profiles.Len() != 2 || c.Profiles.At(0).Name != "default" ||
		!reflect.DeepEqual(c.Profiles.At(1), Profile{meta: meta{4}, Name: "for-pppoe", LocalAddress: "10.0.0.1",
			RemoteAddress: "pppoe-pool", OnlyOne: "default", ChangeTCPMSS: "yes", QueueType: "default-small",
			DHCPv6LeaseTime: Seconds(24 * time.Hour)}) {
		t.Fatalf("profiles = %+v", c.Profiles)
	}
	wantSecret := Secret{meta: meta{6}, Name: "MT-User", Password: "StrongPass", Profile: "for-pppoe", Service: "pppoe"}
	if c.Secrets.Len() != 1 || c.Secrets.At(0) != wantSecret {
		t.Fatalf("secrets = %+v", c.Secrets)
	}
	s := c.Servers.At(0)
	if s.ServiceName != "pppoeservice" || s.Interface != "ether3" || s.DefaultProfile != "for-pppoe" || s.Disabled ||
		s.KeepaliveTimeout != Seconds(10*time.Second) || s.MaxMRU != 1480 || s.MaxMTU != 1480 || s.MaxSessions != 0 ||
		s.MRRU != 0 || s.OneSessionPerHost || !reflect.DeepEqual(s.Authentication, AuthMethods{"mschap2", "mschap1", "chap", "pap"}) {
		t.Fatalf("server = %+v", s)
	}
	if c.Identity.Name != "pppoe-xdp" {
		t.Fatalf("identity = %q", c.Identity.Name)
	}
}

func TestReferenceClients(t *testing.T) {
	c := mustLoad(t, referenceClient+"\n"+referenceQuickClient+"\n/interface pppoe-client add interface=ether9")
	mike := c.Clients.At(0)
	if mike.Name != "pppoe-user-mike" || mike.User != "user" || mike.Password != "passwd" || mike.Interface != "wlan1" ||
		mike.ServiceName != "internet" || mike.Disabled || mike.MaxMTU != 1460 || mike.MaxMRU != 1460 ||
		mike.KeepaliveTimeout != Seconds(time.Minute) || mike.DefaultRouteDistance != 1 || mike.Profile != "default" ||
		mike.AddDefaultRoute || mike.UsePeerDNS || mike.DialOnDemand || mike.MRRU != 0 {
		t.Fatalf("client = %+v", mike)
	}
	if q := c.Clients.At(1); q.Name != "PPPoE-Out" || q.MaxMTU != 0 || q.MaxMRU != 0 {
		t.Fatalf("auto MTU client = %+v", q)
	}
	// No name: pppoe-outN, and a new client is disabled, as in RouterOS.
	if n := c.Clients.At(2); n.Name != "pppoe-out1" || !n.Disabled {
		t.Fatalf("unnamed client = %+v", n)
	}
	if !strings.Contains(mustPrint(t, c, "/interface pppoe-client", true), "max-mru=auto max-mtu=auto") {
		t.Fatal("auto not printed")
	}
}

func TestReferencePool(t *testing.T) {
	c := mustLoad(t, "/ip pool add name=pool1 ranges=10.1.1.62-10.1.1.72")
	set := pool.NewSet()
	if err := set.Update(c.PoolSpecs()); err != nil || set.Allocator("pool1").Size() != 11 {
		t.Fatalf("PoolSpecs into a pool.Set: %v", err)
	}
	if got := c.Pools.At(0).Ranges; len(got) != 1 || got[0].First != netip.MustParseAddr("10.1.1.62") || got[0].Size() != 11 {
		t.Fatalf("ranges = %v", got)
	}
}

// TestVerbs runs every verb on every menu and compares the export.
func TestVerbs(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   string // Export of the result
	}{
		{
			name: "pool add set unset remove",
			script: `/ip pool
add name=a ranges=10.0.0.0/30 next-pool=b comment="first pool"
add name=b ranges=10.0.1.1-10.0.1.9
add ranges=10.0.2.1
set a ranges=10.0.0.0/29
unset [find name=a] comment
set 0 next-pool=none
remove [find name=b]`,
			want: "/ip pool\nadd name=a ranges=10.0.0.0-10.0.0.7\nadd name=pool1 ranges=10.0.2.1\n",
		},
		{
			name: "profile and the built-in default",
			script: `/ppp profile
set default only-one=yes dns-server=8.8.8.8,1.1.1.1
add name=p local-address=10.0.0.1 remote-address=10.0.0.2 change-tcp-mss=no only-one=no
add
set [find name=profile1] name=q
remove q`,
			want: "/ppp profile\nset [find name=default] dns-server=8.8.8.8,1.1.1.1 only-one=yes\n" +
				"add change-tcp-mss=no local-address=10.0.0.1 name=p only-one=no remote-address=10.0.0.2\n",
		},
		{
			name: "secret enable disable",
			script: `/ppp secret
add name=u1 password="p w" remote-address=10.9.0.1 local-address=10.9.0.254
add name=u2 service=pppoe disabled=yes
add name=u3
disable u1
enable [find where disabled]
disable 2
set 2 password=x comment="a;b"
unset u1 remote-address`,
			want: "/ppp secret\nadd local-address=10.9.0.254 name=u1 password=\"p w\"\n" +
				"add name=u2 service=pppoe\nadd comment=\"a;b\" disabled=yes name=u3 password=x\n",
		},
		{
			name: "server",
			script: `/interface pppoe-server server
add interface=ether1 service-name=s1 authentication=pap,chap keepalive-timeout=1m max-mtu=1492 max-mru=1492 max-sessions=100 mrru=1614 one-session-per-host=yes
add interface=ether1 service-name=s2
enable [find service-name=s2]
disable 1
enable 0
set [find where interface=ether1 service-name=s1] max-sessions=0
unset 0 mrru`,
			want: "/interface pppoe-server server\n" +
				"add authentication=chap,pap disabled=no interface=ether1 keepalive-timeout=60 max-mru=1492 max-mtu=1492 one-session-per-host=yes service-name=s1\n" +
				"add interface=ether1 service-name=s2\n",
		},
		{
			name: "client",
			script: `/interface pppoe-client
add interface=ether1 user=a password=b add-default-route=yes default-route-distance=5 use-peer-dns=yes dial-on-demand=yes allow=chap,mschap2 ac-name=ac keepalive-timeout=00:00:30 mrru=1600
add interface=ether1
enable pppoe-out1
remove pppoe-out2
add interface=ether2`,
			want: "/interface pppoe-client\n" +
				"add ac-name=ac add-default-route=yes allow=mschap2,chap default-route-distance=5 dial-on-demand=yes disabled=no interface=ether1 keepalive-timeout=30 mrru=1600 name=pppoe-out1 password=b use-peer-dns=yes user=a\n" +
				"add interface=ether2 name=pppoe-out2\n",
		},
		{
			name: "vlan qinq",
			script: `/interface vlan
add name=outer vlan-id=100 interface=ether1 use-service-tag=yes
add name=inner vlan-id=7 interface=outer
add name=v2 vlan-id=7 interface=ether1
disable v2
/interface pppoe-server server add interface=inner`,
			want: "/interface vlan\nadd interface=ether1 name=outer use-service-tag=yes vlan-id=100\n" +
				"add interface=outer name=inner vlan-id=7\nadd disabled=yes interface=ether1 name=v2 vlan-id=7\n" +
				"/interface pppoe-server server\nadd interface=inner\n",
		},
		{
			name:   "identity",
			script: "/system identity set name=\"bng 1\"\n/system identity set name=bng2\n/system identity unset name",
			want:   "",
		},
		{
			name: "rate-limit",
			script: `/ppp profile
add name=plan rate-limit="10M/50M   20M/100M 8M/40M 16/16" queue-type=fq-codel-default
/ppp secret
add name=u profile=plan rate-limit=1M
add name=v profile=plan`,
			want: "/ppp profile\nadd name=plan queue-type=fq-codel-default rate-limit=\"10M/50M 20M/100M 8M/40M 16/16\"\n" +
				"/ppp secret\nadd name=u profile=plan rate-limit=1M\nadd name=v profile=plan\n",
		},
		{
			name:   "identity set",
			script: "/system identity\nset name=\"bng 1\"",
			want:   "/system identity\nset name=\"bng 1\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.script)
			if tt.name == "identity" {
				// unset name on identity is refused: name is the item's key
				if err == nil {
					t.Fatal("unset name accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := Export(c); got != tt.want {
				t.Fatalf("Export:\n%s\nwant:\n%s", got, tt.want)
			}
			roundTrip(t, c)
		})
	}
}

func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	back, err := Load(Export(c))
	if err != nil {
		t.Fatalf("reload export: %v\n%s", err, Export(c))
	}
	if !Equal(c, back) {
		t.Fatalf("round trip: %v", Diff(c, back))
	}
}

func TestApplyErrors(t *testing.T) {
	base := referenceServer
	tests := []struct {
		name   string
		script string
		line   int
		prop   string
		reason string
	}{
		{"unknown menu", "/ip route add gateway=1.1.1.1", 1, "", "no such menu"},
		{"unknown menu line", "\n/ip firewall", 2, "", "no such menu"},
		{"unknown property", "/ip pool add name=p ranges=10.0.0.1 color=red", 1, "color", "unknown property"},
		{"missing value", "/ip pool add name=p ranges=10.0.0.1 comment", 1, "comment", "missing =value"},
		{"bad ranges", "/ip pool\nadd name=p ranges=10.0.0.5-10.0.0.1", 2, "ranges", "reversed"},
		{"missing ranges", "/ip pool add name=p", 1, "ranges", "required"},
		{"duplicate pool", "/ip pool\nadd name=p ranges=10.0.0.1\nadd name=p ranges=10.0.0.2", 3, "name", "already exists"},
		{"rename to duplicate", "/ip pool\nadd name=p ranges=10.0.0.1\nadd name=q ranges=10.0.0.2\nset q name=p", 4, "name", "already exists"},
		{"pools overlap", "/ip pool\nadd name=p ranges=10.0.0.0/24\nadd name=q ranges=10.0.0.9", 3, "ranges", "overlaps"},
		{"next-pool unknown", "/ip pool\nadd name=p ranges=10.0.0.1 next-pool=zz", 2, "next-pool", "no such pool"},
		{"next-pool loop", "/ip pool\nadd name=p ranges=10.0.0.1 next-pool=q\nadd name=q ranges=10.0.0.2 next-pool=p", 2, "next-pool", "loop"},
		{"profile bad remote", "/ppp profile add name=x remote-address=nopool", 1, "remote-address", "neither"},
		{"profile v6 local", "/ppp profile add name=x local-address=::1", 1, "local-address", "neither"},
		{"dns three", "/ppp profile add name=x dns-server=1.1.1.1,2.2.2.2,3.3.3.3", 1, "dns-server", "at most two"},
		{"dns garbage", "/ppp profile add name=x dns-server=dns", 1, "dns-server", "not an IPv4 or IPv6 address"},
		{"dns three IPv4", "/ppp profile add name=x dns-server=10.0.0.1,10.0.0.2,10.0.0.3", 1, "dns-server", "two IPv4"},
		{"dns four IPv6", "/ppp profile add name=x dns-server=2001:db8::1,2001:db8::2,2001:db8::3,2001:db8::4", 1, "dns-server", "three IPv6"},
		{"dns IPv6 multicast", "/ppp profile add name=x dns-server=ff02::1", 1, "dns-server", "unicast"},
		{"dns twice", "/ppp profile add name=x dns-server=2001:db8::1,2001:db8::1", 1, "dns-server", "twice"},
		{"ipv6 pool IPv4 prefix", "/ipv6 pool add name=p6 prefix=10.0.0.0/8 prefix-length=16", 1, "prefix", "not an IPv6 prefix"},
		{"ipv6 pool host bits", "/ipv6 pool add name=p6 prefix=2001:db8::1/40 prefix-length=56", 1, "prefix", "host bits set"},
		{"ipv6 pool length short", "/ipv6 pool add name=p6 prefix=2001:db8::/40 prefix-length=32", 1, "prefix-length", "want 40..128"},
		{"ipv6 pool length range", "/ipv6 pool add name=p6 prefix=2001:db8::/40 prefix-length=129", 1, "prefix-length", "out of range"},
		{"ipv6 pool too many", "/ipv6 pool add name=p6 prefix=2001:db8::/32 prefix-length=128", 1, "prefix-length", "more than 2^63"},
		{"ipv6 pool no prefix", "/ipv6 pool add name=p6 prefix-length=56", 1, "prefix", "required"},
		{"ipv6 pool no length", "/ipv6 pool add name=p6 prefix=2001:db8::/40", 1, "prefix-length", "required"},
		{"ipv6 pool no name", "/ipv6 pool add prefix=2001:db8::/40 prefix-length=56", 1, "name", "required"},
		{"ipv6 pools overlap", "/ipv6 pool\nadd name=a prefix=2001:db8::/40 prefix-length=56\nadd name=b prefix=2001:db8:42::/48 prefix-length=64", 3, "prefix", "overlaps 2001:db8::/40 of pool a"},
		{"ipv6 pool duplicate", "/ipv6 pool\nadd name=a prefix=2001:db8::/40 prefix-length=56\nadd name=a prefix=2001:db9::/40 prefix-length=56", 3, "name", "already exists"},
		{"profile unknown ipv6 pool", "/ppp profile add name=x dhcpv6-pd-pool=nope", 1, "dhcpv6-pd-pool", "no such /ipv6 pool"},
		{"profile link pool not /64", "/ipv6 pool add name=pd prefix=2001:db8::/40 prefix-length=56\n/ppp profile add name=x remote-ipv6-prefix-pool=pd", 2, "remote-ipv6-prefix-pool", "/64"},
		{"profile IPv4 pool as IPv6", "/ip pool add name=v4 ranges=10.0.0.0/24\n/ppp profile add name=x dhcpv6-pd-pool=v4", 2, "dhcpv6-pd-pool", "no such /ipv6 pool"},
		{"remove ipv6 pool in use", "/ipv6 pool add name=pd prefix=2001:db8::/40 prefix-length=56\n/ppp profile add name=x dhcpv6-pd-pool=pd\n/ipv6 pool remove pd", 2, "dhcpv6-pd-pool", "no such /ipv6 pool"},
		{"secret prefix not /64", "/ppp secret add name=u remote-ipv6-prefix=2001:db8:1::/56", 1, "remote-ipv6-prefix", "/64"},
		{"secret prefix host bits", "/ppp secret add name=u remote-ipv6-prefix=2001:db8:1:2::1/64", 1, "remote-ipv6-prefix", "host bits"},
		{"secret prefix IPv4", "/ppp secret add name=u remote-ipv6-prefix=10.0.0.0/24", 1, "remote-ipv6-prefix", "not an IPv6 prefix"},
		{"only-one enum", "/ppp profile add name=x only-one=maybe", 1, "only-one", "want one of"},
		{"rate-limit garbage", "/ppp profile add name=x rate-limit=fast", 1, "rate-limit", "invalid rate-limit"},
		{"rate-limit priority", "/ppp profile add name=x rate-limit=\"1M 2M 1M 8 9\"", 1, "rate-limit", "priority"},
		{"secret rate-limit", "/ppp secret add name=u rate-limit=10X", 1, "rate-limit", "invalid rate-limit"},
		{"queue-type enum", "/ppp profile add name=x queue-type=pfifo", 1, "queue-type", "want one of"},
		{"remove default profile", "/ppp profile remove default", 1, "", "built-in"},
		{"rename default profile", "/ppp profile set 0 name=x", 1, "name", "built-in"},
		{"secret no name", "/ppp secret add password=x", 1, "name", "required"},
		{"secret bad profile", base + "/ppp secret add name=u2 profile=nope", 9, "profile", "no such profile"},
		{"secret bad service", "/ppp secret add name=u service=telnet", 1, "service", "want one of"},
		{"secret v6 address", "/ppp secret add name=u remote-address=2001:db8::1", 1, "remote-address", "not an IPv4"},
		{"remove pool in use", base + "/ip pool remove pppoe-pool", 4, "remote-address", "neither"},
		{"remove profile in use", base + "/ppp profile remove for-pppoe", 6, "profile", "no such profile"},
		{"server no interface", "/interface pppoe-server server add service-name=x", 1, "interface", "required"},
		{"server empty interface", "/interface pppoe-server server\nadd interface=e\nset 0 interface=\"\"", 3, "interface", "required"},
		{"server duplicate", "/interface pppoe-server server\nadd interface=e service-name=a\nadd interface=e service-name=a", 3, "service-name", "already exists"},
		{"server bad profile", "/interface pppoe-server server add interface=e default-profile=zz", 1, "default-profile", "no such profile"},
		{"server mrru low", "/interface pppoe-server server add interface=e mrru=100", 1, "mrru", "out of range"},
		{"server mtu garbage", "/interface pppoe-server server add interface=e max-mtu=big", 1, "max-mtu", "not an integer"},
		{"server sessions range", "/interface pppoe-server server add interface=e max-sessions=-1", 1, "max-sessions", "out of range"},
		{"server keepalive", "/interface pppoe-server server add interface=e keepalive-timeout=10x", 1, "keepalive-timeout", "unknown unit"},
		{"server auth", "/interface pppoe-server server add interface=e authentication=eap", 1, "authentication", "unknown authentication"},
		{"server bool", "/interface pppoe-server server add interface=e one-session-per-host=maybe", 1, "one-session-per-host", "yes or no"},
		{"client distance", "/interface pppoe-client add interface=e default-route-distance=256", 1, "default-route-distance", "out of range"},
		{"client on client", "/interface pppoe-client\nadd interface=e name=a\nadd interface=a name=b", 3, "interface", "pppoe-client"},
		{"client name clashes vlan", "/interface vlan add name=x vlan-id=1 interface=e\n/interface pppoe-client add interface=e name=x", 2, "name", "already exists"},
		{"vlan id range", "/interface vlan add name=v vlan-id=4095 interface=e", 1, "vlan-id", "out of range"},
		{"vlan missing id", "/interface vlan add name=v interface=e", 1, "vlan-id", "required"},
		{"vlan three deep", "/interface vlan\nadd name=a vlan-id=1 interface=e\nadd name=b vlan-id=2 interface=a\nadd name=c vlan-id=3 interface=b", 4, "interface", "two tags"},
		{"vlan loop", "/interface vlan\nadd name=a vlan-id=1 interface=b\nadd name=b vlan-id=2 interface=a", 2, "interface", "loop"},
		{"vlan duplicate id", "/interface vlan\nadd name=a vlan-id=5 interface=e\nadd name=b vlan-id=5 interface=e", 3, "vlan-id", "already used"},
		{"no such item number", "/ip pool remove 3", 1, "numbers", "no such item"},
		{"no such item name", "/ip pool set nope comment=x", 1, "numbers", "no such item"},
		{"set without target", "/ip pool set comment=x", 1, "numbers", "which item"},
		{"find unknown prop", "/ip pool remove [find colour=red]", 1, "colour", "unknown property"},
		{"find bad value", "/interface pppoe-server server remove [find max-mtu=x]", 1, "max-mtu", "not an integer"},
		{"find bare non-bool", "/ip pool remove [find name]", 1, "name", "not a yes/no"},
		{"unset required", "/ip pool\nadd name=p ranges=10.0.0.1\nunset p ranges", 3, "ranges", "cannot be unset"},
		{"unset unknown", "/ip pool\nadd name=p ranges=10.0.0.1\nunset p colour", 3, "colour", "unknown property"},
		{"unset with value", "/ip pool\nadd name=p ranges=10.0.0.1\nunset p comment=x", 3, "comment", "property names"},
		{"identity add", "/system identity add name=x", 1, "", "single-item"},
		{"identity remove", "/system identity remove", 1, "", "not available"},
		{"identity target", "/system identity set 0 name=x", 1, "", "no item selector"},
		{"enable pool", "/ip pool\nadd name=p ranges=10.0.0.1\nenable p", 3, "", "not available"},
		{"print in config", "/ip pool print", 1, "", "not a configuration command"},
		{"add with target", "/ip pool add [find] name=x", 1, "", "unexpected [...]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.script)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			if e.Line != tt.line || e.Property != tt.prop || !strings.Contains(e.Error(), tt.reason) {
				t.Fatalf("got line %d prop %q %q; want line %d prop %q containing %q",
					e.Line, e.Property, e.Error(), tt.line, tt.prop, tt.reason)
			}
		})
	}
}

func TestApplyAtomic(t *testing.T) {
	c := mustLoad(t, referenceServer)
	before := Export(c)
	cmds, err := Parse("/ip pool add name=extra ranges=10.9.9.9\n/ppp secret set MT-User password=new\n/ppp secret add name=bad profile=nope")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Apply(cmds); err == nil || n != nil {
		t.Fatalf("Apply = %v, %v; want error", n, err)
	}
	if Export(c) != before {
		t.Fatalf("failed Apply changed the config:\n%s", Export(c))
	}
	n, err := c.Apply(cmds[:2])
	if err != nil {
		t.Fatal(err)
	}
	if c.Secrets.At(0).Password != "StrongPass" || n.Secrets.At(0).Password != "new" || c.Pools.Len() != 1 {
		t.Fatal("Apply mutated its receiver")
	}
}

func TestForwardReference(t *testing.T) {
	// A profile may name a pool defined later in the same script.
	mustLoad(t, "/ppp profile add name=p remote-address=later\n/ip pool add name=later ranges=10.0.0.1")
}

func TestExportRoundTripRich(t *testing.T) {
	c := mustLoad(t, referenceServer+referenceClient+"\n"+`/interface vlan
add name=svlan vlan-id=10 interface=ether1 use-service-tag=yes
add name=cvlan vlan-id=20 interface=svlan comment="QinQ \"inner\"\ttab"
/ip pool add name=big ranges=10.8.0.0/16,10.9.0.1 next-pool=pppoe-pool
/ppp profile set default change-tcp-mss=no
/system identity set name="Büro #1 $x?"
/ppp secret add name="user with space" password="\\\"$\n" remote-address=10.7.0.1 disabled=yes
/interface pppoe-server server add interface=cvlan service-name="" mrru=65535 max-mtu=auto`)
	roundTrip(t, c)
	if !strings.Contains(Export(c), `name="B\C3\BCro #1 \$x\?"`) {
		t.Fatalf("identity not escaped:\n%s", Export(c))
	}
}

func TestDiff(t *testing.T) {
	old := mustLoad(t, referenceServer+"/ip pool add name=gone ranges=10.5.0.1")
	new := mustLoad(t, referenceServer+`/ppp secret set MT-User password=changed comment=x
/ppp secret add name=new
/interface pppoe-server server set 0 service-name=other
/system identity set name=r2`)
	got := Diff(old, new)
	want := []Change{
		{Menu: "/ip pool", Key: "gone", Kind: Removed},
		{Menu: "/ppp secret", Key: "MT-User", Kind: Changed, Properties: []string{"password", "comment"}},
		{Menu: "/ppp secret", Key: "new", Kind: Added},
		{Menu: "/interface pppoe-server server", Key: "ether3/pppoeservice", Kind: Removed},
		{Menu: "/interface pppoe-server server", Key: "ether3/other", Kind: Added},
		{Menu: "/system identity", Kind: Changed, Properties: []string{"name"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff:\n got %v\nwant %v", got, want)
	}
	if d := Diff(old, old.Clone()); len(d) != 0 {
		t.Fatalf("Diff of a clone = %v", d)
	}
	if s := want[1].String(); s != `/ppp secret changed "MT-User" (password,comment)` {
		t.Fatalf("Change.String = %q", s)
	}
	// Order matters to Equal (item numbers), not to Diff.
	a := mustLoad(t, "/ip pool\nadd name=a ranges=10.0.0.1\nadd name=b ranges=10.0.0.2")
	b := mustLoad(t, "/ip pool\nadd name=b ranges=10.0.0.2\nadd name=a ranges=10.0.0.1")
	if len(Diff(a, b)) != 0 || Equal(a, b) {
		t.Fatal("reordered pools: want no Diff but not Equal")
	}
}

func mustPrint(t *testing.T, c *Config, menu string, detail bool) string {
	t.Helper()
	s, err := Print(c, menu, detail)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrint(t *testing.T) {
	c := mustLoad(t, referenceServer+`/ppp secret add name=u2 disabled=yes comment="note"`)
	want := "Flags: X - disabled\n" +
		" #   NAME    SERVICE PROFILE   REMOTE-ADDRESS\n" +
		" 0   MT-User pppoe   for-pppoe\n" +
		" 1 X ;;; note\n" +
		"     u2      any     default\n"
	if got := mustPrint(t, c, "/ppp secret", false); got != want {
		t.Fatalf("print:\n%q\nwant\n%q", got, want)
	}
	wantDetail := "Flags: X - disabled\n" +
		" 0    name=\"MT-User\" password=\"StrongPass\" profile=for-pppoe service=pppoe\n" +
		"      local-address= remote-address= remote-ipv6-prefix= rate-limit=\"\"\n" +
		" 1 X  ;;; note\n" +
		"      name=\"u2\" password=\"\" profile=default service=any local-address=\n" +
		"      remote-address= remote-ipv6-prefix= rate-limit=\"\"\n"
	if got := mustPrint(t, c, "/ppp secret", true); got != wantDetail {
		t.Fatalf("print detail:\n%q\nwant\n%q", got, wantDetail)
	}
	if got := mustPrint(t, c, "/ppp profile", false); !strings.HasPrefix(got, "Flags: * - default\n") || !strings.Contains(got, " 0 * default") {
		t.Fatalf("profile print:\n%s", got)
	}
	if got := mustPrint(t, c, "/system identity", true); got != "  name: pppoe-xdp\n" {
		t.Fatalf("identity print: %q", got)
	}
	if _, err := Print(c, "/ip route", false); err == nil {
		t.Fatal("print of unknown menu")
	}
}

func TestPrintJSON(t *testing.T) {
	c := mustLoad(t, referenceServer)
	out, err := PrintJSON(c, "/interface pppoe-server server")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"service-name": "pppoeservice", "interface": "ether3", "authentication": "mschap2,mschap1,chap,pap",
		"default-profile": "for-pppoe", "keepalive-timeout": "10", "max-mru": "1480", "max-mtu": "1480",
		"max-sessions": float64(0), "mrru": "disabled", "one-session-per-host": false, "pado-delay": "0", "disabled": false, "comment": "",
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("JSON = %s", out)
	}
	if out, _ := PrintJSON(c, "/interface vlan"); string(out) != "[]" {
		t.Fatalf("empty menu JSON = %s", out)
	}
	if out, _ := PrintJSON(c, "/system identity"); string(out) != "{\n  \"name\": \"pppoe-xdp\"\n}" {
		t.Fatalf("identity JSON = %s", out)
	}
}

func TestValues(t *testing.T) {
	secs := []struct {
		in   string
		want int64 // seconds; -1 for an error
	}{
		{"10", 10}, {"0", 0}, {"10s", 10}, {"1m", 60}, {"1m30s", 90}, {"2h", 7200}, {"1d", 86400}, {"1w", 604800},
		{"00:01:05", 65}, {"25:00:00", 90000},
		{"", -1}, {"x", -1}, {"10x", -1}, {"1m30", -1}, {"0s5", -1}, {"-1", -1}, {"00:60:00", -1}, {"1:2", -1},
		{"99999999999", -1}, {"4294967296", -1}, {"4294967295", 4294967295}, {"1w1w1w1w1w1w1w1w", 4838400},
		{"99999999999999999999s", -1},
	}
	for _, tt := range secs {
		var s Seconds
		err := s.UnmarshalText([]byte(tt.in))
		if tt.want < 0 {
			if err == nil {
				t.Errorf("Seconds(%q) accepted as %v", tt.in, time.Duration(s))
			}
			continue
		}
		if err != nil || time.Duration(s) != time.Duration(tt.want)*time.Second {
			t.Errorf("Seconds(%q) = %v, %v; want %ds", tt.in, time.Duration(s), err, tt.want)
		}
	}
	var a AuthMethods
	if err := a.UnmarshalText([]byte("pap,chap,mschap1,mschap2,pap")); err != nil || strings.Join(a, ",") != "mschap2,mschap1,chap,pap" {
		t.Errorf("AuthMethods = %v, %v", a, err)
	}
	for _, bad := range []string{"", "pap,", "PAP", "eap"} {
		if err := a.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("AuthMethods(%q) accepted", bad)
		}
	}
	var m MTU
	for in, want := range map[string]MTU{"auto": 0, "64": 64, "65535": 65535} {
		if err := m.UnmarshalText([]byte(in)); err != nil || m != want {
			t.Errorf("MTU(%q) = %d, %v", in, m, err)
		}
	}
	for _, bad := range []string{"63", "65536", "0", "", "Auto"} {
		if err := m.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("MTU(%q) accepted", bad)
		}
	}
	var r MRRU
	for _, bad := range []string{"511", "65536", "0", "", "off"} {
		if err := r.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("MRRU(%q) accepted", bad)
		}
	}
	var d DNSServers
	if err := d.UnmarshalText([]byte("")); err != nil || d != nil {
		t.Errorf("empty dns-server: %v %v", d, err)
	}
	for _, tt := range []struct{ in, want string }{{"yes", "yes"}, {"true", "yes"}, {"no", "no"}, {"false", "no"}} {
		b, err := parseBool(tt.in)
		if err != nil || (b && tt.want != "yes") || (!b && tt.want != "no") {
			t.Errorf("parseBool(%q) = %v, %v", tt.in, b, err)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-word_1.2:3,4/5", "plain-word_1.2:3,4/5"},
		{"", `""`},
		{"a b", `"a b"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"$x?", `"\$x\?"`},
		{"l1\nl2\r\t", `"l1\nl2\r\t"`},
		{"\x01ü", `"\01\C3\BC"`},
		{"a=b", `"a=b"`},
		{"#x", `"#x"`},
		{"a;b[c]", `"a;b[c]"`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		cmds, err := Parse("/ppp secret add name=x password=" + Quote(tt.in))
		if err != nil || cmds[0].Args[1].Value != tt.in {
			t.Errorf("Parse of Quote(%q): %v %+v", tt.in, err, cmds)
		}
	}
}

func TestMenus(t *testing.T) {
	want := []string{"/interface vlan", "/ip pool", "/ipv6 pool", "/ppp profile", "/ppp secret", "/interface pppoe-server server", "/interface pppoe-client", "/ipv6 dhcp-client", "/ipv6 nd", "/ipv6 nd prefix default", "/system identity", "/ppp aaa", "/radius", "/radius incoming"}
	if got := Menus(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Menus = %v", got)
	}
	// A line may move to a menu prefix.
	mustLoad(t, "/interface\npppoe-client add interface=e\n/ppp\nsecret add name=u")
}
