package lcp

import (
	"bytes"
	"reflect"
	"testing"
)

// windowsRequest is the shape of the LCP Configure-Request Data a Windows
// client sends over PPPoE with "Negotiate multi-link for single link
// connections" on: its MRU, a magic number, the hard-coded MRRU 1614 with
// long sequence numbers (no Short-Sequence option) and a locally assigned
// Endpoint-Discriminator.
var windowsRequest = []byte{
	0x01, 0x04, 0x05, 0xd4, // MRU 1492
	0x05, 0x06, 0x3c, 0x1a, 0x6f, 0x20, // Magic-Number
	0x11, 0x04, 0x06, 0x4e, // MRRU 1614
	0x13, 0x17, 0x01, // Endpoint-Discriminator, Length 23, class 1 (locally assigned)
	0x9a, 0x4c, 0x2f, 0x11, 0x83, 0x0e, 0x47, 0x52, 0xb1, 0x36, // 20 octets of address
	0x5d, 0xe2, 0x07, 0x44, 0x10, 0xc9, 0x00, 0x00, 0x00, 0x00,
}

func mustPolicy(t *testing.T, mrru int) MultilinkPolicy {
	t.Helper()
	p, err := NewMultilinkPolicy(mrru, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMultilinkCheck(t *testing.T) {
	ed := EndpointDiscriminator{Class: ClassMAC, Address: []byte{2, 0, 0, 0, 0, 1}}
	tests := []struct {
		name   string
		mrru   int
		opt    Option
		want   Verdict
		hint   Option
		notOur bool // not a multilink option: the caller judges it
	}{
		{name: "disabled rejects MRRU", mrru: 0, opt: MRRU(1614), want: Reject},
		{name: "disabled rejects Short-Sequence", mrru: 0, opt: ShortSequence{}, want: Reject},
		{name: "disabled still acks a discriminator", mrru: 0, opt: ed, want: Ack},
		{name: "Windows MRRU 1614", mrru: 1614, opt: MRRU(1614), want: Ack},
		{name: "peer MRRU above ours is its business", mrru: 1600, opt: MRRU(65535), want: Ack},
		{name: "peer MRRU below ours", mrru: 1614, opt: MRRU(1500), want: Ack},
		{name: "peer MRRU 68 is the floor", mrru: 1614, opt: MRRU(68), want: Ack},
		{name: "peer MRRU 67 is Nak'd to 68", mrru: 1614, opt: MRRU(67), want: Nak, hint: MRRU(68)},
		{name: "peer MRRU 0 is Nak'd to 68", mrru: 1614, opt: MRRU(0), want: Nak, hint: MRRU(68)},
		{name: "Short-Sequence acked when on", mrru: 1614, opt: ShortSequence{}, want: Ack},
		{name: "discriminator acked when on", mrru: 1614, opt: ed, want: Ack},
		{name: "MRU is not ours", mrru: 1614, opt: MRU(1492), notOur: true},
		{name: "unknown is not ours", mrru: 1614, opt: Raw{T: 99}, notOur: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, hint, ok := mustPolicy(t, tt.mrru).Check(tt.opt)
			if ok == tt.notOur {
				t.Fatalf("ok = %v, want %v", ok, !tt.notOur)
			}
			if tt.notOur {
				return
			}
			if v != tt.want || !reflect.DeepEqual(hint, tt.hint) {
				t.Fatalf("got %v %#v, want %v %#v", v, hint, tt.want, tt.hint)
			}
		})
	}
}

// A peer that asks for MP when we don't offer it still connects without
// it: each of its multilink options is rejected (it must stop asking, RFC
// 1661 §5.4), we request none, and the outcome is no multilink at all.
func TestMultilinkPeerAsksWhenDisabled(t *testing.T) {
	theirs, err := parseOptions(windowsRequest)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, 0)
	if r := p.Request(); r != nil {
		t.Fatalf("disabled requests %#v", r)
	}
	var acked, rejected []Option
	for _, o := range theirs {
		v, _, ok := p.Check(o)
		if !ok {
			acked = append(acked, o) // MRU and magic: the link's business
			continue
		}
		switch v {
		case Ack:
			acked = append(acked, o)
		case Reject:
			rejected = append(rejected, o)
		default:
			t.Fatalf("%v: %v", o.Type(), v)
		}
	}
	if len(rejected) != 1 || rejected[0] != MRRU(WindowsMRRU) {
		t.Fatalf("rejected %#v, want only the MRRU", rejected)
	}
	// The peer's next request has what we acked; the link comes up.
	if m := NegotiatedMultilink(nil, acked); m.Active() || !reflect.DeepEqual(m, Multilink{}) {
		t.Fatalf("negotiated %+v, want nothing", m)
	}
}

