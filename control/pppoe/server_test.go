package pppoe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

var (
	srvMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	subMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0xaa}
	sub2MAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0xbb}
	testKey = []byte("cookie key")
	t0      = time.Unix(1_700_000_000, 0)

	vlan100 = []ethernet.VLAN{{TPID: ethernet.EtherTypeVLAN, ID: 100}}
	qinq    = []ethernet.VLAN{{TPID: ethernet.EtherTypeServiceVLAN, ID: 10}, {TPID: ethernet.EtherTypeVLAN, ID: 20}}
)

const testIfindex = 7

func testConfig() ServerConfig {
	return ServerConfig{
		ACName:       "ac1",
		MAC:          srvMAC,
		Ifindex:      testIfindex,
		ServiceNames: []string{"internet", "voip"},
		CookieKey:    testKey,
		CookiePeriod: time.Minute,
		MaxPayload:   1500,
	}
}

// fakeAdm is an Admission that allocates real ids and records calls.
type fakeAdm struct {
	mu     sync.Mutex
	ids    SessionIDs
	err    error
	opened []openCall
	closed []closeCall
}

type openCall struct {
	c        Circuit
	service  string
	hostUniq string
	sid      uint16
	// maxPayload is the granted PPP-Max-Payload (RFC 4638 §4), 0 if none.
	maxPayload uint16
}

type closeCall struct {
	c   Circuit
	sid uint16
}

func (a *fakeAdm) Open(c Circuit, r PADR) (uint16, error) {
	service, hostUniq, maxPayload := r.Service, r.HostUniq, r.MaxPayload
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, a.err
	}
	sid, err := a.ids.Allocate(c.MAC)
	if err != nil {
		return 0, err
	}
	a.opened = append(a.opened, openCall{c, service, string(hostUniq), sid, maxPayload})
	return sid, nil
}

func (a *fakeAdm) Close(c Circuit, sid uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = append(a.closed, closeCall{c, sid})
	a.ids.Release(c.MAC, sid)
}

func (a *fakeAdm) opens() []openCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]openCall(nil), a.opened...)
}

// frame marshals p from src to dst; tests build frames this way where a
// cookie computed at run time must go in, and as byte literals elsewhere.
func buildFrame(t testing.TB, dst, src net.HardwareAddr, vlans []ethernet.VLAN, p *Packet) []byte {
	t.Helper()
	b, err := MarshalFrame(dst, src, vlans, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func circuitFor(mac net.HardwareAddr, vlans []ethernet.VLAN) Circuit {
	c, err := CircuitOf(testIfindex, &ethernet.Frame{Source: mac, VLANs: vlans})
	if err != nil {
		panic(err)
	}
	return c
}

// cookieFor is the cookie the test server issues to mac on vlans at t0.
func cookieFor(mac net.HardwareAddr, vlans []ethernet.VLAN, now time.Time) ACCookie {
	ck := issueCookie(newCookieKey(testKey), [6]byte(srvMAC), circuitFor(mac, vlans), now, time.Minute)
	return ACCookie(ck[:])
}

func padrFrame(t testing.TB, src net.HardwareAddr, vlans []ethernet.VLAN, tags ...Tag) []byte {
	return buildFrame(t, srvMAC, src, vlans, &Packet{Code: CodePADR, Tags: tags})
}

type handleTest struct {
	name     string
	cfg      func(*ServerConfig)
	admErr   error
	in       []byte
	now      time.Time
	want     *Packet          // the reply, nil for none
	wantDst  net.HardwareAddr // the reply's destination; subMAC if nil
	wantVLAN []ethernet.VLAN  // the reply's tags
	counters Counters
	open     *openCall // the Admission.Open call expected
}

// padiQinQ is a PADI behind an S-tag and a C-tag with priority bits set.
var padiQinQ = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
	0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, // source: client
	0x88, 0xa8, 0x00, 0x0a, // S-tag: TPID 802.1ad, PCP 0, VID 10
	0x81, 0x00, 0xa0, 0x14, // C-tag: TPID 802.1Q, PCP 5, VID 20
	0x88, 0x63, // EtherType PPPoE discovery
	0x11,       // VER 1, TYPE 1
	0x09,       // CODE PADI
	0x00, 0x00, // SESSION_ID 0
	0x00, 0x0c, // LENGTH 12
	0x01, 0x01, 0x00, 0x00, // Service-Name "" (any)
	0x01, 0x03, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, // Host-Uniq 01020304
}

// padiUntagged is a PADI for "voip" with a Relay-Session-Id and RFC 4638
// PPP-Max-Payload 1600.
var padiUntagged = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
	0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, // source: client
	0x88, 0x63, // EtherType PPPoE discovery
	0x11,       // VER 1, TYPE 1
	0x09,       // CODE PADI
	0x00, 0x00, // SESSION_ID 0
	0x00, 0x1a, // LENGTH 26
	0x01, 0x01, 0x00, 0x04, 'v', 'o', 'i', 'p', // Service-Name "voip"
	0x01, 0x10, 0x00, 0x02, 0xbe, 0xef, // Relay-Session-Id beef
	0x01, 0x20, 0x00, 0x02, 0x06, 0x40, // PPP-Max-Payload 1600
	0x01, 0x03, 0x00, 0x02, 0xca, 0xfe, // Host-Uniq cafe
}

