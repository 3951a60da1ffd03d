package main

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/task"
	"github.com/winctr/winctr/internal/wcow"
)

// hostFactory picks where a pod's containers run on a Windows host:
// Windows containers through HCS, process-isolated or in a Windows utility
// VM; Linux containers in a Linux utility VM (options.ResolveSpec has made
// them hypervisor-isolated).
func hostFactory(ctx context.Context) task.HostFactory {
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		ns, err := namespaces.NamespaceRequired(ctx)
		if err != nil {
			return nil, err
		}
		switch cfg.OS {
		case "windows":
			return wcow.New(ctx, ns, cfg)
		case "linux":
			return lcow.New(ctx, ns, cfg)
		}
		return nil, fmt.Errorf("platform %s/%s: %w", cfg.OS, cfg.Arch, errdefs.ErrNotImplemented)
	}
}

// cleanupTask removes what a dead shim left of a task, from its bundle.
func cleanupTask(ctx context.Context, bundle, ns, id string) (int, error) {
	if found, err := wcow.Cleanup(ctx, bundle); found {
		return 0, err
	}
	_, err := lcow.Cleanup(ctx, bundle)
	return 0, err
}
