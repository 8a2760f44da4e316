package lcp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/ppptest"
)

// parseOptions and marshalOptions are a Configure-* packet's Data as the
// link reads and writes it: raw options, each through FromRaw or ToRaw.
func parseOptions(b []byte) ([]Option, error) { return ppptest.Options(b, FromRaw) }

func marshalOptions(opts []Option) ([]byte, error) { return ppptest.Data(opts, ToRaw) }

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Option
	}{
		{
			name: "pppd's usual request",
			in: []byte{
				0x01, 0x04, 0x05, 0xd4, // MRU 1492
				0x05, 0x06, 0x1a, 0x2b, 0x3c, 0x4d, // Magic-Number 0x1a2b3c4d
			},
			want: []Option{MRU(1492), MagicNumber(0x1a2b3c4d)},
		},
		{
			name: "RouterOS server: MRU, CHAP MD5, magic",
			in: []byte{
				0x01, 0x04, 0x05, 0xd4, // MRU 1492
				0x03, 0x05, 0xc2, 0x23, 0x05, // Auth-Protocol CHAP, algorithm MD5
				0x05, 0x06, 0x00, 0x00, 0x00, 0x01, // Magic-Number 1
			},
			want: []Option{MRU(1492), AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: AlgorithmMD5}, MagicNumber(1)},
		},
		{
			name: "MS-CHAPv2 and MS-CHAPv1",
			in: []byte{
				0x03, 0x05, 0xc2, 0x23, 0x81, // Auth-Protocol CHAP, MS-CHAPv2
				0x03, 0x05, 0xc2, 0x23, 0x80, // Auth-Protocol CHAP, MS-CHAPv1
			},
			want: []Option{
				AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: AlgorithmMSCHAPv2},
				AuthProtocol{Protocol: ppp.ProtocolCHAP, Algorithm: AlgorithmMSCHAPv1},
			},
		},
		{
			name: "PAP and EAP carry no data; other protocols keep theirs",
			in: []byte{
				0x03, 0x04, 0xc0, 0x23, // Auth-Protocol PAP
				0x03, 0x04, 0xc2, 0x27, // Auth-Protocol EAP
				0x03, 0x06, 0xc0, 0x27, 0xaa, 0xbb, // Auth-Protocol 0xc027 (SPAP), 2 octets of data
			},
			want: []Option{
				AuthProtocol{Protocol: ppp.ProtocolPAP},
				AuthProtocol{Protocol: ppp.ProtocolEAP},
				AuthProtocol{Protocol: 0xc027, Data: []byte{0xaa, 0xbb}},
			},
		},
		{
			name: "ACCM, PFC, ACFC",
			in: []byte{
				0x02, 0x06, 0x00, 0x00, 0x00, 0x00, // ACCM 0
				0x07, 0x02, // PFC
				0x08, 0x02, // ACFC
			},
			want: []Option{ACCM(0), PFC{}, ACFC{}},
		},
		{
			name: "Quality-Protocol LQR",
			in: []byte{
				0x04, 0x08, 0xc0, 0x25, 0x00, 0x00, 0x03, 0xe8, // Quality-Protocol LQR, Reporting-Period 1000
			},
			want: []Option{QualityProtocol{Protocol: ppp.ProtocolLQR, Data: []byte{0x00, 0x00, 0x03, 0xe8}}},
		},
		{
			name: "multilink: MRRU, short sequence, endpoint discriminator MAC",
			in: []byte{
				0x11, 0x04, 0x05, 0xea, // MRRU 1514
				0x12, 0x02, // Short-Sequence
				0x13, 0x09, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // Endpoint-Discriminator class MAC
			},
			want: []Option{
				MRRU(1514), ShortSequence{},
				EndpointDiscriminator{Class: ClassMAC, Address: []byte{0x02, 0, 0, 0, 0, 0x01}},
			},
		},
		{
			name: "endpoint discriminator null class",
			in:   []byte{0x13, 0x03, 0x00}, // Endpoint-Discriminator, class Null
			want: []Option{EndpointDiscriminator{Class: ClassNull, Address: []byte{}}},
		},
		{
			name: "endpoint discriminator, every class of RFC 1990 §5.1.3",
			in: []byte{
				0x13, 0x07, 0x01, 'b', 'n', 'g', '1', // class 1 locally assigned, 4 octets
				0x13, 0x07, 0x02, 192, 0, 2, 1, // class 2 IPv4 192.0.2.1
				0x13, 0x0b, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, // class 4 two magic numbers
				0x13, 0x0a, 0x05, '5', '5', '5', '0', '1', '0', '0', // class 5 PSTN "5550100"
				0x13, 0x04, 0x06, 0x01, // class 6 (unassigned), 1 octet: kept
				0x11, 0x04, 0x06, 0x4e, // MRRU 1614, as Windows asks
			},
			want: []Option{
				EndpointDiscriminator{Class: ClassLocal, Address: []byte("bng1")},
				EndpointDiscriminator{Class: ClassIPv4, Address: []byte{192, 0, 2, 1}},
				EndpointDiscriminator{Class: ClassMagicBlock, Address: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}},
				EndpointDiscriminator{Class: ClassPSTN, Address: []byte("5550100")},
				EndpointDiscriminator{Class: 6, Address: []byte{1}},
				MRRU(1614),
			},
		},
		{
			name: "unknown options survive",
			in: []byte{
				0x0d, 0x03, 0x06, // Callback (RFC 1570), operation 6
				0xfe, 0x02, // made-up type 254, no data
			},
			want: []Option{Raw{T: 13, Data: []byte{0x06}}, Raw{T: 254, Data: []byte{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ppptest.RoundTrip(t, tt.in, true, FromRaw, ToRaw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseOptionsMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantLen bool // the error wraps ppp.ErrOptionLength (else: framing error)
	}{
		{name: "MRU length 3", in: []byte{0x01, 0x03, 0x05}, wantLen: true},                              // MRU, Length 3
		{name: "MRU length 2", in: []byte{0x01, 0x02}, wantLen: true},                                    // MRU, Length 2
		{name: "MRU length 6", in: []byte{0x01, 0x06, 0, 0, 0x05, 0xd4}, wantLen: true},                  // MRU, Length 6
		{name: "ACCM length 4", in: []byte{0x02, 0x04, 0, 0}, wantLen: true},                             // ACCM, Length 4
		{name: "Magic length 5", in: []byte{0x05, 0x05, 1, 2, 3}, wantLen: true},                         // Magic-Number, Length 5
		{name: "Magic length 7", in: []byte{0x05, 0x07, 1, 2, 3, 4, 5}, wantLen: true},                   // Magic-Number, Length 7
		{name: "PFC with data", in: []byte{0x07, 0x03, 0x00}, wantLen: true},                             // PFC, Length 3
		{name: "ACFC with data", in: []byte{0x08, 0x03, 0x00}, wantLen: true},                            // ACFC, Length 3
		{name: "Short-Sequence with data", in: []byte{0x12, 0x03, 0x00}, wantLen: true},                  // Short-Sequence, Length 3
		{name: "MRRU length 3", in: []byte{0x11, 0x03, 0x05}, wantLen: true},                             // MRRU, Length 3
		{name: "Auth-Protocol length 3", in: []byte{0x03, 0x03, 0xc2}, wantLen: true},                    // Auth-Protocol, Length 3
		{name: "Auth-Protocol length 2", in: []byte{0x03, 0x02}, wantLen: true},                          // Auth-Protocol, Length 2
		{name: "CHAP without algorithm", in: []byte{0x03, 0x04, 0xc2, 0x23}, wantLen: true},              // Auth CHAP, Length 4
		{name: "CHAP with 2 octets", in: []byte{0x03, 0x06, 0xc2, 0x23, 5, 5}, wantLen: true},            // Auth CHAP, Length 6
		{name: "PAP with data", in: []byte{0x03, 0x05, 0xc0, 0x23, 0x00}, wantLen: true},                 // Auth PAP, Length 5
		{name: "Quality-Protocol length 3", in: []byte{0x04, 0x03, 0xc0}, wantLen: true},                 // Quality, Length 3
		{name: "LQR without period", in: []byte{0x04, 0x04, 0xc0, 0x25}, wantLen: true},                  // Quality LQR, Length 4
		{name: "Endpoint-Discriminator empty", in: []byte{0x13, 0x02}, wantLen: true},                    // Endpoint-Disc, Length 2
		{name: "Endpoint-Discriminator IPv4 of 3", in: []byte{0x13, 0x06, 0x02, 1, 2, 3}, wantLen: true}, // class IPv4, 3 octets
		{name: "Endpoint-Discriminator MAC of 5", in: []byte{0x13, 0x08, 0x03, 1, 2, 3, 4, 5}, wantLen: true},
		{name: "Endpoint-Discriminator null with address", in: []byte{0x13, 0x04, 0x00, 0x01}, wantLen: true},
		{name: "Endpoint-Discriminator magic block of 5", in: []byte{0x13, 0x08, 0x04, 1, 2, 3, 4, 5}, wantLen: true},
		{name: "Endpoint-Discriminator local of 21", in: append([]byte{0x13, 0x18, 0x01}, make([]byte, 21)...), wantLen: true},
		{name: "Endpoint-Discriminator PSTN of 16", in: append([]byte{0x13, 0x13, 0x05}, make([]byte, 16)...), wantLen: true},
		{name: "Endpoint-Discriminator class 6 of 21", in: append([]byte{0x13, 0x18, 0x06}, make([]byte, 21)...), wantLen: true},
		{name: "Endpoint-Discriminator magic block of 24", in: append([]byte{0x13, 0x1b, 0x04}, make([]byte, 24)...), wantLen: true},
		{name: "Short-Sequence length 4", in: []byte{0x12, 0x04, 0x00, 0x00}, wantLen: true},
		{name: "MRRU length 6", in: []byte{0x11, 0x06, 0, 0, 0x06, 0x4e}, wantLen: true},
		{name: "zero-length option", in: []byte{0x01, 0x00}},       // Type MRU, Length 0
		{name: "overrunning option", in: []byte{0x01, 0x04, 0x05}}, // MRU, Length 4, 1 octet
		{name: "lone type", in: []byte{0x01}},                      // Type only
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.in)
			if err == nil {
				t.Fatalf("parsed %#v, want an error", got)
			}
			if errors.Is(err, ppp.ErrOptionLength) != tt.wantLen {
				t.Fatalf("err = %v; wraps ErrOptionLength = %v, want %v", err, !tt.wantLen, tt.wantLen)
			}
		})
	}
}

