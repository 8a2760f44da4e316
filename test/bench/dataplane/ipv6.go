package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// The IPv6 rows: session i has the link /64 2001:db8:<i, 32 bits>::/64
// and the delegated /56 3fff:0:<i, 24 bits>00::/56 (RFC 9637's
// documentation prefix, so the two pools are disjoint /32s, as an ISP's
// would be). Traffic runs from and to a host in the delegated /56, what a
// CPE's LAN sends: upstream that is the anti-spoof check's longest-prefix
// lookup (a source in the link /64 is one compare), downstream the same
// lookup as for a /64.
var (
	coreAddr6  = netip.MustParseAddr("2001:db8:fe::2")
	plainCore6 = netip.MustParseAddr("2001:db8:fe::3")
	plainSub6  = netip.MustParseAddr("2001:db8:99::1")
)

func link64(i int) netip.Prefix {
	a := netip.MustParseAddr("2001:db8::").As16()
	binary.BigEndian.PutUint32(a[4:], uint32(i))
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func pd56(i int) netip.Prefix {
	a := netip.MustParseAddr("3fff::").As16()
	binary.BigEndian.PutUint32(a[3:], uint32(i)) // bytes 4..6 hold i; byte 7 is the subnet
	return netip.PrefixFrom(netip.AddrFrom16(a), 56)
}

// pdHost is a host in session 0's /56, on subnet 1 of it.
func pdHost() netip.Addr {
	a := pd56(0).Addr().As16()
	a[7], a[15] = 1, 0x42
	return netip.AddrFrom16(a)
}

// offPD is where the generator writes ip_base + i into an IPv6 address
// for the /56 to be session i's: bytes 3..6 (byte 3 stays 0 below 2^24).
const offPD = 3

// install6 gives sessions 0..n-1 their /64 and /56 and returns the rate.
func (t *topo) install6(dp *maps.Datapath, n int) (float64, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		k := t.session(i).Key
		if err := dp.SetIPv6LinkPrefix(k, link64(i)); err != nil {
			return 0, fmt.Errorf("session %d: %w", i, err)
		}
		if err := dp.AddIPv6Prefix(k, pd56(i)); err != nil {
			return 0, fmt.Errorf("session %d: %w", i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// ipv6UDP is an IPv6/UDP packet of tot bytes. The UDP checksum stays 0,
// which IPv6 forbids (RFC 8200 §8.1) but no router checks.
func ipv6UDP(src, dst netip.Addr, tot int) []byte {
	b := make([]byte, tot)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(tot-40))
	b[6], b[7] = 17, 64 // UDP, hop limit
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.BigEndian.PutUint16(b[40:], 40000)
	binary.BigEndian.PutUint16(b[42:], 9)
	binary.BigEndian.PutUint16(b[44:], uint16(tot-40))
	return b
}

// pppoeSession6 is pppoeSession with PPP protocol 0x0057.
func pppoeSession6(sid uint16, ip []byte) []byte {
	b := pppoeSession(sid, ip)
	b[7] = 0x57
	return b
}

// genCfg6 is genCfg for an IPv6 frame: ip_base + i goes into an address
// at ipOff, and no header checksum (hdr_off 0).
func (t *topo) genCfg6(gen iface, frame []byte, ipOff, ipBase, sidOff int, n int) benchGenCfg {
	c := benchGenCfg{Ifindex: uint32(gen.index), N: uint32(n), Stride: 1, IpBase: uint32(ipBase),
		MacOff: offMACLow, SidOff: uint16(sidOff), IpOff: uint16(ipOff)}
	if n > 1 {
		c.Stride = spreadStride % uint32(n)
	}
	copy(c.Tmpl[:], frame)
	return c
}

// Offsets in an IPv6 header: source at 8, destination at 24; the UDP
// source port at 40.
const (
	offIPv6Src     = 8
	offIPv6Dst     = 24
	offUDP6Sport   = 40
	offAddrLast32  = 12 // an address's last 32 bits
	offIP6PPPoE    = 14 + 8
	offIP6Plain    = 14
	etherTypeIPv6  = 0x86dd
	etherTypePPPoE = 0x8864
)

func (t *topo) upPPPoE6(n int) benchGenCfg {
	f := eth(t.acc0.mac, sessionMAC(0), etherTypePPPoE, pppoeSession6(1, ipv6UDP(pdHost(), coreAddr6, genLen-14-8)))
	return t.genCfg6(t.s0, f, offIP6PPPoE+offIPv6Src+offPD, 0, offSID, n)
}

// upPPPoE6Link is upPPPoE6(1) from a host in session 0's link /64, whose
// anti-spoof check is one compare where the /56's is the prefix probes:
// the difference between the two rows is what those cost.
func (t *topo) upPPPoE6Link() benchGenCfg {
	a := link64(0).Addr().As16()
	a[15] = 0x42
	f := eth(t.acc0.mac, sessionMAC(0), etherTypePPPoE, pppoeSession6(1, ipv6UDP(netip.AddrFrom16(a), coreAddr6, genLen-14-8)))
	// The generator writes 0 (session 0) over bytes 4..7: the /64's own.
	return t.genCfg6(t.s0, f, offIP6PPPoE+offIPv6Src+4, 0, offSID, 1)
}

func (t *topo) upPlain6() benchGenCfg {
	f := eth(t.acc0.mac, sessionMAC(0), etherTypeIPv6, ipv6UDP(plainSub6, plainCore6, genLen-14))
	last := plainSub6.As16()
	return t.genCfg6(t.s0, f, offIP6Plain+offIPv6Src+offAddrLast32, int(binary.BigEndian.Uint32(last[12:])), offIP6Plain+offUDP6Sport, 1)
}

func (t *topo) downIP6(n int) benchGenCfg {
	f := eth(t.up0.mac, t.c0.mac, etherTypeIPv6, ipv6UDP(coreAddr6, pdHost(), genLen-14))
	return t.genCfg6(t.c0, f, offIP6Plain+offIPv6Dst+offPD, 0, offIP6Plain+offUDP6Sport, n)
}

func (t *topo) downPlain6() benchGenCfg {
	f := eth(t.up0.mac, t.c0.mac, etherTypeIPv6, ipv6UDP(coreAddr6, plainSub6, genLen-14))
	last := plainSub6.As16()
	return t.genCfg6(t.c0, f, offIP6Plain+offIPv6Dst+offAddrLast32, int(binary.BigEndian.Uint32(last[12:])), offIP6Plain+offUDP6Sport, 1)
}

// build6 is the AC's IPv6 setup: forwarding (before pppoe0 exists, so it
// inherits it: the fast path's fib lookup asks whether pppoe0 forwards),
// addresses, the core's and the plain subscriber's neighbours.
func (t *topo) build6Sysctls() error {
	for _, c := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		{"sysctl", "-qw", "net.ipv6.conf.default.forwarding=1"},
	} {
		if err := t.ac.run(c...); err != nil {
			return err
		}
	}
	return nil
}

func (t *topo) build6() error {
	cmds := [][]string{
		{"ip", "-6", "addr", "add", "2001:db8:fe::1/64", "dev", "up0", "nodad"},
		{"ip", "-6", "addr", "add", "2001:db8:99::254/64", "dev", "acc0", "nodad"},
		{"ip", "-6", "neigh", "replace", coreAddr6.String(), "lladdr", t.c0.mac.String(), "dev", "up0", "nud", "permanent"},
		{"ip", "-6", "neigh", "replace", plainCore6.String(), "lladdr", t.c0.mac.String(), "dev", "up0", "nud", "permanent"},
		{"ip", "-6", "neigh", "replace", plainSub6.String(), "lladdr", t.s0.mac.String(), "dev", "acc0", "nud", "permanent"},
	}
	for _, c := range cmds {
		if err := t.ac.run(c...); err != nil {
			return err
		}
	}
	return nil
}
