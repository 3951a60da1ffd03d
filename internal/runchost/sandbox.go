//go:build linux

package runchost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/pause"
)

// StartSandbox starts a pod's pause process (see package pause) in the
// pod's network namespace (none: this one, hostNetwork) with the pod's
// hostname. The pod's containers then join its namespaces through
// /proc/<pid>/ns.
func (h *Host) StartSandbox(ctx context.Context, req *containerhost.SandboxRequest) (containerhost.Process, error) {
	cmd, err := pause.Command(req.NetNS, req.Hostname)
	if err != nil {
		return nil, err
	}
	ec, err := reaper.Default.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start the pod's pause process: %w", err)
	}
	p := &pauseProcess{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		status, _ := reaper.Default.Wait(cmd, ec)
		p.exit = containerhost.Exit{Status: status, At: time.Now()}
		close(p.done)
	}()
	return p, nil
}

var _ containerhost.SandboxHost = (*Host)(nil)

// pauseProcess is a pod's pause process seen as the pod's init.
type pauseProcess struct {
	pid  int
	done chan struct{}
	exit containerhost.Exit // set before done closes
	once sync.Once
}

var _ containerhost.Process = (*pauseProcess)(nil)

func (p *pauseProcess) Pid() int { return p.pid }

// Start does nothing: the pause process runs from StartSandbox on.
func (p *pauseProcess) Start(ctx context.Context) error { return nil }

func (p *pauseProcess) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	select {
	case <-p.done:
		return fmt.Errorf("pod's pause process already exited: %w", errdefs.ErrNotFound)
	default:
	}
	if err := unix.Kill(p.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pod's pause process already exited: %w", errdefs.ErrNotFound)
		}
		return err
	}
	return nil
}

func (p *pauseProcess) ResizeTTY(ctx context.Context, width, height uint32) error {
	return fmt.Errorf("a pod's pause process has no terminal: %w", errdefs.ErrFailedPrecondition)
}

// CloseStdin does nothing: the pause process has no stdin.
func (p *pauseProcess) CloseStdin(ctx context.Context) error { return nil }

func (p *pauseProcess) Wait(ctx context.Context) (containerhost.Exit, error) {
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
}

// Delete ends the pause process if it still runs; the reaper collects it.
func (p *pauseProcess) Delete(ctx context.Context) error {
	p.once.Do(func() { _ = p.Kill(ctx, unix.SIGKILL, false) })
	return nil
}
