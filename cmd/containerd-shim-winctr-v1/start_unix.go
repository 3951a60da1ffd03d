//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

func detachedProcAttr() *syscall.SysProcAttr {
	// Its own process group: a signal to containerd's group must not
	// take the pod's shim with it.
	return &syscall.SysProcAttr{Setpgid: true}
}

// Start returns the address of the shim serving this task's pod, starting
// one when none is alive for the grouping key.
func (m *manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (_ *bootapi.BootstrapResult, retErr error) {
	id := params.GetInstanceID()
	spec, err := readSpec(".")
	if err != nil {
		return nil, err
	}
	group := groupOf(spec, id)
	opts, err := runtimeOptions(params)
	if err != nil {
		return nil, err
	}
	if err := saveRuntimeOptions(".", opts); err != nil {
		return nil, err
	}
	result := &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc"}
	address, err := shim.CreateSocketAddress(ctx, socketDirOf(params), params.GetContainerdGrpcAddress(), group, false)
	if err != nil {
		return nil, err
	}
	listener, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
		if shim.CanConnect(address) {
			// The pod's shim is alive: the task joins it.
			result.Address = address
			return result, nil
		}
		// A dead shim's socket: take its place.
		if err := shim.RemoveSocket(address); err != nil {
			return nil, fmt.Errorf("remove stale shim socket: %w", err)
		}
		if listener, err = shim.NewSocket(address); err != nil {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			listener.Close()
			_ = shim.RemoveSocket(address)
		}
	}()
	// A new pod: a VM pod of a runtime with a warm pool takes a booted
	// VM's shim when one waits; either way the pool is topped up.
	if plan, _ := newPoolPlan(ctx, params, opts, spec); plan != nil {
		defer plan.refill(ctx, params, opts)
		if plan.match && plan.take(ctx, id, address, listener) {
			result.Address = address
			return result, nil
		}
	}
	f, err := listener.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()

	debug := params.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG
	cmd, err := serverCommand(ctx, id, params.GetContainerdGrpcAddress(), debug)
	if err != nil {
		return nil, err
	}
	// The server finds its listener as fd 3.
	cmd.ExtraFiles = []*os.File{f}
	if os.Getenv("TTRPC_ADDRESS") == "" && params.GetContainerdTtrpcAddress() != "" {
		cmd.Env = append(cmd.Env, "TTRPC_ADDRESS="+params.GetContainerdTtrpcAddress())
	}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("start shim server: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = cmd.Process.Kill()
		}
	}()
	go func() { _ = cmd.Wait() }()
	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("adjust shim OOM score: %w", err)
	}
	result.Address = address
	return result, nil
}

// socketDirOf is where containerd wants shim sockets.
func socketDirOf(params *bootapi.BootstrapParams) string {
	if d := params.GetSocketDir(); d != "" {
		return d
	}
	return filepath.Join(defaults.DefaultStateDir, "s")
}

// removeDeadSocket removes the socket of the shim that served the task in
// bundle when nothing answers on it any more: a killed shim cannot remove
// its own, and containerd leaves it. A socket that still answers belongs
// to a live shim serving the pod's other tasks, and stays.
func removeDeadSocket(ctx context.Context, bundle string) {
	b, err := os.ReadFile(filepath.Join(bundle, "bootstrap.json"))
	if err != nil {
		return
	}
	var params struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(b, &params) != nil || !strings.HasPrefix(params.Address, "unix://") {
		return
	}
	if shim.CanConnect(params.Address) {
		return
	}
	if err := shim.RemoveSocket(params.Address); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.G(ctx).WithError(err).Warn("remove the dead shim's socket")
	}
}

// listenerFD is where the shim server finds its inherited ttrpc listener.
const listenerFD = 3

// keepListenerFromChildren marks the inherited listener close-on-exec.
// containerd's shim package serves a dup of it and leaves the original
// open without that flag, so QEMU, virtiofsd and runc would inherit the
// listening socket: after a kill -9 of the shim, connections to the dead
// shim's address would then still be accepted into the backlog of a
// socket nobody serves, and its file would look alive to cleanup.
func keepListenerFromChildren() {
	// EBADF when nothing is there (the start and delete bootstraps).
	_, _ = unix.FcntlInt(listenerFD, unix.F_SETFD, unix.FD_CLOEXEC)
}
