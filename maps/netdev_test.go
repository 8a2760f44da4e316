package maps

import (
	"bytes"
	"testing"
)

func TestGenlHeader(t *testing.T) {
	// struct genlmsghdr: cmd, version, reserved (u16, must be 0).
	if got := (genlHeader{cmd: netdevCmdDevGet}).Serialize(); !bytes.Equal(got, []byte{1, 1, 0, 0}) {
		t.Errorf("genlHeader % x, want 01 01 00 00", got)
	}
}

func TestParseNetdevMessage(t *testing.T) {
	hdr := []byte{netdevCmdDevChangeNtf, 1, 0, 0} // genlmsghdr
	ifindex := []byte{8, 0, 1, 0, 7, 0, 0, 0}     // len 8, NETDEV_A_DEV_IFINDEX, 7
	xdp := []byte{12, 0, 3, 0, 0x67, 0, 0, 0, 0, 0, 0, 0}
	meta := []byte{12, 0, 5, 0, 0x07, 0, 0, 0, 0, 0, 0, 0}
	unknown := []byte{8, 0, 4, 0, 1, 0, 0, 0} // NETDEV_A_DEV_XDP_ZC_MAX_SEGS: ignored
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tt := range []struct {
		name string
		in   []byte
		want netdevInfo
		err  bool
	}{
		{name: "veth whose peer has GRO", in: cat(hdr, ifindex, xdp, unknown, meta), want: netdevInfo{ifindex: 7, xdp: 0x67, rxMeta: 7}},
		{name: "features absent: none", in: cat(hdr, ifindex), want: netdevInfo{ifindex: 7}},
		{name: "short header", in: hdr[:3], err: true},
		{name: "no ifindex", in: cat(hdr, xdp), err: true},
		{name: "attribute longer than the message", in: cat(hdr, ifindex, xdp[:10]), err: true},
		{name: "short ifindex value", in: cat(hdr, []byte{6, 0, 1, 0, 7, 0, 0, 0}), err: true},
		{name: "attribute length below its header (fuzz)", in: cat(hdr, []byte{2, 0, 1, 0}, ifindex), err: true},
		{name: "stray bytes after the last attribute", in: cat(hdr, ifindex, []byte{1, 2}), err: true},
		{name: "nested flag on the type is not the type", in: cat(hdr, []byte{8, 0, 1, 0x80, 7, 0, 0, 0}), want: netdevInfo{ifindex: 7}},
		{name: "short xdp-features value: ignored", in: cat(hdr, ifindex, []byte{8, 0, 3, 0, 0x67, 0, 0, 0}), want: netdevInfo{ifindex: 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetdevMessage(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if !tt.err && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if !tt.err && got.canXmitXDP() != (tt.want.xdp&xdpActNDOXmit != 0) {
				t.Errorf("canXmitXDP %v", got.canXmitXDP())
			}
		})
	}
}

func FuzzParseNetdevMessage(f *testing.F) {
	f.Add([]byte{4, 1, 0, 0, 8, 0, 1, 0, 7, 0, 0, 0, 12, 0, 3, 0, 0x67, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{4, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseNetdevMessage(b)
		if err == nil && info.ifindex <= 0 {
			t.Errorf("accepted ifindex %d", info.ifindex)
		}
	})
}
