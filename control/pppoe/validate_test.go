package pppoe

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	big := make([]byte, 1500)
	tests := []struct {
		name string
		p    Packet
		msg  string // "" = valid, else a substring of the error
	}{
		{"PADI", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), HostUniq{1}}}, ""},
		{"PADI without Service-Name", Packet{Code: CodePADI, Tags: []Tag{HostUniq{1}}}, "0 Service-Name tags, want exactly 1"},
		{"PADI with two Service-Names", Packet{Code: CodePADI, Tags: []Tag{ServiceName("a"), ServiceName("b")}}, "2 Service-Name tags"},
		{"PADI raw Service-Name counts", Packet{Code: CodePADI, Tags: []Tag{RawTag{T: TagServiceName}}}, ""},
		{"PADI with session id", Packet{Code: CodePADI, SessionID: 1, Tags: []Tag{ServiceName("")}}, "SESSION_ID 0x0001, must be 0"},
		// 6 header + 4 Service-Name + 4 Host-Uniq header + 1470 = 1484: the limit.
		{"PADI at 1484 bytes", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), HostUniq(big[:1470])}}, ""},
		{"PADI at 1485 bytes", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), HostUniq(big[:1471])}}, "1485 bytes exceed 1484"},
		{"PADO", Packet{Code: CodePADO, Tags: []Tag{ACName("ac"), ServiceName("x"), ServiceName("")}}, ""},
		{"PADO without AC-Name", Packet{Code: CodePADO, Tags: []Tag{ServiceName("x")}}, "0 AC-Name tags"},
		{"PADO with two AC-Names", Packet{Code: CodePADO, Tags: []Tag{ACName("a"), ACName("b"), ServiceName("")}}, "2 AC-Name tags"},
		{"PADO without Service-Name", Packet{Code: CodePADO, Tags: []Tag{ACName("ac")}}, "no Service-Name tag"},
		{"PADO with session id", Packet{Code: CodePADO, SessionID: 3, Tags: []Tag{ACName("ac"), ServiceName("")}}, "SESSION_ID 0x0003"},
		// 6 header + 4 AC-Name + 4 Service-Name + 4 Host-Uniq header + 1482 = 1500.
		{"PADO at 1500 bytes", Packet{Code: CodePADO, Tags: []Tag{ACName(""), ServiceName(""), HostUniq(big[:1482])}}, ""},
		{"PADO at 1501 bytes", Packet{Code: CodePADO, Tags: []Tag{ACName(""), ServiceName(""), HostUniq(big[:1483])}}, "1501 bytes exceed the 1500-byte"},
		{"PADR", Packet{Code: CodePADR, Tags: []Tag{ServiceName("x"), ACCookie{1, 2}}}, ""},
		{"PADR without Service-Name", Packet{Code: CodePADR, Tags: []Tag{ACCookie{1}}}, "0 Service-Name tags"},
		{"PADR with session id", Packet{Code: CodePADR, SessionID: 0xffff, Tags: []Tag{ServiceName("")}}, "SESSION_ID 0xffff, must be 0"},
		{"PADS", Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("x")}}, ""},
		{"PADS without Service-Name", Packet{Code: CodePADS, SessionID: 1}, "0 Service-Name tags"},
		{"PADS reserved id", Packet{Code: CodePADS, SessionID: 0xffff, Tags: []Tag{ServiceName("x")}}, "0xffff is reserved"},
		{"PADS refusal Service-Name-Error", Packet{Code: CodePADS, Tags: []Tag{ServiceNameError("")}}, ""},
		{"PADS refusal AC-System-Error", Packet{Code: CodePADS, Tags: []Tag{ServiceName("x"), ACSystemError("full")}}, ""},
		{"PADS refusal Generic-Error", Packet{Code: CodePADS, Tags: []Tag{GenericError("")}}, ""},
		{"PADS id 0 without error", Packet{Code: CodePADS, Tags: []Tag{ServiceName("x")}}, "SESSION_ID 0 without an error tag"},
		{"PADT", Packet{Code: CodePADT, SessionID: 9}, ""},
		{"PADT id 0", Packet{Code: CodePADT}, "SESSION_ID 0 names no session"},
		{"PADT reserved id", Packet{Code: CodePADT, SessionID: 0xffff}, "0xffff is reserved"},
		{"PADT with payload", Packet{Code: CodePADT, SessionID: 9, Payload: []byte{1}}, "1-byte payload in a discovery packet"},
		{"PADM", Packet{Code: CodePADM, SessionID: 9, Tags: []Tag{RawTag{T: 0x0112}}}, ""},
		{"PADN id 0", Packet{Code: CodePADN}, "SESSION_ID 0 names no session"},
		{"session", Packet{Code: CodeSession, SessionID: 9, Payload: []byte{0xc0, 0x21}}, ""},
		{"session id 0", Packet{Code: CodeSession, Payload: []byte{0xc0, 0x21}}, "SESSION_ID 0 names no session"},
		{"session reserved id", Packet{Code: CodeSession, SessionID: 0xffff, Payload: []byte{0xc0, 0x21}}, "0xffff is reserved"},
		{"session empty", Packet{Code: CodeSession, SessionID: 9}, "empty PPP frame"},
		{"session with tags", Packet{Code: CodeSession, SessionID: 9, Payload: []byte{0xc0, 0x21}, Tags: []Tag{ServiceName("")}}, "1 tags in a session packet"},
		{"unknown code", Packet{Code: 0x42}, "unknown CODE"},
		{"End-Of-List last", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), EndOfList{}}}, ""},
		{"End-Of-List in the middle", Packet{Code: CodePADI, Tags: []Tag{EndOfList{}, ServiceName("")}}, "tag 0: End-Of-List followed by 1 tags"},
		{"raw End-Of-List with value", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), RawTag{T: TagEndOfList, Data: []byte{0}}}}, "End-Of-List with a 1-byte value"},
		{"vendor id high octet", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), VendorSpecific{VendorID: 0x01000de9}}}, "tag 1: Vendor-Specific vendor id 0x01000de9"},
		{"raw short Vendor-Specific", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), RawTag{T: TagVendorSpecific, Data: []byte{0}}}}, "vendor id needs 4"},
		{"raw PPP-Max-Payload of 3 bytes", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), RawTag{T: TagPPPMaxPayload, Data: []byte{5, 0xdc, 0}}}}, "PPP-Max-Payload value of 3 bytes"},
		{"nil tag", Packet{Code: CodePADI, Tags: []Tag{ServiceName(""), nil}}, "tag 1 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want error saying %q", tt.msg)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestValidateTable checks that the round-trip table holds valid packets
// only, so the cross-checks below exercise what real peers send.
func TestValidateTable(t *testing.T) {
	for _, tt := range packetTests {
		if err := tt.p.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
