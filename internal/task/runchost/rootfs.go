//go:build linux

package runchost

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
)

// mountRootfs mounts containerd's rootfs mounts on <bundle>/rootfs and
// returns that path, or "" when there was nothing to mount (the bundle
// brought its own rootfs).
func mountRootfs(bundle string, mounts []*types.Mount) (string, error) {
	if len(mounts) == 0 {
		return "", nil
	}
	target := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(target, 0o711); err != nil {
		return "", fmt.Errorf("rootfs dir: %w", err)
	}
	ms := make([]mount.Mount, 0, len(mounts))
	for _, m := range mounts {
		if m == nil || m.Type == "" {
			return "", fmt.Errorf("rootfs mount without a type: %w", errdefs.ErrInvalidArgument)
		}
		ms = append(ms, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	if err := mount.All(ms, target); err != nil {
		_ = mount.UnmountRecursive(target, 0)
		return "", fmt.Errorf("mount rootfs at %s: %w", target, err)
	}
	return target, nil
}

// unmountRootfs undoes mountRootfs, including anything mounted below it.
func unmountRootfs(target string) error {
	if err := mount.UnmountRecursive(target, 0); err != nil {
		return fmt.Errorf("unmount rootfs %s: %w", target, err)
	}
	return nil
}
