//go:build linux

// Package runchost is the Host that runs Linux containers on the host kernel
// through runc: the process-isolation half of winctr on Linux hosts.
package runchost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/containerd/cgroups/v3"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/oom"
	oomv1 "github.com/containerd/containerd/v2/pkg/oom/v1"
	oomv2 "github.com/containerd/containerd/v2/pkg/oom/v2"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/stdio"
)

// DefaultRoot is where runc keeps container state unless runc_root is set;
// separate from containerd's runc shim so the two never share ids.
const DefaultRoot = "/run/containerd/winctr/runc"

// Host runs the containers of one pod on the host kernel with runc.
type Host struct {
	runc  *runc.Runc
	root  string
	exits *exitWatcher

	mu         sync.Mutex
	containers map[string]*container
	oom        oom.Watcher
}

var _ containerhost.Host = (*Host)(nil)

// once makes the reaper the monitor of every runc command: the shim reaps
// all children, so go-runc must learn exit codes from the reaper too.
var once sync.Once

// Config is what a runc Host is told by whoever builds it: the shim from
// its runtime options, the guest agent from its own constants.
type Config struct {
	// Binary is the OCI runtime to run; DefaultBinary when empty.
	Binary string
	// Root is the runtime's state directory, under which each namespace
	// gets its own; DefaultRoot when empty.
	Root string
}

// New returns a runc Host for namespace ns: the host of process-isolated
// Linux containers.
func New(ctx context.Context, ns string, cfg Config) (*Host, error) {
	once.Do(func() { runc.Monitor = reaper.Default })
	bin := cfg.Binary
	if bin == "" {
		bin = DefaultBinary()
	}
	root := cfg.Root
	if root == "" {
		root = DefaultRoot
	}
	root = filepath.Join(root, ns)
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("runc root %s: %w", root, err)
	}
	return &Host{
		runc: &runc.Runc{
			Command:      bin,
			Root:         root,
			PdeathSignal: syscall.SIGKILL,
		},
		root:       root,
		exits:      newExitWatcher(),
		containers: map[string]*container{},
	}, nil
}

// CreateContainer mounts the rootfs and runs `runc create`.
func (h *Host) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (_ containerhost.Container, retErr error) {
	if req.Spec.Linux == nil {
		return nil, fmt.Errorf("spec has no linux section; a Linux host runs Linux containers only: %w", errdefs.ErrInvalidArgument)
	}
	if err := bundlestate.Write(req.Bundle, stateFile, state{Namespace: req.Namespace, RuncBinary: h.runc.Command, RuncRoot: h.root}); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			os.Remove(filepath.Join(req.Bundle, stateFile))
		}
	}()
	rootfs, err := layers.MountRootfs(filepath.Join(req.Bundle, "rootfs"), req.Rootfs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil && rootfs != "" {
			if err := layers.UnmountRootfs(rootfs); err != nil {
				log.G(ctx).WithError(err).Warn("unmount rootfs after failed create")
			}
		}
	}()
	faultpoint.Reach("runc-rootfs-mounted")
	pipes, err := stdio.Open(ctx, req.Namespace, req.ID, req.Stdio)
	if err != nil {
		return nil, fmt.Errorf("open stdio: %w", err)
	}
	r := *h.runc
	r.Log = filepath.Join(req.Bundle, runcLogFile)
	r.LogFormat = runc.JSON
	c := &container{
		h:      h,
		runc:   &r,
		ns:     req.Namespace,
		id:     req.ID,
		bundle: req.Bundle,
		spec:   req.Spec,
		rootfs: rootfs,
		oom:    make(chan struct{}, 8),
	}
	c.init = &process{c: c, pipes: pipes, term: req.Stdio.Terminal || req.Spec.Process.Terminal}
	if err := c.create(ctx); err != nil {
		pipes.Close()
		return nil, err
	}
	h.mu.Lock()
	h.containers[req.ID] = c
	h.mu.Unlock()
	return c, nil
}

// forget drops a deleted container and closes its OOM channel, which ends
// the task service's forwarding of its OOM events. Under h.mu, so that the
// OOM router never sends on the closed channel.
func (h *Host) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.containers[id]; ok {
		delete(h.containers, id)
		close(c.oom)
	}
}

// Close stops the OOM watcher. runc containers need nothing else: each was
// deleted with its task.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.oom != nil {
		err := h.oom.Close()
		h.oom = nil
		return err
	}
	return nil
}

// watchOOM adds a container's cgroup to the host's OOM watcher, starting it
// on first use.
func (h *Host) watchOOM(ctx context.Context, c *container, cg any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.oom == nil {
		var (
			w   oom.Watcher
			err error
		)
		if cgroups.Mode() == cgroups.Unified {
			w, err = oomv2.New(oomRouter{h})
		} else {
			w, err = oomv1.New(oomRouter{h})
		}
		if err != nil {
			log.G(ctx).WithError(err).Warn("no OOM events for this pod")
			return
		}
		h.oom = w
		go w.Run(context.WithoutCancel(ctx))
	}
	if err := h.oom.Add(c.id, cg); err != nil {
		log.G(ctx).WithError(err).WithField("task", c.id).Warn("watch OOM")
	}
}

// oomRouter turns the watcher's TaskOOM events into the container's OOM
// channel, so that the task service publishes them in its own order.
type oomRouter struct{ h *Host }

func (r oomRouter) Publish(ctx context.Context, topic string, event events.Event) error {
	e, ok := event.(*eventstypes.TaskOOM)
	if !ok {
		return errors.New("unexpected event from the OOM watcher")
	}
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	if c := r.h.containers[e.ContainerID]; c != nil {
		select {
		case c.oom <- struct{}{}:
		default: // a burst of OOMs: one pending signal says enough
		}
	}
	return nil
}
