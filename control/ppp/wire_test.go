package ppp_test

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/chap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ipv6cp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/pap"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
	"github.com/pppoe-xdp/pppoe-xdp/test/wire"
)

const sessionID = 0x1234

// session wraps a PPP frame as a PPPoE session frame (RFC 2516 §4): the
// Ethernet header and the 6-octet PPPoE header are built by hand so this
// test depends on no other codec of the project.
func session(t testing.TB, f ppp.Frame) []byte {
	t.Helper()
	payload, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // destination MAC
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // source MAC
		0x88, 0x64, // EtherType: PPPoE session
		0x11,                             // version 1, type 1
		0x00,                             // code: session data
		sessionID >> 8, sessionID & 0xff, // session id
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// must keeps the table literal readable; a codec error in building a
// well-formed frame is a bug, so it panics (failing the test).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// control builds a PPP frame holding an LCP-style control packet.
func control(proto ppp.Protocol, code ppp.Code, id uint8, data []byte) ppp.Frame {
	p := ppp.Packet{Code: code, Identifier: id, Data: data}
	return ppp.Frame{Protocol: proto, Information: must(p.MarshalBinary())}
}

// auth builds a PPP frame holding a PAP or CHAP packet.
func auth(proto ppp.Protocol, p interface{ MarshalBinary() ([]byte, error) }) ppp.Frame {
	return ppp.Frame{Protocol: proto, Information: must(p.MarshalBinary())}
}

// TestTshark has Wireshark's dissectors read frames these codecs write: no
// expert or malformed marks, and the fields they report are the intended ones.
func TestTshark(t *testing.T) {
	magic := ppp.EchoData{Magic: 0x1a2b3c4d, Data: []byte("ping")}
	v2 := chap.MSCHAPv2Response{}
	for i := range v2.PeerChallenge {
		v2.PeerChallenge[i] = byte(0x21 + i)
	}
	for i := range v2.NTResponse {
		v2.NTResponse[i] = byte(0x80 + i)
	}
	success := chap.MSCHAPv2Success{Message: "Welcome"}
	for i := range success.AuthenticatorResponse {
		success.AuthenticatorResponse[i] = byte(0x40 + i)
	}
	failure := chap.MSCHAPFailure{Error: chap.ErrorAuthenticationFailure, Retry: true, Challenge: make([]byte, 16), Version: 3, Message: "denied"}

	tests := []struct {
		name   string
		frame  ppp.Frame
		fields map[string][]string
		// dissectorBug excuses expert marks that Wireshark raises on a
		// correct frame; the fields are still checked.
		dissectorBug string
	}{
		{
			name: "LCP Configure-Request with Quality-Protocol LQR",
			frame: control(ppp.ProtocolLCP, ppp.ConfigureRequest, 1, must(ppptest.Data([]lcp.Option{
				lcp.QualityProtocol{Protocol: ppp.ProtocolLQR, Data: []byte{0, 0, 0x03, 0xe8}},
			}, lcp.ToRaw))),
			fields: map[string][]string{
				"lcp.opt.type":             {"4"},
				"lcp.opt.length":           {"8"},
				"lcp.opt.quality_protocol": {"0xc025"},
			},
			// dissect_lcp_qualprot_opt adds the data as "length + 4"
			// octets instead of "length - 4", so any Quality-Protocol
			// option with data (RFC 1989 §2.5 requires 4 for LQR) throws.
			dissectorBug: "Wireshark 4.0 Quality-Protocol data length",
		},
		{
			name: "LCP Configure-Request with every typed option",
			frame: control(ppp.ProtocolLCP, ppp.ConfigureRequest, 1, must(ppptest.Data([]lcp.Option{
				lcp.MRU(1492),
				lcp.ACCM(0),
				lcp.AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: lcp.AlgorithmMSCHAPv2},
				lcp.MagicNumber(0x1a2b3c4d),
				lcp.PFC{},
				lcp.ACFC{},
				lcp.MRRU(1600),
				lcp.ShortSequence{},
				lcp.EndpointDiscriminator{Class: lcp.ClassMAC, Address: []byte{0x02, 0, 0, 0, 0, 0x02}},
			}, lcp.ToRaw))),
			fields: map[string][]string{
				"ppp.protocol":          {"0xc021"},
				"lcp.opt.type":          {"1", "2", "3", "5", "7", "8", "17", "18", "19"},
				"lcp.opt.mru":           {"1492"},
				"lcp.opt.asyncmap":      {"0x00000000"},
				"lcp.opt.auth_protocol": {"0xc223"},
				"lcp.opt.algorithm":     {"129"},
				"lcp.opt.magic_number":  {"0x1a2b3c4d"},
				"lcp.opt.mrru":          {"1600"},
				"lcp.opt.ep_disc_class": {"3"},
				"lcp.opt.802_1_address": {"02:00:00:00:00:02"},
			},
		},
		{
			name: "LCP Configure-Ack with PAP and MD5 CHAP",
			frame: control(ppp.ProtocolLCP, ppp.ConfigureAck, 2, must(ppptest.Data([]lcp.Option{
				lcp.AuthProtocol{Protocol: ppp.ProtocolPAP},
				lcp.AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: lcp.AlgorithmMD5},
			}, lcp.ToRaw))),
			fields: map[string][]string{
				"ppp.code":              {"2"},
				"ppp.identifier":        {"2"},
				"lcp.opt.auth_protocol": {"0xc023", "0xc223"},
				"lcp.opt.algorithm":     {"5"},
			},
		},
		{
			name:  "LCP Echo-Request",
			frame: control(ppp.ProtocolLCP, ppp.EchoRequest, 3, must(magic.MarshalBinary())),
			fields: map[string][]string{
				"ppp.code":         {"9"},
				"lcp.magic_number": {"0x1a2b3c4d"},
				"lcp.data":         {"70696e67"},
			},
		},
		{
			name: "LCP Protocol-Reject of IPv6CP",
			frame: func() ppp.Frame {
				p := ppp.NewProtocolReject(4, ppp.Frame{Protocol: ppp.ProtocolIPv6CP, Information: []byte{1, 1, 0, 4}}, 1492)
				return ppp.Frame{Protocol: ppp.ProtocolLCP, Information: must(p.MarshalBinary())}
			}(),
			fields: map[string][]string{
				"ppp.code":      {"8", "1"}, // ours, then the rejected Configure-Request
				"lcp.rej_proto": {"0x8057"},
			},
		},
		{
			name:   "LCP Terminate-Request",
			frame:  control(ppp.ProtocolLCP, ppp.TerminateRequest, 5, must((&ppp.TerminateData{Reason: "User request"}).MarshalBinary())),
			fields: map[string][]string{"ppp.code": {"5"}, "ppp.length": {"16"}},
		},
		{
			name: "IPCP Configure-Nak with address, DNS and NBNS",
			frame: control(ppp.ProtocolIPCP, ppp.ConfigureNak, 6, must(ppptest.Data([]ipcp.Option{
				ipcp.IPAddress{Addr: netip.MustParseAddr("10.0.0.7")},
				ipcp.PrimaryDNS{Addr: netip.MustParseAddr("192.0.2.53")},
				ipcp.PrimaryNBNS{Addr: netip.MustParseAddr("192.0.2.137")},
				ipcp.SecondaryDNS{Addr: netip.MustParseAddr("192.0.2.54")},
				ipcp.SecondaryNBNS{Addr: netip.MustParseAddr("192.0.2.138")},
				ipcp.Compression{Protocol: 0x002d, Data: []byte{0x0f, 0x01}},
			}, ipcp.ToRaw))),
			fields: map[string][]string{
				"ppp.protocol":              {"0x8021"},
				"ppp.code":                  {"3"},
				"ipcp.opt.type":             {"3", "129", "130", "131", "132", "2"},
				"ipcp.opt.ip_address":       {"10.0.0.7"},
				"ipcp.opt.pri_dns_address":  {"192.0.2.53"},
				"ipcp.opt.pri_nbns_address": {"192.0.2.137"},
				"ipcp.opt.sec_dns_address":  {"192.0.2.54"},
				"ipcp.opt.sec_nbns_address": {"192.0.2.138"},
				"ipcp.opt.compress_proto":   {"0x002d"},
				"ipcp.opt.max_slot_id":      {"15"},
			},
		},
		{
			name: "IPv6CP Configure-Request",
			frame: control(ppp.ProtocolIPv6CP, ppp.ConfigureRequest, 7, must(ppptest.Data([]ipv6cp.Option{
				ipv6cp.InterfaceID{0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55},
			}, ipv6cp.ToRaw))),
			fields: map[string][]string{
				"ppp.protocol":                {"0x8057"},
				"ipv6cp.opt.type":             {"1"},
				"ipv6cp.interface_identifier": {"02:11:22:ff:fe:33:44:55"},
			},
		},
		{
			name:  "PAP Authenticate-Request",
			frame: auth(ppp.ProtocolPAP, &pap.Request{Identifier: 8, PeerID: "user@isp", Password: "s3cret"}),
			fields: map[string][]string{
				"pap.code":       {"1"},
				"pap.identifier": {"8"},
				"pap.peer_id":    {"user@isp"},
				"pap.password":   {"s3cret"},
			},
		},
		{
			name:   "PAP Authenticate-Nak",
			frame:  auth(ppp.ProtocolPAP, &pap.Nak{Identifier: 8, Message: "bad password"}),
			fields: map[string][]string{"pap.code": {"3"}, "pap.message": {"bad password"}},
		},
		{
			name:  "CHAP Challenge",
			frame: auth(ppp.ProtocolCHAP, &chap.Challenge{Identifier: 9, Value: []byte{0xde, 0xad, 0xbe, 0xef}, Name: "bng"}),
			fields: map[string][]string{
				"chap.code":       {"1"},
				"chap.identifier": {"9"},
				"chap.value_size": {"4"},
				"chap.value":      {"deadbeef"},
				"chap.name":       {"bng"},
			},
		},
		{
			name:  "CHAP Response with an MS-CHAPv2 value",
			frame: auth(ppp.ProtocolCHAP, &chap.Response{Identifier: 9, Value: must(v2.MarshalBinary()), Name: "user"}),
			fields: map[string][]string{
				"chap.code":       {"2"},
				"chap.value_size": {"49"},
				"chap.value":      {"2122232425262728292a2b2c2d2e2f300000000000000000808182838485868788898a8b8c8d8e8f909192939495969700"},
				"chap.name":       {"user"},
			},
		},
		{
			name:  "CHAP Success with an MS-CHAPv2 message",
			frame: auth(ppp.ProtocolCHAP, &chap.Success{Identifier: 9, Message: string(must(success.MarshalText()))}),
			fields: map[string][]string{
				"chap.code":    {"3"},
				"chap.message": {"S=404142434445464748494A4B4C4D4E4F50515253 M=Welcome"},
			},
		},
		{
			name:  "CHAP Failure with an MS-CHAP message",
			frame: auth(ppp.ProtocolCHAP, &chap.Failure{Identifier: 9, Message: string(must(failure.MarshalText()))}),
			fields: map[string][]string{
				"chap.code":    {"4"},
				"chap.message": {"E=691 R=1 C=00000000000000000000000000000000 V=3 M=denied"},
			},
		},
	}

	frames := make([][]byte, len(tests))
	var names []string
	for i, tt := range tests {
		frames[i] = session(t, tt.frame)
		for f := range tt.fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	got := wire.TsharkFields(t, frames, names...)
	expert := wire.TsharkExpert(t, frames)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(expert[i]) != 0 && tt.dissectorBug == "" {
				t.Errorf("tshark expert info: %q", expert[i])
			}
			for j, f := range names {
				want, ok := tt.fields[f]
				if !ok {
					continue
				}
				if !reflect.DeepEqual(got[i][j], want) {
					t.Errorf("%s = %q, want %q", f, got[i][j], want)
				}
			}
		})
	}
}
