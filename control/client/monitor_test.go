package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	connectedStatus := Status{
		Name: "pppoe-out1", Status: StateConnected, Uptime: 7*time.Minute + 58*time.Second, ActiveLinks: 1,
		ServiceName: "pppoeservice", ACName: "MikroTik", ACMAC: net.HardwareAddr{0x00, 0x0c, 0x42, 0x04, 0x4c, 0xee},
		MTU: 1480, MRU: 1460, LocalAddress: netip.MustParseAddr("10.0.0.2"), RemoteAddress: netip.MustParseAddr("10.0.0.1"),
	}
	withDNS := connectedStatus
	withDNS.DNSServers = []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")}
	for _, tc := range []struct {
		name string
		s    Status
		want string
	}{
		{"connected", connectedStatus, "" +
			"        status: connected\n" +
			"        uptime: 7m58s\n" +
			"  active-links: 1\n" +
			"      encoding: \n" +
			"  service-name: pppoeservice\n" +
			"       ac-name: MikroTik\n" +
			"        ac-mac: 00:0C:42:04:4C:EE\n" +
			"           mtu: 1480\n" +
			"           mru: 1460\n" +
			" local-address: 10.0.0.2\n" +
			"remote-address: 10.0.0.1\n"},
		{"dns", withDNS, "" +
			"        status: connected\n" +
			"        uptime: 7m58s\n" +
			"  active-links: 1\n" +
			"      encoding: \n" +
			"  service-name: pppoeservice\n" +
			"       ac-name: MikroTik\n" +
			"        ac-mac: 00:0C:42:04:4C:EE\n" +
			"           mtu: 1480\n" +
			"           mru: 1460\n" +
			" local-address: 10.0.0.2\n" +
			"remote-address: 10.0.0.1\n" +
			"   dns-servers: 192.0.2.53,192.0.2.54\n"},
		{"dialing", Status{Status: StateDialing}, "        status: dialing\n"},
		{"verifying", Status{Status: StateVerifying}, "        status: verifying password...\n"},
		{"disconnected with reason", Status{Status: StateDisconnected, LastDisconnect: "PADT from AC"},
			"        status: disconnected\n        reason: PADT from AC\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.s.Render(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	s := Status{
		Name: "pppoe-out1", Status: StateConnected, Uptime: 90 * time.Second, ActiveLinks: 1,
		ACName: "ac", ACMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xab}, MTU: 1460, MRU: 1460,
		LocalAddress: netip.MustParseAddr("10.0.0.2"), RemoteAddress: netip.MustParseAddr("10.0.0.1"), SessionID: 7,
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "pppoe-out1", "status": "connected", "uptime": 90.0, "active-links": 1.0, "encoding": "",
		"service-name": "", "ac-name": "ac", "ac-mac": "02:00:00:00:00:AB", "mtu": 1460.0, "mru": 1460.0,
		"local-address": "10.0.0.2", "remote-address": "10.0.0.1", "session-id": 7.0,
	}
	if len(got) != len(want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}