// with returns a copy of b with b[i] = v, for lying-field rows.
func withByte(b []byte, i int, v byte) []byte {
	b = append([]byte(nil), b...)
	b[i] = v
	return b
}

func handleTests(t testing.TB) []handleTest {
	hu := HostUniq{0x01, 0x02, 0x03, 0x04}
	ck := cookieFor(subMAC, nil, t0)
	ckV := cookieFor(subMAC, vlan100, t0)
	bigHU := HostUniq(bytes.Repeat([]byte{0x55}, 1460))
	return []handleTest{
		// PADI (RFC 2516 §5.1, §5.2).
		{
			name: "PADI any service behind QinQ: every service offered, tags echoed without priority",
			in:   padiQinQ,
			want: &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName("internet"), ServiceName("voip"),
				cookieFor(subMAC, qinq, t0), hu}},
			wantVLAN: qinq,
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name: "PADI for one service with relay id and max payload: RFC 4638 min(1600, 1500)",
			in:   padiUntagged,
			want: &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName("voip"), ck,
				HostUniq{0xca, 0xfe}, RelaySessionID{0xbe, 0xef}, PPPMaxPayload(1500)}},
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name: "PADI max payload not echoed by a 1492 server",
			cfg:  func(c *ServerConfig) { c.MaxPayload = 1492 },
			in:   padiUntagged,
			want: &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName("voip"), ck,
				HostUniq{0xca, 0xfe}, RelaySessionID{0xbe, 0xef}}},
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name: "PADI max payload below ours is granted as asked",
			cfg:  func(c *ServerConfig) { c.MaxPayload = 9000 },
			in:   padiUntagged,
			want: &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName("voip"), ck,
				HostUniq{0xca, 0xfe}, RelaySessionID{0xbe, 0xef}, PPPMaxPayload(1600)}},
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name:     "PADI for a service not offered: no PADO (§5.2)",
			in:       buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("iptv")}}),
			counters: Counters{PADIReceived: 1, PADIUnserved: 1},
		},
		{
			name:     "PADI for any service on a server with an empty service list offers the empty name",
			cfg:      func(c *ServerConfig) { c.ServiceNames = nil },
			in:       buildFrame(t, ethernet.Broadcast, subMAC, vlan100, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}}),
			want:     &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName(""), ckV}},
			wantVLAN: vlan100,
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name:     "PADI for a named service on a server with an empty service name: served, name echoed",
			cfg:      func(c *ServerConfig) { c.ServiceNames = []string{"internet", ""} },
			in:       buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("iptv")}}),
			want:     &Packet{Code: CodePADO, Tags: []Tag{ACName("ac1"), ServiceName("iptv"), ck}},
			counters: Counters{PADIReceived: 1, PADOSent: 1},
		},
		{
			name:     "PADI unicast to us: dropped (§5.1 broadcast)",
			in:       buildFrame(t, srvMAC, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}}),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI without Service-Name: dropped",
			in:       buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{HostUniq{1}}}),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI with two Service-Names: dropped",
			in:       buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), ServiceName("voip")}}),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI with a session id: dropped",
			in:       withByte(padiQinQ, 25, 0x01),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI from a group address: never answered",
			in:       buildFrame(t, ethernet.Broadcast, net.HardwareAddr{0x03, 0, 0, 0, 0, 0xaa}, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("")}}),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI LENGTH past the end: dropped",
			in:       withByte(padiQinQ, 27, 0x0d),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI LENGTH cutting Host-Uniq: dropped",
			in:       withByte(padiQinQ, 27, 0x0b),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI tag length past LENGTH: dropped",
			in:       withByte(padiQinQ, 35, 0x05),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		{
			name:     "PADI whose PADO would exceed 1500 bytes: dropped",
			in:       buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), bigHU}}),
			counters: Counters{PADIReceived: 1, PADIDropped: 1},
		},
		// PADR (§5.3, §5.4).
		{
			name:     "PADR with a valid cookie opens a session",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck, HostUniq{9}),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("voip"), HostUniq{9}}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "voip", hostUniq: "\x09", sid: 1},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR behind a VLAN, relay id and max payload echoed",
			in:       padrFrame(t, subMAC, vlan100, ServiceName("internet"), ckV, RelaySessionID{7}, PPPMaxPayload(1500)),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("internet"), RelaySessionID{7}, PPPMaxPayload(1500)}},
			wantVLAN: vlan100,
			open:     &openCall{c: circuitFor(subMAC, vlan100), service: "internet", sid: 1, maxPayload: 1500},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR asking more payload than the AC takes: capped, passed to Open",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck, PPPMaxPayload(9000)),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("voip"), PPPMaxPayload(1500)}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "voip", sid: 1, maxPayload: 1500},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR asking less payload than the AC takes: granted as asked",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck, PPPMaxPayload(1496)),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("voip"), PPPMaxPayload(1496)}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "voip", sid: 1, maxPayload: 1496},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR with max payload to an AC capped at 1492: no tag, 0 to Open",
			cfg:      func(c *ServerConfig) { c.MaxPayload = 1492 },
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck, PPPMaxPayload(1500)),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("voip")}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "voip", sid: 1},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR for any service opens the first offered",
			in:       padrFrame(t, subMAC, nil, ServiceName(""), ck),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("")}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "internet", sid: 1},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR with the previous bucket's cookie is accepted",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck),
			now:      t0.Add(time.Minute),
			want:     &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("voip")}},
			open:     &openCall{c: circuitFor(subMAC, nil), service: "voip", sid: 1},
			counters: Counters{PADRReceived: 1, PADSSent: 1},
		},
		{
			name:     "PADR with an expired cookie: no answer",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck),
			now:      t0.Add(2 * time.Minute),
			counters: Counters{PADRReceived: 1, PADRBadCookie: 1},
		},
		{
			name:     "PADR with another MAC's cookie: no answer",
			in:       padrFrame(t, sub2MAC, nil, ServiceName("voip"), ck),
			counters: Counters{PADRReceived: 1, PADRBadCookie: 1},
		},
		{
			name:     "PADR with the untagged cookie from a VLAN: no answer",
			in:       padrFrame(t, subMAC, vlan100, ServiceName("voip"), ck),
			counters: Counters{PADRReceived: 1, PADRBadCookie: 1},
		},
		{
			name:     "PADR without a cookie: no answer",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip")),
			counters: Counters{PADRReceived: 1, PADRBadCookie: 1},
		},
		{
			name:     "PADR for a service not offered: Service-Name-Error",
			in:       padrFrame(t, subMAC, nil, ServiceName("iptv"), ck),
			want:     &Packet{Code: CodePADS, Tags: []Tag{ServiceName("iptv"), ServiceNameError(`service "iptv": pppoe: unknown service`)}},
			counters: Counters{PADRReceived: 1, PADSSent: 1, PADSErrors: 1},
		},
		{
			name:     "PADR refused by admission: AC-System-Error with the reason",
			admErr:   errors.New("max-sessions 10 reached"),
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck, HostUniq{1}),
			want:     &Packet{Code: CodePADS, Tags: []Tag{ServiceName("voip"), ACSystemError("max-sessions 10 reached"), HostUniq{1}}},
			counters: Counters{PADRReceived: 1, PADSSent: 1, PADSErrors: 1},
		},
		{
			name:     "PADR refused by admission for the service: Service-Name-Error",
			admErr:   fmt.Errorf("profile gone: %w", ErrUnknownService),
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck),
			want:     &Packet{Code: CodePADS, Tags: []Tag{ServiceName("voip"), ServiceNameError("profile gone: pppoe: unknown service")}},
			counters: Counters{PADRReceived: 1, PADSSent: 1, PADSErrors: 1},
		},
		{
			name:     "PADR to another AC: ignored",
			in:       buildFrame(t, sub2MAC, subMAC, nil, &Packet{Code: CodePADR, Tags: []Tag{ServiceName("voip"), ck}}),
			counters: Counters{Ignored: 1},
		},
		{
			name:     "PADR with two Service-Names: dropped",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ServiceName("internet"), ck),
			counters: Counters{PADRReceived: 1, PADRDropped: 1},
		},
		{
			name:     "PADR truncated mid-cookie: dropped",
			in:       padrFrame(t, subMAC, nil, ServiceName("voip"), ck)[:14+6+8+10],
			counters: Counters{PADRReceived: 1, PADRDropped: 1},
		},
		// PADT (§5.5) and others.
		{
			name:     "PADT with session id 0: dropped",
			in:       buildFrame(t, srvMAC, subMAC, nil, &Packet{Code: CodePADT}),
			counters: Counters{Malformed: 1},
		},
		{
			name:     "PADT to another AC: ignored",
			in:       buildFrame(t, sub2MAC, subMAC, nil, &Packet{Code: CodePADT, SessionID: 1}),
			counters: Counters{Ignored: 1},
		},
		{
			name:     "PADO of another AC: ignored",
			in:       buildFrame(t, subMAC, sub2MAC, nil, &Packet{Code: CodePADO, Tags: []Tag{ACName("x"), ServiceName("")}}),
			counters: Counters{Ignored: 1},
		},
		{
			name:     "session-stage frame: ignored",
			in:       buildFrame(t, srvMAC, subMAC, nil, &Packet{Code: CodeSession, SessionID: 1, Payload: []byte{0xc0, 0x21}}),
			counters: Counters{Ignored: 1},
		},
		{
			name: "IPv4 frame: malformed",
			in: []byte{
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
				0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, // source
				0x08, 0x00, // EtherType IPv4
				0x45, 0x00, // start of an IPv4 header
			},
			counters: Counters{Malformed: 1},
		},
		{
			name:     "runt frame: malformed",
			in:       padiQinQ[:13],
			counters: Counters{Malformed: 1},
		},
		{
			name:     "invalid configuration: nothing answered, nothing counted",
			cfg:      func(c *ServerConfig) { c.MAC = ethernet.Broadcast },
			in:       padiQinQ,
			counters: Counters{},
		},
	}
}

