//go:build !windows

package stdio

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
)

// loggerGrace is how long a binary:// logger may take to finish writing
// after its pipes closed, before it is killed.
const loggerGrace = 5 * time.Second

// Open prepares containerd's side of one process's stdio. ns and id name
// the process for a binary:// logger.
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
	if cfg.Stdin != "" {
		// Opened in the background: containerd's client may open its
		// writer only after Create returns, so the RPC's ctx must not
		// bound this open.
		in, err := fifo.OpenFifo(context.Background(), cfg.Stdin, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open stdin %s: %w", cfg.Stdin, err)
		}
		p.stdin = in
	}
	stderr := cfg.Stderr
	if cfg.Terminal {
		stderr = "" // the terminal carries both outputs
	}
	u, err := parseURI(cfg.Stdout)
	if err != nil {
		return nil, err
	}
	switch {
	case u != nil && u.Scheme == "binary":
		if err := p.startLogger(ctx, ns, id, u); err != nil {
			return nil, err
		}
		return p, nil
	case u != nil && u.Scheme == "file":
		f, err := openLogFile(u.Path)
		if err != nil {
			return nil, err
		}
		// Both streams append to one file; writes interleave by line at
		// best, as with runc's shim.
		sh := &shared{w: f, users: 1}
		if stderr != "" {
			sh.users = 2
			p.stderr = &output{w: sh}
		}
		p.stdout = &output{w: sh}
		return p, nil
	}
	if p.stdout, err = p.openOutput(ctx, cfg.Stdout); err != nil {
		return nil, err
	}
	if p.stderr, err = p.openOutput(ctx, stderr); err != nil {
		return nil, err
	}
	return p, nil
}

// parseURI returns the URI of a file:// or binary:// target, nil for a
// plain FIFO path, and an error for any other scheme.
func parseURI(s string) (*url.URL, error) {
	if s == "" || filepath.IsAbs(s) {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("stdio %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "fifo", "":
		return nil, nil
	case "file", "binary":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("stdio %q: %s:// needs an absolute path: %w", s, u.Scheme, errdefs.ErrInvalidArgument)
		}
		return u, nil
	}
	return nil, fmt.Errorf("stdio %q: unknown scheme %q (want a FIFO path, file:// or binary://): %w", s, u.Scheme, errdefs.ErrInvalidArgument)
}

// openOutput opens an output FIFO for writing, waiting for containerd's
// reader, and keeps a read side open so that a client going away does not
// break the process's writes.
func (p *Pipes) openOutput(ctx context.Context, path string) (io.WriteCloser, error) {
	if path == "" {
		return nil, nil
	}
	if u, _ := url.Parse(path); u != nil && u.Scheme == "fifo" {
		path = u.Path
	}
	w, err := fifo.OpenFifo(ctx, path, syscall.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := fifo.OpenFifo(ctx, path, syscall.O_RDONLY, 0)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	return &output{w: w, extra: []io.Closer{r}, unread: fifoUnread(w)}, nil
}

func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file %s: %w", path, err)
	}
	return f, nil
}

// startLogger runs a binary:// logging binary the way containerd documents
// it: the URI's query as arguments, CONTAINER_ID and CONTAINER_NAMESPACE in
// its environment, the read ends of the stdout and stderr pipes as fds 3
// and 4, and fd 5 for it to close once it is ready.
func (p *Pipes) startLogger(ctx context.Context, ns, id string, u *url.URL) error {
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 && vs[0] != "" {
			args = append(args, vs[0])
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return err
	}
	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+id, "CONTAINER_NAMESPACE="+ns)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	startErr := cmd.Start()
	// The child holds its own copies now.
	outR.Close()
	errR.Close()
	readyW.Close()
	if startErr != nil {
		outW.Close()
		errW.Close()
		readyR.Close()
		return fmt.Errorf("start logger %s: %w", u.Path, startErr)
	}
	l := &logger{cmd: cmd, done: make(chan struct{})}
	go func() {
		l.err = cmd.Wait()
		close(l.done)
	}()
	p.stdout, p.stderr = &output{w: outW}, &output{w: errW}
	p.closers = append(p.closers, l)

	ready := make(chan error, 1)
	go func() {
		defer readyR.Close()
		_, err := readyR.Read(make([]byte, 1))
		if err == io.EOF {
			err = nil
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("logger %s: %w", u.Path, err)
		}
		return nil
	case <-l.done:
		return fmt.Errorf("logger %s exited before it was ready: %v", u.Path, l.err)
	case <-ctx.Done():
		return fmt.Errorf("logger %s not ready: %w", u.Path, ctx.Err())
	}
}

// logger is a running binary:// logging process. Closing it waits for it
// to finish after its pipes closed, then kills it.
type logger struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

func (l *logger) Close() error {
	l.once.Do(func() {
		select {
		case <-l.done:
		case <-time.After(loggerGrace):
			_ = l.cmd.Process.Kill()
			<-l.done
		}
	})
	return nil
}
