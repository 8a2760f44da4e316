package maps

import (
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestDevicesHaveNoIPv6LinkLocal checks that pppoe0 and a client netdev
// (and their veth peers) come up with addr_gen_mode none and no IPv6
// address, so the kernel sends no router solicitations or MLD reports from
// them; acc0, a plain veth, is the control that shows the check can fail.
func TestDevicesHaveNoIPv6LinkLocal(t *testing.T) {
	e := newEnv(t)
	err := e.ns.Do(t, func() error {
		dev, err := CreateClientDevice("pppoe-out1", 1492)
		if err != nil {
			return err
		}
		for _, tc := range []struct {
			name      string
			linkLocal bool
		}{
			{"pppoe0", false},
			{"pppoe0-peer", false},
			{dev.Name, false},
			{clientPeerName(dev.Name), false},
			{"acc0", true}, // control: a veth as the kernel makes it
		} {
			l, err := netlink.LinkByName(tc.name)
			if err != nil {
				return err
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			if got := len(addrs) > 0; got != tc.linkLocal {
				t.Errorf("%s: IPv6 addresses %v, want link-local %v", tc.name, addrs, tc.linkLocal)
			}
			mode, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + tc.name + "/addr_gen_mode")
			if err != nil {
				return err
			}
			// 1 is IN6_ADDR_GEN_MODE_NONE, 0 the EUI-64 default.
			if want := map[bool]string{false: "1", true: "0"}[tc.linkLocal]; strings.TrimSpace(string(mode)) != want {
				t.Errorf("%s: addr_gen_mode %s, want %s", tc.name, strings.TrimSpace(string(mode)), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDevicesComputeChecksums checks that pppoe0 and a client netdev have
// transmit checksum offload off (their packets leave with complete
// checksums, as from a ppp interface); acc0, a plain veth, is the control.
func TestDevicesComputeChecksums(t *testing.T) {
	e := newEnv(t)
	err := e.ns.Do(t, func() error {
		dev, err := CreateClientDevice("pppoe-out1", 1492)
		if err != nil {
			return err
		}
		for _, tc := range []struct {
			name string
			want uint32
		}{
			{"pppoe0", 0},
			{dev.Name, 0},
			{"acc0", 1},
		} {
			got, err := txChecksum(tc.name)
			if err != nil {
				return err
			}
			if got != tc.want {
				t.Errorf("%s: tx checksum offload %d, want %d", tc.name, got, tc.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// txChecksum reads a device's transmit checksum offload setting.
func txChecksum(name string) (uint32, error) {
	return ethtoolValue(name, unix.ETHTOOL_GTXCSUM, 0)
}
