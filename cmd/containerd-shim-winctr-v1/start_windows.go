//go:build windows

package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
)

func detachedProcAttr() *syscall.SysProcAttr { return nil }

// keepListenerFromChildren has nothing to do on Windows, where the server
// creates its own named pipe.
func keepListenerFromChildren() {}

// removeDeadSocket has nothing to do on Windows: a named pipe goes with
// the last handle to it.
func removeDeadSocket(context.Context, string) {}

// Start launches the shim server on a named pipe derived from the pod's
// grouping key; on Windows the server creates the pipe itself and
// containerd's shim package waits until it can connect.
func (m *manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	id := params.GetInstanceID()
	group, err := groupingKey(".", id)
	if err != nil {
		return nil, err
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	address := fmt.Sprintf(`\\.\pipe\containerd-shim-winctr-%s-%s-pipe`, ns, group)
	result := &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc", Address: address}
	if conn, err := shim.AnonDialer(address, 200*time.Millisecond); err == nil {
		// The pod's shim is alive: the task joins it.
		conn.Close()
		return result, nil
	}
	debug := params.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG
	cmd, err := serverCommand(ctx, id, params.GetContainerdGrpcAddress(), debug, "-socket", address)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shim server: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return result, nil
}
