package pppoe

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// TestCookieKnownAnswer recomputes the cookie from the documented input
// layout with crypto/hmac directly, so a change of layout is caught.
func TestCookieKnownAnswer(t *testing.T) {
	key := []byte("test key")
	c := Circuit{
		Ifindex:  0x01020304,
		VLANs:    [2]ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}},
		NumVLANs: 2,
		MAC:      [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55},
	}
	ac := [6]byte{0x02, 0xac, 0, 0, 0, 0x01}
	msg := []byte{
		0x02, 0xac, 0x00, 0x00, 0x00, 0x01, // AC MAC
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // client MAC
		0x01, 0x02, 0x03, 0x04, // ifindex
		0x02,                   // number of VLAN tags
		0x88, 0xa8, 0x00, 0x0a, // outer tag: TPID 802.1ad, VID 10
		0x81, 0x00, 0x00, 0x14, // inner tag: TPID 802.1Q, VID 20
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x39, // bucket 12345
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	want := m.Sum(nil)[:CookieLen]
	got := cookie(newCookieKey(key), ac, c, 12345)
	if !hmac.Equal(got[:], want) {
		t.Fatalf("cookie = %x, want %x", got, want)
	}
}

func TestCheckCookie(t *testing.T) {
	key := []byte("k")
	period := time.Minute
	issued := time.Unix(1_700_000_000, 0)
	base := Circuit{Ifindex: 3, MAC: [6]byte{0x02, 0, 0, 0, 0, 1}}
	tagged := base
	tagged.VLANs[0], tagged.NumVLANs = ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: 100}, 1
	otherMAC := base
	otherMAC.MAC[5] = 2
	otherIf := base
	otherIf.Ifindex = 4
	ac := [6]byte{0x02, 0xac, 0, 0, 0, 1}
	otherAC := [6]byte{0x02, 0xac, 0, 0, 0, 2}
	ck := issueCookie(newCookieKey(key), ac, base, issued, period)

	tests := []struct {
		name   string
		key    []byte
		ac     [6]byte
		c      Circuit
		cookie []byte
		now    time.Time
		want   bool
	}{
		{"same bucket", key, ac, base, ck[:], issued, true},
		{"next bucket", key, ac, base, ck[:], issued.Add(period), true},
		{"two buckets later", key, ac, base, ck[:], issued.Add(2 * period), false},
		{"from the future", key, ac, base, ck[:], issued.Add(-period), false},
		{"other MAC", key, ac, otherMAC, ck[:], issued, false},
		{"other ifindex", key, ac, otherIf, ck[:], issued, false},
		{"behind a VLAN", key, ac, tagged, ck[:], issued, false},
		{"other key", []byte("l"), ac, base, ck[:], issued, false},
		// Another AC on the segment, even one given the same key, does
		// not take this AC's cookie.
		{"other AC, same key", key, otherAC, base, ck[:], issued, false},
		{"truncated", key, ac, base, ck[:CookieLen-1], issued, false},
		{"extended", key, ac, base, append(ck[:], 0), issued, false},
		{"empty", key, ac, base, nil, issued, false},
		{"one bit flipped", key, ac, base, flipLast(ck[:]), issued, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkCookie(newCookieKey(tt.key), tt.ac, tt.c, tt.cookie, tt.now, period); got != tt.want {
				t.Fatalf("checkCookie = %v, want %v", got, tt.want)
			}
		})
	}
}

func flipLast(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[len(b)-1] ^= 1
	return b
}

