// Package api is pppoed's control-socket protocol, spoken over a Unix socket
// between the daemon and pppoectl.
//
// A connection carries one request. The client sends one JSON object (a
// Request: a RouterOS command script, usually one line, plus flags) and a
// newline, then keeps the connection open. The server answers with a stream
// of newline-terminated JSON objects: zero or more output chunks, then one
// final status. Closing the connection early cancels the request, which is
// how an endless "/interface pppoe-client monitor" ends.
//
// JSON lines rather than raw text so that output containing newlines or
// quotes, and an error after some output, need no escaping conventions of our
// own. Output is text: invalid UTF-8 arrives as U+FFFD.
package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DefaultSocket is where pppoed listens and pppoectl connects unless told
// otherwise.
const DefaultSocket = "/run/pppoe-xdp/pppoed.sock"

// MaxRequest bounds a request, JSON-encoded with its newline, so a confused
// client cannot make the daemon buffer without limit. An export of 100,000
// secrets is about 7 MB.
const MaxRequest = 16 << 20

// ErrTooLarge refuses a request over MaxRequest before it is sent.
var ErrTooLarge = fmt.Errorf("request too large: the control socket takes at most %d bytes (16 MiB)", MaxRequest)

// Request is one command script for the daemon.
type Request struct {
	// Script is RouterOS command text: one command line, or a whole
	// script in either form the config file accepts.
	Script string `json:"script"`
	// Menu is the menu relative commands start in ("/" if empty).
	Menu string `json:"menu,omitempty"`
	// JSON asks print commands for JSON instead of RouterOS tables.
	JSON bool `json:"json,omitempty"`
}

// reply is one line of the server's answer: an output chunk (Out) or the
// final status (Done, with Error set on failure).
type reply struct {
	Out   string `json:"out,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
}

// RemoteError is a failure reported by the daemon (as opposed to one
// reaching it).
type RemoteError struct{ Msg string }

// Error implements error.
func (e *RemoteError) Error() string { return e.Msg }

// ErrNoStatus means the daemon closed the connection without a final
// status: it crashed or was stopped mid-request.
var ErrNoStatus = errors.New("api: connection closed before the final status")

func writeRequest(w io.Writer, r Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("api: request: %w", err)
	}
	if len(b)+1 > MaxRequest {
		// The daemon would stop reading and close: say why here rather
		// than "broken pipe".
		return fmt.Errorf("api: %d bytes: %w", len(b)+1, ErrTooLarge)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("api: send request: %w", err)
	}
	return nil
}

func readRequest(r *bufio.Reader) (Request, error) {
	var req Request
	line, err := readLine(r, MaxRequest)
	if err != nil {
		return req, fmt.Errorf("api: read request: %w", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("api: request: %w", err)
	}
	return req, nil
}

// readLine reads up to and without the next newline, refusing lines longer
// than limit.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var out []byte
	for {
		frag, err := r.ReadSlice('\n')
		out = append(out, frag...)
		if len(out) > limit {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return out[:len(out)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(out) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
