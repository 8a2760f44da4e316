package main

import (
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

func TestDiscoveryLimitFlags(t *testing.T) {
	for _, c := range []struct {
		padi, mac string
		want      maps.DiscoveryLimits
		err       string
	}{
		{padi: "2000", mac: "5/10", want: maps.DiscoveryLimits{MACRate: 5, MACBurst: 10, PADIRate: 2000, PADIBurst: 2000}},
		{padi: "0", mac: "0", want: maps.DiscoveryLimits{}},
		{padi: "100/300", mac: "1", want: maps.DiscoveryLimits{MACRate: 1, MACBurst: 1, PADIRate: 100, PADIBurst: 300}},
		{padi: "fast", mac: "5", err: "--padi-limit"},
		{padi: "5", mac: "5/0", err: "--discovery-mac-limit"},
		{padi: "-1", mac: "5", err: "--padi-limit"},
	} {
		got, err := discoveryLimits(c.padi, c.mac)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q %q: %v, want an error naming %s", c.padi, c.mac, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q %q: %+v, %v; want %+v", c.padi, c.mac, got, err, c.want)
		}
	}
}
