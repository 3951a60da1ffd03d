package containerhost

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CheckVMSpec names what a container spec asks of a utility VM that the
// VM cannot give, so that it fails at create, before a VM boots for it,
// with the reason, rather than later or silently otherwise:
//   - a user namespace of its own (Kubernetes' hostUsers: false): the
//     guest's crun would have to idmap the rootfs and volumes over the
//     virtio-fs share, which is not done; the VM is the pod's boundary;
//   - shared mount propagation with the host (rshared, as a
//     Bidirectional volume asks): the host's and the guest's mount tables
//     are different kernels', and nothing crosses between them;
//   - a pod sandbox sharing one of the host's namespaces (hostNetwork,
//     hostIPC, hostPID: CRI leaves that namespace out of the sandbox's
//     spec): in the guest its containers would silently get the guest's.
func CheckVMSpec(spec *specs.Spec) error {
	if l := spec.Linux; l != nil {
		if spec.Annotations[AnnotationContainerType] == ContainerTypeSandbox {
			for _, h := range hostNamespaces {
				if !slices.ContainsFunc(l.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == h.typ }) {
					return ErrVMHostNamespace(h.key)
				}
			}
		}
		for _, ns := range l.Namespaces {
			if ns.Type == specs.UserNamespace && ns.Path == "" {
				return ErrVMUserNamespace
			}
		}
		if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
			return ErrVMUserNamespace
		}
		if l.RootfsPropagation == "shared" || l.RootfsPropagation == "rshared" {
			return fmt.Errorf("%s propagation of the rootfs between the host and a utility VM is not possible: the guest's mounts are another kernel's: %w", l.RootfsPropagation, errdefs.ErrInvalidArgument)
		}
	}
	return checkVMMounts(spec.Mounts)
}

// hostNamespaces are the namespaces a Kubernetes pod may share with its
// node, by the pod spec's key.
var hostNamespaces = []struct {
	typ specs.LinuxNamespaceType
	key string
}{
	{specs.NetworkNamespace, "hostNetwork"},
	{specs.IPCNamespace, "hostIPC"},
	{specs.PIDNamespace, "hostPID"},
}

// ErrVMHostNamespace is the refusal of a pod that shares the host's
// namespace named by its pod spec key (hostNetwork, hostIPC or hostPID)
// in a utility VM.
func ErrVMHostNamespace(key string) error {
	kind := map[string]string{"hostNetwork": "network", "hostIPC": "IPC", "hostPID": "PID"}[key]
	return fmt.Errorf("a pod sharing the host's %s namespace (%s) cannot run in a utility VM, whose containers would share the guest's instead; use process isolation: %w", kind, key, errdefs.ErrInvalidArgument)
}

// ErrVMUserNamespace is the refusal of a user-namespaced pod or container
// (Kubernetes' hostUsers: false) in a utility VM.
var ErrVMUserNamespace = fmt.Errorf("a user namespace (hostUsers: false) in a utility VM is not supported: the guest cannot map user ids over its shared directory; use process isolation, or let the VM be the pod's isolation: %w", errdefs.ErrInvalidArgument)

func checkVMMounts(mounts []specs.Mount) error {
	for _, m := range mounts {
		if slices.Contains(m.Options, "rshared") || slices.Contains(m.Options, "shared") {
			return fmt.Errorf("mount %s: shared propagation (Bidirectional) between the host and a utility VM is not possible: the guest's mounts are another kernel's: %w", m.Destination, errdefs.ErrInvalidArgument)
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || slices.Contains(m.Options, "idmap") || slices.Contains(m.Options, "ridmap") {
			return fmt.Errorf("mount %s: idmapped mounts in a utility VM are not supported: %w", m.Destination, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
