package lcow

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/winctr/winctr/internal/containerhost"
)

// guest is a container's spec rewritten for the guest.
type guest struct {
	spec []byte
	// binds lists, per mount index, the host side of a bind mount that
	// the guest finds at <guestDir>/mounts/<index>.
	binds map[int]bind
	// podNetNS is the host network namespace CNI set up for the pod, named
	// by a CRI sandbox's spec: the VM's network comes from it.
	podNetNS string
	// podCgroup is a CRI sandbox's cgroups path: on the host it holds the
	// VM's processes.
	podCgroup string
	// hnsNamespace is the pod's network on a Windows host (an HNS
	// namespace), which CRI names in the spec's windows section.
	hnsNamespace string
}

// bind is a bind mount's host side: its source, and how the host binds it
// into the share. Read-only is made there, on the host's mount, where no
// privilege in the guest can undo it; the guest sees the whole tree as
// one mount of its share, so it cannot tell a submount from a directory.
type bind struct {
	source string
	// recursive (rbind): the source's submounts come along.
	recursive bool
	// readOnly (ro): the top mount is read-only, submounts as they are.
	readOnly bool
	// recursiveReadOnly (rro): every mount of the tree is read-only.
	recursiveReadOnly bool
}

// guestBindOptions are a bind mount's options for the guest. Its "rro" is
// "ro" there (one mount). A read-only rbind whose source has submounts
// loses its "ro": the guest's would cover the submounts too, and the
// host's read-only top mount refuses the writes it must.
func guestBindOptions(opts []string, b bind, submounts func(string) bool) []string {
	dropRO := b.readOnly && !b.recursiveReadOnly && b.recursive && (submounts == nil || submounts(b.source))
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		switch {
		case o == "rro":
			if !slices.Contains(out, "ro") {
				out = append(out, "ro")
			}
		case o == "ro" && (dropRO || slices.Contains(out, "ro")):
		default:
			out = append(out, o)
		}
	}
	return out
}

// guestSpec rewrites a container's spec for the guest: its root
// (<guestDir>/rootfs) and its bind mounts' sources (<guestDir>/mounts/<i>,
// where the host side puts them), and its namespaces. In a VM the pod's
// network is the guest's own, so network namespaces are dropped; other
// namespaces may be joined only when they are another container's of the
// same pod (CRI names them /proc/<pid>/ns/<type> with the pid this shim
// reported, which is the guest's). What cannot cross into the VM is
// refused, not ignored. submounts tells whether a host path has mounts
// below it (nil: assume so).
func guestSpec(spec *specs.Spec, guestDir string, isPodPid func(int) bool, submounts func(string) bool) (*guest, error) {
	if err := containerhost.CheckVMSpec(spec); err != nil {
		return nil, err
	}
	s := *spec
	root := *spec.Root
	root.Path = path.Join(guestDir, "rootfs")
	s.Root = &root
	g := &guest{binds: map[int]bind{}}
	s.Mounts = append([]specs.Mount(nil), spec.Mounts...)
	for i, m := range s.Mounts {
		if containerhost.IsBindMount(m) {
			if !filepath.IsAbs(m.Source) {
				return nil, fmt.Errorf("bind mount source %q is not an absolute path: %w", m.Source, errdefs.ErrInvalidArgument)
			}
			b := bind{source: m.Source, recursive: hasOption(m.Options, "rbind"),
				readOnly: hasOption(m.Options, "ro"), recursiveReadOnly: hasOption(m.Options, "rro")}
			g.binds[i] = b
			s.Mounts[i].Source = path.Join(guestDir, "mounts", strconv.Itoa(i))
			s.Mounts[i].Options = guestBindOptions(m.Options, b, submounts)
		}
	}
	sandbox := spec.Annotations[containerhost.AnnotationContainerType] == containerhost.ContainerTypeSandbox
	if s.Linux != nil {
		linux := *s.Linux
		linux.Namespaces = nil
		hasNet := false
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				hasNet = true
			}
			switch {
			case ns.Path == "":
				if ns.Type == specs.NetworkNamespace && sandbox {
					continue // the pod's network is the guest's
				}
				linux.Namespaces = append(linux.Namespaces, ns)
			case ns.Type == specs.NetworkNamespace && sandbox:
				g.podNetNS = ns.Path
			case podNamespace(ns, isPodPid):
				if ns.Type != specs.NetworkNamespace {
					linux.Namespaces = append(linux.Namespaces, ns)
				}
			default:
				return nil, fmt.Errorf("joining the host's %s namespace (%s) from a utility VM: %w", ns.Type, ns.Path, errdefs.ErrInvalidArgument)
			}
		}
		if sandbox {
			g.podCgroup = s.Linux.CgroupsPath
		}
		if sandbox && !hasNet {
			return nil, containerhost.ErrVMHostNamespace("hostNetwork")
		}
		s.Linux = &linux
	}
	if spec.Windows != nil && spec.Windows.Network != nil {
		g.hnsNamespace = spec.Windows.Network.NetworkNamespace
	}
	// The guest runs Linux: a Windows section means nothing there.
	s.Windows = nil
	s.Hooks = nil
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, err
	}
	g.spec = b
	return g, nil
}

// podNamespace tells whether ns is /proc/<pid>/ns/<type> of one of the
// pod's containers.
func podNamespace(ns specs.LinuxNamespace, isPodPid func(int) bool) bool {
	rest, ok := strings.CutPrefix(ns.Path, "/proc/")
	if !ok {
		return false
	}
	pid, kind, ok := strings.Cut(rest, "/ns/")
	if !ok || kind == "" || strings.Contains(kind, "/") {
		return false
	}
	n, err := strconv.Atoi(pid)
	return err == nil && n > 0 && isPodPid != nil && isPodPid(n)
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}
