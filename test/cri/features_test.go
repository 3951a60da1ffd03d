//go:build e2e

package cri

import (
	"encoding/json"
	osexec "os/exec"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestHandlerFeatures: containerd's CRI learns each handler's features
// from the shim's -info, as it does from the runc shim's: the process
// handlers report what the host's runc reports (recursive read-only
// mounts where runc lists "rro"; user namespaces where it supports user
// namespaces and idmapped mounts), the VM handlers neither.
func TestHandlerFeatures(t *testing.T) {
	out, err := osexec.Command("runc", "features").Output()
	if err != nil {
		t.Skipf("runc features: %v", err)
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	rro := slices.Contains(f.MountOptions, "rro")
	userns := f.Linux != nil && slices.Contains(f.Linux.Namespaces, "user") &&
		f.Linux.MountExtensions != nil && f.Linux.MountExtensions.IDMap != nil &&
		f.Linux.MountExtensions.IDMap.Enabled != nil && *f.Linux.MountExtensions.IDMap.Enabled

	// containerd offers rro only where the kernel has mount_setattr.
	kernelRRO := unix.MountSetattr(-1, "", 0, &unix.MountAttr{}) != unix.ENOSYS
	st, err := runtime.Status(rpcCtx(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*runtimeapi.RuntimeHandlerFeatures{}
	for _, h := range st.GetRuntimeHandlers() {
		got[h.GetName()] = h.GetFeatures()
	}
	for _, tc := range []struct {
		handler     string
		rro, userns bool
	}{
		{harness.HandlerProcess, rro, userns},
		{harness.HandlerProcessSandboxAPI, rro, userns},
		{harness.HandlerHypervisor, false, false},
		{harness.HandlerHypervisorSandboxAPI, false, false},
	} {
		h, ok := got[tc.handler]
		if !ok {
			t.Fatalf("CRI lists no handler %q: %v", tc.handler, got)
		}
		// containerd also asks the kernel about rro (mount_setattr);
		// what it may not do is offer a feature runc lacks.
		if h.GetRecursiveReadOnlyMounts() && !tc.rro || h.GetUserNamespaces() != tc.userns {
			t.Errorf("%s: recursive read-only %v (runc: %v), user namespaces %v (want %v)",
				tc.handler, h.GetRecursiveReadOnlyMounts(), tc.rro, h.GetUserNamespaces(), tc.userns)
		}
		if tc.rro && kernelRRO && !h.GetRecursiveReadOnlyMounts() {
			t.Errorf("%s: runc lists rro and the kernel has mount_setattr, but CRI does not offer it", tc.handler)
		}
	}
}
