package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

func TestJoinArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"/ppp", "active", "print"}, "/ppp active print"},
		// The shell removed the quotes around a b.
		{[]string{"/ppp", "secret", "add", "name=u", "password=a b"}, `/ppp secret add name=u password="a b"`},
		{[]string{"/ppp", "secret", "add", "name=u", `password=x"y`}, `/ppp secret add name=u password="x\"y"`},
		{[]string{"/ppp", "active", "remove", "[find", "name=u]"}, "/ppp active remove [find name=u]"},
		{[]string{"/ppp", "active", "remove", "[find name=u]"}, "/ppp active remove [find name=u]"},
		{[]string{"/ppp", "active", "remove", "[find]"}, "/ppp active remove [find]"},
		{[]string{"/interface", "pppoe-client", "monitor", "pppoe-out1", "once"}, "/interface pppoe-client monitor pppoe-out1 once"},
		{[]string{"/ppp", "secret", "set", "0", "comment=two words"}, `/ppp secret set 0 comment="two words"`},
		{[]string{"/radius", "print", "detail", "show-sensitive"}, "/radius print detail show-sensitive"},
	}
	for _, tt := range tests {
		got := joinArgs(tt.args)
		if got != tt.want {
			t.Errorf("joinArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
		if _, err := config.Parse(got); err != nil {
			t.Errorf("%q does not parse: %v", got, err)
		}
	}
}

func TestIsMonitor(t *testing.T) {
	for script, want := range map[string]bool{
		"/interface pppoe-client monitor pppoe-out1":      true,
		"/interface pppoe-client monitor pppoe-out1 once": false,
		"/ppp active print":                               false,
		"/interface pppoe-client monitor \"":              false, // unparsable
	} {
		if got := isMonitor(script); got != want {
			t.Errorf("isMonitor(%q) = %v", script, got)
		}
	}
}

// TestRun drives run against a fake daemon: arguments and stdin reach it as
// one script, output and errors go where they should, exit statuses differ.
func TestRun(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu  sync.Mutex
		got []api.Request
	)
	go (&api.Server{Handler: api.HandlerFunc(func(ctx context.Context, req api.Request, out io.Writer) error {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		if strings.Contains(req.Script, "bad") {
			return &config.Error{Line: 2, Property: "ranges", Err: io.ErrUnexpectedEOF}
		}
		_, err := io.WriteString(out, "ok\n")
		return err
	})}).Serve(ctx, ln)

	tests := []struct {
		name       string
		args       []string
		stdin      string
		code       int
		out, err   string
		wantScript string
		wantJSON   bool
	}{
		{"args", []string{"--socket", sock, "/ppp", "active", "print"}, "", 0, "ok\n", "", "/ppp active print", false},
		{"json", []string{"--socket", sock, "--json", "/ip", "pool", "print"}, "", 0, "ok\n", "", "/ip pool print", true},
		{"stdin", []string{"--socket", sock}, "/ip pool\nadd name=p ranges=10.0.0.1\n", 0, "ok\n", "", "/ip pool\nadd name=p ranges=10.0.0.1\n", false},
		{"remote error", []string{"--socket", sock, "bad"}, "", 1, "", "pppoectl: line 2: ranges: unexpected EOF\n", "bad", false},
		{"no daemon", []string{"--socket", sock + "x", "/export"}, "", 1, "", "pppoectl: api: connect to pppoed", "", false},
		{"bad flag", []string{"--nope"}, "", 2, "", "flag provided but not defined", "", false},
		// One argument is the command line itself, as ssh and scripts
		// pass it.
		{"one argument", []string{"--socket", sock, "/ppp active print"}, "", 0, "ok\n", "", "/ppp active print", false},
		{"one argument quoted", []string{"--socket", sock, `/ppp secret add name=u password="a b"`}, "", 0, "ok\n", "",
			`/ppp secret add name=u password="a b"`, false},
		// Over the socket's limit: said, not "broken pipe".
		{"stdin too large", []string{"--socket", sock}, strings.Repeat("#", api.MaxRequest+1), 1, "",
			"too large: more than 16777216 bytes (16 MiB)", "", false},
		{"encoded too large", []string{"--socket", sock}, strings.Repeat(`"`, api.MaxRequest/2+16), 1, "",
			"request too large: the control socket takes at most 16777216 bytes (16 MiB)", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if out.String() != tt.out {
				t.Errorf("stdout %q, want %q", out.String(), tt.out)
			}
			if !strings.Contains(errb.String(), tt.err) || tt.err == "" && errb.Len() > 0 {
				t.Errorf("stderr %q, want prefix %q", errb.String(), tt.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.wantScript != "" {
				if len(got) != 1 || got[0].Script != tt.wantScript || got[0].JSON != tt.wantJSON {
					t.Errorf("daemon got %+v, want script %q json %v", got, tt.wantScript, tt.wantJSON)
				}
			}
		})
	}
}
