package task

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/options"
)

// TestRefusePod: in a VM, a pod that asks for a user namespace of its own
// is refused, and one sharing the node's IPC or PID namespace; a pod
// without user namespace options (whose mode reads as POD, the zero value)
// is not. On the host kernel, none is.
func TestRefusePod(t *testing.T) {
	withNS := func(o *runtimeapi.NamespaceOption) *runtimeapi.PodSandboxConfig {
		return &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: o}}}
	}
	userns := func(mode runtimeapi.NamespaceMode) *runtimeapi.PodSandboxConfig {
		return withNS(&runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: mode}})
	}
	hostIPC := withNS(&runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE})
	hostPID := withNS(&runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE})
	ownPID := withNS(&runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER})
	vm := &options.Config{Isolation: options.IsolationHypervisor}
	host := &options.Config{Isolation: options.IsolationProcess}
	for _, tc := range []struct {
		name    string
		pod     *runtimeapi.PodSandboxConfig
		cfg     *options.Config
		refused string // what the refusal names; "" for none
	}{
		{"no options in a VM", &runtimeapi.PodSandboxConfig{}, vm, ""},
		{"no user namespace options in a VM", &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{}}, vm, ""},
		{"the node's user namespace in a VM", userns(runtimeapi.NamespaceMode_NODE), vm, ""},
		{"a pod's own user namespace in a VM", userns(runtimeapi.NamespaceMode_POD), vm, "hostUsers: false"},
		{"a pod's own user namespace on the host", userns(runtimeapi.NamespaceMode_POD), host, ""},
		{"hostIPC in a VM", hostIPC, vm, "(hostIPC)"},
		{"hostPID in a VM", hostPID, vm, "(hostPID)"},
		{"a container's own PID namespace in a VM", ownPID, vm, ""},
		{"hostIPC on the host", hostIPC, host, ""},
		{"hostPID on the host", hostPID, host, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusePod(tc.pod, tc.cfg)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("got %v, want an invalid argument naming %q", err, tc.refused)
			}
		})
	}
}