func TestFormatUptime(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{999 * time.Millisecond, "0s"},
		{time.Second, "1s"},
		{7*time.Minute + 58*time.Second, "7m58s"},
		{time.Hour, "1h"},
		{25*time.Hour + 1*time.Second, "1d1h1s"},
		{15*24*time.Hour + 3*time.Minute, "2w1d3m"},
	} {
		if got := FormatUptime(tc.d); got != tc.want {
			t.Errorf("FormatUptime(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	r := NewResolvConf(path)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::53")
	for _, step := range []struct {
		client  string
		servers []netip.Addr
		want    string // "" = no file
	}{
		{"pppoe-out2", []netip.Addr{b, c}, "nameserver 192.0.2.2\nnameserver 2001:db8::53\n"},
		// Clients in name order, a server shared by two written once.
		{"pppoe-out1", []netip.Addr{a, b}, "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 2001:db8::53\n"},
		{"pppoe-out2", nil, "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"},
		{"pppoe-out3", nil, "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"},
		{"pppoe-out1", []netip.Addr{}, ""},
	} {
		if err := r.SetServers(step.client, step.servers); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		switch {
		case step.want == "" && !os.IsNotExist(err):
			t.Errorf("after %s=%v: file %q (%v), want none", step.client, step.servers, got, err)
		case step.want != "" && string(got) != step.want:
			t.Errorf("after %s=%v: file %q (%v), want %q", step.client, step.servers, got, err, step.want)
		}
		if r.Content() != step.want {
			t.Errorf("Content %q, want %q", r.Content(), step.want)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	bad := NewResolvConf(filepath.Join(t.TempDir(), "missing", "resolv.conf"))
	if err := bad.SetServers("x", []netip.Addr{a}); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}
}

func TestScan(t *testing.T) {
	h := &hub{}
	newTestAC(t, h, acOptions{name: "MikroTik", mac: acMAC, services: []string{"internet", "video"}, local: "10.0.0.1"})
	newTestAC(t, h, acOptions{name: "rp-pppoe", mac: net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x02}, services: []string{"isp"}, local: "10.0.1.1"})
	ifs := newFakeInterfaces(t, h, clientMAC)
	offers, err := Scan(context.Background(), ifs, "ether1", 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Offer]bool{
		{Service: "internet", MACAddress: "02:AC:00:00:00:01", ACName: "MikroTik"}: true,
		{Service: "video", MACAddress: "02:AC:00:00:00:01", ACName: "MikroTik"}:    true,
		{Service: "isp", MACAddress: "02:AC:00:00:00:02", ACName: "rp-pppoe"}:      true,
	}
	if len(offers) != len(want) {
		t.Fatalf("offers %+v, want %d", offers, len(want))
	}
	for _, o := range offers {
		if !want[o] {
			t.Errorf("unexpected offer %+v", o)
		}
	}
	if ifs.mux.Ports() != 0 {
		t.Errorf("Scan left %d ports open", ifs.mux.Ports())
	}
	if _, err := Scan(context.Background(), ifs, "ether9", time.Millisecond); err == nil {
		t.Errorf("Scan of an unknown interface succeeded")
	}

	var b bytes.Buffer
	rows := []Offer{{"internet", "02:AC:00:00:00:01", "MikroTik"}, {"isp", "02:AC:00:00:00:02", "rp-pppoe"}}
	if err := RenderScan(&b, rows); err != nil {
		t.Fatal(err)
	}
	wantText := "" +
		" # SERVICE  MAC-ADDRESS       AC-NAME\n" +
		" 0 internet 02:AC:00:00:00:01 MikroTik\n" +
		" 1 isp      02:AC:00:00:00:02 rp-pppoe\n"
	if b.String() != wantText {
		t.Errorf("RenderScan:\n%s\nwant\n%s", b.String(), wantText)
	}
	js, err := ScanJSON(rows[:1])
	if err != nil || string(js) != `[{"service":"internet","mac-address":"02:AC:00:00:00:01","ac-name":"MikroTik"}]` {
		t.Errorf("ScanJSON: %s %v", js, err)
	}
	if js, _ := ScanJSON(nil); string(js) != "[]" {
		t.Errorf("ScanJSON(nil) = %s, want []", js)
	}
}

func TestPortDeadlineAndClose(t *testing.T) {
	h := &hub{}
	m := NewMux(h.endpoint())
	t.Cleanup(func() { m.Close() })
	p := m.Port()
	buf := make([]byte, 64)
	p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := p.ReadFrame(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrame past deadline: %v", err)
	}
	// A deadline moved into the past wakes a blocked reader.
	p.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := p.ReadFrame(buf); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	p.SetReadDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("blocked ReadFrame after deadline change: %v", err)
	}
	p.SetReadDeadline(time.Time{})
	h.endpoint().WriteFrame([]byte("frame"))
	if n, err := p.ReadFrame(buf); err != nil || string(buf[:n]) != "frame" {
		t.Errorf("ReadFrame: %q %v", buf[:n], err)
	}
	p.Close()
	if _, err := p.ReadFrame(buf); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after Close: %v", err)
	}
	if err := p.WriteFrame([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
	q := m.Port()
	m.Close()
	if _, err := q.ReadFrame(buf); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after Mux.Close: %v", err)
	}
	if !strings.Contains(m.Port().WriteFrame(nil).Error(), "closed") {
		t.Errorf("Port of a dead Mux is writable")
	}
}
