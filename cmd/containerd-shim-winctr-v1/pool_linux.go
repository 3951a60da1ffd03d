package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/task"
	"github.com/winctr/winctr/internal/vmpool"
)

// The warm pool's life is internal/vmpool's (Plan on the start side,
// Waiter in a pooled shim); this is what ties it to this shim: its
// options, its VMs (lcow), and the processes and sockets of its start.

// Environment of a pooled shim: its pool entry, and the containerd whose
// exit ends it while it waits.
const (
	poolEntryEnv = "WINCTR_POOL_ENTRY"
	poolWatchEnv = "WINCTR_POOL_WATCH"
)

// poolPlan is a start bootstrap's vmpool.Plan, and whether this pod's VM
// is the pooled ones' size.
type poolPlan struct {
	plan  *vmpool.Plan
	match bool
}

// vmShape is what must be equal for a pooled VM to serve a pod.
func vmShape(cfg *options.Config) string {
	return fmt.Sprintf("%s|%d|%d", cfg.BootFilesRootPath, cfg.VMProcessorCount, cfg.VMMemoryMB)
}

// defaultVMConfig is the configuration of the runtime's VMs with no
// container's annotations: the size pooled VMs have.
func defaultVMConfig(o *optionsFromStart) (*options.Config, error) {
	return options.ResolveSpec(o.opts, &specs.Spec{Linux: &specs.Linux{}}, runtime.GOOS)
}

// newPoolPlan resolves the pod's VM from its spec (nil for a sandbox of
// the Sandbox API) and the runtime options; nil when the runtime keeps no
// pool or the pod runs on the host kernel.
func newPoolPlan(ctx context.Context, params *bootapi.BootstrapParams, o *optionsFromStart, spec *specs.Spec) (*poolPlan, error) {
	if o == nil || o.opts.GetVmPoolSize() == 0 {
		return nil, nil
	}
	def, err := defaultVMConfig(o)
	if err != nil {
		return nil, nil // create reports bad options
	}
	// A sandbox of the Sandbox API has no spec: its VM is sized by the
	// options, and by annotations that come only with CreateSandbox (a
	// pooled VM of another size then waits unused until its shim ends).
	cfg := def
	if spec != nil {
		if cfg, err = options.ResolveSpec(o.opts, spec, runtime.GOOS); err != nil {
			return nil, nil // create reports a bad spec
		}
	}
	if cfg.Isolation != options.IsolationHypervisor || cfg.VMPoolSize == 0 {
		return nil, nil
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Runtimes that ask for pools of different sizes keep them apart.
	pool, err := vmpool.Open(vmpool.Root, vmpool.Key(params.GetContainerdGrpcAddress(), ns, self, vmShape(def), strconv.Itoa(int(cfg.VMPoolSize))))
	if err != nil {
		return nil, err
	}
	plan := &vmpool.Plan{
		Pool:    pool,
		Size:    int(cfg.VMPoolSize),
		Match:   vmShape(cfg) == vmShape(def),
		Cleanup: func(ctx context.Context, dir string) { _, _ = lcow.Cleanup(ctx, dir) },
	}
	return &poolPlan{plan: plan, match: plan.Match}, nil
}

// take gives the pod (task id, at address) a pooled shim with a booted
// VM; false when none could take it.
func (p *poolPlan) take(ctx context.Context, id, address string, listener *net.UnixListener) bool {
	bundle, err := os.Getwd()
	if err != nil {
		return false
	}
	return p.plan.Take(ctx, vmpool.Adoption{Bundle: bundle, Address: address, TaskID: id}, listener)
}

// refill tops the pool up with shims started as this start's params say.
func (p *poolPlan) refill(ctx context.Context, params *bootapi.BootstrapParams, o *optionsFromStart) {
	p.plan.Spawn = func(ctx context.Context, pool *vmpool.Pool) error { return spawnPooled(ctx, pool, params, o) }
	p.plan.Refill(ctx)
}

// spawnPooled starts one pooled shim: a shim like any other, on a socket
// of its own, whose working directory is its pool entry until a pod takes
// it. It boots the runtime's default VM and waits (pooledHostFactory).
func spawnPooled(ctx context.Context, pool *vmpool.Pool, params *bootapi.BootstrapParams, o *optionsFromStart) (retErr error) {
	e, err := pool.NewEntry()
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(e.Dir)
		}
	}()
	// Whose entry it is, for whoever reads the pools: one host may run
	// several containerds.
	if err := e.WriteFile(vmpool.ContainerdFile, params.GetContainerdGrpcAddress()); err != nil {
		return err
	}
	if err := options.Save(e.Dir, o.any); err != nil {
		return err
	}
	// containerd's shim package logs to "log" in the working directory:
	// a plain file here, until the pod's bundle gives the shim its fifo.
	if err := e.WriteFile("log", ""); err != nil {
		return err
	}
	address, err := shim.CreateSocketAddress(ctx, socketDirOf(params), params.GetContainerdGrpcAddress(), e.ID, false)
	if err != nil {
		return err
	}
	ln, err := shim.NewSocket(address)
	if err != nil {
		return fmt.Errorf("pooled shim socket: %w", err)
	}
	defer func() {
		if retErr == nil {
			ln.SetUnlinkOnClose(false) // the socket is the shim's now
		}
		ln.Close()
	}()
	f, err := ln.File()
	if err != nil {
		return err
	}
	defer f.Close()
	cmd, err := serverCommand(ctx, e.ID, params.GetContainerdGrpcAddress(), params.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG)
	if err != nil {
		return err
	}
	cmd.Dir = e.Dir
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(cmd.Env, poolEntryEnv+"="+e.Dir, poolWatchEnv+"="+strconv.Itoa(os.Getppid()))
	if os.Getenv(ttrpcAddressEnv) == "" && params.GetContainerdTtrpcAddress() != "" {
		cmd.Env = append(cmd.Env, ttrpcAddressEnv+"="+params.GetContainerdTtrpcAddress())
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pooled shim: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := e.WriteFile(vmpool.PidFile, strconv.Itoa(cmd.Process.Pid)); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	if err := e.WriteFile(vmpool.AddressFile, address); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	_ = shim.AdjustOOMScore(cmd.Process.Pid)
	return nil
}

