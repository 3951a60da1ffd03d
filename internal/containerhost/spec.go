package containerhost

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bounds past which a spec's size is a mistake or an attack, not a wish.
const (
	maxMemoryBytes  = 1 << 60 // an exbibyte
	maxConsoleSide  = 1 << 16
	maxCPUShares    = 1 << 20
	maxRlimitsCount = 64
)

// CheckSpec refuses specs that no host can run, and hostile ones: paths
// that climb out with "..", relative mount destinations, absurd sizes.
// Every refusal is an ErrInvalidArgument naming the field. The shim checks
// every container's spec, and the guest agent again in the VM.
func CheckSpec(spec *specs.Spec) error {
	if spec.Process == nil {
		return invalidSpec("spec has no process to run")
	}
	p := spec.Process
	if len(p.Args) == 0 && p.CommandLine == "" {
		return invalidSpec("spec process has no args")
	}
	// Windows containers' roots are their layers, not a path.
	windowsOnly := spec.Windows != nil && spec.Linux == nil
	if !windowsOnly && (spec.Root == nil || spec.Root.Path == "") {
		return invalidSpec("spec has no root path")
	}
	if p.ConsoleSize != nil && (p.ConsoleSize.Height >= maxConsoleSide || p.ConsoleSize.Width >= maxConsoleSide) {
		return invalidSpec("console size %dx%d", p.ConsoleSize.Width, p.ConsoleSize.Height)
	}
	if len(p.Rlimits) > maxRlimitsCount {
		return invalidSpec("%d rlimits", len(p.Rlimits))
	}
	for _, r := range p.Rlimits {
		if r.Soft > r.Hard {
			return invalidSpec("rlimit %s: soft %d above hard %d", r.Type, r.Soft, r.Hard)
		}
	}
	if windowsOnly {
		return nil
	}
	if climbs(spec.Root.Path) {
		return invalidSpec("root path %q climbs out with ..", spec.Root.Path)
	}
	for _, m := range spec.Mounts {
		if !path.IsAbs(m.Destination) || climbs(m.Destination) {
			return invalidSpec("mount destination %q: want an absolute path without ..", m.Destination)
		}
		if IsBindMount(m) && (!path.IsAbs(m.Source) || climbs(m.Source)) {
			return invalidSpec("bind mount source %q: want an absolute path without ..", m.Source)
		}
	}
	if spec.Linux != nil && spec.Linux.Resources != nil {
		if err := checkResources(spec.Linux.Resources); err != nil {
			return err
		}
	}
	return nil
}

func checkResources(r *specs.LinuxResources) error {
	if m := r.Memory; m != nil {
		for name, v := range map[string]*int64{"limit": m.Limit, "reservation": m.Reservation, "swap": m.Swap, "kernel": m.Kernel} {
			if v != nil && (*v < -1 || *v > maxMemoryBytes) {
				return invalidSpec("memory %s %d", name, *v)
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares > maxCPUShares {
			return invalidSpec("cpu shares %d", *c.Shares)
		}
		if c.Quota != nil && *c.Quota < -1 {
			return invalidSpec("cpu quota %d", *c.Quota)
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit < -1 {
		return invalidSpec("pids limit %d", *r.Pids.Limit)
	}
	return nil
}

// climbs tells whether a path has a ".." element: after cleaning it could
// name something outside where it seems to point.
func climbs(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// IsBindMount tells whether m binds a path (type bind, or a bind or
// rbind option) rather than mounting a filesystem.
func IsBindMount(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func invalidSpec(format string, args ...any) error {
	return fmt.Errorf("spec: "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
