package pppoe

import (
	"reflect"
	"testing"
)

func TestFindTag(t *testing.T) {
	tags := []Tag{
		ACName("ac"),
		ServiceName("a"),
		RawTag{T: TagServiceName, Data: []byte("raw")},
		ServiceName("b"),
		PPPMaxPayload(1500),
	}
	if got, ok := FindTag[ServiceName](tags); !ok || got != "a" {
		t.Errorf("FindTag[ServiceName] = %q, %v; want \"a\", true", got, ok)
	}
	if got, ok := FindTag[PPPMaxPayload](tags); !ok || got != 1500 {
		t.Errorf("FindTag[PPPMaxPayload] = %d, %v; want 1500, true", got, ok)
	}
	if got, ok := FindTag[HostUniq](tags); ok || got != nil {
		t.Errorf("FindTag[HostUniq] = %v, %v; want nil, false", got, ok)
	}
	if got := FindTags[ServiceName](tags); !reflect.DeepEqual(got, []ServiceName{"a", "b"}) {
		t.Errorf("FindTags[ServiceName] = %q, want [a b]", got)
	}
	if got := CountTags(tags, TagServiceName); got != 3 {
		t.Errorf("CountTags(Service-Name) = %d, want 3 (typed and raw)", got)
	}
	if got := CountTags(nil, TagACName); got != 0 {
		t.Errorf("CountTags(nil) = %d", got)
	}
}

func TestTagTypeString(t *testing.T) {
	for typ, want := range map[TagType]string{
		TagEndOfList: "End-Of-List", TagServiceName: "Service-Name", TagACName: "AC-Name",
		TagHostUniq: "Host-Uniq", TagACCookie: "AC-Cookie", TagVendorSpecific: "Vendor-Specific",
		TagRelaySessionID: "Relay-Session-Id", TagPPPMaxPayload: "PPP-Max-Payload",
		TagServiceNameError: "Service-Name-Error", TagACSystemError: "AC-System-Error",
		TagGenericError: "Generic-Error", 0x0111: "TagType(0x0111)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("TagType(%#04x).String() = %q, want %q", uint16(typ), got, want)
		}
	}
}

// TestTagTypes checks that every typed tag reports the type the parser maps
// it from, so a marshal writes back the TAG_TYPE it read.
func TestTagTypes(t *testing.T) {
	for _, tt := range []struct {
		tag  Tag
		want TagType
	}{
		{EndOfList{}, 0x0000}, {ServiceName(""), 0x0101}, {ACName(""), 0x0102}, {HostUniq{}, 0x0103},
		{ACCookie{}, 0x0104}, {VendorSpecific{}, 0x0105}, {RelaySessionID{}, 0x0110},
		{PPPMaxPayload(0), 0x0120}, {ServiceNameError(""), 0x0201}, {ACSystemError(""), 0x0202},
		{GenericError(""), 0x0203}, {RawTag{T: 0x1234}, 0x1234},
	} {
		if got := tt.tag.Type(); got != tt.want {
			t.Errorf("%T.Type() = %#04x, want %#04x", tt.tag, uint16(got), uint16(tt.want))
		}
		decoded, err := decodeTag(tt.want, tt.tag.Value())
		if err != nil {
			t.Errorf("decodeTag(%v, % x): %v", tt.want, tt.tag.Value(), err)
			continue
		}
		if reflect.TypeOf(decoded) != reflect.TypeOf(tt.tag) {
			t.Errorf("decodeTag(%v) = %T, want %T", tt.want, decoded, tt.tag)
		}
	}
}
