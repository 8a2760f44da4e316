package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
)

// Do sends req to the daemon listening on socket and copies the output to
// out as it arrives. It returns nil when the daemon reports success,
// a *RemoteError carrying the daemon's message when it reports failure,
// and another error when the daemon cannot be reached or the stream breaks.
// Ending ctx closes the connection, which cancels the request in the daemon.
func Do(ctx context.Context, socket string, req Request, out io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("api: connect to pppoed: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := writeRequest(c, req); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for {
		line, err := readLine(br, MaxRequest)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return ErrNoStatus
			}
			return fmt.Errorf("api: read reply: %w", err)
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("api: reply: %w", err)
		}
		if r.Out != "" {
			if _, err := io.WriteString(out, r.Out); err != nil {
				return fmt.Errorf("api: output: %w", err)
			}
		}
		if r.Done {
			if r.Error != "" {
				return &RemoteError{Msg: r.Error}
			}
			return nil
		}
	}
}
