package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/task"
	"github.com/winctr/winctr/internal/task/options"
)

// newLCOWHost runs a pod of Linux containers in a Linux utility VM on a
// Windows host.
func newLCOWHost(ctx context.Context, ns string, cfg *options.Config) (task.Host, error) {
	return nil, fmt.Errorf("Linux containers on Windows hosts: %w", errdefs.ErrNotImplemented)
}

func cleanupLCOW(ctx context.Context, bundle string) (int, error) { return 0, nil }
