//go:build linux || windows

package lcow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/stdio"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

type stdioConfig = stdio.Config

func openStdio(ctx context.Context, ns, id string, cfg stdio.Config) (*stdio.Pipes, error) {
	p, err := stdio.Open(ctx, ns, id, cfg)
	if err != nil {
		return nil, fmt.Errorf("open stdio: %w", err)
	}
	return p, nil
}

// container is one container in the VM.
type container struct {
	h      *Host
	id     string
	bundle string
	// release undoes the container's rootfs and mounts on the host side.
	release func(context.Context) error
	init    *process
	oom     chan struct{}
	stopOOM context.CancelFunc
}

var _ containerhost.Container = (*container)(nil)

func (c *container) Init() containerhost.Process { return c.init }

// OOM delivers the container's out-of-memory events from the guest.
func (c *container) OOM() <-chan struct{} { return c.oom }

// watchOOM keeps one WaitOOM call waiting in the guest and turns each
// answer into a value on c.oom. It closes c.oom when the container is
// deleted or the VM is gone.
func (c *container) watchOOM(ctx context.Context) {
	defer close(c.oom)
	for {
		if _, err := c.h.agent.WaitOOM(ctx, &agent.ContainerRequest{ContainerId: c.id}); err != nil {
			return
		}
		select {
		case c.oom <- struct{}{}:
		default: // one pending event says enough
		}
	}
}

