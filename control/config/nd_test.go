package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6/ra"
)

// TestNDDefaults: a fresh configuration holds RouterOS's built-in
// interface=all entry, which gives exactly the parameters RAs had before
// /ipv6 nd existed, and exports to nothing.
func TestNDDefaults(t *testing.T) {
	c := New()
	if c.ND.Len() != 1 || c.ND.At(0).Interface != "all" {
		t.Fatalf("built-in entry: %+v", c.ND)
	}
	tab := c.NDTable()
	if len(tab) != 1 || tab["all"] != ra.DefaultParams() {
		t.Fatalf("NDTable = %+v, want all: %+v", tab, ra.DefaultParams())
	}
	if exp := Export(c); strings.Contains(exp, "/ipv6 nd") {
		t.Fatalf("a fresh configuration exports /ipv6 nd:\n%s", exp)
	}
	out, err := Print(c, "/ipv6 nd", true)
	for _, w := range []string{"*", "interface=all", "ra-interval=3m20s-10m", "ra-delay=3s", "mtu=unspecified", "reachable-time=unspecified",
		"retransmit-interval=unspecified", "ra-lifetime=30m", "ra-preference=medium", "hop-limit=unspecified", "advertise-mac-address=yes",
		"advertise-dns=yes", "managed-address-configuration=no", "other-configuration=no"} {
		if err != nil || !strings.Contains(out, w) {
			t.Errorf("print detail lacks %q (%v):\n%s", w, err, out)
		}
	}
	out, err = Print(c, "/ipv6 nd prefix default", false)
	if err != nil || !strings.Contains(out, "valid-lifetime: 4w2d") || !strings.Contains(out, "preferred-lifetime: 1w") {
		t.Fatalf("prefix default print (%v):\n%s", err, out)
	}
}

const ndScript = `/ipv6 nd
set [ find default=yes ] ra-interval=10s-20s ra-delay=1s ra-lifetime=45s mtu=1400 hop-limit=64 reachable-time=30s \
    retransmit-interval=2s managed-address-configuration=yes other-configuration=yes advertise-dns=no ra-preference=high
add interface=<pppoe-alice> ra-lifetime=none comment="no default route for alice"
add interface=<pppoe-bob> disabled=yes
/ipv6 nd prefix default
set valid-lifetime=2h preferred-lifetime=1h
`

// TestNDConfigured: RouterOS's own export line for the built-in entry
// (set [ find default=yes ]), an entry per user, a disabled one and the
// prefix default load; NDTable holds the enabled entries with every
// value; print shows them; export loads back to an Equal configuration.
func TestNDConfigured(t *testing.T) {
	c := mustLoad(t, ndScript)
	tab := c.NDTable()
	all := ra.Params{
		MinInterval: 10 * time.Second, MaxInterval: 20 * time.Second, MinDelay: time.Second, RouterLifetime: 45 * time.Second,
		HopLimit: 64, MTU: 1400, ReachableTime: 30 * time.Second, RetransTimer: 2 * time.Second, Managed: true, Other: true,
		AdvertiseDNS: false, Preference: ndp.High, ValidLifetime: 2 * time.Hour, PreferredLifetime: time.Hour,
	}
	alice := ra.DefaultParams()
	alice.RouterLifetime, alice.ValidLifetime, alice.PreferredLifetime = 0, 2*time.Hour, time.Hour
	if len(tab) != 2 || tab["all"] != all || tab[ra.PPPoEInterface("alice")] != alice {
		t.Fatalf("NDTable = %+v\nwant all %+v\nalice %+v", tab, all, alice)
	}
	out, err := Print(c, "/ipv6 nd", false)
	for _, w := range []string{"Flags: * - default, X - disabled", "INTERFACE", "RA-INTERVAL", " 0 * all", "10s-20s", "<pppoe-alice>", "none", "X <pppoe-bob>", ";;; no default route for alice"} {
		if err != nil || !strings.Contains(out, w) {
			t.Errorf("print lacks %q (%v):\n%s", w, err, out)
		}
	}
	exp := Export(c)
	for _, w := range []string{"/ipv6 nd\nset [find interface=all] ", "add comment=\"no default route for alice\" interface=<pppoe-alice> ra-lifetime=none\n", "/ipv6 nd prefix default\nset preferred-lifetime=1h valid-lifetime=2h\n"} {
		if !strings.Contains(exp, w) {
			t.Errorf("export lacks %q:\n%s", w, exp)
		}
	}
	if c2 := mustLoad(t, exp); !Equal(c, c2) {
		t.Fatalf("export does not load back:\n%s\n%s", exp, Export(c2))
	}
	// Infinity, and unset back to the defaults.
	c = mustLoad(t, ndScript+"set valid-lifetime=infinity preferred-lifetime=infinity\n/ipv6 nd unset [find interface=all] ra-interval mtu ra-lifetime")
	if d := c.NDPrefix; time.Duration(d.ValidLifetime) != ndp.Infinity || time.Duration(d.PreferredLifetime) != ndp.Infinity {
		t.Fatalf("infinity: %+v", d)
	}
	if n := c.ND.At(0); n.RAInterval != (RAInterval{200 * time.Second, 600 * time.Second}) || n.MTU != 0 {
		t.Fatalf("unset: %+v", n)
	}
	if exp := Export(c); !strings.Contains(exp, "infinity") {
		t.Fatalf("export lacks infinity:\n%s", exp)
	}
}