func TestServerHandle(t *testing.T) {
	for _, tt := range handleTests(t) {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			adm := &fakeAdm{err: tt.admErr}
			s := NewServer(cfg, adm, nil)
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			out := s.Handle(tt.in, now)
			if tt.want == nil {
				if len(out) != 0 {
					t.Fatalf("replied %d frames, want none: %x", len(out), out)
				}
			} else {
				if len(out) != 1 {
					t.Fatalf("replied %d frames, want 1", len(out))
				}
				checkReply(t, out[0], tt.wantDst, tt.wantVLAN, tt.want)
			}
			if got := s.Counters(); got != tt.counters {
				t.Fatalf("counters\n got %+v\nwant %+v", got, tt.counters)
			}
			opens := adm.opens()
			switch {
			case tt.open == nil && len(opens) != 0:
				t.Fatalf("Admission.Open called: %+v", opens)
			case tt.open != nil && (len(opens) != 1 || opens[0] != *tt.open):
				t.Fatalf("Admission.Open calls %+v, want %+v", opens, *tt.open)
			}
		})
	}
}

// checkReply parses a reply frame and compares it with what is wanted.
func checkReply(t testing.TB, b []byte, dst net.HardwareAddr, vlans []ethernet.VLAN, want *Packet) {
	t.Helper()
	if dst == nil {
		dst = subMAC
	}
	f, p, err := ParseFrame(b)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if err := ValidateFrame(&f, &p); err != nil {
		t.Fatalf("reply invalid: %v", err)
	}
	if !bytes.Equal(f.Destination, dst) || !bytes.Equal(f.Source, srvMAC) {
		t.Fatalf("reply %v -> %v, want %v -> %v", f.Source, f.Destination, srvMAC, dst)
	}
	if !reflect.DeepEqual(f.VLANs, vlans) {
		t.Fatalf("reply VLANs %+v, want %+v", f.VLANs, vlans)
	}
	if !reflect.DeepEqual(&p, want) {
		t.Fatalf("reply\n got %+v\nwant %+v", p, *want)
	}
}

