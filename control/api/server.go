package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
)

// Handler executes one request, writing its output to out as it goes. ctx
// ends when the client disconnects or the server shuts down. A returned
// error becomes the request's failure status.
type Handler interface {
	Exec(ctx context.Context, req Request, out io.Writer) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request, out io.Writer) error

// Exec implements Handler.
func (f HandlerFunc) Exec(ctx context.Context, req Request, out io.Writer) error {
	return f(ctx, req, out)
}

// Listen opens the control socket at path: the directory is created if
// needed, a stale socket left by a dead daemon is replaced, and a live one is
// an error, so two daemons never share a socket. The socket is mode 0660:
// root and the socket's group may drive the daemon.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: socket directory: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("api: %s: another daemon is listening", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: socket mode: %w", err)
	}
	return ln, nil
}

// Server serves the control protocol on a listener.
type Server struct {
	Handler Handler
	Log     *zap.Logger // nil logs nothing
}

// Serve accepts connections until ctx ends, then closes ln, cancels the
// requests in flight and waits for them. It returns nil after ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Log
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("api: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, log)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, log *zap.Logger) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		c.Close() // unblocks the watcher below and any write
	}()
	br := bufio.NewReader(c)
	req, err := readRequest(br)
	if err != nil {
		log.Debug("control request unreadable", zap.Error(err))
		return
	}
	// Anything after the request, or EOF, means the client is gone.
	go func() {
		io.Copy(io.Discard, br)
		cancel()
	}()
	w := &replyWriter{enc: json.NewEncoder(c)}
	err = s.Handler.Exec(ctx, req, w)
	final := reply{Done: true}
	if err != nil {
		final.Error = err.Error()
	}
	w.send(final)
}

// replyWriter turns each Write into one output chunk. Handlers may write
// from several goroutines (monitor), so it locks.
type replyWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

func (w *replyWriter) Write(p []byte) (int, error) {
	if err := w.send(reply{Out: string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *replyWriter) send(r reply) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.enc.Encode(r); err != nil {
		w.err = fmt.Errorf("api: send reply: %w", err)
	}
	return w.err
}
