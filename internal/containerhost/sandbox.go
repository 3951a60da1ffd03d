package containerhost

import "context"

// The annotations with which containerd's CRI tells a pod's sandbox from
// its workload containers. One shim serves one pod (the shim manager
// groups by the sandbox id), so a shim's tasks are one pod's.
const (
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	AnnotationSandboxID     = "io.kubernetes.cri.sandbox-id"
	ContainerTypeSandbox    = "sandbox"
	ContainerTypeContainer  = "container"
)

// SandboxRequest is what a Host needs to hold a pod's namespaces itself.
type SandboxRequest struct {
	ID string
	// Bundle is the sandbox's bundle directory, where a Host may keep what
	// the delete bootstrap needs.
	Bundle string
	// NetNS is the network namespace CNI set up; empty for hostNetwork.
	NetNS    string
	Hostname string
	// CgroupParent is the pod's cgroup on the host (cgroupfs path).
	CgroupParent string
}

// SandboxHost is a Host that can hold a pod's namespaces without a pause
// container, for containerd's Sandbox API: it returns the process whose
// /proc/<pid>/ns the pod's containers join.
type SandboxHost interface {
	StartSandbox(ctx context.Context, req *SandboxRequest) (Process, error)
}
