package config

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The configuration, as an operator writes it.
const radiusScript = `/radius
add service=ppp address=192.0.2.10 secret="s3cr\$t one" authentication-port=1812 accounting-port=1813 timeout=300ms src-address=192.0.2.1 disabled=no
add service=ppp,login address=2001:db8::10 secret=two timeout=1s require-message-authenticator=no comment=backup
/ppp aaa set use-radius=yes accounting=yes interim-update=5m
/radius incoming set accept=yes port=3799
`

func TestRadiusModel(t *testing.T) {
	fresh := New()
	if fresh.AAA.UseRadius || !fresh.AAA.Accounting || fresh.AAA.InterimUpdate != 0 ||
		fresh.RadiusIncoming.Accept || fresh.RadiusIncoming.Port != 3799 {
		t.Fatalf("defaults: %+v %+v", fresh.AAA, fresh.RadiusIncoming)
	}
	if Export(fresh) != "" {
		t.Fatalf("a fresh configuration exports %q", Export(fresh))
	}

	c := mustLoad(t, radiusScript)
	if c.Radius.Len() != 2 {
		t.Fatalf("%d servers", c.Radius.Len())
	}
	r := c.Radius.At(0)
	if r.Address.Addr != netip.MustParseAddr("192.0.2.10") || r.Secret != "s3cr$t one" || r.AuthenticationPort != 1812 ||
		r.AccountingPort != 1813 || r.Timeout != Duration(300*time.Millisecond) || r.SrcAddress.Addr != netip.MustParseAddr("192.0.2.1") ||
		!r.RequireMessageAuthenticator || r.Disabled || !r.Service.Has("ppp") {
		t.Fatalf("first server: %+v", r)
	}
	if b := c.Radius.At(1); b.RequireMessageAuthenticator || b.Timeout != Duration(time.Second) || !b.Service.Has("login") || b.SrcAddress.IsValid() {
		t.Fatalf("second server: %+v", b)
	}
	if !c.AAA.UseRadius || !c.AAA.Accounting || c.AAA.InterimUpdate != Duration(5*time.Minute) || !c.RadiusIncoming.Accept {
		t.Fatalf("aaa %+v incoming %+v", c.AAA, c.RadiusIncoming)
	}
	roundTrip(t, c)
	exp := Export(c)
	for _, want := range []string{
		"/ppp aaa\nset interim-update=5m use-radius=yes\n",
		"/radius\nadd address=192.0.2.10 secret=\"s3cr\\$t one\" service=ppp src-address=192.0.2.1\n",
		"add address=2001:db8::10 comment=backup require-message-authenticator=no secret=two service=ppp,login timeout=1s\n",
		"/radius incoming\nset accept=yes\n",
	} {
		if !strings.Contains(exp, want) {
			t.Errorf("export lacks %q:\n%s", want, exp)
		}
	}

	// Diff names a server by service and address, never by its secret.
	n := mustLoad(t, radiusScript+"/radius set 0 secret=changed timeout=1s\n/radius remove 1\n")
	got := Diff(c, n)
	if len(got) != 2 || got[0].String() != `/radius removed "ppp,login/[2001:db8::10]:1812"` ||
		got[1].String() != `/radius changed "ppp/192.0.2.10:1812" (secret,timeout)` {
		t.Fatalf("Diff: %v", got)
	}
}

func TestRadiusSecretHidden(t *testing.T) {
	c := mustLoad(t, radiusScript)
	for _, detail := range []bool{false, true} {
		out, err := Print(c, "/radius", detail)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "s3cr") || strings.Contains(out, "two") || strings.Contains(out, "secret") {
			t.Errorf("print (detail %v) shows the secret:\n%s", detail, out)
		}
	}
	out, err := PrintWith(c, "/radius", PrintOptions{Detail: true, ShowSensitive: true})
	if err != nil || !strings.Contains(out, `secret="s3cr\$t one"`) {
		t.Errorf("print detail show-sensitive:\n%s", out)
	}
	table, _ := Print(c, "/radius", false)
	want := "Flags: X - disabled\n" +
		" #   SERVICE   ADDRESS      AUTHENTICATION-PORT ACCOUNTING-PORT TIMEOUT\n" +
		" 0   ppp       192.0.2.10   1812                1813            300ms\n" +
		" 1   ;;; backup\n" +
		"     ppp,login 2001:db8::10 1812                1813            1s\n"
	if table != want {
		t.Errorf("print:\n%q\nwant\n%q", table, want)
	}
	js, err := PrintJSON(c, "/radius")
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(js, &items); err != nil {
		t.Fatal(err)
	}
	if _, ok := items[0]["secret"]; ok || len(items) != 2 || items[0]["address"] != "192.0.2.10" {
		t.Errorf("JSON shows the secret or lost the item: %s", js)
	}
	if c.Radius.At(0).Secret != "s3cr$t one" {
		t.Error("printing changed the configuration")
	}
	js, _ = PrintJSONWith(c, "/radius", PrintOptions{ShowSensitive: true})
	if !strings.Contains(string(js), `"secret": "s3cr$t one"`) {
		t.Errorf("JSON show-sensitive: %s", js)
	}
	single, _ := Print(c, "/ppp aaa", false)
	if single != "use-radius: yes\naccounting: yes\ninterim-update: 5m\n" {
		t.Errorf("/ppp aaa print: %q", single)
	}
}

