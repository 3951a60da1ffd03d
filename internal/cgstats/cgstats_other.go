//go:build !linux

package cgstats

import (
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/anypb"
)

// AtPath: cgroups are Linux's.
func AtPath(path string) (*anypb.Any, error) {
	return nil, fmt.Errorf("cgroup stats on this platform: %w", errdefs.ErrNotImplemented)
}
