package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
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

// marshal writes what layeh.com/radius's MarshalBinary writes for the
// same packet with a zero Message-Authenticator put first and any other
// one left out, and refuses what it refuses.
func TestMarshal(t *testing.T) {
	attr := func(typ radius.Type, v []byte) *radius.AVP { return &radius.AVP{Type: typ, Attribute: v} }
	ma := attr(rfc2869.MessageAuthenticator_Type, bytes.Repeat([]byte{0xee}, 16))
	user := attr(rfc2865.UserName_Type, []byte("alice"))
	port := attr(rfc2865.NASPort_Type, []byte{0, 0, 0, 7})
	for _, tc := range []struct {
		name  string
		attrs radius.Attributes
		err   bool
	}{
		{"none", nil, false},
		{"two", radius.Attributes{user, port}, false},
		{"a Message-Authenticator already there is replaced", radius.Attributes{user, ma, port}, false},
		{"type beyond 255 skipped", radius.Attributes{user, attr(300, []byte("x")), port}, false},
		{"empty value", radius.Attributes{attr(rfc2865.State_Type, nil)}, false},
		{"value of 253 octets", radius.Attributes{attr(rfc2865.Class_Type, make([]byte, 253))}, false},
		{"value of 254 octets", radius.Attributes{attr(rfc2865.Class_Type, make([]byte, 254))}, true},
		{"packet over 4096 octets", slices.Repeat(radius.Attributes{attr(rfc2865.Class_Type, make([]byte, 253))}, 17), true},
	} {
		p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		p.Identifier = 42
		p.Attributes = tc.attrs
		got, err := marshal(p)
		// The reference: the library's encoding of the attribute list with
		// the zero Message-Authenticator in front.
		q := *p
		q.Attributes = radius.Attributes{attr(rfc2869.MessageAuthenticator_Type, make([]byte, 16))}
		for _, a := range tc.attrs {
			if a.Type != rfc2869.MessageAuthenticator_Type {
				q.Attributes = append(q.Attributes, a)
			}
		}
		want, werr := q.MarshalBinary()
		if tc.err {
			if err == nil || werr == nil {
				t.Errorf("%s: marshal error %v, library's %v; want both", tc.name, err, werr)
			}
			continue
		}
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: marshal = %x, %v\nlibrary    %x, %v", tc.name, got, err, want, werr)
		}
	}
}

// The keyed states are reused per secret: whatever order secrets come
// in, each packet gets its own secret's HMAC-MD5 and MD5, as hmac.New and
// md5.New computed afresh give them (a key over 64 octets is hashed first,
// RFC 2104 §2, so one is among them).
func TestKeysPerSecret(t *testing.T) {
	p := append([]byte{4, 9, 0, 44}, make([]byte, 16)...)
	p = append(p, 80, 18)
	p = append(p, make([]byte, 16)...)
	p = append(p, 1, 6, 'a', 'b', 'c', 'd')
	auth := bytes.Repeat([]byte{0x11}, 16)
	secrets := [][]byte{[]byte("one"), []byte("two"), bytes.Repeat([]byte("long"), 20), []byte("one")}
	for round := range 3 {
		for _, sec := range secrets {
			m := hmac.New(md5.New, sec)
			m.Write(p[:4])
			m.Write(auth)
			m.Write(p[20:])
			if got := macOver(p, 20, auth, sec); !bytes.Equal(got[:], m.Sum(nil)) {
				t.Errorf("round %d, secret %q: HMAC-MD5 %x, want %x", round, sec, got, m.Sum(nil))
			}
			h := md5.New()
			h.Write(p[:4])
			h.Write(auth)
			h.Write(p[20:])
			h.Write(sec)
			if got := hashAuth(p, auth, sec); !bytes.Equal(got[:], h.Sum(nil)) {
				t.Errorf("round %d, secret %q: MD5 %x, want %x", round, sec, got, h.Sum(nil))
			}
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
