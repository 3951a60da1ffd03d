package task

import (
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/cgstats"
)

// podStats reads the pod's cgroup on the host.
func podStats(cgroupParent string) (*anypb.Any, error) { return cgstats.AtPath(cgroupParent) }
