//go:build !linux

package main

import (
	"context"

	"github.com/containerd/containerd/v2/pkg/shutdown"

	"github.com/winctr/winctr/internal/task"
)

// serveDebug is Linux's debug socket; elsewhere the factory is as it was.
func serveDebug(_ context.Context, _ shutdown.Service, factory task.HostFactory) task.HostFactory {
	return factory
}

// removeStaleDebugSockets has no sockets to remove off Linux.
func removeStaleDebugSockets() {}
