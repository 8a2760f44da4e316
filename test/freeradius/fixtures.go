package freeradius

import (
	"bytes"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// Proof is what a PPP peer sends for a user and password with one method:
// the PAP password, or the CHAP identifier, challenge and response.
type Proof struct {
	Password            []byte
	ID                  uint8
	Challenge, Response []byte
}

// Credentials computes the Proof a peer sends for user and password with
// m, on fixed challenges (RFC 1334, RFC 1994, RFC 2433, RFC 2759).
func Credentials(t testing.TB, m auth.Method, user, password string) Proof {
	t.Helper()
	p := Proof{ID: 7}
	var err error
	switch m {
	case auth.PAP:
		p.Password = []byte(password)
	case auth.CHAP:
		p.Challenge = bytes.Repeat([]byte{0x5a}, 16)
		p.Response = auth.MD5Response(p.ID, []byte(password), p.Challenge)
	case auth.MSCHAPv1:
		p.Challenge = []byte("8bytes!!")
		p.Response, err = auth.MSCHAPv1Response(p.Challenge, []byte(password))
	case auth.MSCHAPv2:
		p.Challenge = bytes.Repeat([]byte{0x21}, 16)
		peer := bytes.Repeat([]byte{0x42}, 16)
		var nt []byte
		nt, err = auth.GenerateNTResponse(p.Challenge, peer, []byte(user), []byte(password))
		// Peer-Challenge, 8 reserved octets, NT-Response, Flags (RFC 2759 §4).
		p.Response = append(append(append(peer, make([]byte, 8)...), nt...), 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Radclient sends attrs as a kind ("coa" or "disconnect") request to to
// with FreeRADIUS's radclient, once, waiting up to wait (whole seconds,
// at least one) for the answer, and returns what it printed: a NAK or no
// reply exits non-zero, the output says which.
func Radclient(t testing.TB, to netip.AddrPort, kind, secret, attrs string, wait time.Duration) string {
	t.Helper()
	netns.RequireTool(t, "radclient")
	cmd := exec.Command("radclient", "-x", "-t", strconv.Itoa(max(1, int(wait/time.Second))), "-r", "1", to.String(), kind, secret)
	cmd.Stdin = strings.NewReader(attrs)
	out, _ := cmd.CombinedOutput()
	return string(out)
}
