//go:build !linux

package task

import (
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/anypb"
)

// podStats: pod cgroups are Linux's.
func podStats(string) (*anypb.Any, error) {
	return nil, fmt.Errorf("pod stats on this platform: %w", errdefs.ErrNotImplemented)
}