func (c *container) Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (containerhost.Process, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("process spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	io.Terminal = io.Terminal || spec.Terminal
	p, req, err := c.h.newProcess(ctx, c, id, io)
	if err != nil {
		return nil, err
	}
	if _, err := c.h.agent.ExecProcess(ctx, &agent.ExecProcessRequest{ContainerId: c.id, ExecId: id, ProcessJson: b, Stdio: req}); err != nil {
		p.release()
		return nil, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	return p, nil
}

func (c *container) Pause(ctx context.Context) error {
	_, err := c.h.agent.PauseContainer(ctx, &agent.ContainerRequest{ContainerId: c.id})
	return errgrpc.ToNative(err)
}

func (c *container) Resume(ctx context.Context) error {
	_, err := c.h.agent.ResumeContainer(ctx, &agent.ContainerRequest{ContainerId: c.id})
	return errgrpc.ToNative(err)
}

func (c *container) Update(ctx context.Context, resources *anypb.Any) error {
	_, err := c.h.agent.UpdateContainer(ctx, &agent.UpdateContainerRequest{ContainerId: c.id, Resources: resources})
	return errgrpc.ToNative(err)
}

func (c *container) Stats(ctx context.Context) (*anypb.Any, error) {
	r, err := c.h.agent.Stats(ctx, &agent.ContainerRequest{ContainerId: c.id})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	return r.Stats, nil
}

func (c *container) Pids(ctx context.Context) ([]*apitask.ProcessInfo, error) {
	r, err := c.h.agent.Pids(ctx, &agent.ContainerRequest{ContainerId: c.id})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	out := make([]*apitask.ProcessInfo, 0, len(r.Pids))
	for _, p := range r.Pids {
		out = append(out, &apitask.ProcessInfo{Pid: p})
	}
	return out, nil
}

// Delete removes the container in the guest (when the VM is still there)
// and its rootfs from the share.
func (c *container) Delete(ctx context.Context) error {
	c.stopOOM()
	c.h.mu.Lock()
	delete(c.h.inits, int(c.init.pid.Load()))
	c.h.mu.Unlock()
	var errs []error
	if !c.h.gone() {
		if _, err := c.h.agent.DeleteContainer(ctx, &agent.ContainerRequest{ContainerId: c.id}); err != nil && !errdefs.IsNotFound(errgrpc.ToNative(err)) {
			errs = append(errs, fmt.Errorf("guest: %w", errgrpc.ToNative(err)))
		}
	}
	faultpoint.Reach("vm-guest-deleted")
	c.init.release()
	errs = append(errs, c.release(ctx))
	errs = append(errs, c.h.forget(c.bundle))
	return errors.Join(errs...)
}

// errVMExited is what waiting in the guest returns when the VM died first.
var errVMExited = errors.New("utility VM exited")

// waitGuest waits for a process's exit in the guest, or for the VM to die
// (errVMExited).
func (h *Host) waitGuest(ctx context.Context, req *agent.ProcessRequest) (containerhost.Exit, error) {
	type result struct {
		r   *agent.WaitProcessResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := h.agent.WaitProcess(ctx, req)
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			if h.gone() {
				return containerhost.Exit{}, errVMExited
			}
			return containerhost.Exit{}, fmt.Errorf("guest: %w", errgrpc.ToNative(res.err))
		}
		return containerhost.Exit{Status: int(res.r.ExitStatus), At: time.Unix(0, res.r.ExitedAtUnixNano)}, nil
	case <-h.vm.exited():
		return containerhost.Exit{}, errVMExited
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
}

// gone tells whether the VM has died; not before it booted.
func (h *Host) gone() bool {
	s := h.vm.session()
	if s == nil {
		return false
	}
	select {
	case <-h.vm.exited():
		return true
	case <-s.Done():
		return true
	default:
		return false
	}
}

// process is one process in the VM.
type process struct {
	h       *Host
	c       *container
	execID  string
	pipes   *stdio.Pipes
	streams []net.Conn
	pid     atomic.Int64
	deleted atomic.Bool
}

var _ containerhost.Process = (*process)(nil)

func (p *process) Pid() int { return int(p.pid.Load()) }

func (p *process) req() *agent.ProcessRequest {
	return &agent.ProcessRequest{ContainerId: p.c.id, ExecId: p.execID}
}

func (p *process) Start(ctx context.Context) error {
	r, err := p.h.agent.StartProcess(ctx, p.req())
	if err != nil {
		return fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	p.pid.Store(int64(r.Pid))
	return nil
}

func (p *process) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if p.h.gone() {
		return fmt.Errorf("utility VM is gone: %w", errdefs.ErrNotFound)
	}
	_, err := p.h.agent.SignalProcess(ctx, &agent.SignalProcessRequest{ContainerId: p.c.id, ExecId: p.execID, Signal: uint32(sig), All: all})
	if sig == syscall.SIGKILL && errors.Is(err, errAgentTimeout) {
		// A KILL must hold even when the agent cannot hear it: stopping
		// the VM ends every process in it, and their exits follow.
		log.G(ctx).WithError(err).Warn("stopping the utility VM so that the kill holds")
		return p.h.vm.stop(context.WithoutCancel(ctx))
	}
	return errgrpc.ToNative(err)
}

func (p *process) ResizeTTY(ctx context.Context, width, height uint32) error {
	_, err := p.h.agent.ResizeTTY(ctx, &agent.ResizeTTYRequest{ContainerId: p.c.id, ExecId: p.execID, Width: width, Height: height})
	return errgrpc.ToNative(err)
}

// CloseStdin ends the stdin stream; the agent closes the process's stdin
// when the stream ends.
func (p *process) CloseStdin(ctx context.Context) error {
	return p.pipes.CloseStdin()
}

// Wait returns the exit the agent reports, or an error when the VM dies
// first; then it waits for the output streams to drain.
func (p *process) Wait(ctx context.Context) (containerhost.Exit, error) {
	e, err := p.h.waitGuest(ctx, p.req())
	if err != nil {
		return containerhost.Exit{}, err
	}
	if err := p.pipes.Settle(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("output still open after exit; closed it")
	}
	return e, nil
}

func (p *process) Delete(ctx context.Context) error {
	if p.deleted.Load() {
		return nil
	}
	var err error
	if !p.h.gone() {
		if _, e := p.h.agent.DeleteProcess(ctx, p.req()); e != nil && !errdefs.IsNotFound(errgrpc.ToNative(e)) {
			err = fmt.Errorf("guest: %w", errgrpc.ToNative(e))
		}
	}
	p.release()
	return err
}

// release closes this side of the process's stdio.
func (p *process) release() {
	if p.deleted.Swap(true) {
		return
	}
	for _, s := range p.streams {
		if s != nil {
			s.Close()
		}
	}
	p.pipes.Close()
}