func TestServerPADRDuplicate(t *testing.T) {
	adm := &fakeAdm{}
	s := NewServer(testConfig(), adm, nil)
	ck := cookieFor(subMAC, nil, t0)
	req := padrFrame(t, subMAC, nil, ServiceName("voip"), ck, HostUniq{1})
	first := s.Handle(req, t0)
	again := s.Handle(req, t0.Add(2*time.Second))
	if len(first) != 1 || len(again) != 1 || !bytes.Equal(first[0], again[0]) {
		t.Fatalf("retransmitted PADR got %x, want the first PADS %x", again, first)
	}
	if n := len(adm.opens()); n != 1 {
		t.Fatalf("%d sessions opened for one PADR and its retransmission, want 1", n)
	}
	// Another Host-Uniq on the same circuit is another session.
	other := s.Handle(padrFrame(t, subMAC, nil, ServiceName("voip"), ck, HostUniq{2}), t0.Add(3*time.Second))
	if len(other) != 1 || bytes.Equal(other[0], first[0]) {
		t.Fatalf("PADR with another Host-Uniq got the first PADS")
	}
	// Past the window the same PADR is a new request.
	late := s.Handle(req, t0.Add(10*time.Second))
	if len(late) != 1 || bytes.Equal(late[0], first[0]) {
		t.Fatalf("PADR after the duplicate window got the first PADS again")
	}
	if n := len(adm.opens()); n != 3 {
		t.Fatalf("%d sessions opened, want 3", n)
	}
	want := Counters{PADRReceived: 4, PADRDuplicates: 1, PADSSent: 4}
	if got := s.Counters(); got != want {
		t.Fatalf("counters\n got %+v\nwant %+v", got, want)
	}
}

