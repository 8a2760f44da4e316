package fib6cache

import (
	"net"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// routeMsg is an RTM_NEWROUTE body: struct rtmsg, then attributes.
func routeMsg(family, dstLen, srcLen uint8, attrs ...*nl.RtAttr) []byte {
	m := &nl.RtMsg{RtMsg: unix.RtMsg{Family: family, Dst_len: dstLen, Src_len: srcLen, Table: unix.RT_TABLE_MAIN}}
	b := m.Serialize()
	for _, a := range attrs {
		b = append(b, a.Serialize()...)
	}
	return b
}

func TestSpecialRoute(t *testing.T) {
	dst := nl.NewRtAttr(unix.RTA_DST, net.ParseIP("2001:db8:ffff::").To16())
	gw := nl.NewRtAttr(unix.RTA_GATEWAY, net.ParseIP("2001:db8:fe::2").To16())
	src := nl.NewRtAttr(unix.RTA_SRC, net.ParseIP("2001:db8:2100::").To16())
	nh := nl.NewRtAttr(rtaNHID, []byte{7, 0, 0, 0})
	mp := nl.NewRtAttr(unix.RTA_MULTIPATH, make([]byte, 8))
	for _, c := range []struct {
		name    string
		b       []byte
		special bool
		err     bool
	}{
		{name: "plain route", b: routeMsg(unix.AF_INET6, 48, 0, dst, gw)},
		{name: "default route", b: routeMsg(unix.AF_INET6, 0, 0, gw)},
		{name: "source prefix", b: routeMsg(unix.AF_INET6, 48, 56, dst, src, gw), special: true},
		{name: "multipath", b: routeMsg(unix.AF_INET6, 48, 0, dst, mp), special: true},
		{name: "nexthop object", b: routeMsg(unix.AF_INET6, 48, 0, dst, nh), special: true},
		{name: "IPv4 is not ours", b: routeMsg(unix.AF_INET, 24, 8, mp)},
		// Malformed.
		{name: "empty", b: nil, err: true},
		{name: "cut inside rtmsg", b: routeMsg(unix.AF_INET6, 48, 0)[:unix.SizeofRtMsg-1], err: true},
		{name: "attribute longer than the message", b: append(routeMsg(unix.AF_INET6, 48, 0), 0x20, 0, 1, 0), err: true},
		{name: "attribute shorter than its header", b: append(routeMsg(unix.AF_INET6, 48, 0), 0x02, 0, 1, 0, 0, 0), err: true},
		// FuzzSpecialRoute's first find, on which nl.ParseRouteAttr
		// panicked: the last attribute (length 6) not padded to 4.
		{name: "last attribute unpadded", b: append(routeMsg(unix.AF_INET6, 48, 0), 0x06, 0, 0x30, 0x30, 0x30, 0x30)},
	} {
		t.Run(c.name, func(t *testing.T) {
			why, err := specialRoute(c.b)
			if (err != nil) != c.err || (why != "") != c.special {
				t.Errorf("specialRoute = %q, %v; want special %v, error %v", why, err, c.special, c.err)
			}
		})
	}
}

func FuzzSpecialRoute(f *testing.F) {
	f.Add(routeMsg(unix.AF_INET6, 48, 56, nl.NewRtAttr(unix.RTA_SRC, make([]byte, 16))))
	f.Add(routeMsg(unix.AF_INET6, 0, 0, nl.NewRtAttr(unix.RTA_TABLE, []byte{100, 0, 0, 0})))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = specialRoute(b) // must not panic
	})
}

// neighMsg is an RTM_NEWNEIGH or RTM_DELNEIGH message.
func neighMsg(typ uint16, family uint8, ip string, mac net.HardwareAddr, state uint16) syscall.NetlinkMessage {
	b := (&netlink.Ndmsg{Family: family, Index: 3, State: state}).Serialize()
	a := net.ParseIP(ip)
	if family == unix.AF_INET6 {
		a = a.To16()
	} else {
		a = a.To4()
	}
	b = append(b, nl.NewRtAttr(netlink.NDA_DST, a).Serialize()...)
	if mac != nil {
		b = append(b, nl.NewRtAttr(netlink.NDA_LLADDR, mac).Serialize()...)
	}
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: typ}, Data: b}
}

// TestNeighbourEvents: only a change a lookup can see moves the
// generation: a new neighbour, another MAC, valid to invalid or back, a
// valid one deleted; not the NUD dance between valid states, nor IPv4.
func TestNeighbourEvents(t *testing.T) {
	w := &Watcher{neigh: map[neighKey]neighState{}}
	mac1 := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	const gw = "2001:db8:fe::2"
	for _, c := range []struct {
		name string
		m    syscall.NetlinkMessage
		bump bool
	}{
		{"first heard, reachable", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, mac1, netlink.NUD_REACHABLE), true},
		{"reachable to stale", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, mac1, netlink.NUD_STALE), false},
		{"stale to delay to probe", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, mac1, netlink.NUD_PROBE), false},
		{"another MAC", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, mac2, netlink.NUD_STALE), true},
		{"failed", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, nil, netlink.NUD_FAILED), true},
		{"still failed", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, nil, netlink.NUD_INCOMPLETE), false},
		{"resolved again", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET6, gw, mac2, netlink.NUD_REACHABLE), true},
		{"deleted while valid", neighMsg(unix.RTM_DELNEIGH, unix.AF_INET6, gw, mac2, netlink.NUD_REACHABLE), true},
		{"IPv4 neighbour", neighMsg(unix.RTM_NEWNEIGH, unix.AF_INET, "198.51.100.2", mac1, netlink.NUD_REACHABLE), false},
		{"a link event", syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWLINK}}, true},
		{"a netconf event (forwarding)", syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWNETCONF}}, true},
	} {
		if got := w.handle(c.m); got != c.bump {
			t.Errorf("%s: bump %v, want %v", c.name, got, c.bump)
		}
	}
}
