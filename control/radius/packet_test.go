package radius

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

func TestFindMA(t *testing.T) {
	hdr := func(attrs ...byte) []byte {
		b := append([]byte{
			0x02, 0x01, // Access-Accept, identifier 1
			0, 0, // length, set below
		}, make([]byte, 16)...) // authenticator
		b = append(b, attrs...)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		return b
	}
	ma := append([]byte{80, 18}, make([]byte, 16)...) // Message-Authenticator
	for _, tc := range []struct {
		name string
		b    []byte
		at   int
		err  error
	}{
		{"none", hdr(1, 3, 'a'), -1, nil},
		{"first", hdr(append(ma, 1, 3, 'a')...), 20, nil},
		{"after User-Name", hdr(append([]byte{1, 3, 'a'}, ma...)...), 23, nil},
		{"two", hdr(append(ma, ma...)...), -1, errTwoMA},
		{"short MA", hdr(80, 17, 0), -1, errAttributes},
		{"attribute length 0", hdr(1, 0), -1, errAttributes},
		{"attribute length 1", hdr(1, 1), -1, errAttributes},
		{"attribute past the end", hdr(1, 9, 'a'), -1, errAttributes},
		{"lone type octet", hdr(1), -1, errAttributes},
	} {
		at, err := findMA(tc.b)
		if at != tc.at || !errors.Is(err, tc.err) {
			t.Errorf("%s: findMA = %d, %v; want %d, %v", tc.name, at, err, tc.at, tc.err)
		}
	}
}

func TestFrame(t *testing.T) {
	ok := append([]byte{2, 1, 0, 20}, make([]byte, 16)...)
	for _, tc := range []struct {
		name string
		b    []byte
		n    int
	}{
		{"exact", ok, 20},
		{"padding ignored", append(bytes.Clone(ok), 0, 0, 0), 20},
		{"short", ok[:19], -1},
		{"length below header", append([]byte{2, 1, 0, 19}, make([]byte, 16)...), -1},
		{"length past datagram", append([]byte{2, 1, 0, 21}, make([]byte, 16)...), -1},
		{"length over 4096", append([]byte{2, 1, 0x10, 1}, make([]byte, 4097)...), -1},
	} {
		b, err := frame(tc.b)
		if tc.n < 0 && err == nil || tc.n >= 0 && (err != nil || len(b) != tc.n) {
			t.Errorf("%s: %d bytes, %v", tc.name, len(b), err)
		}
	}
}

// The secret must not leak through any formatting of a Server.
func TestSecretHidden(t *testing.T) {
	s := Server{Address: netip.MustParseAddr("192.0.2.9"), Secret: "hunter2"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		if out := fmt.Sprintf(f, s); bytes.Contains([]byte(out), []byte("hunter2")) || bytes.Contains([]byte(out), []byte("68756e74657232")) {
			t.Errorf("%s shows the secret: %s", f, out)
		}
	}
	if b, _ := s.Secret.MarshalText(); string(b) != "<hidden>" {
		t.Errorf("MarshalText: %s", b)
	}
}

// FuzzVerifyResponse: whatever arrives, verification never panics, and
// what it accepts was signed with the secret for this request.
func FuzzVerifyResponse(f *testing.F) {
	req := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	req.Identifier = 9
	_ = rfc2865.UserName_SetString(req, "alice")
	wire, err := encodeRequest(req)
	if err != nil {
		f.Fatal(err)
	}
	good := req.Response(radius.CodeAccessAccept)
	_ = rfc2865.ReplyMessage_SetString(good, "hi")
	signed, _ := encodeResponse(good, req.Authenticator)
	unsigned, _ := good.Encode()
	f.Add(signed)
	f.Add(unsigned)
	f.Add(signed[:25])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := frame(b)
		if err != nil {
			return
		}
		if verifyResponse(p, wire, []byte(testSecret), true) == nil {
			// Accepted: it must also pass the library's own
			// Response Authenticator check.
			if !radius.IsAuthenticResponse(p, wire, []byte(testSecret)) {
				t.Fatalf("accepted a response the library calls forged: %x", p)
			}
		}
	})
}

// FuzzDynAuth feeds datagrams from an allowed client to the listener's
// packet path: never a panic, never a handler call for a packet that was
// not signed with the secret.
func FuzzDynAuth(f *testing.F) {
	signed := func(build func(p *radius.Packet)) []byte {
		p := radius.New(radius.CodeDisconnectRequest, []byte(testSecret))
		build(p)
		b, _ := encodeRequest(p)
		return b
	}
	f.Add(signed(func(p *radius.Packet) { _ = rfc2865.UserName_SetString(p, "alice") }))
	f.Add(signed(func(p *radius.Packet) { _ = rfc2865.FramedIPAddress_Set(p, []byte{1, 2, 3}) }))
	f.Add([]byte{40, 1, 0, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newSessions()
		d := NewDynAuth(s, DynAuthOptions{Clients: loopbackClient})
		src := netip.MustParseAddrPort("127.0.0.1:5000")
		answer := d.handle(context.Background(), src, b)
		if s.calls > 0 {
			p, err := frame(b)
			if err != nil || verifyRequest(p, []byte(testSecret), false) != nil {
				t.Fatalf("handler called for an unsigned packet %x", b)
			}
		}
		if answer != nil {
			if _, err := radius.Parse(answer, []byte(testSecret)); err != nil {
				t.Fatalf("unparsable answer %x: %v", answer, err)
			}
		}
	})
}
