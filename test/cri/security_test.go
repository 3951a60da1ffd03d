//go:build e2e

package cri

import (
	"strconv"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestPodCannotWeakenItsHandler: the handler's options are the
// operator's, a pod's annotations are the tenant's. The harness passes
// every winctr and hcsshim annotation through pod_annotations, so these
// reach the shim, which must refuse them at RunPodSandbox, before anything
// of the pod runs: a VM handler's pod asking for the host's kernel, or for
// boot files outside the permitted directories, on both sandboxers.
func TestPodCannotWeakenItsHandler(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{"process isolation under the VM handler", map[string]string{"io.winctr.isolation": "process"},
			[]string{"io.winctr.isolation", "asks for process isolation, below the hypervisor isolation of the runtime's options"}},
		{"boot files outside the permitted ones", map[string]string{"io.winctr.bootfiles-root-path": "/tmp"},
			[]string{"io.winctr.bootfiles-root-path", "/tmp", "valid_boot_files_paths"}},
		{"hcsshim's boot files key", map[string]string{"io.microsoft.virtualmachine.bootfilesrootpath": "/etc/../tmp"},
			[]string{"io.microsoft.virtualmachine.bootfilesrootpath", "valid_boot_files_paths"}},
		{"a key the handler does not allow", map[string]string{"io.winctr.vm.agent-timeout-seconds": "5"},
			[]string{"io.winctr.vm.agent-timeout-seconds", "allowed_annotations"}},
	}
	for _, handler := range []string{harness.HandlerHypervisor, harness.HandlerHypervisorSandboxAPI} {
		for i, tt := range tests {
			t.Run(handler+"/"+tt.name, func(t *testing.T) {
				name := "weaken" + strconv.Itoa(i)
				cfg := &runtimeapi.PodSandboxConfig{
					Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
					LogDirectory: t.TempDir(),
					Annotations:  tt.annotations,
					Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: cd.CRI().CgroupParent + "/" + name},
				}
				expectRefused(t, handler, cfg, tt.want...)
				pods, err := runtime.ListPodSandbox(rpcCtx(t), &runtimeapi.ListPodSandboxRequest{})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pods.Items {
					if p.GetMetadata().GetName() == name && p.State == runtimeapi.PodSandboxState_SANDBOX_READY {
						t.Fatalf("pod %s is running", p.Id)
					}
				}
				cd.AssertNoLeaks(t)
			})
		}
	}
}

// TestPodRaisesIsolation: a pod under the process handler, whose options
// allow the isolation key, may ask for a VM of its own and gets one.
func TestPodRaisesIsolation(t *testing.T) {
	harness.RequireBootFiles(t)
	release, err := harness.GuestKernelRelease()
	if err != nil {
		t.Skip(err)
	}
	p := runPod(t, harness.HandlerProcess, "raised", map[string]string{"io.winctr.isolation": "hypervisor"})
	c := p.container(t, "app", 0, "sleep", "1000")
	if r := exec(t, c, "uname", "-r"); strings.TrimSpace(string(r.Stdout)) != release {
		t.Fatalf("container saw kernel %q, want the guest's %q", r.Stdout, release)
	}
	p.remove(t)
	cd.AssertNoLeaks(t)
}

// TestUserNamespacedPodInAVM: a pod with hostUsers: false under a VM
// handler is refused at RunPodSandbox with the reason, on both
// sandboxers, and nothing of it is left.
func TestUserNamespacedPodInAVM(t *testing.T) {
	harness.RequireBootFiles(t)
	for i, handler := range []string{harness.HandlerHypervisor, harness.HandlerHypervisorSandboxAPI} {
		t.Run(handler, func(t *testing.T) {
			name := "userns" + strconv.Itoa(i)
			cfg := &runtimeapi.PodSandboxConfig{
				Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
				LogDirectory: t.TempDir(),
				Linux: &runtimeapi.LinuxPodSandboxConfig{
					CgroupParent: cd.CRI().CgroupParent + "/" + name,
					SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
						UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
							Uids: []*runtimeapi.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}},
							Gids: []*runtimeapi.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}}}}},
				},
			}
			expectRefused(t, handler, cfg, "hostUsers: false")
			cd.AssertNoLeaks(t)
		})
	}
}

// expectRefused runs a pod that RunPodSandbox must refuse with an error
// naming each of want; the refusal is logged, for the record.
func expectRefused(t *testing.T, handler string, cfg *runtimeapi.PodSandboxConfig, want ...string) {
	t.Helper()
	resp, err := runtime.RunPodSandbox(rpcCtx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err == nil {
		(&pod{id: resp.PodSandboxId}).remove(t)
		t.Fatal("RunPodSandbox succeeded")
	}
	t.Logf("refused: %v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not mention %q", err, w)
		}
	}
}
