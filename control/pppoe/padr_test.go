package pppoe

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseLineID(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want LineID
		err  bool
	}{
		{name: "both", data: []byte{
			0x01, 0x03, 'e', '1', '0', // Agent-Circuit-Id "e10"
			0x02, 0x02, 'r', '9', // Agent-Remote-Id "r9"
		}, want: LineID{CircuitID: []byte("e10"), RemoteID: []byte("r9")}},
		{name: "loop characteristics skipped", data: []byte{
			0x81, 0x04, 0, 0, 0x03, 0xe8, // Actual-Data-Rate-Upstream 1000
			0x01, 0x01, 'x', // Agent-Circuit-Id "x"
		}, want: LineID{CircuitID: []byte("x")}},
		{name: "empty", data: nil},
		{name: "header cut", data: []byte{0x01}, err: true},
		{name: "value cut", data: []byte{0x01, 0x05, 'a'}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLineID(tc.data)
			if tc.err {
				if !errors.Is(err, ErrLineID) {
					t.Fatalf("err %v, want ErrLineID", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got.CircuitID, tc.want.CircuitID) || !bytes.Equal(got.RemoteID, tc.want.RemoteID) {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

// padrOf hands admission the relay's and the intermediate agent's tags.
func TestPADROfTags(t *testing.T) {
	p := &Packet{Code: CodePADR, Tags: []Tag{
		ServiceName("svc"),
		HostUniq{1, 2},
		VendorSpecific{VendorID: 9, Data: []byte{0x01, 0x01, 'n'}}, // not the BBF's: ignored
		VendorSpecific{VendorID: VendorBBF, Data: []byte{0x01, 0x02, 'c', '1', 0x02, 0x02, 'r', '1'}},
		RelaySessionID{7, 7},
	}}
	r := padrOf(&serverState{}, p, "svc", HostUniq{1, 2})
	if r.Service != "svc" || !bytes.Equal(r.HostUniq, []byte{1, 2}) || !bytes.Equal(r.RelaySessionID, []byte{7, 7}) ||
		string(r.Line.CircuitID) != "c1" || string(r.Line.RemoteID) != "r1" {
		t.Fatalf("padr %+v", r)
	}
	if r := padrOf(&serverState{}, &Packet{Code: CodePADR}, "", nil); !r.Line.IsZero() || r.RelaySessionID != nil {
		t.Fatalf("padr without tags %+v", r)
	}
}

func FuzzParseLineID(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 'a', 0x02, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseLineID(b) })
}
