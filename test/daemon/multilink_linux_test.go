package daemon

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// mpServer is the Quick Example server with max-mtu 1480 and mrru as
// given; mpClient the Quick Example client likewise.
const (
	mpServer = `/ip pool add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice max-mtu=1480 max-mru=1480 mrru=%s
`
	mpClient = `/interface pppoe-client add interface=ether2 password=StrongPass service-name=pppoeservice name=PPPoE-Out disabled=no user=MT-User max-mtu=1480 max-mru=1480 mrru=%s
`
)

// TestMultilink is what RouterOS promises for mrru, our client against
// our server: with max-mtu=1480 and mrru=1614 on both ends a 1500-byte
// IPv4 packet with DF set crosses the session whole both ways, with no
// ICMP and no IP fragment, and TCP keeps a full 1460-byte MSS; monitor
// shows active-links 1 and the MRRU, /ppp active the peer's MRRU. With
// mrru on one end or neither the session comes up without MP: the same
// ping draws Fragmentation Needed and the clamp follows the 1480 MTU.
func TestMultilink(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, server, client string
		mp                   bool
	}{
		{"both", "1614", "1614", true},
		{"server only", "1614", "disabled", false},
		{"client only", "disabled", "1614", false},
		{"neither", "disabled", "disabled", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
			ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(mpServer, tt.server), l.pins, "--uplink", "up0")
			cl := startDaemon(t, l.cl, "client", fmt.Sprintf(mpClient, tt.client), l.pins)
			waitFor(t, 10*time.Second, "client connected", func() bool { return cl.monitor("PPPoE-Out")["status"] == "connected" })
			l.cl.Run(t, "ip", "route", "add", "198.51.100.0/24", "dev", "PPPoE-Out")
			sub := netip.MustParseAddr("10.0.0.2")

			mon := cl.monitor("PPPoE-Out")
			rows := ac.active()
			if len(rows) != 1 {
				t.Fatalf("active %v", rows)
			}
			wantMRRU := ""
			if tt.mp {
				wantMRRU = "1614"
			}
			if mon["active-links"] != "1" || mon["mrru"] != wantMRRU || mon["mtu"] != "1480" {
				t.Errorf("monitor active-links=%q mrru=%q mtu=%q, want 1, %q, 1480", mon["active-links"], mon["mrru"], mon["mtu"], wantMRRU)
			}
			if rows[0]["mrru"] != wantMRRU {
				t.Errorf("/ppp active mrru=%q, want %q", rows[0]["mrru"], wantMRRU)
			}
			if detail := ac.ctl("/ppp active print detail"); tt.mp != strings.Contains(detail, "mrru=1614") {
				t.Errorf("/ppp active print detail:\n%s", detail)
			}

			frags := func() uint64 {
				return l.ac.SNMP(t, "Ip:", "FragCreates") + l.cl.SNMP(t, "Ip:", "FragCreates") + l.core.SNMP(t, "Ip:", "FragCreates")
			}
			unreach := func() uint64 {
				return l.ac.SNMP(t, "Icmp:", "OutDestUnreachs") + l.cl.SNMP(t, "Icmp:", "OutDestUnreachs")
			}
			frags0, unreach0 := frags(), unreach()
			acM0, clM0 := ac.metrics(), cl.metrics()

			// 1500-byte IPv4 packets, DF set (the kernel's default for
			// a raw socket), both ways.
			coreGot := l.core.Ping(t, coreAddr, sub, 3, 1472)
			if !tt.mp {
				// The first draws Fragmentation Needed; the core then
				// fragments the next ones itself.
				if coreGot == 3 || unreach() == unreach0 {
					t.Errorf("without MP, a 1500-byte DF ping core → client: %d/3 replies, %d ICMP unreachable", coreGot, unreach()-unreach0)
				}
				// A segment the 1480 MTU carries: the clamp is 1440.
				_, coreSeg := tcpSegs(t, l, sub)
				if coreSeg > 1440 {
					t.Errorf("without MP the core sends %d-byte segments over a 1480 link", coreSeg)
				}
				return
			}
			if coreGot != 3 {
				t.Errorf("1500-byte DF ping core → client over MP: %d/3 replies", coreGot)
			}
			if got := l.cl.Ping(t, sub, coreAddr, 3, 1472); got != 3 {
				t.Errorf("1500-byte DF ping client → core over MP: %d/3 replies", got)
			}
			clSeg, coreSeg := tcpSegs(t, l, sub)
			// 1460 less the 12 octets of the timestamp option.
			if clSeg < 1448 || coreSeg < 1448 {
				t.Errorf("TCP segments client %d, core %d: want the full 1460-byte MSS (1448 with timestamps)", clSeg, coreSeg)
			}
			if f := frags(); f != frags0 {
				t.Errorf("IP fragments made: %d", f-frags0)
			}
			if u := unreach(); u != unreach0 {
				t.Errorf("ICMP Destination Unreachable sent: %d", u-unreach0)
			}
			acM, clM := ac.metrics(), cl.metrics()
			for _, r := range []string{"mp_divert", "mp_pass"} {
				k := fmt.Sprintf(`pppoe_dataplane_packets_total{reason="%s"}`, r)
				if acM[k] <= acM0[k] || clM[k] <= clM0[k] {
					t.Errorf("%s: AC %v → %v, client %v → %v: the packets did not take the MP path", r, acM0[k], acM[k], clM0[k], clM[k])
				}
			}
			row := ac.active()[0]
			if counter(t, row, "packets-in") < 3 {
				t.Errorf("active %v", row)
			}
			t.Logf("AC's session: %v", row)
		})
	}
}

// tcpSegs runs a 200 kB TCP exchange between the client and the core and
// returns the segment sizes the client and the core used.
func tcpSegs(t *testing.T, l *lab, sub netip.Addr) (client, core int) {
	t.Helper()
	return netns.TCPExchange(t, l.cl, l.core, sub, coreAddr, 200_000)
}
