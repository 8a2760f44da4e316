package radiusaaa

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
)

// unusedDataPlane is what session.New insists on for a session that is
// never run: the backend's Observe reads only the session's handle, and
// the events are fed to it directly.
type unusedDataPlane struct{}

func (unusedDataPlane) Install(session.Entry) (session.Handle, error)                { return nil, nil }
func (unusedDataPlane) Update(session.Handle, session.Entry) (session.Handle, error) { return nil, nil }
func (unusedDataPlane) Remove(session.Handle) error                                  { return nil }
func (unusedDataPlane) Stats(session.Handle) (session.Stats, error)                  { return session.Stats{}, nil }

// TestBackendIPv6OnlyAccounting: a RADIUS session where only IPv6CP
// opens (IPCP never does: control/session's v6only tests show it is
// then NetworkUp.SessionUp) is accounted: its Start reaches FreeRADIUS
// with the README's erin's Framed-IPv6-Prefix and Delegated-IPv6-Prefix
// and no Framed-IP-Address (the Access-Accept's prefix, though IPv6CP
// opens before DHCPv6 has delegated it), and its Stop follows with the
// counters.
// The client releases the delegated prefix (DHCPv6 Release, RFC 8415
// §18.2.7) before it hangs up, as pppoed's client and most CPEs do: the
// Stop still names it, since FreeRADIUS's sqlippool frees a lease only
// on a Stop carrying its Delegated-IPv6-Prefix (stop_clear matches
// framedipaddress).
func TestBackendIPv6OnlyAccounting(t *testing.T) {
	r := startRadiusd(t)
	b, _ := newBackend(t, backendConfig(t, r, ""))
	const h = 0x61
	a := ask(t, b, h, auth.PAP, "erin", "erin-pw")
	if !a.Accept || !a.IPv6 {
		t.Fatalf("erin: accept %v IPv6 %v: %v", a.Accept, a.IPv6, a.Err)
	}
	s, err := session.New(session.Config{
		Settings: &session.Settings{Link: link.Config{Methods: []auth.Method{auth.PAP}}, AAA: b, DataPlane: unusedDataPlane{}},
		ID:       h, SessionID: h,
		Send:     func(ppp.Frame) error { return nil },
		SendPADT: func(string) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	b.Observe(s, at, session.Authenticated{User: "erin", Method: auth.PAP, Answer: a})
	// As a session tells it: IPv6CP opens with the link /64 and nothing
	// delegated yet; DHCPv6 delegates the prefix a moment later.
	b.Observe(s, at, session.NetworkUp{Protocol: ppp.ProtocolIPv6CP, Entry: session.Entry{SessionID: h, MTU: 1492},
		IPv6: session.Prefixes{Link: a.IPv6Link}, SessionUp: true})
	b.Observe(s, at.Add(time.Second), session.IPv6Prefixes{Prefixes: session.Prefixes{Link: a.IPv6Link, Delegated: []netip.Prefix{a.IPv6Delegated}}})
	b.Observe(s, at.Add(4*time.Second), session.IPv6Prefixes{Prefixes: session.Prefixes{Link: a.IPv6Link}})
	b.Observe(s, at.Add(5*time.Second), session.Stopping{Reason: session.ReasonPADT,
		Stats: session.Stats{BytesUp: 1000, BytesDown: 2000, PacketsUp: 10, PacketsDown: 20}})
	b.Observe(s, at.Add(5*time.Second), session.Stopped{Reason: session.ReasonPADT, User: "erin", WasUp: true})

	record := func(status string) map[string]string {
		for _, rec := range r.Records() {
			if rec["Acct-Session-Id"] == "00000061" && rec["Acct-Status-Type"] == status {
				return rec
			}
		}
		return nil
	}
	for deadline := time.Now().Add(time.Minute); record("Start") == nil || record("Stop") == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no Start and Stop for the IPv6-only session:\n%s", r.Detail())
		}
	}
	for _, st := range []string{"Start", "Stop"} {
		rec := record(st)
		if rec["User-Name"] != "erin" || rec["Framed-IPv6-Prefix"] != "2001:db8:0:1::/64" || rec["Delegated-IPv6-Prefix"] != "2001:db8:100::/56" {
			t.Errorf("%s %v, want erin's Framed-IPv6-Prefix and Delegated-IPv6-Prefix", st, rec)
		}
		if ip, ok := rec["Framed-IP-Address"]; ok {
			t.Errorf("%s of an IPv6-only session carries Framed-IP-Address %s", st, ip)
		}
	}
	if stop := record("Stop"); stop["Acct-Input-Octets"] != "1000" || stop["Acct-Output-Packets"] != "20" || stop["Acct-Session-Time"] != "5" {
		t.Errorf("Stop %v, want the counters and 5 s", stop)
	}
}

// TestHeldBounded: a client cycling Solicit and Release through a pool
// leaves its Stop at most maxHeld prefixes, the Access-Accept's first.
func TestHeldBounded(t *testing.T) {
	var tr tracked
	fixed := netip.MustParsePrefix("2001:db8:100::/56")
	tr.hold(fixed)
	for i := range 100 {
		tr.hold(netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x90, byte(i)}), 56))
		tr.hold(fixed)
	}
	if len(tr.held) != maxHeld || tr.held[0] != fixed || tr.held[maxHeld-1].Addr().As16()[5] != 99 {
		t.Errorf("held %v: want %d, %s first, the newest last", tr.held, maxHeld, fixed)
	}
}
