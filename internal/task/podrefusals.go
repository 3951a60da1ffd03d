package task

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// refusePod names what a pod of the Sandbox API asks that its isolation
// cannot give; a pod with a pause container meets the same refusals when
// its sandbox container is created in the VM.
func refusePod(pod *runtimeapi.PodSandboxConfig, cfg *options.Config) error {
	if cfg.Isolation != options.IsolationHypervisor {
		return nil
	}
	nsOpts := pod.GetLinux().GetSecurityContext().GetNamespaceOptions()
	// POD is the mode's zero value: only options that are there ask.
	if u := nsOpts.GetUsernsOptions(); u != nil && u.GetMode() == runtimeapi.NamespaceMode_POD {
		return containerhost.ErrVMUserNamespace
	}
	// hostNetwork reaches the VM host as a sandbox without a netns.
	if nsOpts.GetIpc() == runtimeapi.NamespaceMode_NODE {
		return containerhost.ErrVMHostNamespace("hostIPC")
	}
	if nsOpts.GetPid() == runtimeapi.NamespaceMode_NODE {
		return containerhost.ErrVMHostNamespace("hostPID")
	}
	return nil
}
