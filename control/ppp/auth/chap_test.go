package auth

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

func TestMD5Response(t *testing.T) {
	ch := unhex(t, v1Challenge)
	// Expected values from PEAR Crypt_CHAP's test suite (an independent
	// implementation), cross-checked with Python's hashlib.md5.
	for _, tc := range []struct {
		id     uint8
		secret string
		want   string
	}{
		{1, "MyPw", "8f028814450d66d94c72331ef455a172"},
		{1, "sepp", "d39bfaf5d6855a948c8c81a85947502c"},
	} {
		if got := MD5Response(tc.id, []byte(tc.secret), ch); !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("MD5Response(%d, %q) = %x, want %s", tc.id, tc.secret, got, tc.want)
		}
	}
}

func TestVerifyMD5Response(t *testing.T) {
	ch := unhex(t, v1Challenge)
	good := MD5Response(7, []byte("secret"), ch)
	for _, tc := range []struct {
		name   string
		id     uint8
		secret string
		ch     []byte
		resp   []byte
		ok     bool
	}{
		{"good", 7, "secret", ch, good, true},
		{"other identifier", 8, "secret", ch, good, false},
		{"other secret", 7, "Secret", ch, good, false},
		{"other challenge", 7, "secret", ch[1:], good, false},
		{"truncated response", 7, "secret", ch, good[:15], false},
		{"empty response", 7, "secret", ch, nil, false},
		{"padded response", 7, "secret", ch, append(bytes.Clone(good), 0), false},
	} {
		if ok := VerifyMD5Response(tc.id, []byte(tc.secret), tc.ch, tc.resp); ok != tc.ok {
			t.Errorf("%s: VerifyMD5Response = %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestNewChallenge(t *testing.T) {
	src := bytes.NewReader(bytes.Repeat([]byte{0xab}, 64))
	for m, n := range map[Method]int{CHAP: 16, MSCHAPv1: 8, MSCHAPv2: 16} {
		c, err := NewChallenge(src, m)
		if err != nil || len(c) != n {
			t.Errorf("NewChallenge(%s) = %d octets, %v; want %d", m, len(c), err, n)
		}
	}
	if _, err := NewChallenge(src, PAP); err == nil {
		t.Error("NewChallenge(pap): no error")
	}
	boom := errors.New("boom")
	if _, err := NewChallenge(iotest.ErrReader(boom), CHAP); !errors.Is(err, boom) {
		t.Errorf("NewChallenge with failing reader: %v, want %v", err, boom)
	}
	if _, err := NewChallenge(bytes.NewReader(make([]byte, 7)), MSCHAPv1); err == nil {
		t.Error("NewChallenge with short reader: no error")
	}
}
