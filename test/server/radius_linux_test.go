package server_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// radiusUsers are the test's subscribers on FreeRADIUS, besides the
// README's: addresses inside the rig's routed pool.
const radiusUsers = `rad-fixed	Cleartext-Password := "rad-pw"
	Framed-IP-Address = 10.0.0.4,
	Class = "class-fixed",
	Acct-Interim-Interval = 10
rad-pool	Cleartext-Password := "rad-pw"
	Framed-Pool = "pppoe-pool"
rad-short	Cleartext-Password := "rad-pw"
	Session-Timeout = 2
rad-idle	Cleartext-Password := "rad-pw"
	Idle-Timeout = 2
`

// rigSessions is what the daemon gives radius.Backend for Disconnect and
// CoA (daemon.RadiusSessions), over the rig's server.
type rigSessions struct{ r *rig }

func (s rigSessions) Remove(ids ...session.ID) int { return s.r.srv.Remove(ids...) }

func (s rigSessions) Change(id session.ID, ch radius.Change) error {
	sess, ok := s.r.srv.Session(id)
	if !ok {
		return session.ErrNotUp
	}
	return radiusaaa.ApplyChange(sess, ch)
}

// withRadius makes the rig's AAA radius.Backend with /radius entries for
// servers (each an address:auth:acct and timeout) and /radius incoming on
// coaPort.
func withRadius(coaPort int, servers ...string) rigOption {
	return func(r *rig) {
		r.radiusConfig = "/ppp aaa set use-radius=yes accounting=yes\n" +
			fmt.Sprintf("/radius incoming set accept=yes port=%d\n", coaPort) + strings.Join(servers, "")
	}
}

// radiusEntry is a /radius add line for a FreeRADIUS (or any port).
func radiusEntry(authPort, acctPort int, timeout string) string {
	return fmt.Sprintf("/radius add service=ppp address=127.0.0.1 secret=%q authentication-port=%d accounting-port=%d timeout=%s\n",
		freeradius.Secret, authPort, acctPort, timeout)
}

// radclient sends a Disconnect-Request or CoA-Request with FreeRADIUS's
// radclient and returns its output.
func radclient(t *testing.T, port int, kind, attrs string) string {
	t.Helper()
	return freeradius.Radclient(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), kind, freeradius.Secret, attrs, 10*time.Second)
}

// record waits for the accounting record of session id with status.
func record(t *testing.T, fr *freeradius.Server, id, status string, within time.Duration) map[string]string {
	t.Helper()
	var rec map[string]string
	eventually(t, within, status+" of "+id, func() bool {
		for _, r := range fr.Records() {
			if r["Acct-Session-Id"] == id && r["Acct-Status-Type"] == status {
				rec = r
				return true
			}
		}
		return false
	})
	return rec
}