// pooledHostFactory is the host factory of a pooled shim, nil for any
// other shim. It starts the boot at once; the pod's first container of
// the pooled VM's size gets the booted VM's Host.
func pooledHostFactory(ctx context.Context, sd shutdown.Service, next task.HostFactory) task.HostFactory {
	entry := os.Getenv(poolEntryEnv)
	if entry == "" {
		return nil
	}
	w := &vmpool.Waiter{
		Entry:          entry,
		ContainerdGone: containerdGone(ctx),
		Adopted: func(ctx context.Context, a vmpool.Adoption) error {
			return adoptPod(ctx, sd, a)
		},
	}
	sd.RegisterCallback(w.Release)
	go func() {
		if err := runPooled(ctx, w); err != nil {
			log.G(ctx).WithError(err).Warn("pooled VM shim leaves")
			sd.Shutdown()
		}
	}()
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		if cfg.Isolation == options.IsolationHypervisor {
			if vm := w.Hand(vmShape(cfg)); vm != nil {
				h := vm.(*lcow.Host)
				h.SetConfig(cfg)
				return h, nil
			}
		}
		return next(ctx, cfg)
	}
}

// runPooled builds the runtime's default VM host and waits with it.
func runPooled(ctx context.Context, w *vmpool.Waiter) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	o, err := options.Load(w.Entry)
	if err != nil {
		return err
	}
	cfg, err := defaultVMConfig(&optionsFromStart{opts: o})
	if err != nil {
		return err
	}
	h, err := lcow.New(ctx, ns, cfg)
	if err != nil {
		return err
	}
	return w.Run(ctx, h, vmShape(cfg))
}

// adoptPod makes the shim the pod's: it works and logs in the pod's
// bundle from now on, and removes the pod's socket address when it exits.
func adoptPod(ctx context.Context, sd shutdown.Service, a vmpool.Adoption) error {
	if err := os.Chdir(a.Bundle); err != nil {
		return err
	}
	// As containerd's shim package does at start: the bundle's log fifo,
	// read by containerd, on stderr and under the logger.
	f, err := fifo.OpenFifoDup2(ctx, "log", unix.O_WRONLY, 0o700, int(os.Stderr.Fd()))
	if err != nil {
		return fmt.Errorf("the pod's log: %w", err)
	}
	log.L.Logger.SetOutput(f)
	address := a.Address
	sd.RegisterCallback(func(context.Context) error { return shim.RemoveSocket(address) })
	return nil
}

// containerdGone is closed when the containerd that started the pool
// exits: a waiting VM serves no one after that.
func containerdGone(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	pid, err := strconv.Atoi(os.Getenv(poolWatchEnv))
	if err != nil || pid <= 1 {
		return done // nothing to watch
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		log.G(ctx).WithError(err).Warn("watch containerd")
		return done
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		close(done)
	}()
	return done
}
