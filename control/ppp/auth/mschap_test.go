package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 2759 §9.2 "Hash Example", every intermediate value.
const (
	v2User          = "User"       // 55 73 65 72
	v2Password      = "clientPass" // 63 00 6C 00 69 00 65 00 6E 00 74 00 50 00 61 00 73 00 73 00 in UTF-16LE
	v2PasswordUTF16 = "63006C00690065006E0074005000610073007300"
	v2AuthChallenge = "5B5D7C7D7B3F2F3E3C2C602132262628"
	v2PeerChallenge = "21402324255E262A28295F2B3A337C7E"
	v2Challenge     = "D02E4386BCE91226"
	v2PasswordHash  = "44EBBA8D5312B8D611474411F56989AE"
	v2NTResponse    = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
	v2HashHash      = "41C00C584BD2D91C4017A2A12FA59F3F"
	v2AuthResponse  = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
)

// RFC 2433 Appendix B, the MS-CHAPv1 example.
const (
	v1Password     = "MyPw" // 4D 00 79 00 50 00 77 00 in UTF-16LE
	v1Challenge    = "102DB5DF085D3041"
	v1PasswordHash = "FC156AF7EDCD6C0EDDE3337D427F4EAC"
	v1NTResponse   = "4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61"
)

func TestRFC2759Vectors(t *testing.T) {
	auth, peer := unhex(t, v2AuthChallenge), unhex(t, v2PeerChallenge)
	pw := []byte(v2Password)

	u, err := utf16le(pw)
	if err != nil || !bytes.Equal(u, unhex(t, v2PasswordUTF16)) {
		t.Errorf("utf16le = %X, %v; want %s", u, err, v2PasswordUTF16)
	}
	c, err := ChallengeHash(peer, auth, []byte(v2User))
	if err != nil || !bytes.Equal(c, unhex(t, v2Challenge)) {
		t.Errorf("ChallengeHash = %X, %v; want %s", c, err, v2Challenge)
	}
	ph, err := NTPasswordHash(pw)
	if err != nil || !bytes.Equal(ph, unhex(t, v2PasswordHash)) {
		t.Errorf("NTPasswordHash = %X, %v; want %s", ph, err, v2PasswordHash)
	}
	phh, err := HashNTPasswordHash(ph)
	if err != nil || !bytes.Equal(phh, unhex(t, v2HashHash)) {
		t.Errorf("HashNTPasswordHash = %X, %v; want %s", phh, err, v2HashHash)
	}
	nt, err := GenerateNTResponse(auth, peer, []byte(v2User), pw)
	if err != nil || !bytes.Equal(nt, unhex(t, v2NTResponse)) {
		t.Errorf("GenerateNTResponse = %X, %v; want %s", nt, err, v2NTResponse)
	}
	ar, err := GenerateAuthenticatorResponse(pw, unhex(t, v2NTResponse), peer, auth, []byte(v2User))
	if err != nil || string(ar) != v2AuthResponse {
		t.Errorf("GenerateAuthenticatorResponse = %q, %v; want %q", ar, err, v2AuthResponse)
	}
}

func TestRFC2433Vectors(t *testing.T) {
	ph, err := NTPasswordHash([]byte(v1Password))
	if err != nil || !bytes.Equal(ph, unhex(t, v1PasswordHash)) {
		t.Errorf("NTPasswordHash = %X, %v; want %s", ph, err, v1PasswordHash)
	}
	r, err := ChallengeResponse(unhex(t, v1Challenge), ph)
	if err != nil || !bytes.Equal(r, unhex(t, v1NTResponse)) {
		t.Errorf("ChallengeResponse = %X, %v; want %s", r, err, v1NTResponse)
	}
	resp, err := MSCHAPv1Response(unhex(t, v1Challenge), []byte(v1Password))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(make([]byte, 24), // LM-Response: zero, we never send it
		unhex(t, v1NTResponse)...), // NT-Response
		1) // Use-NT-Response flag
	if !bytes.Equal(resp, want) {
		t.Errorf("MSCHAPv1Response = %X, want %X", resp, want)
	}
}