func radiusDial(r *rig, user, password string, m auth.Method) (*peer.Client, error) {
	cfg := r.peerConfig()
	cfg.User, cfg.Password, cfg.Methods = user, password, []auth.Method{m}
	c, err := r.tryDial(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WaitUp(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// onlySession returns the one live session's Acct-Session-Id.
func onlySession(t *testing.T, r *rig) string {
	t.Helper()
	var ss []session.Snapshot
	eventually(t, 5*time.Second, "one session up", func() bool {
		ss = r.srv.Sessions()
		return len(ss) == 1 && ss[0].State == session.StateUp
	})
	return radius.AcctSessionID(uint64(ss[0].ID))
}

func TestRadiusEndToEnd(t *testing.T) {
	fr := freeradius.Start(t, freeradius.Options{Users: radiusUsers})
	coa := freeradius.FreePorts(t, 1)[0]
	r := newRig(t, quickServer, withRadius(coa, radiusEntry(fr.AuthPort, fr.AcctPort, "5s")))

	for _, m := range []auth.Method{auth.PAP, auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2} {
		t.Run(m.String()+" accepted, Framed-Pool", func(t *testing.T) {
			c, err := radiusDial(r, "rad-pool", "rad-pw", m)
			must(t, err)
			info, _ := c.WaitUp(context.Background())
			if !poolNet.Contains(info.IP.Local) || info.IP.Remote != acLocal {
				t.Errorf("addresses %+v: want one of pppoe-pool and the profile's local-address", info.IP)
			}
			if ss := r.srv.Sessions(); len(ss) != 1 || ss[0].Name != "rad-pool" {
				t.Errorf("sessions %+v", ss)
			}
			must(t, c.SendPADT())
			r.clean(t)
		})
		t.Run(m.String()+" rejected", func(t *testing.T) {
			c, err := radiusDial(r, "rad-pool", "wrong", m)
			if err == nil {
				t.Fatal("a wrong password came up")
			}
			if c == nil || !c.AuthFailed() {
				t.Fatalf("the peer was not told its credentials failed: %v", err)
			}
			// The Access-Reject's Reply-Message is the method's failure
			// message (PAP Nak, CHAP and MS-CHAP Failure).
			eventually(t, 5*time.Second, "the link down", func() bool { return c.LinkDown() != "" })
			if !strings.Contains(c.LinkDown(), "bad credentials") {
				t.Errorf("the peer's failure: %q, want the Reply-Message", c.LinkDown())
			}
			r.clean(t)
		})
	}

	t.Run("a local secret first, accounted as Local", func(t *testing.T) {
		before := strings.Count(fr.Log(), "Received Access-Request")
		c := r.dial(r.peerConfig()) // MT-User, a /ppp secret
		id := onlySession(t, r)
		if s := record(t, fr, id, "Start", 10*time.Second); s["User-Name"] != "MT-User" || s["Acct-Authentic"] != "Local" {
			t.Errorf("Start %v", s)
		}
		if strings.Count(fr.Log(), "Received Access-Request") != before {
			t.Error("a local user was asked on RADIUS")
		}
		must(t, c.SendPADT())
		r.clean(t)
		record(t, fr, id, "Stop", 10*time.Second)
	})

	t.Run("Framed-IP-Address, accounting counters, interim, Class", func(t *testing.T) {
		c, err := radiusDial(r, "rad-fixed", "rad-pw", auth.CHAP)
		must(t, err)
		info, _ := c.WaitUp(context.Background())
		if info.IP.Local != netip.MustParseAddr("10.0.0.4") {
			t.Fatalf("address %v, want Framed-IP-Address 10.0.0.4", info.IP.Local)
		}
		id := onlySession(t, r)
		start := record(t, fr, id, "Start", 10*time.Second)
		if start["User-Name"] != "rad-fixed" || start["Framed-IP-Address"] != "10.0.0.4" || start["Class"] != "0x636c6173732d6669786564" ||
			start["NAS-Identifier"] != "test-ac" || start["Acct-Authentic"] != "RADIUS" {
			t.Errorf("Start %v", start)
		}
		// 20 datagrams up, counted at the core; the data plane must count
		// them, and the Stop must say what the data plane counted.
		var conn *net.UDPConn
		must(t, r.core.Do(t, func() (err error) {
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: coreAddr.AsSlice(), Port: 4000})
			return err
		}))
		defer conn.Close()
		payload := make([]byte, 100)
		for range 20 {
			must(t, c.SendIPv4(peer.UDP(netip.AddrPortFrom(info.IP.Local, 5000), netip.AddrPortFrom(coreAddr, 4000), payload)))
		}
		got := 0
		buf := make([]byte, 2048)
		for got < 20 {
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				break
			}
			got++
		}
		if got != 20 {
			t.Fatalf("the core got %d of 20 datagrams", got)
		}
		// And 5 down, received by the subscriber.
		var down *net.UDPConn
		must(t, r.core.Do(t, func() (err error) {
			down, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: info.IP.Local.AsSlice(), Port: 6000})
			return err
		}))
		defer down.Close()
		received := 0
		for range 5 {
			_, err := down.Write([]byte("down"))
			must(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.RecvIPv4(ctx)
			cancel()
			if err == nil {
				received++
			}
		}
		if received != 5 {
			t.Fatalf("the subscriber got %d of 5 datagrams", received)
		}
		interim := record(t, fr, id, "Interim-Update", 30*time.Second) // Acct-Interim-Interval = 10
		if interim["Acct-Input-Packets"] != "20" {
			t.Errorf("interim: Acct-Input-Packets %q, want 20", interim["Acct-Input-Packets"])
		}
		_, idx := r.entry(t, c)
		st, err := r.dp.Stats(idx)
		must(t, err)
		must(t, c.SendPADT())
		r.clean(t)
		stop := record(t, fr, id, "Stop", 10*time.Second)
		want := map[string]string{
			"Acct-Input-Packets": "20", "Acct-Input-Octets": strconv.FormatUint(st.BytesUp, 10),
			"Acct-Output-Packets": strconv.FormatUint(st.PacketsDown, 10), "Acct-Output-Octets": strconv.FormatUint(st.BytesDown, 10),
			"Acct-Input-Gigawords": "0", "Acct-Terminate-Cause": "User-Request", "Class": "0x636c6173732d6669786564",
			"Framed-IP-Address": "10.0.0.4",
		}
		for k, v := range want {
			if stop[k] != v {
				t.Errorf("Stop %s = %q, want %q", k, stop[k], v)
			}
		}
		if st.PacketsDown < 5 {
			t.Errorf("the data plane counted %d packets down for the 5 the subscriber got", st.PacketsDown)
		}
		if st.BytesUp < 20*128 { // 100 octets of payload, 8 UDP and 20 IPv4 headers each
			t.Errorf("the data plane counted %d octets up for 20 datagrams of 128", st.BytesUp)
		}
		stops := 0
		for _, rec := range fr.Records() {
			if rec["Acct-Session-Id"] == id && rec["Acct-Status-Type"] == "Stop" {
				stops++
			}
		}
		if stops != 1 {
			t.Errorf("%d Stops of %s, want exactly one", stops, id)
		}
	})

	t.Run("Session-Timeout", func(t *testing.T) {
		c, err := radiusDial(r, "rad-short", "rad-pw", auth.PAP)
		must(t, err)
		id := onlySession(t, r)
		eventually(t, 10*time.Second, "the session to time out", func() bool { return len(r.srv.Sessions()) == 0 })
		if s := record(t, fr, id, "Stop", 10*time.Second); s["Acct-Terminate-Cause"] != "Session-Timeout" {
			t.Errorf("Stop %v", s)
		}
		_ = c
		r.clean(t)
	})

	t.Run("Idle-Timeout", func(t *testing.T) {
		_, err := radiusDial(r, "rad-idle", "rad-pw", auth.PAP)
		must(t, err)
		id := onlySession(t, r)
		eventually(t, 10*time.Second, "the idle session to end", func() bool { return len(r.srv.Sessions()) == 0 })
		if s := record(t, fr, id, "Stop", 10*time.Second); s["Acct-Terminate-Cause"] != "Idle-Timeout" {
			t.Errorf("Stop %v", s)
		}
		r.clean(t)
	})

	t.Run("Disconnect-Request with radclient", func(t *testing.T) {
		_, err := radiusDial(r, "rad-pool", "rad-pw", auth.PAP)
		must(t, err)
		id := onlySession(t, r)
		if out := radclient(t, coa, "disconnect", `Acct-Session-Id = "nope"`); !strings.Contains(out, "Received Disconnect-NAK") ||
			!strings.Contains(out, "Session-Context-Not-Found") {
			t.Errorf("unknown session:\n%s", out)
		}
		if out := radclient(t, coa, "disconnect", fmt.Sprintf("Acct-Session-Id = %q", id)); !strings.Contains(out, "Received Disconnect-ACK") {
			t.Fatalf("disconnect:\n%s", out)
		}
		r.clean(t)
		if s := record(t, fr, id, "Stop", 10*time.Second); s["Acct-Terminate-Cause"] != "Admin-Reset" {
			t.Errorf("Stop %v", s)
		}
	})

	t.Run("CoA-Request with radclient", func(t *testing.T) {
		_, err := radiusDial(r, "rad-pool", "rad-pw", auth.PAP)
		must(t, err)
		id := onlySession(t, r)
		for _, tc := range []struct{ attrs, want string }{
			{`User-Name = "rad-pool", Filter-Id = "gold"`, "Unsupported-Attribute"},
			{`User-Name = "rad-pool", Mikrotik-Rate-Limit = "fast please"`, "Invalid-Attribute-Value"},
			{`User-Name = "nobody", Session-Timeout = 1`, "Session-Context-Not-Found"},
		} {
			if out := radclient(t, coa, "coa", tc.attrs); !strings.Contains(out, "Received CoA-NAK") || !strings.Contains(out, tc.want) {
				t.Errorf("%s: want a NAK with %s:\n%s", tc.attrs, tc.want, out)
			}
		}
		if len(r.srv.Sessions()) != 1 {
			t.Fatal("a NAKed CoA changed the session")
		}
		// The rate limit reaches the data plane's entry.
		if out := radclient(t, coa, "coa", `User-Name = "rad-pool", Mikrotik-Rate-Limit = "2M/4M"`); !strings.Contains(out, "Received CoA-ACK") {
			t.Fatalf("coa rate limit:\n%s", out)
		}
		if ss := r.srv.Sessions(); len(ss) != 1 || ss[0].RateLimit.Rx.Rate != 2_000_000 || ss[0].RateLimit.Tx.Rate != 4_000_000 {
			t.Errorf("rate limit after the CoA: %+v", ss)
		}
		if out := radclient(t, coa, "coa", `User-Name = "rad-pool", Session-Timeout = 1`); !strings.Contains(out, "Received CoA-ACK") {
			t.Fatalf("coa:\n%s", out)
		}
		eventually(t, 10*time.Second, "the CoA's Session-Timeout", func() bool { return len(r.srv.Sessions()) == 0 })
		if s := record(t, fr, id, "Stop", 10*time.Second); s["Acct-Terminate-Cause"] != "Session-Timeout" {
			t.Errorf("Stop %v", s)
		}
		r.clean(t)
	})
}

