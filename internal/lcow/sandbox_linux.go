package lcow

import (
	"context"
	"errors"
	"fmt"
	"path"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/winctr/winctr/internal/containerhost"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

var _ containerhost.SandboxHost = (*Host)(nil)

// StartSandbox boots the pod's VM with the pod's network and starts, in
// the guest, the process that holds the pod's namespaces. Its guest pid
// is what CRI builds the containers' namespace paths from.
func (h *Host) StartSandbox(ctx context.Context, req *containerhost.SandboxRequest) (containerhost.Process, error) {
	if req.NetNS == "" {
		return nil, containerhost.ErrVMHostNamespace("hostNetwork")
	}
	if h.hasPod {
		return nil, fmt.Errorf("a second pod sandbox in one utility VM: %w", errdefs.ErrInvalidArgument)
	}
	cgroupPath := ""
	if req.CgroupParent != "" {
		cgroupPath = path.Join(req.CgroupParent, req.ID)
	}
	// The sandbox's bundle carries the VM for the delete bootstrap too: a
	// pod may have no container when its shim dies.
	if err := h.startPod(ctx, podPlace{name: req.ID, bundle: req.Bundle, netns: req.NetNS, cgroup: cgroupPath}); err != nil {
		return nil, err
	}
	h.hasPod = true
	resp, err := h.agent.StartSandbox(ctx, &agent.StartSandboxRequest{SandboxId: req.ID, Hostname: req.Hostname})
	if err != nil {
		return nil, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	h.mu.Lock()
	h.inits[int(resp.Pid)] = req.ID
	h.mu.Unlock()
	return &guestPause{h: h, id: req.ID, pid: int(resp.Pid)}, nil
}

// guestPause is the pod's pause process in the guest.
type guestPause struct {
	h   *Host
	id  string
	pid int
}

var _ containerhost.Process = (*guestPause)(nil)

func (p *guestPause) Pid() int { return p.pid }

// Start does nothing: the pause process runs from StartSandbox on.
func (p *guestPause) Start(ctx context.Context) error { return nil }

func (p *guestPause) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if p.h.gone() {
		return fmt.Errorf("utility VM is gone: %w", errdefs.ErrNotFound)
	}
	_, err := p.h.agent.SignalProcess(ctx, &agent.SignalProcessRequest{ContainerId: p.id, Signal: uint32(sig)})
	return errgrpc.ToNative(err)
}

func (p *guestPause) ResizeTTY(ctx context.Context, width, height uint32) error {
	return fmt.Errorf("a pod's pause process has no terminal: %w", errdefs.ErrFailedPrecondition)
}

// CloseStdin does nothing: the pause process has no stdin.
func (p *guestPause) CloseStdin(ctx context.Context) error { return nil }

// Wait returns the pause process's exit, or 255 when the VM died first.
func (p *guestPause) Wait(ctx context.Context) (containerhost.Exit, error) {
	e, err := p.h.waitGuest(ctx, &agent.ProcessRequest{ContainerId: p.id})
	if errors.Is(err, errVMExited) {
		return containerhost.Exit{Status: 255, At: time.Now()}, nil
	}
	return e, err
}

// Delete removes the pause process from the guest (ending it).
func (p *guestPause) Delete(ctx context.Context) error {
	p.h.mu.Lock()
	delete(p.h.inits, p.pid)
	p.h.mu.Unlock()
	if p.h.gone() {
		return nil
	}
	if _, err := p.h.agent.DeleteContainer(ctx, &agent.ContainerRequest{ContainerId: p.id}); err != nil && !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		return fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	return nil
}
