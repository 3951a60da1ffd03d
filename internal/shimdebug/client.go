package shimdebug

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// RemoteError is a refusal or failure the shim reported.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Call sends req to the debug socket at path, copies stdin (if not nil)
// and the sizes from resize (if not nil) to the shim, and the shim's
// output to stdout and stderr, until the shim reports the exit status,
// which it returns. A shim's refusal is a *RemoteError.
func Call(ctx context.Context, path string, req Request, stdin io.Reader, stdout, stderr io.Writer, resize <-chan Size) (int, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return 0, fmt.Errorf("the shim's debug socket: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	if _, err := c.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	out := &lockedWriter{w: c}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(frameWriter{out, FrameStdin}, stdin)
			_ = out.frame(FrameStdinClose, nil)
		}()
	}
	if resize != nil {
		go func() {
			for s := range resize {
				if out.frame(FrameResize, resizePayload(s.Cols, s.Rows)) != nil {
					return
				}
			}
		}()
	}
	for {
		typ, b, err := readFrame(c)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return 0, errors.New("the shim closed the debug connection without an exit status")
			}
			return 0, err
		}
		switch typ {
		case FrameStdout:
			if _, err := stdout.Write(b); err != nil {
				return 0, err
			}
		case FrameStderr:
			if _, err := stderr.Write(b); err != nil {
				return 0, err
			}
		case FrameExit:
			n, err := strconv.Atoi(string(b))
			if err != nil {
				return 0, fmt.Errorf("malformed exit status %q", b)
			}
			return n, nil
		case FrameError:
			return 0, &RemoteError{Msg: string(b)}
		}
	}
}