// TestNDRejected: each bad value or action fails on its line naming the
// property, and the running configuration keeps what it had.
func TestNDRejected(t *testing.T) {
	base := mustLoad(t, "/ipv6 nd add interface=<pppoe-u> hop-limit=5")
	for _, tc := range []struct{ script, prop, msg string }{
		{"/ipv6 nd remove [find interface=all]", "", "cannot remove the built-in \"all\""},
		{"/ipv6 nd remove 0", "", "cannot remove"},
		{"/ipv6 nd set 0 interface=<pppoe-x>", "interface", "cannot change interface"},
		{"/ipv6 nd add interface=ether1", "interface", "want all or <pppoe-USER>"},
		{"/ipv6 nd add interface=<pppoe-u>", "interface", ""},
		{"/ipv6 nd add ra-lifetime=1h", "interface", "required"},
		{"/ipv6 nd set 0 ra-interval=2s-10s", "ra-interval", "min 2s outside 3s..20m50s"},
		{"/ipv6 nd set 0 ra-interval=10s-31m", "ra-interval", "max 31m outside 4s..30m"},
		{"/ipv6 nd set 0 ra-interval=20s-10s", "ra-interval", "min above max"},
		{"/ipv6 nd set 0 ra-interval=10m-10m", "ra-interval", "0.75 × max"},
		{"/ipv6 nd set 0 ra-interval=soon", "ra-interval", "want min-max"},
		{"/ipv6 nd set 0 ra-interval=10s", "ra-interval", "want min-max"},
		{"/ipv6 nd set 0 ra-lifetime=5m", "ra-lifetime", "shorter than the max of ra-interval"},
		{"/ipv6 nd set 0 ra-lifetime=3h", "ra-lifetime", "outside 0..2h30m"},
		{"/ipv6 nd set 0 mtu=1000", "mtu", "(or unspecified)"},
		{"/ipv6 nd set 0 hop-limit=256", "hop-limit", "(or unspecified)"},
		{"/ipv6 nd set 0 reachable-time=2h", "reachable-time", "outside 0..1h"},
		{"/ipv6 nd set 0 ra-delay=5m", "ra-delay", "outside 0..3m20s"},
		{"/ipv6 nd set 0 ra-preference=highest", "ra-preference", "low|medium|high"},
		{"/ipv6 nd prefix default set preferred-lifetime=5w", "preferred-lifetime", "longer than valid-lifetime 4w2d"},
		{"/ipv6 nd prefix default set valid-lifetime=forever", "valid-lifetime", "(or infinity)"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			cmds, err := Parse("\n" + tc.script)
			if err != nil {
				t.Fatal(err)
			}
			c, err := base.Apply(cmds)
			if err == nil {
				err = c.Validate()
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != 2 || ce.Property != tc.prop || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v; want line 2, property %q, %q", err, tc.prop, tc.msg)
			}
			if base.ND.Len() != 2 || base.ND.At(1).HopLimit != 5 || base.NDPrefix != defaults[NDPrefixDefault]() {
				t.Fatal("the running configuration changed")
			}
		})
	}
}
