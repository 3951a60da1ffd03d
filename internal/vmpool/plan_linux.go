package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/vmpool"
)

// Environment of a pooled shim: its pool entry, and the containerd whose
// exit ends it while it waits.
const (
	poolEntryEnv = "WINCTR_POOL_ENTRY"
	poolWatchEnv = "WINCTR_POOL_WATCH"
)

// The start bootstrap's output is its result, which containerd reads with
// the bootstrap's stderr: nothing here may log. A pool that cannot serve
// falls back to booting a VM, which is what the pod would get without one.

// poolPlan is what a start bootstrap does with the runtime's warm pool:
// the pool of the runtime's default VM, whether this pod's VM is of that
// size (only then can it take a pooled one), and how many to keep.
type poolPlan struct {
	pool  *vmpool.Pool
	size  int
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
	return &poolPlan{pool: pool, size: int(cfg.VMPoolSize), match: vmShape(cfg) == vmShape(def)}, nil
}

// socketPath is the file of a unix:// socket address.
func socketPath(address string) string { return strings.TrimPrefix(address, "unix://") }

// take gives the pod a pooled shim with a booted VM: claim an entry, hand
// its shim the pod, and move its socket to the pod's address, replacing
// the one start just made (rename is atomic: the address always has a
// socket). false when none was ready or the hand-over failed, and the
// caller starts a shim as usual.
func (p *poolPlan) take(ctx context.Context, id, address string, listener *net.UnixListener) bool {
	e, err := p.pool.Claim()
	if err != nil {
		return false
	}
	fail := func(error) bool {
		dropEntry(ctx, *e)
		return false
	}
	bundle, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	if err := vmpool.Adopt(ctx, e, vmpool.Adoption{Bundle: bundle, Address: address, TaskID: id}); err != nil {
		return fail(err)
	}
	from, err := e.ReadFile(vmpool.AddressFile)
	if err != nil {
		return fail(err)
	}
	listener.SetUnlinkOnClose(false)
	if err := os.Rename(socketPath(from), socketPath(address)); err != nil {
		return fail(fmt.Errorf("move the pooled shim's socket: %w", err))
	}
	listener.Close()
	_ = os.RemoveAll(e.Dir)
	return true
}

// dropEntry ends an entry's shim if it still runs (its VM dies with it)
// and removes what it left: the VM's directory, recorded in the entry,
// and the entry.
func dropEntry(ctx context.Context, e vmpool.Entry) {
	if e.Pid != 0 && vmpool.Alive(e.Pid, e.ID) {
		_ = unix.Kill(e.Pid, unix.SIGKILL)
	}
	_, _ = lcow.Cleanup(ctx, e.Dir)
	if addr, err := e.ReadFile(vmpool.AddressFile); err == nil && !shim.CanConnect(addr) {
		_ = shim.RemoveSocket(addr)
	}
	_ = os.RemoveAll(e.Dir)
}

// refill brings the pool back to its size: entries whose shim died are
// cleaned up, and new pooled shims are started for the missing ones. Each
// boots its VM in the background; start does not wait for them.
func (p *poolPlan) refill(ctx context.Context, params *bootapi.BootstrapParams, o *optionsFromStart) {
	unlock, err := p.pool.Lock()
	if err != nil {
		return
	}
	defer unlock()
	live, dead, err := p.pool.Scan()
	if err != nil {
		return
	}
	for _, e := range dead {
		dropEntry(ctx, e)
	}
	for n := len(live); n < p.size; n++ {
		if spawnPooled(ctx, p.pool, params, o) != nil {
			break
		}
	}
	sweepOtherPools(ctx, p.pool)
}

// sweepOtherPools cleans up after the dead shims of every other pool: a
// pool whose runtime was reconfigured, or whose containerd moved, sees no
// start of its own again. Their lock is not taken (another start may hold
// it while it boots nothing but processes): dropping a dead entry twice
// is harmless, and an entry being spawned has no pid yet and is left.
func sweepOtherPools(ctx context.Context, own *vmpool.Pool) {
	dirs, _ := filepath.Glob(filepath.Join(vmpool.Root, "*"))
	for _, dir := range dirs {
		if dir == own.Dir() {
			continue
		}
		pool, err := vmpool.Open(vmpool.Root, filepath.Base(dir))
		if err != nil {
			continue
		}
		_, dead, _ := pool.Scan()
		for _, e := range dead {
			dropEntry(ctx, e)
		}
	}
}

// spawnPooled starts one pooled shim: a shim like any other, on a socket
// of its own, whose working directory is its pool entry until a pod takes
// it. It boots the runtime's default VM and waits (pooled_linux.go).
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