func TestServerPADTFromClient(t *testing.T) {
	adm := &fakeAdm{}
	s := NewServer(testConfig(), adm, nil)
	ck := cookieFor(subMAC, vlan100, t0)
	req := padrFrame(t, subMAC, vlan100, ServiceName("voip"), ck, HostUniq{1})
	out := s.Handle(req, t0)
	_, pads, err := ParseFrame(out[0])
	if err != nil || pads.SessionID == 0 {
		t.Fatalf("PADS %+v, %v", pads, err)
	}
	padt := buildFrame(t, srvMAC, subMAC, vlan100, &Packet{Code: CodePADT, SessionID: pads.SessionID, Tags: []Tag{GenericError("bye")}})
	if out := s.Handle(padt, t0.Add(time.Second)); len(out) != 0 {
		t.Fatalf("PADT answered: %x", out)
	}
	want := []closeCall{{circuitFor(subMAC, vlan100), pads.SessionID}}
	if !reflect.DeepEqual(adm.closed, want) {
		t.Fatalf("Close calls %+v, want %+v", adm.closed, want)
	}
	// The session is gone, so the same PADR inside the window is a new
	// request, not a duplicate of a dead session.
	again := s.Handle(req, t0.Add(2*time.Second))
	_, p2, _ := ParseFrame(again[0])
	if p2.SessionID == pads.SessionID || len(adm.opens()) != 2 {
		t.Fatalf("PADR after PADT reused session 0x%04x", p2.SessionID)
	}
	if c := s.Counters(); c.PADTReceived != 1 || c.PADRDuplicates != 0 {
		t.Fatalf("counters %+v", c)
	}
}

