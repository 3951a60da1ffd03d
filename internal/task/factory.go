package task

import (
	"context"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// HostFactory builds the Host for a pod from the first container's resolved
// configuration. It returns an errdefs.ErrNotImplemented error for an
// isolation or platform that this build cannot run. It is the service's
// and not the seam's, so that a Host never needs the runtime options.
type HostFactory func(ctx context.Context, cfg *options.Config) (containerhost.Host, error)
