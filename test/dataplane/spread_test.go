package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// spreadFrame is subscriber i's PPPoE session frame carrying an IPv4/UDP
// datagram of flow f with sequence number seq, to core:9000.
func spreadFrame(dst, src net.HardwareAddr, sid uint16, from netip.Addr, sport uint16, seq uint32) []byte {
	ip := make([]byte, 20+8+8)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	s, d := from.As4(), coreAddr.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], 9000)
	binary.BigEndian.PutUint16(ip[24:], 16)
	binary.BigEndian.PutUint16(ip[28:], sport)
	binary.BigEndian.PutUint32(ip[32:], seq)
	f := make([]byte, 0, 14+8+len(ip))
	f = append(f, dst...)
	f = append(f, src...)
	f = append(f, 0x88, 0x64, 0x11, 0, byte(sid>>8), byte(sid), 0, 0, 0, 0x21)
	binary.BigEndian.PutUint16(f[18:], uint16(len(ip)+2))
	return append(f, ip...)
}

// TestRxSpreadKeepsFlowsInOrder: with --rx-spread over two CPUs, the
// access device hands each session's flows to the CPUs by hash. Every
// flow (here one per session) is handled on exactly one CPU, the
// sessions use both, and what arrives at the core is in the order sent.
func TestRxSpreadKeepsFlowsInOrder(t *testing.T) {
	requireRoot(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs to spread over")
	}
	sn, an, cn := netns.New(t), netns.New(t), netns.New(t)
	subEth, acc0 := netns.Veth(t, sn, "eth0", an, "acc0")
	up0, _ := netns.Veth(t, an, "up0", cn, "cor0")
	_, subMAC := linkOf(t, sn, "eth0")
	_, accMAC := linkOf(t, an, "acc0")
	_, corMAC := linkOf(t, cn, "cor0")
	_ = subEth

	pin := filepath.Join(maps.DefaultPinPath+"-test", "spread"+an.Name)
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 1024, RxSpread: []int{0, 1}})
	must(t, err)
	t.Cleanup(func() { dp.Unpin(); dp.Close() })

	cn.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "cor0")
	cn.Run(t, "ip", "route", "add", "100.64.0.0/16", "via", "198.51.100.1")
	cn.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
	// So that up0 takes XDP frames and the fast path redirects (a veth
	// whose peer has no XDP program needs GRO for that).
	cn.GRO(t, "cor0", true)
	an.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	an.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
	// Resolved in advance: an unresolved neighbour sends the first
	// packets the kernel's way, which is another path and another order.
	an.Run(t, "ip", "neigh", "replace", coreAddr.String(), "lladdr", corMAC.String(), "dev", "up0", "nud", "permanent")
	must(t, an.Do(t, func() error {
		dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", 1492)
		if err != nil {
			return err
		}
		if err := maps.AddRoute(dev.Index, netip.MustParsePrefix("100.64.1.0/24")); err != nil {
			return err
		}
		if err := dp.SetPPPoE0(dev.Index, dev.MAC); err != nil {
			return err
		}
		if err := dp.AttachAccess(acc0); err != nil {
			return err
		}
		if err := dp.AttachUplink(up0); err != nil {
			return err
		}
		return dp.AttachPPPoE0(dev.Index)
	}))

	const nsess, rounds = 32, 200
	idx := make([]maps.Index, nsess)
	addrs := make([]netip.Addr, nsess)
	for i := range nsess {
		addrs[i] = netip.AddrFrom4([4]byte{100, 64, 1, byte(i + 1)})
		idx[i], err = dp.Install(maps.Session{Key: maps.Key{Ifindex: acc0, SessionID: uint16(i + 1), ClientMAC: subMAC},
			ACMAC: accMAC, IPv4: addrs[i], MTU: 1492})
		must(t, err)
	}

	var rx *net.UDPConn
	must(t, cn.Do(t, func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(coreAddr.AsSlice()), Port: 9000})
		return err
	}))
	defer rx.Close()
	rx.SetReadBuffer(4 << 20)
	got := make(chan [2]uint32, nsess*rounds)
	go func() {
		b := make([]byte, 64)
		for {
			n, err := rx.Read(b)
			if err != nil {
				close(got)
				return
			}
			if n == 8 {
				got <- [2]uint32{uint32(binary.BigEndian.Uint16(b[0:])), binary.BigEndian.Uint32(b[4:])}
			}
		}
	}()

	before, err := dp.Counters()
	must(t, err)
	must(t, sn.Do(t, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: subEth, Halen: 6}
		copy(to.Addr[:], accMAC)
		for seq := range uint32(rounds) {
			for i := range nsess {
				f := spreadFrame(accMAC, subMAC, uint16(i+1), addrs[i], uint16(1000+i), seq)
				if err := unix.Sendto(fd, f, 0, to); err != nil {
					return err
				}
			}
			// A breath per round, so the veth's ring (256 frames) and
			// the CPU map queues keep up on a loaded machine.
			time.Sleep(200 * time.Microsecond)
		}
		return nil
	}))
	last := map[uint32]uint32{}
	arrived := 0
	for deadline := time.After(5 * time.Second); arrived < nsess*rounds; {
		select {
		case m := <-got:
			flow := m[0] - 1000
			if s, ok := last[flow]; ok && m[1] <= s {
				t.Errorf("flow %d: datagram %d arrived after %d", flow, m[1], s)
			}
			last[flow] = m[1]
			arrived++
			continue
		case <-deadline:
		}
		break
	}
	if arrived < nsess*rounds/2 {
		t.Fatalf("%d of %d datagrams arrived", arrived, nsess*rounds)
	}
	after, err := dp.Counters()
	must(t, err)
	if fast := after[maps.ReasonFastUp] - before[maps.ReasonFastUp]; fast < uint64(arrived) {
		t.Errorf("%d datagrams arrived, %d took the fast path: %v", arrived, fast, after)
	}
	used := map[int]int{}
	for i, x := range idx {
		per, err := dp.StatsByCPU(x)
		must(t, err)
		var cpus []int
		for c, s := range per {
			if s.PacketsUp > 0 {
				cpus = append(cpus, c)
			}
		}
		if len(cpus) != 1 {
			t.Errorf("session %d (one flow) was handled on CPUs %v, want one", i+1, cpus)
			continue
		}
		used[cpus[0]]++
	}
	if len(used) != 2 {
		t.Errorf("sessions by CPU %v: want both CPUs of the set used", used)
	}
	t.Logf("%d of %d datagrams arrived; sessions by CPU %v", arrived, nsess*rounds, used)
}