// Windows against RouterOS-style mrru=1614: MRRU and the discriminator are
// acked, long sequence numbers both ways, MP active, MSS follows the MRRU.
func TestMultilinkWindows(t *testing.T) {
	theirs, err := parseOptions(windowsRequest)
	if err != nil {
		t.Fatal(err)
	}
	ours := EndpointDiscriminator{Class: ClassMAC, Address: []byte{0x02, 0xaa, 0, 0, 0, 1}}
	p, err := NewMultilinkPolicy(1614, &ours)
	if err != nil {
		t.Fatal(err)
	}
	req := p.Request()
	b, err := marshalOptions(req)
	if err != nil {
		t.Fatal(err)
	}
	wantReq := []byte{
		0x11, 0x04, 0x06, 0x4e, // MRRU 1614
		0x13, 0x09, 0x03, 0x02, 0xaa, 0, 0, 0, 1, // Endpoint-Discriminator class MAC
	}
	if !bytes.Equal(b, wantReq) {
		t.Fatalf("request % x, want % x", b, wantReq)
	}
	for _, o := range theirs {
		if v, _, ok := p.Check(o); ok && v != Ack {
			t.Fatalf("%v: %v", o.Type(), v)
		}
	}
	m := NegotiatedMultilink(req, theirs)
	want := Multilink{
		RecvMRRU: 1614, SendMRRU: 1614,
		PeerEndpoint: &EndpointDiscriminator{Class: ClassLocal, Address: windowsRequest[17:37]},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("negotiated %+v, want %+v", m, want)
	}
	if got := m.ClampUnit(1480) - 40; got != 1574 {
		t.Fatalf("MSS %d, want 1574 (MRRU 1614 - 40: hosts keep their 1460)", got)
	}
}

