package client

import (
	"bytes"
	"strings"
	"testing"
)

// An AC-Name and a Service-Name come from any host on the access segment:
// scan and monitor show them escaped, so they can neither drive the
// operator's terminal nor break the table.
func TestRenderEscapesNetworkStrings(t *testing.T) {
	var b bytes.Buffer
	rows := []Offer{{"inter\tnet", "02:AC:00:00:00:01", "evil\x1b[2J\nAC"}, {"isp", "02:AC:00:00:00:02", "rp-pppoe"}}
	if err := RenderScan(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		" # SERVICE      MAC-ADDRESS       AC-NAME\n" +
		" 0 \"inter\\tnet\" 02:AC:00:00:00:01 \"evil\\x1b[2J\\nAC\"\n" +
		" 1 isp          02:AC:00:00:00:02 rp-pppoe\n"
	if b.String() != want {
		t.Errorf("RenderScan:\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	st := Status{Name: "pppoe-out1", Status: StateConnected, ServiceName: "a\rb", ACName: "\x1b]0;title\a"}
	if err := st.Render(&b); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.ContainsAny(out, "\x1b\r\a") || !strings.Contains(out, `ac-name: "\x1b]0;title\a"`) ||
		!strings.Contains(out, `service-name: "a\rb"`) {
		t.Errorf("Render:\n%q", out)
	}
}