func TestServerPADT(t *testing.T) {
	s := NewServer(testConfig(), &fakeAdm{}, nil)
	got := s.PADT(circuitFor(subMAC, qinq), 0x1234, "idle")
	want := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, // destination: client
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source: AC
		0x88, 0xa8, 0x00, 0x0a, // S-tag VID 10
		0x81, 0x00, 0x00, 0x14, // C-tag VID 20
		0x88, 0x63, // EtherType PPPoE discovery
		0x11,       // VER 1, TYPE 1
		0xa7,       // CODE PADT
		0x12, 0x34, // SESSION_ID
		0x00, 0x08, // LENGTH 8
		0x02, 0x03, 0x00, 0x04, 'i', 'd', 'l', 'e', // Generic-Error "idle"
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("PADT\n got %x\nwant %x", got, want)
	}
	noMsg := s.PADT(circuitFor(subMAC, nil), 1, "")
	if len(noMsg) != 14+6 {
		t.Fatalf("PADT without message is %d bytes, want 20: %x", len(noMsg), noMsg)
	}
	for _, sid := range []uint16{0, SessionIDReserved} {
		if b := s.PADT(circuitFor(subMAC, nil), sid, ""); b != nil {
			t.Fatalf("PADT for session 0x%04x built: %x", sid, b)
		}
	}
	long := s.PADT(circuitFor(subMAC, nil), 1, strings.Repeat("x", 3000))
	if long == nil || len(long) > 14+MaxDiscoveryLen {
		t.Fatalf("PADT with a long message: %d bytes", len(long))
	}
	if c := s.Counters(); c.PADTSent != 3 {
		t.Fatalf("PADTSent = %d, want 3", c.PADTSent)
	}
}

func TestServerSetConfig(t *testing.T) {
	s := NewServer(testConfig(), &fakeAdm{}, nil)
	ask := buildFrame(t, ethernet.Broadcast, subMAC, nil, &Packet{Code: CodePADI, Tags: []Tag{ServiceName("iptv")}})
	if out := s.Handle(ask, t0); len(out) != 0 {
		t.Fatal("iptv offered before it was configured")
	}
	cfg := testConfig()
	cfg.ServiceNames = append(cfg.ServiceNames, "iptv")
	cfg.CookieKey = nil // keep the key: outstanding cookies stay valid
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if out := s.Handle(ask, t0); len(out) != 1 {
		t.Fatal("iptv not offered after SetConfig")
	}
	if got := s.Config().CookieKey; !bytes.Equal(got, testKey) {
		t.Fatalf("cookie key changed to %x by SetConfig without a key", got)
	}
	bad := testConfig()
	bad.MAC = nil
	if err := s.SetConfig(bad); err == nil {
		t.Fatal("SetConfig accepted a server without a MAC")
	}
	nul := testConfig()
	nul.ServiceNames = []string{"a\x00b"}
	if err := s.SetConfig(nul); err == nil {
		t.Fatal("SetConfig accepted a service name with NUL")
	}
	if out := s.Handle(ask, t0); len(out) != 1 {
		t.Fatal("refused SetConfig replaced the configuration")
	}
}

