//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/task"
)

// checkGuestSpec confines a container the host asks for to what the host
// brought into the VM: its id must be a plain name (it becomes a path),
// and its root and every bind mount's source must resolve, symlinks
// followed, to a place under root (the agent's tree, where the shares and
// disks are). Nothing of the guest's own system may be handed in.
func checkGuestSpec(id string, spec *specs.Spec, root string) error {
	if err := identifiers.Validate(id); err != nil {
		return fmt.Errorf("container id: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if spec.Root != nil {
		if err := within(root, "root", spec.Root.Path); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		if !task.IsBindMount(m) {
			continue
		}
		if err := within(root, "bind mount source", m.Source); err != nil {
			return err
		}
	}
	return nil
}

// within checks that p, with its symlinks resolved, lies under root (a
// path with its symlinks resolved already).
func within(root, what, p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%s %q is not an absolute path: %w", what, p, errdefs.ErrInvalidArgument)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("%s %q: %v: %w", what, p, err, errdefs.ErrInvalidArgument)
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return fmt.Errorf("%s %q resolves to %s, outside what the host shared: %w", what, p, real, errdefs.ErrInvalidArgument)
	}
	return nil
}
