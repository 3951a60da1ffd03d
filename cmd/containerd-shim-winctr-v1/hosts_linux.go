package main

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/runchost"
	"github.com/winctr/winctr/internal/task"
)

// hostFactory picks where a pod's containers run on a Linux host.
func hostFactory(ctx context.Context) task.HostFactory {
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		ns, err := namespaces.NamespaceRequired(ctx)
		if err != nil {
			return nil, err
		}
		if cfg.OS != "linux" {
			return nil, fmt.Errorf("platform %s/%s: a Linux host runs Linux containers only: %w", cfg.OS, cfg.Arch, errdefs.ErrNotImplemented)
		}
		switch cfg.Isolation {
		case options.IsolationProcess:
			return runchost.New(ctx, ns, runchost.Config{Binary: cfg.RuncBinary, Root: cfg.RuncRoot})
		case options.IsolationHypervisor:
			return lcow.New(ctx, ns, cfg)
		}
		return nil, fmt.Errorf("isolation %s: %w", cfg.Isolation, errdefs.ErrInvalidArgument)
	}
}

// cleanupTask removes what a dead shim left of a task, from its bundle.
func cleanupTask(ctx context.Context, bundle, ns, id string) (int, error) {
	// A VM container's processes died with the VM; only its rootfs mount
	// in the VM's share is left.
	if vm, err := lcow.Cleanup(ctx, bundle); vm {
		return 0, err
	}
	return runchost.Cleanup(ctx, bundle, ns, id)
}
