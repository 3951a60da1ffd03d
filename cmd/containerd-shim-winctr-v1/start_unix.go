//go:build !windows

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/shim"
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
	group, err := groupingKey(".", id)
	if err != nil {
		return nil, err
	}
	if err := saveRuntimeOptions(".", params); err != nil {
		return nil, err
	}
	result := &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc"}
	socketDir := params.GetSocketDir()
	if socketDir == "" {
		socketDir = filepath.Join(defaults.DefaultStateDir, "s")
	}
	address, err := shim.CreateSocketAddress(ctx, socketDir, params.GetContainerdGrpcAddress(), group, false)
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
