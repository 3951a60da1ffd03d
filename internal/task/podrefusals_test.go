package task

import (
	"errors"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// TestRefusePod: only a pod that asks for a user namespace of its own is
// refused, and only in a VM; a pod without user namespace options (whose
// mode reads as POD, the zero value) is not.
func TestRefusePod(t *testing.T) {
	userns := func(mode runtimeapi.NamespaceMode) *runtimeapi.PodSandboxConfig {
		return &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: mode}}}}}
	}
	vm := &options.Config{Isolation: options.IsolationHypervisor}
	host := &options.Config{Isolation: options.IsolationProcess}
	for _, tc := range []struct {
		name    string
		pod     *runtimeapi.PodSandboxConfig
		cfg     *options.Config
		refused bool
	}{
		{"no options in a VM", &runtimeapi.PodSandboxConfig{}, vm, false},
		{"no user namespace options in a VM", &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{}}, vm, false},
		{"the node's user namespace in a VM", userns(runtimeapi.NamespaceMode_NODE), vm, false},
		{"a pod's own user namespace in a VM", userns(runtimeapi.NamespaceMode_POD), vm, true},
		{"a pod's own user namespace on the host", userns(runtimeapi.NamespaceMode_POD), host, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusePod(tc.pod, tc.cfg)
			if got := errors.Is(err, containerhost.ErrVMUserNamespace); got != tc.refused {
				t.Fatalf("refused %v (%v), want %v", got, err, tc.refused)
			}
		})
	}
}
