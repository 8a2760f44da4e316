package pppoe

import (
	"crypto/hmac"
	"crypto/sha256"
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
	msg := []byte{
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
	got := cookie(key, c, 12345)
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
	ck := issueCookie(key, base, issued, period)

	tests := []struct {
		name   string
		key    []byte
		c      Circuit
		cookie []byte
		now    time.Time
		want   bool
	}{
		{"same bucket", key, base, ck[:], issued, true},
		{"next bucket", key, base, ck[:], issued.Add(period), true},
		{"two buckets later", key, base, ck[:], issued.Add(2 * period), false},
		{"from the future", key, base, ck[:], issued.Add(-period), false},
		{"other MAC", key, otherMAC, ck[:], issued, false},
		{"other ifindex", key, otherIf, ck[:], issued, false},
		{"behind a VLAN", key, tagged, ck[:], issued, false},
		{"other key", []byte("l"), base, ck[:], issued, false},
		{"truncated", key, base, ck[:CookieLen-1], issued, false},
		{"extended", key, base, append(ck[:], 0), issued, false},
		{"empty", key, base, nil, issued, false},
		{"one bit flipped", key, base, flipLast(ck[:]), issued, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkCookie(tt.key, tt.c, tt.cookie, tt.now, period); got != tt.want {
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
