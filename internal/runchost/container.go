//go:build linux

package runchost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/cgstats"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/stdio"
)

// initPidFile is where runc writes the init's pid; the delete bootstrap
// reads it back.
const initPidFile = "init.pid"

// container is one runc container on the host kernel.
type container struct {
	h *Host
	// runc logs into the bundle, so each container has its own client.
	runc   *runc.Runc
	ns, id string
	bundle string
	spec   *specs.Spec
	rootfs string // mounted by us, unmounted at Delete; empty otherwise
	init   *process
	oom    chan struct{}

	mu      sync.Mutex
	cgroup  any // cgroup1.Cgroup or *cgroup2.Manager, loaded after create
	exited  bool
	deleted bool
}

var _ containerhost.Container = (*container)(nil)

// Init returns the init process.
func (c *container) Init() containerhost.Process { return c.init }

// OOM delivers the container's out-of-memory events.
func (c *container) OOM() <-chan struct{} { return c.oom }

// ioOwner is the host uid/gid that the container's root maps to, so that a
// user-namespaced process can still use its stdio pipes.
func (c *container) ioOwner() (int, int) {
	uid, gid := 0, 0
	if c.spec.Linux != nil {
		for _, m := range c.spec.Linux.UIDMappings {
			if m.ContainerID == 0 {
				uid = int(m.HostID)
			}
		}
		for _, m := range c.spec.Linux.GIDMappings {
			if m.ContainerID == 0 {
				gid = int(m.HostID)
			}
		}
	}
	return uid, gid
}

// create runs `runc create` for the init process.
func (c *container) create(ctx context.Context) error {
	pidFile := filepath.Join(c.bundle, initPidFile)
	err := c.init.launch(ctx, pidFile, func(rio runc.IO, sock *runc.Socket) error {
		opts := &runc.CreateOpts{PidFile: pidFile, IO: rio}
		if sock != nil {
			opts.ConsoleSocket = sock
		}
		if err := c.runc.Create(ctx, c.id, c.bundle, opts); err != nil {
			return runtimeError(c.runc, "create", withRuncLog(err, c.runc.Log))
		}
		faultpoint.Reach("runc-created")
		return nil
	})
	if err != nil {
		return err
	}
	c.loadCgroup(ctx, c.init.Pid())
	return nil
}

// loadCgroup finds the init's cgroup for stats and OOM events. A container
// without one (rootless, say) still runs; only its metrics are missing.
func (c *container) loadCgroup(ctx context.Context, pid int) {
	var cg any
	if cgroups.Mode() == cgroups.Unified {
		path, err := cgroup2.PidGroupPath(pid)
		if err != nil {
			log.G(ctx).WithError(err).Warn("find cgroup v2 of init")
			return
		}
		m, err := cgroup2.Load(path)
		if err != nil {
			log.G(ctx).WithError(err).Warn("load cgroup v2")
			return
		}
		cg = m
	} else {
		m, err := cgroup1.Load(cgroup1.PidPath(pid))
		if err != nil {
			log.G(ctx).WithError(err).Warn("load cgroup v1")
			return
		}
		cg = m
	}
	c.mu.Lock()
	c.cgroup = cg
	c.mu.Unlock()
	c.h.watchOOM(ctx, c, cg)
}

// Exec prepares an exec; runc runs it at Start.
func (c *container) Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (containerhost.Process, error) {
	if strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return nil, fmt.Errorf("exec id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	pipes, err := stdio.Open(ctx, c.ns, c.id+"/"+id, io)
	if err != nil {
		return nil, fmt.Errorf("open stdio: %w", err)
	}
	return &process{c: c, execID: id, spec: spec, pipes: pipes, term: io.Terminal || spec.Terminal}, nil
}

// Pause freezes the container.
func (c *container) Pause(ctx context.Context) error {
	return c.runtimeErrorOrNil("pause", c.runc.Pause(ctx, c.id))
}

// Resume thaws the container.
func (c *container) Resume(ctx context.Context) error {
	return c.runtimeErrorOrNil("resume", c.runc.Resume(ctx, c.id))
}

// Update applies new Linux resource limits.
func (c *container) Update(ctx context.Context, resources *anypb.Any) error {
	v, err := typeurl.UnmarshalAny(resources)
	if err != nil {
		return fmt.Errorf("decode resources: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	res, ok := v.(*specs.LinuxResources)
	if !ok {
		return fmt.Errorf("resources of type %T on a Linux container: %w", v, errdefs.ErrInvalidArgument)
	}
	return c.runtimeErrorOrNil("update", c.runc.Update(ctx, c.id, res))
}

// Stats reads the container's cgroup into containerd's metrics types.
func (c *container) Stats(ctx context.Context) (*anypb.Any, error) {
	c.mu.Lock()
	cg := c.cgroup
	c.mu.Unlock()
	a, err := cgstats.Of(cg)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", c.id, err)
	}
	return a, nil
}

// Pids lists the container's processes.
func (c *container) Pids(ctx context.Context) ([]*apitask.ProcessInfo, error) {
	pids, err := c.runc.Ps(ctx, c.id)
	if err != nil {
		return nil, runtimeError(c.runc, "ps", err)
	}
	out := make([]*apitask.ProcessInfo, 0, len(pids))
	for _, pid := range pids {
		out = append(out, &apitask.ProcessInfo{Pid: uint32(pid)})
	}
	return out, nil
}

func (c *container) recordExit(containerhost.Exit) {
	c.mu.Lock()
	c.exited = true
	c.mu.Unlock()
}

// Delete removes the runc container, its stdio and the rootfs we mounted.
func (c *container) Delete(ctx context.Context) error {
	c.mu.Lock()
	if c.deleted {
		c.mu.Unlock()
		return nil
	}
	c.deleted = true
	c.mu.Unlock()
	var errs []error
	if err := c.runc.Delete(ctx, c.id, &runc.DeleteOpts{Force: true}); err != nil && !isNotExist(err) {
		errs = append(errs, runtimeError(c.runc, "delete", err))
	}
	faultpoint.Reach("runc-deleted")
	if err := c.init.Delete(ctx); err != nil {
		errs = append(errs, err)
	}
	if c.rootfs != "" {
		faultpoint.Reach("runc-unmount")
		if err := layers.UnmountRootfs(c.rootfs); err != nil {
			errs = append(errs, err)
		}
	}
	c.h.forget(c.id)
	if err := os.Remove(filepath.Join(c.bundle, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isNotExist(err error) bool {
	return strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found")
}

func (c *container) runtimeErrorOrNil(verb string, err error) error {
	if err == nil {
		return nil
	}
	return runtimeError(c.runc, verb, err)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
