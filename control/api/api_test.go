package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve starts a Server with h on a fresh socket and returns its path.
func serve(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "pppoed.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Handler: h}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return path
}

func TestRoundTrip(t *testing.T) {
	echo := HandlerFunc(func(ctx context.Context, req Request, out io.Writer) error {
		switch req.Script {
		case "fail":
			fmt.Fprint(out, "partial\n")
			return errors.New("line 1: name: required")
		case "quiet":
			return nil
		}
		fmt.Fprintf(out, "menu=%s json=%v\n", req.Menu, req.JSON)
		fmt.Fprint(out, req.Script)
		return nil
	})
	path := serve(t, echo)
	tests := []struct {
		name    string
		req     Request
		out     string
		wantErr string
	}{
		{"plain", Request{Script: "/ppp active print"}, "menu= json=false\n/ppp active print", ""},
		{"flags", Request{Script: "print", Menu: "/ip pool", JSON: true}, "menu=/ip pool json=true\nprint", ""},
		{"bytes survive", Request{Script: "a\x00\n\"\\\xff"}, "menu= json=false\na\x00\n\"\\\ufffd", ""},
		{"no output", Request{Script: "quiet"}, "", ""},
		{"error after output", Request{Script: "fail"}, "partial\n", "line 1: name: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Do(context.Background(), path, tt.req, &b)
			if b.String() != tt.out {
				t.Errorf("output %q, want %q", b.String(), tt.out)
			}
			var re *RemoteError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err %v", err)
			case tt.wantErr != "" && (!errors.As(err, &re) || re.Msg != tt.wantErr):
				t.Errorf("err %v, want RemoteError %q", err, tt.wantErr)
			}
		})
	}
}

func TestBigRequest(t *testing.T) {
	path := serve(t, HandlerFunc(func(ctx context.Context, req Request, out io.Writer) error {
		_, err := fmt.Fprint(out, len(req.Script))
		return err
	}))
	var b bytes.Buffer
	if err := Do(context.Background(), path, Request{Script: strings.Repeat("x", 1<<20)}, &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "1048576" {
		t.Errorf("daemon saw %s bytes", b.String())
	}
}

// A client that goes away must cancel a streaming handler (monitor).
func TestDisconnectCancels(t *testing.T) {
	ended := make(chan error, 1)
	path := serve(t, HandlerFunc(func(ctx context.Context, req Request, out io.Writer) error {
		for {
			if _, err := io.WriteString(out, "tick\n"); err != nil {
				ended <- err
				return err
			}
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- Do(ctx, path, Request{Script: "monitor"}, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || line != "tick\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Do: %v, want context.Canceled", err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running after the client left")
	}
}

func TestListen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	// A stale socket file (no listener behind it) is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	ln, err = Listen(path)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want 0660", fi.Mode().Perm())
	}
	// A live one is refused: two daemons never share a socket.
	if ln2, err := Listen(path); err == nil {
		ln2.Close()
		t.Fatal("second Listen on a live socket succeeded")
	}
}

func TestDaemonGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	if err := Do(context.Background(), path, Request{Script: "x"}, io.Discard); err == nil {
		t.Fatal("Do without a daemon succeeded")
	}
	// A daemon that reads the request and hangs up gives ErrNoStatus.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(`{"out":"half"}` + "\n"))
		c.Close()
	}()
	var b bytes.Buffer
	if err := Do(context.Background(), path, Request{Script: "x"}, &b); !errors.Is(err, ErrNoStatus) {
		t.Errorf("err %v, want ErrNoStatus", err)
	}
	if b.String() != "half" {
		t.Errorf("output %q", b.String())
	}
}

// Malformed requests: the server drops the connection without calling the
// handler and keeps serving others.
func TestMalformedRequest(t *testing.T) {
	called := make(chan string, 10)
	path := serve(t, HandlerFunc(func(ctx context.Context, req Request, out io.Writer) error {
		called <- req.Script
		return nil
	}))
	for _, raw := range []string{
		"",                    // EOF before anything
		"{\"script\":",        // truncated JSON, no newline
		"{\"script\":\"x\"",   // truncated JSON, no newline
		"not json\n",          // not JSON
		"{\"script\":5}\n",    // wrong type
		"[\"/ppp active\"]\n", // wrong shape
	} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(raw))
		c.(*net.UnixConn).CloseWrite()
		b, _ := io.ReadAll(c)
		c.Close()
		if len(b) != 0 {
			t.Errorf("%q: got reply %q", raw, b)
		}
	}
	if err := Do(context.Background(), path, Request{Script: "ok"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := <-called; got != "ok" {
		t.Errorf("handler called with %q", got)
	}
	select {
	case s := <-called:
		t.Errorf("handler called for a malformed request %q", s)
	default:
	}
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		in, want string
		limit    int
		err      bool
	}{
		{"abc\nrest", "abc", 10, false},
		{"\n", "", 10, false},
		{"abc", "", 10, true},          // no newline: truncated
		{"", "", 10, true},             // empty: EOF
		{"abcdefghijk\n", "", 5, true}, // over the limit
	}
	for _, tt := range tests {
		got, err := readLine(bufio.NewReaderSize(strings.NewReader(tt.in), 16), tt.limit)
		if (err != nil) != tt.err || string(got) != tt.want {
			t.Errorf("readLine(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func FuzzRequest(f *testing.F) {
	f.Add([]byte(`{"script":"/ppp active print","menu":"/","json":true}` + "\n"))
	f.Add([]byte("\n"))
	f.Add([]byte(`{"script":"\u0000"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := writeRequest(&buf, req); err != nil {
			t.Fatal(err)
		}
		again, err := readRequest(bufio.NewReader(&buf))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if again != req {
			t.Fatalf("round trip %+v != %+v", again, req)
		}
	})
}
