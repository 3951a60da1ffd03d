//go:build linux

package gcs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// applyNetSysctls sets the net.* sysctls of a container that has no
// network namespace of its own in the guest: the guest's namespace is the
// pod's, so they are the pod's to set (CRI asks for some on every pod),
// and runc would refuse them there. They leave the spec once set.
func applyNetSysctls(dir string, spec *specs.Spec) (bool, error) {
	if spec.Linux == nil || len(spec.Linux.Sysctl) == 0 {
		return false, nil
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return false, nil
		}
	}
	applied := false
	for key, value := range spec.Linux.Sysctl {
		if !strings.HasPrefix(key, "net.") {
			continue
		}
		path := filepath.Join(dir, strings.ReplaceAll(key, ".", "/"))
		if strings.Contains(key, "/") || strings.Contains(key, "..") {
			return false, fmt.Errorf("sysctl %q: %w", key, errdefs.ErrInvalidArgument)
		}
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return false, fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		delete(spec.Linux.Sysctl, key)
		applied = true
	}
	return applied, nil
}
