//go:build windows

package stdio

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/containerd/errdefs"
)

// dialTimeout bounds the dial of one of containerd's pipes: its client
// creates them before it asks for the task, so they are there at once
// when all is well.
const dialTimeout = 30 * time.Second

// Open connects to the named pipes that containerd's client serves for
// one process's stdio (\\.\pipe\...). ns and id are unused on Windows.
func Open(ctx context.Context, ns, id string, cfg Config) (_ *Pipes, retErr error) {
	if cfg.Pipes != nil {
		return cfg.Pipes, nil
	}
	p := newPipes()
	defer func() {
		if retErr != nil {
			p.Close()
		}
	}()
	stderr := cfg.Stderr
	if cfg.Terminal {
		stderr = "" // the console carries both outputs
	}
	if cfg.Stdin != "" {
		c, err := dialPipe(ctx, cfg.Stdin)
		if err != nil {
			return nil, err
		}
		p.stdin = c
	}
	for _, s := range []struct {
		path string
		dst  *io.WriteCloser
	}{{cfg.Stdout, &p.stdout}, {stderr, &p.stderr}} {
		if s.path == "" {
			continue
		}
		c, err := dialPipe(ctx, s.path)
		if err != nil {
			return nil, err
		}
		*s.dst = &output{w: c}
	}
	return p, nil
}

func dialPipe(ctx context.Context, path string) (io.ReadWriteCloser, error) {
	if !strings.HasPrefix(strings.ToLower(path), `\\.\pipe\`) {
		return nil, fmt.Errorf("stdio %q: Windows hosts take named pipes only (no file:// or binary:// logging yet): %w", path, errdefs.ErrNotImplemented)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
	defer cancel()
	c, err := winio.DialPipeContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return c, nil
}
