//go:build linux

package gcs

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/winctr/winctr/internal/containerhost"
)

// CheckGuestSpec confines a container the host asks for to what the host
// brought into the VM: its id must be a plain name (it becomes a path),
// and its root and every bind mount's source must resolve, symlinks
// followed, to a place under root (the agent's tree, where the shares and
// disks are). Nothing of the guest's own system may be handed in.
func CheckGuestSpec(id string, spec *specs.Spec, root string) error {
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
		if !containerhost.IsBindMount(m) {
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

// runtimeSpecVersion is the newest runtime-spec the guest's crun (1.8)
// takes: it refuses a config.json of a later version outright.
const runtimeSpecVersion = "1.1.0"

// forRuntimeSpec11 marks a spec of a later runtime-spec version (what
// containerd writes) as 1.1.0 when it uses nothing added after 1.1, and
// refuses one that does: crun would drop those settings unseen. It
// reports whether it changed the spec.
func forRuntimeSpec11(spec *specs.Spec) (bool, error) {
	if !newerThan11(spec.Version) {
		return false, nil
	}
	var later []string
	if p := spec.Process; p != nil && p.ExecCPUAffinity != nil {
		later = append(later, "process.execCPUAffinity")
	}
	if l := spec.Linux; l != nil {
		if len(l.NetDevices) > 0 {
			later = append(later, "linux.netDevices")
		}
		if l.MemoryPolicy != nil {
			later = append(later, "linux.memoryPolicy")
		}
		if r := l.IntelRdt; r != nil && (len(r.Schemata) > 0 || r.EnableMonitoring) {
			later = append(later, "linux.intelRdt.schemata/enableMonitoring")
		}
	}
	if len(later) > 0 {
		return false, fmt.Errorf("the utility VM's OCI runtime implements runtime-spec %s; this spec (%s) sets %s: %w",
			runtimeSpecVersion, spec.Version, strings.Join(later, ", "), errdefs.ErrNotImplemented)
	}
	spec.Version = runtimeSpecVersion
	return true, nil
}

// newerThan11 tells whether a runtime-spec version ("1.2.0", "1.3.0-rc.1")
// is 1.2 or later; one that does not parse is left to crun to judge.
func newerThan11(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	digits := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if digits >= 0 {
		parts[1] = parts[1][:digits]
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 1 || (major == 1 && minor >= 2)
}
