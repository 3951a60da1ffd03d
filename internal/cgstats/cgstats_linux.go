// Package cgstats reads a cgroup's statistics as containerd's cgroup
// metrics types (v1 or v2, as the host runs), packed in an Any for the
// Task and Sandbox APIs.
package cgstats

import (
	"fmt"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// Of reads the statistics of cg, a cgroup1.Cgroup or a *cgroup2.Manager.
func Of(cg any) (*anypb.Any, error) {
	var (
		m   any
		err error
	)
	switch cg := cg.(type) {
	case cgroup1.Cgroup:
		m, err = cg.Stat(cgroup1.IgnoreNotExist)
	case *cgroup2.Manager:
		m, err = cg.Stat()
	default:
		return nil, fmt.Errorf("no cgroup to read: %w", errdefs.ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", err)
	}
	return typeurl.MarshalAnyToProto(m)
}

// AtPath reads the statistics of the cgroup at a cgroupfs path.
func AtPath(path string) (*anypb.Any, error) {
	if path == "" || strings.Contains(path, ":") {
		return nil, fmt.Errorf("cgroups path %q is not a cgroupfs path: %w", path, errdefs.ErrFailedPrecondition)
	}
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil, fmt.Errorf("load cgroup %s: %w", path, err)
		}
		return Of(m)
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %v: %w", path, err, errdefs.ErrNotFound)
	}
	return Of(cg)
}
