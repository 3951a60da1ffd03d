//go:build !linux && !windows

package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/task"
)

// hostFactory refuses every pod on hosts other than Linux and Windows:
// saying so at once is better than failing later.
func hostFactory(ctx context.Context) task.HostFactory {
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		return nil, fmt.Errorf("%s hosts are not supported by this build yet: %w", runtime.GOOS, errdefs.ErrNotImplemented)
	}
}

// cleanupTask has nothing to clean where no host could have run a task.
func cleanupTask(ctx context.Context, bundle, ns, id string) (int, error) {
	return 0, nil
}