func TestMarshalInvalid(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{name: "LQR with 3-octet period", opt: QualityProtocol{Protocol: ppp.ProtocolLQR, Data: []byte{1, 2, 3}}},
		{name: "MAC discriminator of 4 octets", opt: EndpointDiscriminator{Class: ClassMAC, Address: []byte{1, 2, 3, 4}}},
		{name: "raw of 254 octets", opt: Raw{T: 200, Data: make([]byte, 254)}},
		{name: "auth data of 252 octets", opt: AuthProtocol{Protocol: 0xc027, Data: make([]byte, 252)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := marshalOptions([]Option{tt.opt}); err == nil {
				t.Fatalf("marshalled % x, want an error", b)
			}
		})
	}
}

func TestErrorNamesOption(t *testing.T) {
	_, err := parseOptions([]byte{0x05, 0x05, 1, 2, 3}) // Magic-Number, Length 5
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("Magic-Number")) || !bytes.Contains([]byte(err.Error()), []byte("length 5")) {
		t.Fatalf("error %q should name the option and the bad length", err)
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{TypeMRU.String(), "MRU"},
		{Type(99).String(), "Type(99)"},
		{AlgorithmMSCHAPv2.String(), "MS-CHAPv2"},
		{Algorithm(1).String(), "Algorithm(0x01)"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add([]byte{0x01, 0x04, 0x05, 0xd4, 0x03, 0x05, 0xc2, 0x23, 0x81, 0x05, 0x06, 1, 2, 3, 4})
	f.Add([]byte{0x13, 0x09, 0x03, 0x02, 0, 0, 0, 0, 1, 0x04, 0x08, 0xc0, 0x25, 0, 0, 3, 0xe8})
	f.Add([]byte{0x03, 0x06, 0xc0, 0x27, 0xaa, 0xbb, 0x0d, 0x03, 0x06})
	f.Fuzz(func(t *testing.T, b []byte) { ppptest.RoundTrip(t, b, false, FromRaw, ToRaw) })
}