func TestServerRandomCookieKey(t *testing.T) {
	cfg := testConfig()
	cfg.CookieKey = nil
	a, b := NewServer(cfg, &fakeAdm{}, nil), NewServer(cfg, &fakeAdm{}, nil)
	if len(a.Config().CookieKey) != 32 || bytes.Equal(a.Config().CookieKey, b.Config().CookieKey) {
		t.Fatalf("random cookie keys %x and %x", a.Config().CookieKey, b.Config().CookieKey)
	}
}

// FuzzServerHandle feeds arbitrary frames to the server: it must not
// panic, and every reply must parse, validate, and survive
// parse → marshal → parse unchanged. A PADO it sends is then turned into
// the matching PADR, so the PADR path is reached with a valid cookie.
func FuzzServerHandle(f *testing.F) {
	for _, tt := range handleTests(f) {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewServer(testConfig(), &fakeAdm{}, nil)
		for _, out := range s.Handle(in, t0) {
			checkRoundTrip(t, out)
			fr, p, _ := ParseFrame(out)
			if p.Code != CodePADO {
				continue
			}
			tags := []Tag{}
			for _, tg := range p.Tags {
				if tg.Type() != TagACName {
					tags = append(tags, tg)
				}
			}
			tags = tags[len(FindTags[ServiceName](p.Tags))-1:] // keep one Service-Name
			req, err := MarshalFrame(fr.Source, fr.Destination, fr.VLANs, &Packet{Code: CodePADR, Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			for _, pads := range s.Handle(req, t0) {
				checkRoundTrip(t, pads)
			}
		}
	})
}

func checkRoundTrip(t *testing.T, b []byte) {
	t.Helper()
	f, p, err := ParseFrame(b)
	if err != nil {
		t.Fatalf("reply %x does not parse: %v", b, err)
	}
	if err := ValidateFrame(&f, &p); err != nil {
		t.Fatalf("reply %x invalid: %v", b, err)
	}
	b2, err := MarshalFrame(f.Destination, f.Source, f.VLANs, &p)
	if err != nil {
		t.Fatal(err)
	}
	f2, p2, err := ParseFrame(b2)
	if err != nil || !reflect.DeepEqual(p, p2) || !reflect.DeepEqual(f.VLANs, f2.VLANs) {
		t.Fatalf("round trip changed the reply: %+v -> %+v (%v)", p, p2, err)
	}
}

// failConn delivers frames from a list, fails every write, then fails reads.
type failConn struct{ frames [][]byte }

func (c *failConn) ReadFrame(b []byte) (int, error) {
	if len(c.frames) == 0 {
		return 0, net.ErrClosed
	}
	n := copy(b, c.frames[0])
	c.frames = c.frames[1:]
	return n, nil
}

func (c *failConn) WriteFrame([]byte) error { return errors.New("no buffer space") }

func TestServeErrors(t *testing.T) {
	s := NewServer(testConfig(), &fakeAdm{}, nil)
	conn := &failConn{frames: [][]byte{padiQinQ, padiUntagged}}
	err := s.Serve(context.Background(), conn)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want the read error", err)
	}
	if c := s.Counters(); c.PADOSent != 2 || c.WriteErrors != 2 {
		t.Fatalf("counters %+v, want 2 PADOs and 2 write errors", c)
	}
}
