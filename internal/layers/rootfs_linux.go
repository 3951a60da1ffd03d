package layers

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
)

// MountRootfs mounts containerd's rootfs mounts on target and returns
// target, or "" when there was nothing to mount (the bundle brought its own
// rootfs).
func MountRootfs(target string, mounts []*types.Mount) (string, error) {
	if len(mounts) == 0 {
		return "", nil
	}
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

// UnmountRootfs undoes MountRootfs, including anything mounted below it.
func UnmountRootfs(target string) error {
	if err := mount.UnmountRecursive(target, 0); err != nil {
		return fmt.Errorf("unmount rootfs %s: %w", target, err)
	}
	return nil
}