// TestTwoACsOnOneSegment: two ACs on one broadcast domain, given the same
// cookie key (the worst case; pppoed draws one per start): a client's
// PADR to one carrying the other's cookie is refused without an answer,
// and each takes its own.
func TestTwoACsOnOneSegment(t *testing.T) {
	cfgA, cfgB := testConfig(), testConfig()
	cfgB.MAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	cfgB.ACName = "ac2"
	a, b := NewServer(cfgA, &fakeAdm{}, nil), NewServer(cfgB, &fakeAdm{}, nil)
	padi := buildFrame(t, bcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("internet")}})
	cookieOf := func(s *Server) ACCookie {
		t.Helper()
		out := s.Handle(padi, t0)
		if len(out) != 1 {
			t.Fatalf("%d PADOs", len(out))
		}
		_, p, err := ParseFrame(out[0])
		if err != nil || p.Code != CodePADO {
			t.Fatalf("PADO: %v %v", p.Code, err)
		}
		ck, _ := FindTag[ACCookie](p.Tags)
		return ck
	}
	ckA, ckB := cookieOf(a), cookieOf(b)
	if string(ckA) == string(ckB) {
		t.Fatal("two ACs issued one cookie")
	}
	padrTo := func(dst net.HardwareAddr, ck ACCookie) []byte {
		return buildFrame(t, dst, subMAC, nil, &Packet{Code: CodePADR, Tags: []Tag{ServiceName("internet"), ck}})
	}
	if out := b.Handle(padrTo(cfgB.MAC, ckA), t0); len(out) != 0 {
		t.Errorf("AC B answered a PADR carrying A's cookie")
	}
	if n := b.Counters().PADRBadCookie; n != 1 {
		t.Errorf("B PADRBadCookie = %d, want 1", n)
	}
	// A PADR is unicast: A ignores one to B whatever it carries.
	if out := a.Handle(padrTo(cfgB.MAC, ckA), t0); len(out) != 0 {
		t.Errorf("AC A answered a PADR sent to B")
	}
	for _, tc := range []struct {
		s   *Server
		mac net.HardwareAddr
		ck  ACCookie
	}{{a, cfgA.MAC, ckA}, {b, cfgB.MAC, ckB}} {
		out := tc.s.Handle(padrTo(tc.mac, tc.ck), t0)
		if len(out) != 1 {
			t.Fatalf("%v: own cookie: %d replies", tc.mac, len(out))
		}
		if _, p, _ := ParseFrame(out[0]); p.Code != CodePADS || p.SessionID == 0 {
			t.Errorf("%v: own cookie: %v session %d, want a PADS with a session", tc.mac, p.Code, p.SessionID)
		}
	}
}

// TestCookieReusedState checks that a keyed HMAC state reused from the
// pool gives every cookie what a fresh hmac.New gives, from goroutines at
// once (as the servers of several ports share nothing but may share a
// key's pool), so no state leaks from one cookie into the next.
func TestCookieReusedState(t *testing.T) {
	key := []byte("reused key")
	k := newCookieKey(key)
	ac := [6]byte{0x02, 0xac, 0, 0, 0, 1}
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 200 {
				c := Circuit{Ifindex: g + 1, MAC: [6]byte{0x02, 0, 0, 0, byte(g), byte(i)}}
				if i%3 == 0 {
					c.VLANs[0], c.NumVLANs = ethernet.VLAN{TPID: ethernet.EtherTypeVLAN, ID: uint16(i)}, 1
				}
				got := cookie(k, ac, c, int64(i))
				want := cookie(newCookieKey(key), ac, c, int64(i))
				if got != want {
					done <- fmt.Errorf("goroutine %d cookie %d: reused state %x, fresh %x", g, i, got, want)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkCheckCookie is the AC-Cookie work of one PADR: the current and
// the previous bucket's cookie.
func BenchmarkCheckCookie(b *testing.B) {
	k := newCookieKey([]byte("0123456789abcdef0123456789abcdef"))
	ac := [6]byte{0x02, 0xac, 0, 0, 0, 1}
	c := Circuit{Ifindex: 3, MAC: [6]byte{0x02, 0, 0, 0, 0, 1}}
	now := time.Unix(1_700_000_000, 0)
	ck := issueCookie(k, ac, c, now, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if !checkCookie(k, ac, c, ck[:], now, time.Minute) {
			b.Fatal("cookie refused")
		}
	}
}