func TestNegotiatedMultilink(t *testing.T) {
	tests := []struct {
		name         string
		ours, theirs []Option
		want         Multilink
	}{
		{name: "neither", want: Multilink{}},
		{name: "only ours acked: not active", ours: []Option{MRRU(1614)}, want: Multilink{}},
		{name: "only theirs acked: not active", theirs: []Option{MRRU(1614), ShortSequence{}}, want: Multilink{}},
		{
			name: "both, short one way",
			ours: []Option{MRU(1480), MRRU(1600), ShortSequence{}}, theirs: []Option{MRRU(1614)},
			want: Multilink{RecvMRRU: 1600, RecvShortSeq: true, SendMRRU: 1614},
		},
		{
			name: "both, short the other way",
			ours: []Option{MRRU(1600)}, theirs: []Option{ShortSequence{}, MRRU(4000)},
			want: Multilink{RecvMRRU: 1600, SendMRRU: 4000, SendShortSeq: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NegotiatedMultilink(tt.ours, tt.theirs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMultilinkNakReject(t *testing.T) {
	ed := &EndpointDiscriminator{Class: ClassNull, Address: []byte{}}
	p, err := NewMultilinkPolicy(1614, ed)
	if err != nil {
		t.Fatal(err)
	}
	p.ShortSeq = true
	tests := []struct {
		name string
		got  MultilinkPolicy
		want MultilinkPolicy
	}{
		{name: "Nak to a smaller MRRU in range", got: p.Nak(MRRU(1500)), want: MultilinkPolicy{MRRU: 1500, ShortSeq: true, Endpoint: ed}},
		{name: "Nak below 512 ignored", got: p.Nak(MRRU(511)), want: p},
		{name: "Nak to a larger MRRU ignored", got: p.Nak(MRRU(2000)), want: p},
		{name: "Nak of another option ignored", got: p.Nak(MRU(1400)), want: p},
		{name: "Nak when disabled stays disabled", got: MultilinkPolicy{}.Nak(MRRU(1500)), want: MultilinkPolicy{}},
		{name: "MRRU rejected: multilink off", got: p.Rejected(TypeMRRU), want: MultilinkPolicy{}},
		{name: "Short-Sequence rejected", got: p.Rejected(TypeShortSequence), want: MultilinkPolicy{MRRU: 1614, Endpoint: ed}},
		{name: "discriminator rejected", got: p.Rejected(TypeEndpointDiscriminator), want: MultilinkPolicy{MRRU: 1614, ShortSeq: true}},
		{name: "other reject", got: p.Rejected(TypeMRU), want: p},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
	if r := p.Request(); len(r) != 3 || r[1] != (ShortSequence{}) {
		t.Fatalf("request %#v: MRRU, Short-Sequence, discriminator", r)
	}
}

func TestNewMultilinkPolicy(t *testing.T) {
	for _, c := range []struct {
		mrru int
		ed   *EndpointDiscriminator
		ok   bool
	}{
		{0, nil, true}, {512, nil, true}, {65535, nil, true}, {1614, nil, true},
		{511, nil, false}, {1, nil, false}, {65536, nil, false}, {-1, nil, false},
		{1614, &EndpointDiscriminator{Class: ClassIPv4, Address: []byte{1, 2, 3}}, false},
	} {
		if _, err := NewMultilinkPolicy(c.mrru, c.ed); (err == nil) != c.ok {
			t.Errorf("mrru %d: err %v, want ok %v", c.mrru, err, c.ok)
		}
	}
}

func TestClampUnit(t *testing.T) {
	active := Multilink{RecvMRRU: 1614, SendMRRU: 1600}
	for _, c := range []struct {
		m        Multilink
		mtu, out uint16
	}{
		{Multilink{}, 1480, 1480},
		{active, 1480, 1600},                                  // the smaller MRRU
		{active, 1492, 1600},                                  // same
		{Multilink{RecvMRRU: 512, SendMRRU: 512}, 1480, 1480}, // the MTU carries more whole
		{Multilink{RecvMRRU: 1614}, 1480, 1480},               // not active
	} {
		if got := c.m.ClampUnit(c.mtu); got != c.out {
			t.Errorf("%+v mtu %d: %d, want %d", c.m, c.mtu, got, c.out)
		}
	}
}

// FuzzMultilinkCheck: any request the codec accepts gets an answer that
// never lets multilink through when it is disabled, and a Nak always
// carries an MRRU we would ack.
func FuzzMultilinkCheck(f *testing.F) {
	f.Add(windowsRequest, uint16(1614))
	f.Add([]byte{0x11, 0x04, 0x00, 0x10, 0x12, 0x02}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, mrru uint16) {
		opts, err := parseOptions(b)
		if err != nil {
			return
		}
		p := MultilinkPolicy{MRRU: mrru}
		for _, o := range opts {
			v, hint, ok := p.Check(o)
			if !ok {
				continue
			}
			if mrru == 0 && o.Type() != TypeEndpointDiscriminator && v != Reject {
				t.Fatalf("disabled: %v answered %v", o.Type(), v)
			}
			if v == Nak {
				if w, _, _ := p.Check(hint); w != Ack {
					t.Fatalf("Nak hint %#v is not acceptable itself", hint)
				}
			}
		}
		m := NegotiatedMultilink(p.Request(), opts)
		if mrru == 0 && m.Active() {
			t.Fatal("disabled but active")
		}
	})
}
