package ppp_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/pap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

// TestScapy has scapy's PPP layers build frames and checks these codecs read
// the values scapy was given.
func TestScapy(t *testing.T) {
	frames := wire.Scapy(t, `
frames = [
    PPP()/PPP_LCP_Configure(id=1, options=[
        PPP_LCP_MRU_Option(max_recv_unit=1492),
        PPP_LCP_ACCM_Option(accm=0x000a0000),
        PPP_LCP_Auth_Protocol_Option(auth_protocol=0xc223, algorithm=0x81),
        PPP_LCP_Quality_Protocol_Option(quality_protocol=0xc025, data=b"\x00\x00\x03\xe8"),
        PPP_LCP_Magic_Number_Option(magic_number=0x1a2b3c4d),
        PPP_LCP_Callback_Option(operation=6),
    ]),
    PPP()/PPP_LCP_Configure(code=2, id=1, options=[PPP_LCP_Auth_Protocol_Option(auth_protocol=0xc023)]),
    PPP()/PPP_LCP_Echo(code=10, id=2, magic_number=0x01020304, data=b"pong"),
    PPP()/PPP_LCP_Terminate(code=5, id=3, data=b"bye"),
    PPP()/PPP_LCP_Protocol_Reject(id=4, rejected_protocol=0x8057, rejected_information=Raw(b"\x01\x01\x00\x04")),
    PPP()/PPP_LCP_Code_Reject(id=5, rejected_packet=Raw(b"\x0c\x09\x00\x06xx")),
    PPP()/PPP_IPCP(code=3, id=6, options=[
        PPP_IPCP_Option_IPAddress(data="10.0.0.7"),
        PPP_IPCP_Option_DNS1(data="192.0.2.53"),
        PPP_IPCP_Option_NBNS1(data="192.0.2.137"),
        PPP_IPCP_Option_DNS2(data="192.0.2.54"),
        PPP_IPCP_Option_NBNS2(data="192.0.2.138"),
    ]),
    PPP()/PPP_PAP_Request(id=7, username=b"user@isp", password=b"s3cret"),
    PPP()/PPP_PAP_Response(code=3, id=7, message=b"bad password"),
    PPP()/PPP_CHAP_ChallengeResponse(code=1, id=8, value=b"\xde\xad\xbe\xef", optional_name=b"bng"),
    PPP()/PPP_CHAP_ChallengeResponse(code=2, id=8, value=bytes(range(16)) + bytes(8) + bytes(range(0x80, 0x98)) + b"\x00", optional_name=b"user"),
    PPP()/PPP_CHAP(code=3, id=8, data=b"S=" + bytes(range(0x40, 0x54)).hex().upper().encode() + b" M=ok"),
    PPP()/PPP_CHAP(code=4, id=8, data=b"E=691 R=1 C=" + bytes(range(16)).hex().encode() + b" V=3 M=no"),
    PPP(proto=0x21)/Raw(b"\x45\x00"),
]
`)
	var peer, nt [24]byte
	copy(peer[:], seq(0, 16))
	copy(nt[:], seq(0x80, 24))
	var auth [20]byte
	copy(auth[:], seq(0x40, 20))

	tests := []struct {
		name  string
		proto ppp.Protocol
		check func(t *testing.T, info []byte) any // returns what was parsed
		want  any
	}{
		{
			name: "LCP Configure-Request", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any { return lcpOptions(t, info, ppp.ConfigureRequest, 1) },
			want: []lcp.Option{
				lcp.MRU(1492),
				lcp.ACCM(0x000a0000),
				lcp.AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: lcp.AlgorithmMSCHAPv2},
				lcp.QualityProtocol{Protocol: ppp.ProtocolLQR, Data: []byte{0, 0, 0x03, 0xe8}},
				lcp.MagicNumber(0x1a2b3c4d),
				lcp.Raw{T: 13, Data: []byte{6}},
			},
		},
		{
			name: "LCP Configure-Ack PAP", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any { return lcpOptions(t, info, ppp.ConfigureAck, 1) },
			want:  []lcp.Option{lcp.AuthProtocol{Protocol: ppp.ProtocolPAP}},
		},
		{
			name: "LCP Echo-Reply", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any {
				var e ppp.EchoData
				if err := e.UnmarshalBinary(packet(t, info, ppp.EchoReply, 2)); err != nil {
					t.Fatal(err)
				}
				return e
			},
			want: ppp.EchoData{Magic: 0x01020304, Data: []byte("pong")},
		},
		{
			name: "LCP Terminate-Request", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any {
				var d ppp.TerminateData
				if err := d.UnmarshalBinary(packet(t, info, ppp.TerminateRequest, 3)); err != nil {
					t.Fatal(err)
				}
				return d
			},
			want: ppp.TerminateData{Reason: "bye"},
		},
		{
			name: "LCP Protocol-Reject", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any {
				var r ppp.ProtocolRejectData
				if err := r.UnmarshalBinary(packet(t, info, ppp.ProtocolReject, 4)); err != nil {
					t.Fatal(err)
				}
				return r
			},
			want: ppp.ProtocolRejectData{Protocol: ppp.ProtocolIPv6CP, Information: []byte{1, 1, 0, 4}},
		},
		{
			name: "LCP Code-Reject", proto: ppp.ProtocolLCP,
			check: func(t *testing.T, info []byte) any {
				// The Rejected-Packet from its Code on: the automaton
				// reads the Code (fsm.Automaton.Receive).
				d := packet(t, info, ppp.CodeReject, 5)
				if len(d) < 2 {
					t.Fatalf("Rejected-Packet % x: no Code and Identifier", d)
				}
				return []any{ppp.Code(d[0]), d[1]}
			},
			want: []any{ppp.Code(12), uint8(9)},
		},
		{
			name: "IPCP Configure-Nak", proto: ppp.ProtocolIPCP,
			check: func(t *testing.T, info []byte) any {
				opts, err := ppptest.Options(packet(t, info, ppp.ConfigureNak, 6), ipcp.FromRaw)
				if err != nil {
					t.Fatal(err)
				}
				return opts
			},
			want: []ipcp.Option{
				ipcp.IPAddress{Addr: netip.MustParseAddr("10.0.0.7")},
				ipcp.PrimaryDNS{Addr: netip.MustParseAddr("192.0.2.53")},
				ipcp.PrimaryNBNS{Addr: netip.MustParseAddr("192.0.2.137")},
				ipcp.SecondaryDNS{Addr: netip.MustParseAddr("192.0.2.54")},
				ipcp.SecondaryNBNS{Addr: netip.MustParseAddr("192.0.2.138")},
			},
		},
		{
			name: "PAP Authenticate-Request", proto: ppp.ProtocolPAP,
			check: func(t *testing.T, info []byte) any { return must(pap.Parse(info)) },
			want:  &pap.Request{Identifier: 7, PeerID: "user@isp", Password: "s3cret"},
		},
		{
			name: "PAP Authenticate-Nak", proto: ppp.ProtocolPAP,
			check: func(t *testing.T, info []byte) any { return must(pap.Parse(info)) },
			want:  &pap.Nak{Identifier: 7, Message: "bad password"},
		},
		{
			name: "CHAP Challenge", proto: ppp.ProtocolCHAP,
			check: func(t *testing.T, info []byte) any { return must(chap.Parse(info)) },
			want:  &chap.Challenge{Identifier: 8, Value: []byte{0xde, 0xad, 0xbe, 0xef}, Name: "bng"},
		},
		{
			name: "CHAP Response, MS-CHAPv2 value", proto: ppp.ProtocolCHAP,
			check: func(t *testing.T, info []byte) any {
				r := must(chap.Parse(info)).(*chap.Response)
				var v chap.MSCHAPv2Response
				if err := v.UnmarshalBinary(r.Value); err != nil {
					t.Fatal(err)
				}
				return []any{r.Identifier, r.Name, v}
			},
			want: []any{uint8(8), "user", chap.MSCHAPv2Response{PeerChallenge: [16]byte(peer[:16]), NTResponse: nt}},
		},
		{
			name: "CHAP Success, MS-CHAPv2 message", proto: ppp.ProtocolCHAP,
			check: func(t *testing.T, info []byte) any {
				var s chap.MSCHAPv2Success
				if err := s.UnmarshalText([]byte(must(chap.Parse(info)).(*chap.Success).Message)); err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: chap.MSCHAPv2Success{AuthenticatorResponse: auth, Message: "ok"},
		},
		{
			name: "CHAP Failure, MS-CHAP message", proto: ppp.ProtocolCHAP,
			check: func(t *testing.T, info []byte) any {
				var f chap.MSCHAPFailure
				if err := f.UnmarshalText([]byte(must(chap.Parse(info)).(*chap.Failure).Message)); err != nil {
					t.Fatal(err)
				}
				return f
			},
			want: chap.MSCHAPFailure{Error: 691, Retry: true, Challenge: seq(0, 16), Version: 3, Message: "no"},
		},
		{
			name: "IPv4 with a compressed protocol field", proto: ppp.ProtocolIPv4,
			check: func(t *testing.T, info []byte) any { return info },
			want:  []byte{0x45, 0x00},
		},
	}
	if len(frames) != len(tests) {
		t.Fatalf("scapy built %d frames, want %d", len(frames), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f ppp.Frame
			if err := f.UnmarshalBinary(frames[i]); err != nil {
				t.Fatalf("% x: %v", frames[i], err)
			}
			if f.Protocol != tt.proto {
				t.Fatalf("protocol %v, want %v", f.Protocol, tt.proto)
			}
			if got := tt.check(t, f.Information); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// packet parses a control packet and checks its code and identifier.
func packet(t *testing.T, info []byte, code ppp.Code, id uint8) []byte {
	t.Helper()
	var p ppp.Packet
	if err := p.UnmarshalBinary(info); err != nil {
		t.Fatal(err)
	}
	if p.Code != code || p.Identifier != id {
		t.Fatalf("%v id %d, want %v id %d", p.Code, p.Identifier, code, id)
	}
	return p.Data
}

func lcpOptions(t *testing.T, info []byte, code ppp.Code, id uint8) []lcp.Option {
	t.Helper()
	opts, err := ppptest.Options(packet(t, info, code, id), lcp.FromRaw)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}
