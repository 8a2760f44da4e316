package maps

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkUpstreamProg is the cost (BPF_PROG_TEST_RUN with repeat b.N:
// one syscall for all of them) of xdp_access_in classifying an upstream
// frame (parse, session lookup, anti-spoof) for one IPv4 and one IPv6
// frame of a dual-stack session, and one IPv6 frame of an IPv6-only one;
// for A/B of a change to that code (go test -run '^$' -bench
// UpstreamProg ./maps). The frames have hop limit 1, so the program
// leaves them unchanged (XDP_PASS, REASON_TTL_EXCEEDED): a repeated
// test run works on one buffer, and a forwarded frame would be
// decapsulated by the first run.
func BenchmarkUpstreamProg(b *testing.B) {
	e := newEnv(b)
	e.withV6(b)
	v6only := Session{Key: Key{Ifindex: e.acc, SessionID: 0x0104, ClientMAC: clientMAC}, ACMAC: acMAC, MTU: 1492, MSS: 1452}
	if _, err := e.dp.Install(v6only); err != nil {
		b.Fatal(err)
	}
	only := netip.MustParsePrefix("2001:db8:1:4::/64")
	if err := e.dp.SetIPv6LinkPrefix(v6only.Key, only); err != nil {
		b.Fatal(err)
	}
	s := e.untagged
	ip4 := ipv4{src: s.IPv4, dst: internet, ttl: 1, proto: unix.IPPROTO_UDP, payload: udp(32)}.marshal()
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"IPv4", s.up(b, ip4)},
		{"IPv6", s.up6(b, udp6(in6(link6Untagged, 1), internet6, 1, 32))},
		{"IPv6-only session", v6only.up6(b, udp6(in6(only, 1), internet6, 1, 32))},
	} {
		b.Run(c.name, func(b *testing.B) {
			prog := e.dp.Program("xdp_access_in")
			b.ResetTimer()
			err := e.ns.Do(b, func() error {
				opts := &ebpf.RunOptions{Data: c.in, Context: xdpCtx(e.acc, len(c.in)), Repeat: uint32(b.N)}
				verdict, err := prog.Run(opts)
				if err == nil && verdict != xdpPass {
					b.Errorf("verdict %d, want pass", verdict)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