// Failover to a second server, then an outage: new sessions fail fast
// with a clear reason, the live one keeps forwarding, and its Stop waits
// in the queue until the server is back.
func TestRadiusFailoverAndOutage(t *testing.T) {
	fr := freeradius.Start(t, freeradius.Options{Users: radiusUsers})
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	defer dead.Close()
	deadPort := dead.LocalAddr().(*net.UDPAddr).Port
	coa := freeradius.FreePorts(t, 1)[0]
	r := newRig(t, quickServer, withRadius(coa,
		radiusEntry(deadPort, deadPort, "200ms"),
		// Short, so that a record's first exchange gives up while the
		// server is down and the record is sent again as a new packet
		// (a retransmission is the same packet, RFC 5080 §2.2.1, with the
		// Acct-Delay-Time it was built with).
		radiusEntry(fr.AuthPort, fr.AcctPort, "300ms")))

	c, err := radiusDial(r, "rad-fixed", "rad-pw", auth.PAP)
	must(t, err)
	info, _ := c.WaitUp(context.Background())
	id := onlySession(t, r)
	record(t, fr, id, "Start", 20*time.Second)
	// FreeRADIUS writes the record before it answers: wait for the
	// answer, or the Start may still be queued when the server stops.
	eventually(t, 5*time.Second, "the Start to be answered", func() bool { return r.backend.Queued() == 0 })

	fr.Stop()
	start := time.Now()
	if _, err := radiusDial(r, "rad-pool", "rad-pw", auth.PAP); err == nil {
		t.Fatal("a session came up with every RADIUS server down")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the refusal took %v", d)
	}
	eventually(t, 5*time.Second, "the refused session to end", func() bool { return len(r.srv.Sessions()) == 1 })
	if r.ended(session.ReasonAuthFailed) == 0 {
		t.Error("the refused session did not end auth-failed")
	}
	// The live session still forwards.
	exchange(t, c, peer.ICMPEcho(info.IP.Local, coreAddr, 0x5151, 1, []byte("still up")), func(p peer.Packet) bool {
		return p.Proto == peer.ProtoICMP && p.Src == coreAddr
	})
	must(t, c.SendPADT())
	eventually(t, 5*time.Second, "the session to end", func() bool { return len(r.srv.Sessions()) == 0 })
	// Down for 3 s more: every exchange of the Stop (1.5 s over both
	// servers) fails at least once, and whatever packet reaches the
	// server was built a second or more after the session ended.
	time.Sleep(3 * time.Second)
	if got := r.backend.Queued(); got != 1 {
		t.Errorf("%d accounting records queued during the outage, want the Stop", got)
	}
	fr.Start()
	stop := record(t, fr, id, "Stop", 60*time.Second)
	if d, _ := strconv.Atoi(stop["Acct-Delay-Time"]); d < 1 || stop["Acct-Terminate-Cause"] != "User-Request" {
		t.Errorf("Stop after the outage %v", stop)
	}
}