func TestVerifyNTResponse(t *testing.T) {
	auth, peer, nt := unhex(t, v2AuthChallenge), unhex(t, v2PeerChallenge), unhex(t, v2NTResponse)
	flipped := bytes.Clone(nt)
	flipped[23] ^= 1
	for _, tc := range []struct {
		name     string
		user, pw string
		auth     []byte
		nt       []byte
		ok       bool
		err      bool
	}{
		{"rfc vector", v2User, v2Password, auth, nt, true, false},
		{"wrong password", v2User, "clientPasS", auth, nt, false, false},
		{"wrong user", "user", v2Password, auth, nt, false, false},
		{"flipped bit", v2User, v2Password, auth, flipped, false, false},
		{"short response", v2User, v2Password, auth, nt[:23], false, true},
		{"long response", v2User, v2Password, auth, append(bytes.Clone(nt), 0), false, true},
		{"short challenge", v2User, v2Password, auth[:15], nt, false, true},
		{"password not utf-8", v2User, "\xff", auth, nt, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyNTResponse(tc.auth, peer, []byte(tc.user), []byte(tc.pw), tc.nt)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("VerifyNTResponse = %v, %v; want %v, err %v", ok, err, tc.ok, tc.err)
			}
		})
	}
}

func TestCheckAuthenticatorResponse(t *testing.T) {
	auth, peer, nt := unhex(t, v2AuthChallenge), unhex(t, v2PeerChallenge), unhex(t, v2NTResponse)
	for _, tc := range []struct {
		name     string
		pw       string
		received string
		ok       bool
		err      bool
	}{
		{"rfc vector", v2Password, v2AuthResponse, true, false},
		{"lower-case hex", v2Password, "S=407a5589115fd0d6209f510fe9c04566932cda56", true, false},
		{"server without the password", "guess", v2AuthResponse, false, false},
		{"last digit off", v2Password, "S=407A5589115FD0D6209F510FE9C04566932CDA57", false, false},
		{"no S=", v2Password, "X=407A5589115FD0D6209F510FE9C04566932CDA56", false, true},
		{"truncated", v2Password, v2AuthResponse[:41], false, true},
		{"only S=", v2Password, "S=", false, true},
		{"empty", v2Password, "", false, true},
		{"message not split off", v2Password, v2AuthResponse + " M=hi", false, true},
		{"not hex", v2Password, "S=407A5589115FD0D6209F510FE9C04566932CDAZZ", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckAuthenticatorResponse([]byte(tc.pw), nt, peer, auth, []byte(v2User), []byte(tc.received))
			if ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("CheckAuthenticatorResponse = %v, %v; want %v, err %v", ok, err, tc.ok, tc.err)
			}
		})
	}
}

func TestVerifyMSCHAPv1Response(t *testing.T) {
	ch := unhex(t, v1Challenge)
	good, err := MSCHAPv1Response(ch, []byte(v1Password))
	if err != nil {
		t.Fatal(err)
	}
	lmOnly := bytes.Clone(good)
	lmOnly[48] = 0 // Use-NT-Response flag cleared
	lmGarbage := bytes.Clone(good)
	lmGarbage[0] = 0xff // LM-Response is ignored
	for _, tc := range []struct {
		name string
		pw   string
		resp []byte
		ok   bool
		err  error
	}{
		{"good", v1Password, good, true, nil},
		{"lm field ignored", v1Password, lmGarbage, true, nil},
		{"wrong password", "mypw", good, false, nil},
		{"lm only", v1Password, lmOnly, false, ErrLMOnly},
		{"short", v1Password, good[:48], false, errAny},
		{"empty", v1Password, nil, false, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyMSCHAPv1Response(ch, []byte(tc.pw), tc.resp)
			if ok != tc.ok || !matchErr(err, tc.err) {
				t.Errorf("VerifyMSCHAPv1Response = %v, %v; want %v, %v", ok, err, tc.ok, tc.err)
			}
		})
	}
}

var errAny = errors.New("any error")

func matchErr(err, want error) bool {
	switch want {
	case nil:
		return err == nil
	case errAny:
		return err != nil
	}
	return errors.Is(err, want)
}

func TestPasswordLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   []byte
		err  bool
	}{
		{"empty", nil, false},
		{"256 ascii", bytes.Repeat([]byte{'a'}, 256), false},
		{"257 ascii", bytes.Repeat([]byte{'a'}, 257), true},
		{"128 astral runes are 256 units", bytes.Repeat([]byte("😀"), 128), false},
		{"129 astral runes are 258 units", bytes.Repeat([]byte("😀"), 129), true},
		{"invalid utf-8", []byte{0xc3}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NTPasswordHash(tc.pw)
			if (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrPassword)) {
				t.Errorf("NTPasswordHash err = %v, want err %v wrapping ErrPassword", err, tc.err)
			}
		})
	}
	// A non-ASCII rune becomes its UTF-16LE code unit, a surrogate pair for an astral one.
	u, err := utf16le([]byte("é😀"))
	want := []byte{0xe9, 0x00, 0x3d, 0xd8, 0x00, 0xde}
	if err != nil || !bytes.Equal(u, want) {
		t.Errorf("utf16le = %X, %v; want %X", u, err, want)
	}
}

func TestPrimitiveLengths(t *testing.T) {
	h := make([]byte, 16)
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"ChallengeResponse short challenge", func() error { _, err := ChallengeResponse(make([]byte, 7), h); return err }},
		{"ChallengeResponse long hash", func() error { _, err := ChallengeResponse(make([]byte, 8), make([]byte, 17)); return err }},
		{"HashNTPasswordHash short", func() error { _, err := HashNTPasswordHash(h[:15]); return err }},
		{"ChallengeHash short peer", func() error { _, err := ChallengeHash(h[:15], h, nil); return err }},
		{"GenerateAuthenticatorResponse short nt", func() error {
			_, err := GenerateAuthenticatorResponse(nil, make([]byte, 23), h, h, nil)
			return err
		}},
		{"FormatAuthenticatorResponse short digest", func() error { _, err := FormatAuthenticatorResponse(h); return err }},
	} {
		if tc.f() == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestStripDomain(t *testing.T) {
	for in, want := range map[string]string{
		`User`:           "User",
		`CORP\User`:      "User",
		`A\B\User`:       "User",
		`CORP\`:          "",
		`user@realm.tld`: "user@realm.tld",
	} {
		if got := StripDomain([]byte(in)); string(got) != want {
			t.Errorf("StripDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseAuthenticatorResponse: parse → format → parse is stable, and a
// value that parses always has the canonical length.
func FuzzParseAuthenticatorResponse(f *testing.F) {
	f.Add([]byte(v2AuthResponse))
	f.Add([]byte("S=407a5589115fd0d6209f510fe9c04566932cda56"))
	f.Add([]byte("S="))
	f.Add([]byte(v2AuthResponse + " M=ok"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseAuthenticatorResponse(b)
		if err != nil {
			return
		}
		s, err := FormatAuthenticatorResponse(d)
		if err != nil {
			t.Fatalf("format of parsed %q: %v", b, err)
		}
		if !bytes.EqualFold(s, b) {
			t.Fatalf("format(parse(%q)) = %q", b, s)
		}
		d2, err := ParseAuthenticatorResponse(s)
		if err != nil || !bytes.Equal(d, d2) {
			t.Fatalf("reparse of %q: %X, %v; want %X", s, d2, err, d)
		}
	})
}

// FuzzVerifyMSCHAPv1Response: any Response Value a peer sends is checked
// without a panic, and one accepted carries the Use-NT flag and the
// NT-Response of the password, whatever its LM-Response.
func FuzzVerifyMSCHAPv1Response(f *testing.F) {
	ch, pw := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte("secret")
	good, err := MSCHAPv1Response(ch, pw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(make([]byte, MSCHAPv1ResponseLen))
	f.Fuzz(func(t *testing.T, resp []byte) {
		ok, err := VerifyMSCHAPv1Response(ch, pw, resp)
		if !ok {
			return
		}
		if err != nil || resp[48] != 1 || !bytes.Equal(resp[24:48], good[24:48]) {
			t.Fatalf("accepted % x (err %v), want only the flag 1 and % x", resp, err, good[24:48])
		}
	})
}
