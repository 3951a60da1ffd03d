//go:build windows

package stdio

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// Open refuses: containerd on Windows hands shims named pipes, which arrive
// with the Windows (HCS) hosts.
func Open(ctx context.Context, ns, id string, cfg Config) (*Pipes, error) {
	return nil, fmt.Errorf("stdio over Windows named pipes: %w", errdefs.ErrNotImplemented)
}