func TestRadiusErrors(t *testing.T) {
	for _, tc := range []struct{ script, want string }{
		{"/radius add secret=x", "line 1: address: required"},
		{"/radius add address=192.0.2.1", "line 1: secret: required"},
		{"/radius add address=0.0.0.0 secret=x", "line 1: address: /radius: a server address is required"},
		{"/radius add address=server.example secret=x", `line 1: address: "server.example": not an IP address`},
		{"/radius add address=192.0.2.1 secret=x authentication-port=0", "line 1: authentication-port: 0: out of range 1..65535"},
		{"/radius add address=192.0.2.1 secret=x accounting-port=70000", "line 1: accounting-port: 70000: out of range 1..65535"},
		{"/radius add address=192.0.2.1 secret=x timeout=5x", `line 1: timeout: time "5x": unknown unit "x"`},
		{"/radius add address=192.0.2.1 secret=x timeout=2m", "line 1: timeout: /radius 192.0.2.1: want 1ms..1m"},
		{"/radius add address=192.0.2.1 secret=x timeout=0s", "line 1: timeout: /radius 192.0.2.1: want 1ms..1m"},
		{"/radius add address=192.0.2.1 secret=x src-address=2001:db8::1", "line 1: src-address: /radius 192.0.2.1: 2001:db8::1 is not of the server's address family"},
		{"/radius add address=192.0.2.1 secret=x service=telephony", `line 1: service: unknown service "telephony" (want ppp|login|hotspot|wireless|dhcp|ipsec|dot1x)`},
		{"/radius add address=192.0.2.1 secret=x service=ppp\n/radius add address=192.0.2.1 secret=y service=ppp", `line 2: address: /radius: "ppp/192.0.2.1:1812" already exists`},
		{"/radius add address=192.0.2.1 secret=x\n/radius set 0 secret=\"\"", "line 2: secret: required"},
		{"/radius incoming set port=0", "line 1: port: 0: out of range 1..65535"},
		{"/radius incoming add accept=yes", "line 1: /radius incoming: add: single-item menu, use set"},
		{"/radius incoming set address=10.0.0.1/8", `line 1: address: "10.0.0.1/8": host bits set`},
		{"/radius incoming set address=radius.example", `line 1: address: "radius.example": not an address or prefix`},
		{"/ppp aaa set interim-update=1m30", `line 1: interim-update: time "1m30": number without unit`},
		{"/ppp aaa set use-radius=maybe", `line 1: use-radius: "maybe": want yes or no`},
	} {
		_, err := Load(tc.script)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.script, err, tc.want)
		}
	}
	// Same server for two services, or on two ports, is fine.
	mustLoad(t, "/radius add address=192.0.2.1 secret=x service=ppp\n/radius add address=192.0.2.1 secret=x service=login\n/radius add address=192.0.2.1 secret=x service=ppp authentication-port=1645")
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  time.Duration // -1: an error
		print string
	}{
		{"300ms", 300 * time.Millisecond, "300ms"},
		{"5m", 5 * time.Minute, "5m"},
		{"90", 90 * time.Second, "1m30s"},
		{"0", 0, "0s"},
		{"0s", 0, "0s"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"1s500ms", 1500 * time.Millisecond, "1s500ms"},
		{"00:01:00", time.Minute, "1m"},
		{"1w1d", 8 * 24 * time.Hour, "1w1d"},
		{"", -1, ""},
		{"ms", -1, ""},
		{"5x", -1, ""},
		{"1m30", -1, ""},
		{"-1s", -1, ""},
		{"99999999999s", -1, ""},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if tc.want < 0 {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || time.Duration(d) != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, time.Duration(d), err, tc.want)
			continue
		}
		if b, _ := d.MarshalText(); string(b) != tc.print {
			t.Errorf("%q prints %q, want %q", tc.in, b, tc.print)
		}
	}
}

// /radius incoming's address: an allow-list of addresses and prefixes,
// written and printed as /ip service's.
func TestRadiusIncomingAddress(t *testing.T) {
	c := mustLoad(t, "/radius incoming set accept=yes address=192.0.2.0/28,2001:db8::10,::ffff:198.51.100.7\n")
	want := AddressList{netip.MustParsePrefix("192.0.2.0/28"), netip.MustParsePrefix("2001:db8::10/128"), netip.MustParsePrefix("198.51.100.7/32")}
	if len(c.RadiusIncoming.Address) != 3 {
		t.Fatalf("address %v", c.RadiusIncoming.Address)
	}
	for i, p := range want {
		if c.RadiusIncoming.Address[i] != p {
			t.Errorf("address %d: %v, want %v", i, c.RadiusIncoming.Address[i], p)
		}
	}
	for a, ok := range map[string]bool{"192.0.2.9": true, "192.0.2.16": false, "2001:db8::10": true, "2001:db8::11": false, "198.51.100.7": true} {
		if c.RadiusIncoming.Address.Allows(netip.MustParseAddr(a)) != ok {
			t.Errorf("Allows(%s) != %v", a, ok)
		}
	}
	if !(AddressList{}).Allows(netip.MustParseAddr("203.0.113.1")) {
		t.Error("an empty list refuses")
	}
	if exp := Export(c); !strings.Contains(exp, "/radius incoming\nset accept=yes address=192.0.2.0/28,2001:db8::10/128,198.51.100.7/32\n") {
		t.Errorf("export:\n%s", exp)
	}
	roundTrip(t, c)
}
